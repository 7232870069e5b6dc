"""Secure joint statistics over 5 parties (5 workspaces) through Flower's SecAgg+.

Every expected figure is recomputed here from the generated rows (one row per person, each
clipped), never taken from privet: the true totals, the noise each party must have added
(from the seed a test run asks for), the Gaussian mechanism's (ε, δ) from Balle & Wang's
analytic formula. Three Flower simulations run (a sum repeated 300 times and instrumented,
a histogram with a party its broker refuses, and the CLI), ~15 s each.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from scipy import optimize, stats

from privet import Workspace
from privet.core import open_folder
from privet.dp.randomness import SecureRandom
from privet.federated import JointResult, load_parties
from privet.federated._stats import joint
from tests.conftest import invoke

PARTIES = 5
PURPOSE = "research"
SEED = 20261202
REPETITIONS = 300
EPSILON, DELTA = 1.0, 1e-6
BOUNDS = (0.0, 100.0)
HISTOGRAM_EDGES = [float(e) for e in range(0, 101)]  # 100 bins of width 1


# -- the federation: 5 workspaces, each with its own people ------------------------------------


def _rows(index: int) -> pl.DataFrame:
    rng = np.random.default_rng(100 + index)
    n = 40 + 15 * index
    ids = [f"p{index}-{j}" for j in range(n)]
    ids[-1] = ids[0]  # one person has two rows: only the first may count
    return pl.DataFrame(
        {
            "person_id": ids,
            # hours outside [0, 100] exist, so clipping matters
            "hours": rng.uniform(-20, 130, n).round(2),
            "age": rng.integers(0, 100, n),
            "score": [None if j % 7 == 0 else float(j) for j in range(n)],
        }
    )


def _per_person(frame: pl.DataFrame) -> pl.DataFrame:
    seen: set[str] = set()
    keep = []
    for pid in frame["person_id"].to_list():
        keep.append(pid not in seen)
        seen.add(pid)
    return frame.filter(pl.Series(keep))


def true_sum(frame: pl.DataFrame) -> float:
    rows = _per_person(frame)["hours"].to_list()
    return math.fsum(min(max(v, BOUNDS[0]), BOUNDS[1]) for v in rows)


def true_histogram(frame: pl.DataFrame) -> np.ndarray:
    counts = np.zeros(len(HISTOGRAM_EDGES) - 1)
    for age in _per_person(frame)["age"].to_list():
        if 0 <= age < 100:
            counts[int(age)] += 1  # bins [k, k+1)
    return counts


class Federation:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.keys = root / "keys"
        self.frames = [_rows(i) for i in range(PARTIES)]
        self.coordinator = root / "coordinator"

    def workspace(self, index: int) -> Path:
        return self.root / f"party-{index}"

    def parties_file(self, purposes: dict[int, str] | None = None, name: str = "parties") -> Path:
        purposes = purposes or {}
        lines = ["parties:"]
        for i in range(PARTIES):
            lines.append(
                f"  - {{name: party-{i}, workspace: party-{i}, dataset: people, "
                f"actor: owner-{i}, purpose: {purposes.get(i, PURPOSE)}}}"
            )
        path = self.root / f"{name}.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    fed = Federation(tmp_path_factory.mktemp("federation"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIVET_KEY_DIR", str(fed.keys))
        for i, frame in enumerate(fed.frames):
            csv = fed.root / f"people-{i}.csv"
            frame.write_csv(csv)
            with Workspace.init(fed.workspace(i), actor=f"owner-{i}") as ws:
                ws.ingest(
                    csv,
                    name="people",
                    owner=f"owner-{i}",
                    purposes=[PURPOSE],
                    actor=f"owner-{i}",
                    subject_id="person_id",
                )
                # Room for 300 repetitions and the other queries below.
                ws.dp.set_budget("people", actor=f"owner-{i}", epsilon=100.0)
        Workspace.init(fed.coordinator, actor="coordinator").close()
    yield fed


@pytest.fixture
def keys(federation: Federation, monkeypatch: pytest.MonkeyPatch) -> Federation:
    monkeypatch.setenv("PRIVET_KEY_DIR", str(federation.keys))
    return federation


# -- what the coordinator receives -------------------------------------------------------------


class RecordingGrid:
    """The Grid the SecAgg+ workflow talks through, recording every reply it receives."""

    def __init__(self, grid: Any, replies: list[Any]) -> None:
        self._grid = grid
        self._replies = replies

    def send_and_receive(self, messages: Any, *, timeout: float | None = None) -> Any:
        replies = list(self._grid.send_and_receive(messages, timeout=timeout))
        self._replies.extend(replies)
        return replies

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)


def _received(
    replies: list[Any],
) -> tuple[list[float], list[bytes], list[str], list[np.ndarray], list[dict]]:
    """Every number, byte string and text the coordinator was sent, masked vectors decoded,
    and the fit metrics."""
    from flwr.common import bytes_to_ndarray
    from flwr.common.secure_aggregation.secaggplus_constants import Key

    numbers: list[float] = []
    blobs: list[bytes] = []
    texts: list[str] = []
    masked: list[np.ndarray] = []
    metrics: list[dict] = []

    def walk(value: Any, key: str) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item, key)
        elif isinstance(value, bytes):
            blobs.append(value)
            if key == Key.MASKED_PARAMETERS:
                array = bytes_to_ndarray(value)
                masked.append(array)
                numbers.extend(float(v) for v in array.ravel())
        elif isinstance(value, bool | int | float):
            numbers.append(float(value))
        elif isinstance(value, str):
            texts.append(value)

    for message in replies:
        if message.has_error():
            continue
        content = message.content
        for name, record in content.config_records.items():
            if name == "fitres.metrics":
                metrics.append(dict(record))
            for key, value in record.items():
                walk(value, key)
        for record in content.array_records.values():
            for array in record.values():
                values = array.numpy()
                numbers.extend(float(v) for v in np.ravel(values))
                blobs.append(array.data)
        for record in content.metric_records.values():
            for value in record.values():
                walk(value, "metric")
    return numbers, blobs, texts, masked, metrics


@pytest.fixture(scope="module")
def sum_run(federation: Federation) -> dict[str, Any]:
    replies: list[Any] = []
    stages: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIVET_KEY_DIR", str(federation.keys))
        coordinator = open_folder(federation.coordinator)
        try:
            result = joint(
                coordinator,
                load_parties(federation.parties_file()),
                "sum",
                "hours",
                epsilon=EPSILON,
                delta=DELTA,
                bounds=BOUNDS,
                actor="coordinator",
                repetitions=REPETITIONS,
                seed=SEED,
                progress=stages.append,
                grid_wrapper=lambda grid: RecordingGrid(grid, replies),
            )
        finally:
            coordinator.close()
    return {"result": result, "replies": replies, "stages": stages}


# -- the analytic Gaussian mechanism (Balle & Wang 2018), computed here ------------------------


def gaussian_delta(epsilon: float, sigma: float, sensitivity: float) -> float:
    a = sensitivity / (2 * sigma)
    b = epsilon * sigma / sensitivity
    return stats.norm.cdf(a - b) - math.exp(epsilon) * stats.norm.cdf(-a - b)


def gaussian_epsilon(delta: float, sigma: float, sensitivity: float) -> float:
    return optimize.brentq(lambda e: gaussian_delta(e, sigma, sensitivity) - delta, 1e-6, 500)


# -- the sum -------------------------------------------------------------------------------------


def test_the_sum_is_the_true_sum_plus_the_stated_gaussian_noise(
    sum_run: dict[str, Any], federation: Federation
) -> None:
    result = sum_run["result"]
    truth = math.fsum(true_sum(f) for f in federation.frames)
    answers = np.array(result.repetitions)[:, 0]
    assert len(answers) == REPETITIONS and result.answer[0] == answers[0]
    assert result.dropped == [] and len(result.took_part) == PARTIES
    # σ is what (ε, δ) needs for sensitivity max(|L|, |U|) = 100: enough, and not wasteful.
    assert result.sensitivity == 100.0
    assert gaussian_delta(EPSILON, result.sigma, 100.0) <= DELTA
    assert gaussian_delta(EPSILON, 0.97 * result.sigma, 100.0) > DELTA
    assert result.sigma_per_party == pytest.approx(result.sigma / math.sqrt(PARTIES))
    # The rounding of SecAgg+ is far below the noise, so the stated distribution is the test.
    assert result.quantization_error < 0.01 * result.sigma
    z = (answers - truth) / result.sigma
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.mean()) < 4 / math.sqrt(REPETITIONS)
    assert 0.8 < z.std() < 1.2
    assert any("unmask" in s for s in sum_run["stages"])


def _party_noise(index: int, size: int, party_sigma: float) -> np.ndarray:
    # The parties' seeded noise (tests only): seed·1,000,003 + the party's partition id.
    rng = SecureRandom(SEED * 1_000_003 + index)
    return rng.normal(size).astype(np.float64) * party_sigma


def test_the_coordinator_receives_no_party_value(
    sum_run: dict[str, Any], federation: Federation
) -> None:
    result, replies = sum_run["result"], sum_run["replies"]
    numbers, blobs, texts, masked, metrics = _received(replies)
    exact = [true_sum(f) for f in federation.frames]
    noisy = [
        np.full(REPETITIONS, exact[i]) + _party_noise(i, REPETITIONS, result.sigma_per_party)
        for i in range(PARTIES)
    ]
    # The contributions recomputed here add up to the answer: these are what each party held.
    answer = np.array(result.repetitions)[:, 0]
    assert np.abs(sum(noisy) - answer).max() <= result.quantization_error
    # Per party, two masked arrays (its weight, its 300 sums), uniform modulo 2^32:
    assert sorted(m.size for m in masked) == [1] * PARTIES + [REPETITIONS] * PARTIES
    uniform = np.concatenate([m.ravel() for m in masked]) / 2.0**32
    assert stats.kstest(uniform, "uniform").pvalue > 1e-3
    # Nothing a party holds is among the numbers or bytes the coordinator received: not its
    # exact total, not its noisy contribution, not the quantized level SecAgg+ masks.
    step = 2 * result.clipping_range / result.quantization_range
    received = set(numbers)
    payload = b"".join(blobs)
    for i in range(PARTIES):
        candidates = [exact[i], round(exact[i]), *noisy[i].tolist()]
        levels = (noisy[i] + result.clipping_range) / step
        candidates += [float(v) for v in np.floor(levels)] + [float(v) for v in np.ceil(levels)]
        assert not received.intersection(candidates), f"party {i}'s value reached the server"
        for value in [exact[i], *noisy[i][:20].tolist()]:
            assert struct.pack("<d", value) not in payload
        for level in np.floor(levels[:20]).astype(np.int64):
            assert struct.pack("<q", level) not in payload
            assert struct.pack("<Q", level) not in payload
    # The only plain facts a party sends: its name and the ε its own ledger recorded.
    assert sorted(m["party"] for m in metrics) == [f"party-{i}" for i in range(PARTIES)]
    assert all(set(m) == {"party", "epsilon"} for m in metrics)
    assert set(texts) <= {"", "Success", *(f"party-{i}" for i in range(PARTIES))}  # + status


def test_each_party_charged_its_own_ledger_once_and_logged_its_read(
    sum_run: dict[str, Any], keys: Federation
) -> None:
    result = sum_run["result"]
    by_party = {s.party: s.epsilon for s in result.took_part}
    for i in range(PARTIES):
        with Workspace.open(keys.workspace(i)) as ws:
            budget = ws.dp.budget("people")
            releases = [r for r in budget.releases if r.kind == "joint-sum"]
            reads = [
                r.event
                for r in ws.log.records()
                if r.event["event"] == "read" and r.event.get("channel") == "dp:federated-stats"
            ]
        (release,) = releases
        assert release.actor == f"owner-{i}" and release.purpose == PURPOSE
        event = release.event["event"]
        assert event["type"] == "self_composed" and event["count"] == REPETITIONS
        assert event["event"]["noise_multiplier"] == pytest.approx(result.sigma / 100.0)
        # 300 Gaussian releases of multiplier z are one Gaussian of multiplier z/√300.
        expected = gaussian_epsilon(budget.delta, result.sigma / math.sqrt(REPETITIONS), 100.0)
        assert release.epsilon == pytest.approx(expected, rel=0.02)
        assert by_party[f"party-{i}"] == pytest.approx(release.epsilon)
        assert len(reads) == 1 and reads[0]["view"] == "aggregate"


def test_the_coordinator_logs_the_query_and_no_value(
    sum_run: dict[str, Any], keys: Federation
) -> None:
    result = sum_run["result"]
    with Workspace.open(keys.coordinator) as ws:
        entries = [r.event for r in ws.log.records() if r.event["event"] == "federated.joint"]
    entry = next(e for e in entries if e["query"] == result.query)
    assert entry["statistic"] == "sum" and entry["column"] == "hours"
    assert entry["parties"] == [f"party-{i}" for i in range(PARTIES)]
    assert entry["epsilon"] == EPSILON and entry["delta"] == DELTA
    # Ids, names and the query's public parameters: nothing computed from a party's rows.
    assert set(entry) == {
        "event", "ts", "actor", "query", "statistic", "column", "parties", "epsilon",
        "delta", "sigma", "min_parties", "repetitions",
    }  # fmt: skip
    assert entry["sigma"] == result.sigma_planned


# -- a party its broker refuses, and a histogram -------------------------------------------------


def test_a_refused_party_is_dropped_and_the_histogram_is_true_plus_noise(keys: Federation) -> None:
    # party-4 asks for a purpose its dataset was not collected for: its broker refuses.
    refused = keys.parties_file({4: "marketing"}, name="refused")
    out = invoke(
        "joint", "histogram", "age", "--bins", ",".join(f"{e:g}" for e in HISTOGRAM_EDGES),
        "--parties", refused, "--epsilon", str(EPSILON), "--delta", str(DELTA),
        "--min-parties", "4", "--json", workspace=keys.coordinator,
    )  # fmt: skip
    assert out.exit_code == 0, out.stderr
    result = JointResult.model_validate(json.loads(out.stdout))  # one JSON document
    assert result.dropped == ["party-4"]
    assert [s.party for s in result.took_part] == [f"party-{i}" for i in range(4)]
    truth = sum(true_histogram(f) for f in keys.frames[:4])
    assert truth.sum() > 0
    z = (np.array(result.answer) - truth) / result.sigma
    # 100 bins, each with independent N(0, σ²): Σ z² is χ² with 100 degrees of freedom.
    chi2 = float((z**2).sum())
    assert stats.chi2.ppf(1e-4, 100) < chi2 < stats.chi2.ppf(1 - 1e-4, 100)
    assert stats.kstest(z, "norm").pvalue > 1e-4
    # Counts: sensitivity 1, so σ is 100 times smaller than the sum's.
    assert gaussian_delta(EPSILON, result.sigma, 1.0) <= DELTA
    with Workspace.open(keys.workspace(4)) as ws:
        assert not [r for r in ws.dp.budget("people").releases if r.kind == "joint-histogram"]
        refusals = [r.event for r in ws.log.records() if r.event["event"] == "read.refused"]
    assert refusals and refusals[-1]["channel"] == "dp:federated-stats"


def test_too_few_parties_release_nothing_with_one_sentence(keys: Federation) -> None:
    refused = keys.parties_file({2: "marketing"}, name="refused-2")
    with Workspace.open(keys.coordinator) as ws:
        before = ws.log.size()
    out = invoke(
        "joint", "count", "--parties", refused, "--epsilon", "1", "--delta", "1e-6",
        workspace=keys.coordinator,
    )  # fmt: skip
    assert out.exit_code == 1
    message = out.stderr.strip()
    assert message.count("\n") == 0 and "only 4 of 5 parties" in message
    assert "Traceback" not in out.output
    with Workspace.open(keys.coordinator) as ws:
        assert ws.log.size() == before + 1  # the query was logged before it ran


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["sum", "hours", "--bounds", "5", "1"], "LOW < HIGH"),
        (["histogram", "age", "--bins", "0,10,5"], "increasing"),
        (["histogram", "age", "--bins", "0,x"], "numbers"),
        (["count", "--min-parties", "9"], "--min-parties"),
        (["count", "--delta", "0"], "delta"),
    ],
)
def test_bad_queries_are_refused_before_anything_runs(
    keys: Federation, args: list[str], words: str
) -> None:
    parties = keys.parties_file()
    base = ["joint", *args, "--parties", str(parties), "--epsilon", "1"]
    if "--delta" not in args:
        base += ["--delta", "1e-6"]
    out = invoke(*base, workspace=keys.coordinator)
    assert out.exit_code == 1, out.output
    assert words in out.stderr and out.stderr.count("\n") == 1


def test_the_readme_parties_file_and_commands_are_valid(keys: Federation) -> None:
    import re
    import shlex

    import yaml

    from privet.federated import parse_parties

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Secure joint statistics\n", 1)[1].split("\n## ", 1)[0]
    document = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))
    assert [p.name for p in parse_parties(document, base=keys.root)][0] == "hospital-a"
    commands = re.search(r"```text\n(.*?)```", section, re.S).group(1).strip().splitlines()
    assert len(commands) == 3
    for line in commands:
        argv = shlex.split(line)[1:]  # after "privet"; no parties.yaml here: refused at once
        out = invoke(*argv, workspace=keys.coordinator)
        assert out.exit_code == 1 and "no parties file" in out.stderr, line
