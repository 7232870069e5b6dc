"""Proxies (issue 21, acceptance 2): a planted proxy of race is flagged with its accuracy, a
table without one is not; the figures are checked against the test's own computations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import binomtest

from privet import Workspace
from privet.deid import ProxyRequest, proxies
from privet.deid._proxies import wilson
from tests.conftest import invoke

RACES = np.array(["asian", "black", "hispanic", "white"])


def population(n: int, *, proxy_share: float | None, seed: int = 1) -> pl.DataFrame:
    """People with a race (unequal shares) and a district; with ``proxy_share``, a person
    lives in their race's district with that probability, else in one of the other three."""
    rng = np.random.default_rng(seed)
    race = rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])
    if proxy_share is None:
        district = rng.integers(0, 4, n)
    else:
        other = (race + rng.integers(1, 4, n)) % 4
        district = np.where(rng.random(n) < proxy_share, race, other)
    return pl.DataFrame(
        {
            "person_id": np.arange(n),
            "race": RACES[race],
            "district": [f"district-{d}" for d in district],
            "age": rng.integers(18, 90, n),
            "sex": rng.choice(["F", "M"], n),
            "income": rng.normal(40_000, 9_000, n).round(),
        }
    )


FEATURES = ["district", "age", "sex", "income"]


def _finding(report, features: list[str], sensitive: str = "race"):
    (found,) = [f for f in report.findings if (f.sensitive, f.features) == (sensitive, features)]
    return found


def test_a_planted_proxy_is_flagged_with_its_accuracy() -> None:
    frame = population(10_000, proxy_share=0.9)
    report = proxies(frame, ["race"], FEATURES, source="t")
    # The test's own figure: the share of people living in their race's district (the best
    # guess from the district alone, since 0.9 x each race's share beats the others' 0.1/3).
    mapped = frame.select(
        (pl.col("district").str.slice(-1).cast(pl.Int64) == pl.col("race").rank("dense") - 1).mean()
    ).item()
    assert 0.88 < mapped < 0.92
    district = _finding(report, ["district"])
    assert district.flagged
    assert abs(district.accuracy - mapped) <= 0.03
    base = frame.get_column("race").value_counts().get_column("count").max() / frame.height
    assert district.base_rate == pytest.approx(base)
    together = _finding(report, FEATURES)
    assert together.together and together.flagged and abs(together.accuracy - mapped) <= 0.03
    for alone in ("age", "sex", "income"):
        found = _finding(report, [alone])
        assert not found.flagged and abs(found.accuracy - base) < 0.02
    assert report.binned == ["age", "income"]


def test_a_table_without_a_proxy_flags_nothing() -> None:
    report = proxies(population(10_000, proxy_share=None), ["race"], FEATURES, source="t")
    assert report.flagged == []
    assert max(f.lift for f in report.findings) < 0.02


@pytest.mark.parametrize(("successes", "n"), [(0, 10), (7, 10), (900, 1000), (20_000, 20_000)])
def test_the_interval_is_wilsons(successes: int, n: int) -> None:
    expected = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson(successes, n)
    assert low == pytest.approx(expected.low, abs=1e-9)
    assert high == pytest.approx(expected.high, abs=1e-9)


def test_a_feature_alone_is_scored_on_rows_it_was_not_learned_from() -> None:
    # A unique id "predicts" race perfectly on the rows it was learned from, and no better
    # than the base rate on others: held-out scoring must not be fooled.
    frame = population(5_000, proxy_share=None)
    report = proxies(frame, ["race"], ["person_id"], source="t")
    found = _finding(report, ["person_id"])
    assert not found.flagged and found.accuracy < 0.45


def test_a_dataset_is_read_once_under_the_assessment_purpose(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    population(4_000, proxy_share=0.9).write_csv(path)
    ws.ingest(path, name="people", owner="alice", purposes=["training"], actor="alice",
              subject_id="person_id",
              categories={"race": "user.demographic.race_ethnicity"})  # fmt: skip
    before = ws.log.size()
    request = ProxyRequest(features=["district", "age", "sex"])
    report = ws.deid.proxies("people", request, actor="alice")
    assert "race" in report.sensitive  # a special category, found in the catalog
    assert _finding(report, ["district"]).flagged
    assert ws.log.size() == before + 1
    entry = ws.log.records(before, 1)[0].event
    assert (entry["event"], entry["purpose"]) == ("read", "privet:assessment")
    assert "asian" not in json.dumps(entry) and "district-" not in json.dumps(entry)


def test_the_cli_prints_json_and_refuses_an_unknown_column(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    population(3_000, proxy_share=0.9).write_csv(path)
    done = invoke("risk", path, "--proxies", "--sensitive", "race", "--features",
                  "district,sex", "--json")  # fmt: skip
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    assert [f["features"] for f in data["findings"] if f["flagged"]][0] == ["district"]
    bad = invoke("risk", path, "--proxies", "--sensitive", "race", "--features", "distrikt")
    assert bad.exit_code == 1
    assert "no column 'distrikt'" in bad.output and "Traceback" not in bad.output


def test_a_request_checks_its_fields() -> None:
    from privet.errors import InvalidInput

    with pytest.raises(InvalidInput, match="threshold"):
        ProxyRequest(threshold=1.5)


# -- privet train: a proxy is noted, and refused under the policy's rule --------------------


@pytest.fixture
def proxied(ws: Workspace, tmp_path: Path) -> Workspace:
    path = tmp_path / "people.csv"
    population(2_000, proxy_share=0.9).write_csv(path)
    ws.ingest(path, name="people", owner="alice", purposes=["training"], actor="alice",
              subject_id="person_id", scan=False,
              categories={"race": "user.demographic.race_ethnicity"})  # fmt: skip
    return ws


def _train(ws: Workspace, features: list[str], *, actor: str = "alice", reason=None):
    from privet.dp import TrainRequest

    request = TrainRequest(target="sex", name=f"m-{len(features)}-{actor}", purpose="training",
                           features=features, no_dp=True, epochs=1, seed=0,
                           proxy_reason=reason)  # fmt: skip
    return ws.dp.train("people", request, actor=actor)


def test_training_on_a_proxy_is_noted_on_the_card(proxied: Workspace) -> None:
    notes = _train(proxied, ["district", "age"]).card.notes
    assert any("'district' predict 'race'" in note for note in notes), notes
    clean = _train(proxied, ["age"]).card.notes
    assert not any("predict 'race'" in note for note in clean)


def test_the_policy_refuses_a_proxy_unless_the_owner_says_why(proxied: Workspace) -> None:
    from privet.errors import PolicyDenied

    proxied.access.set_policy("proxies:\n  refuse_above: 0.2\n", actor="alice")
    with pytest.raises(PolicyDenied, match="policy refuses training at 20 points"):
        _train(proxied, ["district", "age"])
    assert proxied.dp.models() == []
    with pytest.raises(PolicyDenied, match=r"only the owner of 'people' \(alice\)"):
        _train(proxied, ["district", "age"], actor="bob", reason="we need it")
    info = _train(proxied, ["district", "age"], reason="district is the unit of service")
    assert any("alice) recorded why" in n and "unit of service" in n for n in info.card.notes)
    _train(proxied, ["age"])  # no proxy: not refused
