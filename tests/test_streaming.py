"""Tables larger than memory on one machine: the Polars engine's streaming form (LazyRows over a
private plaintext file the broker writes), ingest and export that never hold the table, and
the acceptance test of issue 19 point 4 (group counts of a table larger than the process's
memory limit, under a real cgroup or rlimit)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from privet import PolicyDenied, Workspace, tables
from privet.datasets import raw_people
from privet.engine import COUNT, LazyRows, streaming_rows, use_streaming
from tests.conftest import run_privet

POLICY = """
rules:
  - roles: [analyst]
    views: [raw]
    purposes: [training]
"""


def _small() -> pl.DataFrame:
    """A table with nulls in its grouping columns (a null is a group of its own)."""
    rng = np.random.default_rng(7)
    n = 2_000
    zips = np.array(["10001", "10002", "20500", None], dtype=object)
    return pl.DataFrame(
        {
            "zip": zips[rng.integers(0, 4, n)].tolist(),
            "age": pl.Series(rng.integers(18, 90, n)).set(pl.Series(rng.random(n) < 0.1), None),
            "sex": rng.choice(["F", "M"], n).tolist(),
            "income": rng.integers(0, 200_000, n),
        }
    )


@pytest.fixture
def small(ws: Workspace, tmp_path: Path) -> pl.DataFrame:
    frame = _small()
    path = tmp_path / "small.parquet"
    frame.write_parquet(path)
    ws.ingest(path, name="small", owner="alice", purposes=["training"], actor="alice", scan=False)
    return frame


@pytest.fixture(params=["one slice", "slices of 300 rows"])
def slicing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers combined over many slices must equal those of one pass."""
    if request.param != "one slice":
        monkeypatch.setattr(tables, "SLICE_ROWS", 300)
        monkeypatch.setattr(tables, "WRITE_SLICE_ROWS", 250)


def _scratch(ws: Workspace) -> list[Path]:
    folder = ws.folder / "scratch"
    return sorted(folder.iterdir()) if folder.exists() else []


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(pl.all(), nulls_last=True)


def test_counts_equal_an_eager_group_by(ws: Workspace, small: pl.DataFrame, slicing) -> None:
    with streaming_rows(ws.hazmat, "small", purpose="training", actor="alice") as rows:
        assert isinstance(rows, LazyRows)
        assert rows.height == small.height
        assert rows.schema == small.schema
        counted = rows.counts(["zip", "age", "sex"])
    expected = small.group_by(["zip", "age", "sex"]).agg(pl.len().cast(pl.Int64).alias(COUNT))
    assert counted.schema[COUNT] == pl.Int64
    assert counted.filter(pl.col("zip").is_null()).height > 0  # nulls are counted
    assert_frame_equal(_sorted(counted), _sorted(expected))


def test_batch_transforms_and_anti_joins_stream_like_the_eager_ones(
    ws: Workspace, small: pl.DataFrame, slicing
) -> None:
    def decade(batch: pl.DataFrame) -> pl.DataFrame:
        return batch.with_columns((pl.col("age") // 10 * 10).alias("age"))

    drop = pl.DataFrame({"zip": [None, "10001"], "sex": ["F", "M"]})
    with streaming_rows(ws.hazmat, "small", purpose="training", actor="alice") as rows:
        mapped = rows.map_batches(decade, small.schema)
        by_decade = mapped.counts(["age"])
        kept = rows.without(drop).collect()
        assert rows.without(drop).height == kept.height
        # Row-local steps compose: a transform after a suppression, as protect does.
        both = rows.without(drop).map_batches(decade, small.schema).counts(["age"])
    expected = small.with_columns((pl.col("age") // 10 * 10).alias("age"))
    expected = expected.group_by("age").agg(pl.len().cast(pl.Int64).alias(COUNT))
    assert_frame_equal(_sorted(by_decade), _sorted(expected))
    # The test's own anti-join, row by row in Python: a null matches a null.
    gone = {(z, s) for z, s in drop.iter_rows()}
    wanted = [r for r in small.iter_rows() if (r[0], r[2]) not in gone]
    assert sorted(kept.iter_rows(), key=repr) == sorted(wanted, key=repr)
    assert len(wanted) < small.height
    expected_both = pl.DataFrame(wanted, schema=small.schema, orient="row")
    expected_both = expected_both.group_by((pl.col("age") // 10 * 10).alias("age")).agg(
        pl.len().cast(pl.Int64).alias(COUNT)
    )
    assert_frame_equal(_sorted(both), _sorted(expected_both))


def test_the_plaintext_file_is_private_and_gone_after_use(ws: Workspace, small) -> None:
    with streaming_rows(ws.hazmat, "small", purpose="training", actor="alice") as rows:
        (file,) = _scratch(ws)
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
        assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
        rows.counts(["sex"])
    assert _scratch(ws) == []
    assert list((ws.folder / "pending").iterdir()) == []


def test_the_plaintext_file_is_gone_after_an_exception(ws: Workspace, small) -> None:
    with (
        pytest.raises(ZeroDivisionError),
        streaming_rows(ws.hazmat, "small", purpose="training", actor="alice"),
    ):
        assert len(_scratch(ws)) == 1
        1 / 0  # noqa: B018
    assert _scratch(ws) == []


def test_a_read_is_one_log_entry_and_a_refusal_writes_no_file(ws: Workspace, small) -> None:
    ws.access.set_policy(POLICY, actor="alice")
    ws.access.add_user("bob", roles=["analyst"], actor="alice")
    before = ws.log.size()
    with pytest.raises(PolicyDenied):
        streaming_rows(ws.hazmat, "small", purpose="training", actor="bob")
    assert ws.log.size() == before + 1
    assert ws.log.records(before, 1)[0].event["event"] == "read.refused"
    assert _scratch(ws) == []
    with streaming_rows(ws.hazmat, "small", purpose="training", actor="alice") as rows:
        rows.counts(["sex"])
        rows.counts(["zip"])
    (entry,) = ws.log.records(before + 1, 1)
    assert ws.log.size() == before + 2
    assert entry.event["event"] == "read" and entry.event["rows"] == small.height


def test_a_killed_reader_leaves_no_plaintext_once_the_next_command_ran(
    ws: Workspace, small, project: Path
) -> None:
    ws.close()
    child = (
        "import os, sys; from privet import Workspace; from privet.engine import streaming_rows\n"
        "ws = Workspace.open(sys.argv[1])\n"
        "rows = streaming_rows(ws.hazmat, 'small', purpose='training', actor='alice')\n"
        "os.kill(os.getpid(), 9)\n"
    )
    done = subprocess.run([sys.executable, "-c", child, str(project)], capture_output=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    (left,) = (project / ".privet" / "scratch").iterdir()
    assert stat.S_IMODE(left.stat().st_mode) == 0o600
    listing = run_privet("datasets", "-w", project)  # any command opens the workspace
    assert listing.returncode == 0, listing.stderr
    assert list((project / ".privet" / "scratch").iterdir()) == []


def test_the_choice_follows_privet_streaming(
    ws: Workspace, small, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not use_streaming(ws.hazmat, "small")  # 2,000 rows: memory
    monkeypatch.setenv("PRIVET_STREAMING", "1")
    assert use_streaming(ws.hazmat, "small")
    assert tables.streams(1)
    monkeypatch.setenv("PRIVET_STREAMING", "0")
    assert not tables.streams(1 << 62)
    monkeypatch.delenv("PRIVET_STREAMING")
    assert tables.streams(tables.memory_available() + 1)
    assert not tables.streams(1)


# -- ingest and export ------------------------------------------------------------------------


def _write(frame: pl.DataFrame, path: Path) -> None:
    {".csv": frame.write_csv, ".parquet": frame.write_parquet, ".jsonl": frame.write_ndjson}[
        path.suffix
    ](path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_a_streamed_ingest_stores_the_same_version_as_one_in_memory(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, slicing
) -> None:
    source = tmp_path / f"people{suffix}"
    _write(raw_people(3_000), source)
    infos = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("PRIVET_STREAMING", flag)
        infos[flag] = ws.ingest(
            source, name=f"p{flag}", owner="alice", purposes=["training"], actor="alice"
        )
    monkeypatch.delenv("PRIVET_STREAMING")
    memory, streamed = infos["0"], infos["1"]
    assert streamed.rows == memory.rows == 3_000
    # Same types, meanings and discovered roles (3,000 rows: discovery sees them all).
    assert [c.model_dump() for c in streamed.columns] == [c.model_dump() for c in memory.columns]
    read = {f: ws.read(f"p{f}", purpose="training", actor="alice") for f in infos}
    assert_frame_equal(read["1"], read["0"])
    assert _scratch(ws) == []


# Files the streamed path must read exactly as read_table does, or refuse as it does.
CSV_CASES = [
    ("a,b\n1,x\n2,\n", "an empty last field is a null"),
    ("a,b\n1,x\n2,y\n\n\n", "trailing blank lines are no rows"),
    ("a,b\n1,x\n\n2,y\n", "a blank line between rows is no row"),
    ("a,b\n1,x\n2\n", "a short row is refused"),
    ("a,b\n1.5,true\n2,false\n", "floats and booleans typed exactly"),
    ("a,b\n007,1e5\n12,2\n", "text that a type would change stays text"),
    ("a,a\n1,2\n", "duplicate names are refused"),
    ("a,b\n", "no data rows is refused"),
]


@pytest.mark.parametrize(("text", "why"), CSV_CASES, ids=[c[1] for c in CSV_CASES])
def test_a_staged_csv_reads_as_read_table_reads_it(tmp_path: Path, text: str, why: str) -> None:
    source = tmp_path / "t.csv"
    source.write_text(text)
    try:
        expected: pl.DataFrame | str = tables.read_table(source).frame
    except Exception as err:  # noqa: BLE001 - compared below
        expected = f"{type(err).__name__}"
    try:
        staged = tables.stage_table(source, tmp_path / "out.parquet", sample_rows=10)
        got: pl.DataFrame | str = pl.read_parquet(tmp_path / "out.parquet")
        assert staged.rows == got.height
    except Exception as err:  # noqa: BLE001 - compared below
        got = f"{type(err).__name__}"
    if isinstance(expected, str):
        assert got == expected, why
    else:
        assert isinstance(got, pl.DataFrame), why
        assert_frame_equal(got, expected)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_a_streamed_export_round_trips(
    ws: Workspace,
    small: pl.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    suffix,
    slicing,
) -> None:
    monkeypatch.setenv("PRIVET_STREAMING", "1")
    out = tmp_path / f"out{suffix}"
    before = ws.log.size()
    release = ws.export("small", out, purpose="training", actor="alice")
    assert ws.log.size() == before + 1 and release.frame.height == 0  # nothing held
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    back = {
        ".parquet": pl.read_parquet,
        ".csv": lambda p: pl.read_csv(p, schema=small.schema),
        ".jsonl": lambda p: pl.read_ndjson(p, schema=small.schema),
    }[suffix](out)
    assert_frame_equal(back, small)
    assert _scratch(ws) == [] and [p.name for p in tmp_path.glob(".out*")] == []


# -- issue 19 point 4: risk on a table larger than the process's memory limit ----------------

QIS = {"age": 10, "sex": 2, "race": 5, "marital": 7, "education": 16, "occupation": 14,
       "workclass": 8, "country": 41}  # fmt: skip
DIAGNOSES, CLASSES = 6, 4_000
_SPREAD = 1_000_003  # a prime: class j -> its quasi-identifier values, one-to-one
CHILD = """
import json, sys
from pathlib import Path
from privet import Workspace
from privet.deid import ProtectRequest, RiskRequest
from privet.engine import open_rows, use_streaming
project, source, out, qis = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4].split(",")
with Workspace.open(project) as ws:
    ws.ingest(source, name="big", owner="alice", purposes=["training"], actor="alice", scan=False)
    asked = RiskRequest(quasi_identifiers=qis, sensitive=["diagnosis"])
    report = ws.deid.risk("big", asked, actor="alice")  # what `privet risk` runs
    with open_rows(ws.hazmat, "big", purpose="training", actor="alice") as rows:
        rows.counts([*qis, "diagnosis"]).write_parquet(out)
    chose = use_streaming(ws.hazmat, "big")
    plan = ProtectRequest(k=PROTECT_K, l=PROTECT_L, quasi_identifiers=qis,
                          sensitive=["diagnosis"], max_suppression=0.5)
    done = ws.deid.protect("big", plan, output="big_k", actor="alice")  # `privet protect`
print(json.dumps({"streamed": chose, "engine": type(rows).__name__, "k": report.k,
                  "l": report.l, "t": report.t, "rows": report.rows,
                  "protected": done.output, "suppressed": done.suppressed,
                  "levels": done.levels, "rows_out": done.rows_out}))
"""
# A class of the table holds about 3,000 rows: k = 3,000 makes the search suppress or
# generalize.
PROTECT_K, PROTECT_L = 3_000, 6


def _qi_values(classes: np.ndarray) -> dict[str, np.ndarray]:
    code = classes.astype(np.int64) * _SPREAD % int(np.prod(list(QIS.values())))
    values = {}
    for name, size in QIS.items():
        values[name], code = code % size, code // size
    return values


def _generate(path: Path, rows: int, seed: int = 19) -> tuple[np.ndarray, int]:
    """Write the table in chunks; return the test's own count per (class, diagnosis) and the
    table's in-memory Polars size."""
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    counts, size, writer = np.zeros(CLASSES * DIAGNOSES, dtype=np.int64), 0, None
    names = {n: pl.Series([f"{n[:3]}-{v}" for v in range(k)]) for n, k in QIS.items()}
    for start in range(0, rows, 500_000):
        n = min(500_000, rows - start)
        cls, dx = rng.integers(0, CLASSES, n), rng.integers(0, DIAGNOSES, n)
        counts += np.bincount(cls * DIAGNOSES + dx, minlength=CLASSES * DIAGNOSES)
        columns = {q: names[q].gather(v) for q, v in _qi_values(cls).items()}
        columns["diagnosis"] = pl.Series([f"dx-{v}" for v in range(DIAGNOSES)]).gather(dx)
        columns["record_id"] = pl.Series(rng.integers(0, 2**63, n)).cast(pl.String)
        chunk = pl.DataFrame(columns)
        size += chunk.estimated_size()
        table = chunk.to_arrow()
        writer = writer or pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table)
    assert writer is not None
    writer.close()
    return counts.reshape(CLASSES, DIAGNOSES), size


class _Limit:
    """A memory cgroup (v1) under this process's own, limiting the children put in it."""

    def __init__(self, limit: int) -> None:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
        (own,) = [line.split(":", 2)[2] for line in lines if ":memory:" in line]
        self.path = Path("/sys/fs/cgroup/memory") / own.lstrip("/") / f"privet-{os.getpid()}"
        self.path.mkdir()
        (self.path / "memory.limit_in_bytes").write_text(str(limit))

    def enter(self) -> None:  # in the child, before it runs Python
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        self.path.rmdir()


def _limit(limit: int) -> _Limit:
    try:
        return _Limit(limit)
    except OSError:
        # Not setrlimit: RLIMIT_AS and RLIMIT_DATA count the address space Polars' allocator
        # reserves, not what it uses (measured: a streaming run fails at once under 1 GiB).
        pytest.skip("needs a writable memory cgroup (v1) to limit the child's resident memory")


@pytest.mark.parametrize(
    ("rows", "limit"),
    [(12_000_000, 480 << 20), pytest.param(30_000_000, 600 << 20, marks=pytest.mark.slow)],
    ids=["12M rows, 480 MiB", "30M rows, 600 MB"],
)
def test_risk_and_protect_on_a_table_larger_than_the_memory_limit_complete_by_streaming(
    ws: Workspace, tmp_path: Path, rows: int, limit: int
) -> None:
    source = tmp_path / "big.parquet"
    expected, in_memory = _generate(source, rows)
    assert in_memory > 1.5 * limit, "the table must be clearly larger than the limit"
    ws.close()
    other = tmp_path / "other"
    other.mkdir()
    Workspace.init(other, actor="alice").close()
    cgroup = _limit(limit)
    out = tmp_path / "counts.parquet"

    def child(project: Path, **env: str) -> subprocess.CompletedProcess[str]:
        counts = out.with_name(f"{project.name}.parquet")
        return subprocess.run(
            [sys.executable, "-c", f"PROTECT_K, PROTECT_L = {PROTECT_K}, {PROTECT_L}\n{CHILD}",
             str(project), str(source), str(counts), ",".join(QIS)],
            preexec_fn=cgroup.enter, capture_output=True, text=True, timeout=300,
            env={**os.environ, **env},
        )  # fmt: skip

    try:
        started = time.monotonic()
        # No PRIVET_STREAMING: the limit makes privet choose streaming, for ingest and risk.
        streamed = child(ws.folder.parent)
        took = time.monotonic() - started
        in_memory_run = child(other, PRIVET_STREAMING="0")
    finally:
        cgroup.remove()
    assert streamed.returncode == 0, streamed.stderr[-2000:]
    # The limit is real: the in-memory engine is killed by it (or fails to allocate).
    assert in_memory_run.returncode != 0

    result = json.loads(streamed.stdout)
    assert result["streamed"] and result["engine"] == "LazyRows", result
    # The child's counts against the test's own count of what it generated.
    seen = np.nonzero(expected)
    values = _qi_values(seen[0])
    want = pl.DataFrame(
        {q: [f"{q[:3]}-{v}" for v in values[q]] for q in QIS}
        | {"diagnosis": [f"dx-{v}" for v in seen[1]], COUNT: expected[seen]}
    )
    got = pl.read_parquet(out.with_name(f"{ws.folder.parent.name}.parquet"))
    assert_frame_equal(_sorted(got), _sorted(want.select(got.columns)), check_dtypes=False)
    # k, distinct ℓ and t (equal ground distance: half the L1 distance) from the same counts.
    per_class = expected[expected.sum(axis=1) > 0]
    sizes = per_class.sum(axis=1)
    overall = per_class.sum(axis=0) / per_class.sum()
    assert result["rows"] == rows
    assert result["k"] == sizes.min()
    assert result["l"] == (per_class > 0).sum(axis=1).min()
    t = (0.5 * np.abs(per_class / sizes[:, None] - overall).sum(axis=1)).max()
    assert result["t"] == pytest.approx(t, rel=1e-9)
    # protect, streamed too: the stored version, read back here, holds its promise.
    with Workspace.open(ws.folder.parent) as again:
        export = tmp_path / "protected.parquet"
        again.export(result["protected"], export, purpose="training", actor="alice")
    protected = pl.read_parquet(export)
    assert protected.height == result["rows_out"] == rows - result["suppressed"]
    classes = protected.group_by(list(QIS)).agg(
        pl.len().alias("size"), pl.col("diagnosis").n_unique().alias("distinct")
    )
    assert classes.get_column("size").min() >= PROTECT_K
    assert classes.get_column("distinct").min() >= PROTECT_L
    assert protected.get_column("record_id").is_unique().all()
    assert took < 240


def test_a_killed_streamed_ingest_leaves_no_plaintext_and_no_version(
    ws: Workspace, project: Path, tmp_path: Path
) -> None:
    source = tmp_path / "big.parquet"
    _generate(source, 2_000_000)
    ws.close()
    scratch = project / ".privet" / "scratch"
    proc = subprocess.Popen(
        [sys.executable, "-m", "privet", "ingest", str(source), "--name", "big", "--owner", "o",
         "--purpose", "p", "--no-scan", "-w", str(project)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "PRIVET_STREAMING": "1"},
    )  # fmt: skip
    deadline = time.monotonic() + 60

    def staging() -> bool:  # plaintext is being written to the private folder
        return any(p.stat().st_size for p in scratch.glob(".*.part"))

    while not staging():
        assert proc.poll() is None, "the ingest finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    (left,) = scratch.iterdir()
    assert stat.S_IMODE(left.stat().st_mode) == 0o600
    listing = run_privet("datasets", "--json", "-w", project)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.strip() == "[]"
    assert list(scratch.iterdir()) == []


def test_a_killed_streamed_protect_leaves_no_plaintext_and_no_version(
    ws: Workspace, project: Path, tmp_path: Path
) -> None:
    source = tmp_path / "big.parquet"
    _generate(source, 3_000_000)
    ws.ingest(source, name="big", owner="o", purposes=["p"], actor="tester", scan=False)
    ws.close()
    scratch = project / ".privet" / "scratch"
    proc = subprocess.Popen(
        [sys.executable, "-m", "privet", "protect", "big", "--k", "3000", "--qi",
         ",".join(QIS), "--max-suppression", "0.5", "-o", "big-k", "-w", str(project)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "PRIVET_STREAMING": "1"},
    )  # fmt: skip
    deadline = time.monotonic() + 120

    def writing() -> bool:  # the protected rows are being written to their private file
        return any(p.stat().st_size for p in scratch.glob(".protect.*"))

    while not writing():
        assert proc.poll() is None, "the protect finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    left = list(scratch.iterdir())
    assert len(left) == 2  # the decrypted read and the protected rows, both owner-only
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in left)
    listing = run_privet("datasets", "--json", "-w", project)
    assert listing.returncode == 0, listing.stderr
    assert [d["name"] for d in json.loads(listing.stdout)] == ["big"]
    assert list(scratch.iterdir()) == []


# -- risk and protect on LazyRows give the in-memory answers ---------------------------------

ADULT_QIS = ["age", "workclass", "education", "marital_status", "occupation", "race", "sex"]


@pytest.fixture(scope="module")
def adult_table() -> pl.DataFrame:
    from privet.datasets import adult

    return adult().head(6000)


def _lazy(frame: pl.DataFrame, path: Path) -> LazyRows:
    frame.write_parquet(path, row_group_size=700)
    return LazyRows(pl.scan_parquet(path))


def test_risk_on_lazy_rows_equals_risk_in_memory(
    adult_table: pl.DataFrame, tmp_path: Path, slicing
) -> None:
    from privet.deid import assess_risk

    sensitive = ["income", "education_num"]
    expected = assess_risk(adult_table, ADULT_QIS, sensitive, population_size=10**6)
    got = assess_risk(_lazy(adult_table, tmp_path / "a.parquet"), ADULT_QIS, sensitive,
                      population_size=10**6)  # fmt: skip
    assert got == expected


@pytest.mark.parametrize(("k", "l_value", "suppression"), [(5, None, 0.05), (4, 2, 0.05)])
def test_a_plan_on_lazy_rows_releases_what_it_releases_in_memory(
    adult_table: pl.DataFrame, tmp_path: Path, slicing, k, l_value, suppression
) -> None:
    from privet.deid import ProtectRequest, check_plan, check_values, run_plan
    from privet.deid._columns import file_columns
    from privet.deid._protect_rows import distinct_values, run_plan_rows
    from privet.operators import Context

    sensitive = ["income"] if l_value else []
    request = ProtectRequest(k=k, l=l_value, quasi_identifiers=ADULT_QIS, sensitive=sensitive,
                             max_suppression=suppression)  # fmt: skip
    columns = file_columns(adult_table)
    checked = check_values(check_plan(request.to_plan(), columns, adult_table.height), adult_table)
    memory = run_plan(adult_table, checked, Context(hierarchies=checked.hierarchies),
                      source="t", output="o")  # fmt: skip
    rows = _lazy(adult_table, tmp_path / "a.parquet")
    again = check_values(check_plan(request.to_plan(), columns, adult_table.height),
                         distinct_values(rows, checked))  # fmt: skip
    out = tmp_path / "out.parquet"
    lazy = run_plan_rows(rows, again, Context(hierarchies=again.hierarchies), source="t",
                         output="o", subject=None, destination=out, links=pl.Series)  # fmt: skip
    assert memory.report.suppressed > 0  # the anti-join step is exercised
    written = pl.read_parquet(out)
    assert lazy.file.rows == written.height
    assert _sorted(written).equals(_sorted(memory.frame))
    assert lazy.report.levels == memory.report.levels
    assert lazy.report.suppressed == memory.report.suppressed


def test_an_altered_stored_version_leaves_no_plaintext_file(ws: Workspace, small) -> None:
    from privet import IntegrityError

    (stored,) = (ws.folder / "objects" / "versions").rglob("*.tink")
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 1
    stored.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        streaming_rows(ws.hazmat, "small", purpose="training", actor="alice")
    assert _scratch(ws) == []


def test_a_sample_of_lazy_rows_is_the_sample_polars_draws_in_memory(
    adult_table: pl.DataFrame, tmp_path: Path, slicing
) -> None:
    from privet.engine import sample_rows

    rows = _lazy(adult_table, tmp_path / "a.parquet")
    assert_frame_equal(sample_rows(rows, 500, seed=3), adult_table.sample(n=500, seed=3))
    positions = pl.Series([5_999, 0, 700, 0])  # any order, repeats kept
    assert_frame_equal(rows.take(positions), adult_table[positions])
