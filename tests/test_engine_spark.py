"""The Spark engine: governed reads decided and logged by the broker before any decryption,
decrypted in the executors, equal to the Polars engine's read — on ``local[2]`` and on a
standalone master and worker on loopback."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from privet import IntegrityError, PolicyDenied, Workspace, policy, tables
from privet.catalog import SUBJECT_LINK, resolve
from privet.deid import ProtectRequest, assess_risk
from privet.engine import COUNT, FrameRows, SparkRows, open_rows, spark_rows, spark_session
from privet.engine._spark_tasks import Source, counts_task, frames
from privet.vault import export_data_key
from tests import spark_support
from tests.conftest import ingest_people
from tests.governance_support import POLICY

QIS = ["age", "sex", "race", "workclass"]


@pytest.fixture(scope="module")
def spark():
    with spark_support.local_session() as session:
        yield session


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    with spark_support.standalone_cluster(tmp_path_factory.mktemp("spark-cluster")) as url:
        yield url


@pytest.fixture
def people_with_nulls(tmp_path: Path, people: pl.DataFrame) -> Path:
    """The people table with a missing ``workclass`` in every 7th row (a null is a group)."""
    frame = people.with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise(pl.col("workclass"))
        .alias("workclass")
    )  # fmt: skip
    path = tmp_path / "people.csv"
    frame.write_csv(path)
    return path


def _rows(ws: Workspace, ref: str, *, actor: str = "alice", purpose: str = "analytics",
          master: str | None = None, **kw) -> SparkRows:  # fmt: skip
    return spark_rows(ws.hazmat, ref, purpose=purpose, actor=actor, channel="spark",
                      master=master, **kw)  # fmt: skip


def _polars_counts(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """The test's own group counts (nulls a group of their own), sorted for comparison."""
    grouped = frame.group_by(columns).agg(pl.len().cast(pl.Int64).alias(COUNT))
    return grouped.sort(columns, nulls_last=True)


def _assert_same_read(rows: SparkRows, expected: pl.DataFrame, key: str) -> None:
    assert rows.height == expected.height
    assert rows.schema == expected.schema
    got = rows.collect()
    assert got.schema == expected.schema
    assert got.sort(key).equals(expected.sort(key))


# -- (a) the same rows as the broker's Polars read -----------------------------------------------


def test_spark_read_equals_the_brokers_read(spark, ws: Workspace, people_with_nulls):
    ingest_people(ws, people_with_nulls)
    rows = _rows(ws, "people")  # no master given: the running session
    assert spark_session() is spark
    expected = ws.read("people", purpose="analytics", actor="alice")
    _assert_same_read(rows, expected, "person_id")
    counts = rows.counts(QIS).sort(QIS, nulls_last=True)
    assert counts.equals(_polars_counts(expected, QIS))
    missing = expected["workclass"].null_count()
    assert missing >= 300 // 7
    assert counts.filter(pl.col("workclass").is_null())[COUNT].sum() == missing


def test_open_rows_reads_on_either_engine(spark, ws: Workspace, people_csv):
    ingest_people(ws, people_csv)
    masters = {"polars": None, "spark": "local[2]"}
    collected = {}
    for engine, master in masters.items():
        with open_rows(ws.hazmat, "people", purpose="analytics", actor="alice",
                       engine=engine, spark_master=master) as rows:  # fmt: skip
            assert isinstance(rows, FrameRows if engine == "polars" else SparkRows)
            collected[engine] = rows.collect().sort("person_id")
    assert collected["spark"].equals(collected["polars"])


def test_derived_version_is_read_without_its_subject_link(spark, ws: Workspace, people_csv):
    ingest_people(ws, people_csv)
    request = ProtectRequest(k=5, quasi_identifiers=["age", "sex", "race", "marital_status"],
                             max_suppression=0.1)  # fmt: skip
    ws.deid.protect("people", request, output="people-k5", actor="alice")
    core = ws.hazmat
    with core.reading() as session:
        _, version = resolve(session, "people-k5")
        stored = [c.name for c in version.columns]
    assert SUBJECT_LINK in stored  # the stored copy holds the link; no read may release it
    rows = _rows(ws, "people-k5", master="local[2]")
    expected = ws.read("people-k5", purpose="analytics", actor="alice")
    assert SUBJECT_LINK not in rows.schema and SUBJECT_LINK not in rows.collect().columns
    key = expected.columns
    _assert_same_read(rows, expected, key)
    quasi = ["age", "sex", "race", "marital_status"]
    assert rows.counts(quasi).sort(quasi, nulls_last=True).equals(_polars_counts(expected, quasi))


def test_transforms_and_anti_join_run_in_the_tasks(spark, ws: Workspace, people_with_nulls):
    ingest_people(ws, people_with_nulls)
    rows = _rows(ws, "people", master="local[2]")
    expected = ws.read("people", purpose="analytics", actor="alice")
    # Generalize age to decades, batch by batch in the executors.
    decade = pl.Schema({**rows.schema, "age": pl.Int64()})
    mapped = rows.map_batches(lambda f: f.with_columns(pl.col("age") // 10 * 10), decade)
    want = expected.with_columns(pl.col("age") // 10 * 10)
    assert mapped.counts(QIS).sort(QIS, nulls_last=True).equals(_polars_counts(want, QIS))
    # Drop the rare combinations, nulls matching nulls.
    rare = _polars_counts(want, QIS).filter(pl.col(COUNT) < 3).drop(COUNT)
    assert rare.filter(pl.col("workclass").is_null()).height > 0  # the null case is exercised
    kept = mapped.without(rare)
    want_kept = want.join(rare, on=QIS, how="anti", nulls_equal=True)
    assert kept.height == want_kept.height < 300
    assert kept.collect().sort("person_id").equals(want_kept.sort("person_id"))


def test_rows_are_written_through_encrypted_parts_that_are_then_deleted(
    spark, ws: Workspace, people_with_nulls, tmp_path: Path
):
    """``write`` (protect's output): each task encrypts its rows into a part; the driver
    copies the parts, a row group at a time, into the destination, through ``finish``."""
    import stat

    ingest_people(ws, people_with_nulls)
    rows = _rows(ws, "people", master="local[2]")
    expected = ws.read("people", purpose="analytics", actor="alice")
    emails = [e.encode() for e in expected["email"].drop_nulls()]
    scratch = ws.folder / "scratch"
    seen: list[int] = []

    def finish(frame: pl.DataFrame) -> pl.DataFrame:
        # The parts are on disk now: owner-only, and the tasks' ones are ciphertext.
        files = [p for p in scratch.iterdir() if p.is_file()]
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
        encrypted = [p for p in files if not p.read_bytes().startswith(b"PAR1")]
        for part in encrypted:
            data = part.read_bytes()
            assert not any(email in data for email in emails), part.name
        seen.append(len(encrypted))
        return frame.with_columns(pl.col("age") + 1)

    out = tmp_path / "out.parquet"
    assert rows.write(out, finish) == expected.height
    assert seen and min(seen) == rows._source.tasks  # one part per task, all encrypted
    written = pl.read_parquet(out)
    want = expected.with_columns(pl.col("age") + 1)
    assert written.schema == want.schema
    assert written.sort("person_id").equals(want.sort("person_id"))
    assert list(scratch.iterdir()) == []


# -- (b) refusals stop the job before any decryption ---------------------------------------------


def _jobs(spark) -> int:
    return len(spark.sparkContext.statusTracker().getJobIdsForGroup(None))


@pytest.mark.parametrize(
    ("actor", "purpose", "view", "reason"),
    [
        ("bob", "analytics", "raw", "no_active_grant"),  # an analyst without a grant
        ("alice", "marketing", "raw", "purpose_not_declared"),  # not a declared purpose
        ("alice", "analytics", "masked", "job_needs_unchanged"),  # masks are applied row by row
    ],
)
def test_refusal_stops_the_job_before_decryption(
    spark, ws: Workspace, people_csv, actor, purpose, view, reason
):
    ingest_people(ws, people_csv)
    ws.access.set_policy(POLICY, actor="alice")
    ws.access.add_user("alice", roles=["owner"], actor="alice")
    ws.access.add_user("bob", roles=["analyst"], actor="alice")
    before, jobs = ws.log.size(), _jobs(spark)
    with pytest.raises(PolicyDenied, match="refusal is in the audit log") as refused:
        _rows(ws, "people", actor=actor, purpose=purpose, view=view, master="local[2]")
    if reason == "job_needs_unchanged":
        assert "--engine polars" in str(refused.value)
    (entry,) = [r.event for r in ws.log.records(before)]
    assert entry["event"] == "read.refused" and entry["reason"] == reason
    assert entry["actor"] == actor and entry["channel"] == "spark"
    # No Spark job ran: the executors, the only place a Spark read decrypts, never started.
    assert _jobs(spark) == jobs


# -- (c) one audit entry per job ----------------------------------------------------------------


def test_a_job_is_one_audit_entry_with_the_versions_rows(spark, ws: Workspace, people_csv):
    info = ingest_people(ws, people_csv)
    before, jobs = ws.log.size(), _jobs(spark)
    rows = _rows(ws, "people", master="local[2]")
    rows.counts(["sex"])
    rows.collect()
    rows.without(pl.DataFrame({"sex": ["Male"]})).height  # noqa: B018 - a third action
    assert _jobs(spark) >= jobs + 3
    (entry,) = [r.event for r in ws.log.records(before)]
    assert entry["event"] == "read" and entry["rows"] == 300
    assert entry["version"] == info.id and entry["channel"] == "spark"
    assert entry["columns"] == len(rows.schema)


# -- (d) an altered object fails the job, nothing yielded ----------------------------------------


def _object(ws: Workspace, ref: str):
    core = ws.hazmat
    with core.reading() as session:
        dataset, version = resolve(session, ref)
        handle = core.vault.data_key(session, dataset.id, version.key_id)
    return core, dataset.id, version, handle, core.store.path(version.object_key)


def test_altered_object_fails_the_job(spark, ws: Workspace, people_csv, capfd):
    ingest_people(ws, people_csv)
    *_, path = _object(ws, "people")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    rows = _rows(ws, "people", master="local[2]")
    with pytest.raises(IntegrityError, match=r"^a stored version failed to decrypt"):
        rows.collect()
    with pytest.raises(IntegrityError):
        rows.counts(["sex"])
    time.sleep(1)  # Spark's log lines come through a pipe
    # One sentence for the caller; the failed tasks' tracebacks are not printed.
    assert "Traceback" not in capfd.readouterr().err


def test_object_with_another_plaintext_fails_its_hash_check(spark, ws: Workspace, people):
    """Validly encrypted under the right key and context, but not the recorded plaintext: the
    hash check fails before a single row is yielded."""
    people.write_csv(ws.folder.parent / "people.csv")
    ingest_people(ws, ws.folder.parent / "people.csv")
    core, dataset_id, version, handle, path = _object(ws, "people")
    other = tables.to_parquet_bytes(people.head(10))
    with path.open("wb") as out:
        core.vault.encrypt_version(handle, dataset_id, version.id, other)(out)
    rows = _rows(ws, "people", master="local[2]")
    with pytest.raises(IntegrityError, match=r"^a stored version does not match its recorded hash"):
        rows.collect()
    # The task itself: its first step raises, so no batch ever left it.
    release = policy.release_to_job(core, "people", purpose="analytics", actor="alice",
                                    channel="spark")  # fmt: skip
    names = tuple(name for name, _ in release.columns)
    source = Source(str(release.path), release.context, release.sha256, names, 1, release.key)
    with pytest.raises(IntegrityError):
        next(frames(source, (), [0]))
    # A count without steps reads its share another way: the same check comes first.
    with pytest.raises(IntegrityError):
        next(counts_task(source, (), ["sex"], None, [_ids(0)], packed=True))


def _ids(*tasks: int):
    """A batch of task numbers, as ``spark.range`` hands them to a task."""
    import pyarrow as pa

    return pa.RecordBatch.from_arrays([pa.array(tasks, pa.int64())], names=["id"])


# -- the tasks' shares, and a machine without the extra -------------------------------------------


def test_tasks_decode_disjoint_shares_of_the_row_groups(ws: Workspace, people):
    """A version of 8 row groups read by 3 tasks: task i decodes groups i, i+3, ...; together
    they are the whole table, each row once."""
    people.write_csv(ws.folder.parent / "people.csv")
    ingest_people(ws, ws.folder.parent / "people.csv")
    core, dataset_id, version, handle, path = _object(ws, "people")
    buffer = io.BytesIO()
    people.write_parquet(buffer, row_group_size=40)  # 300 rows: 8 groups, the last of 20
    plaintext = buffer.getvalue()
    with path.open("wb") as out:
        core.vault.encrypt_version(handle, dataset_id, version.id, plaintext)(out)
    context = core.vault.version_context(dataset_id, version.id)
    digest = hashlib.sha256(plaintext).hexdigest()
    source = Source(str(path), context, digest, tuple(people.columns), 3, export_data_key(handle))
    shares = [list(frames(source, (), [task])) for task in range(3)]
    assert [[f.height for f in share] for share in shares] == [[40, 40, 40], [40, 40, 20], [40, 40]]
    together = pl.concat([f for share in shares for f in share])
    assert together.sort("person_id").equals(people.sort("person_id"))


def test_count_tasks_take_runs_of_row_groups_covering_each_row_once(ws: Workspace, people):
    """Without steps, a count's task i of n scans row groups [i*g/n, (i+1)*g/n): 8 groups
    over 3 tasks are 2, 3 and 3 groups (80, 120 and 100 rows), each row in one share."""
    people.write_csv(ws.folder.parent / "people.csv")
    ingest_people(ws, ws.folder.parent / "people.csv")
    core, dataset_id, version, handle, path = _object(ws, "people")
    buffer = io.BytesIO()
    people.write_parquet(buffer, row_group_size=40)  # 300 rows: 8 groups, the last of 20
    plaintext = buffer.getvalue()
    with path.open("wb") as out:
        core.vault.encrypt_version(handle, dataset_id, version.id, plaintext)(out)
    context = core.vault.version_context(dataset_id, version.id)
    digest = hashlib.sha256(plaintext).hexdigest()
    source = Source(str(path), context, digest, tuple(people.columns), 3, export_data_key(handle))
    shares = []
    for task in range(3):
        (cell,) = counts_task(source, (), ["person_id"], None, [_ids(task)], packed=True)
        shares.append(pl.read_ipc(io.BytesIO(cell.column(0)[0].as_py())))
    assert [share.height for share in shares] == [80, 120, 100]
    together = pl.concat(shares)
    assert together.get_column(COUNT).to_list() == [1] * 300
    assert together.get_column("person_id").sort().equals(people.get_column("person_id").sort())


def test_without_pyspark_the_engine_names_the_extra():
    hide = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pyspark' or name.startswith('pyspark.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from privet.engine import require_spark\n"
        "try:\n"
        "    require_spark()\n"
        "except Exception as err:\n"
        "    print(type(err).__name__, err)\n"
    )
    done = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True, timeout=60)
    assert done.stdout == (
        "InvalidInput the Spark engine needs PySpark and Java 17: pip install 'privet[spark]'\n"
    ), done.stderr


def test_no_key_or_plaintext_reaches_sparks_files_or_conf(spark, ws: Workspace, people_csv):
    """Spark's shuffle files of a group count by e-mail stay on disk while its DataFrame
    lives: encrypted, they hold no address; nor do the conf or the plan hold the data key."""
    ingest_people(ws, people_csv)
    rows = _rows(ws, "people", master="local[2]")
    # Held while the files are read, so its shuffle files stay (4 partitions: a shuffle).
    grouped = rows.dataframe.repartition(4, "email").groupBy("email").count()
    emails = [row["email"].encode() for row in grouped.collect() if row["email"]]
    assert len(emails) > 250
    key = rows._source.key
    conf = repr(spark.sparkContext.getConf().getAll())
    plan = rows.dataframe._jdf.queryExecution().toString()
    assert key.hex() not in conf and key.hex() not in plan and repr(key) not in repr(rows._source)
    local = Path(spark.sparkContext.getConf().get("spark.local.dir"))
    files = [p for p in local.rglob("*") if p.is_file()]
    assert any(p.name.startswith("shuffle_") for p in files)  # the check below has data to see
    for path in files:
        data = path.read_bytes()
        assert key not in data
        assert not any(email in data for email in emails), path.name
    del grouped


def test_column_types_come_back_as_polars_reads_them(spark, ws: Workspace, tmp_path: Path):
    """Types Spark lacks (unsigned integers, categoricals, zoned timestamps) travel as the
    nearest Spark type and return as the stored Polars type."""
    frame = pl.DataFrame(
        {
            "id": ["a", "b", "c", None],
            "flag": [True, False, None, True],
            "small": pl.Series([1, 2, None, 255], dtype=pl.UInt8),
            "big": pl.Series([1, 2**63 + 5, None, 5], dtype=pl.UInt64),
            "ratio": pl.Series([0.5, None, 1.5, 2.0], dtype=pl.Float32),
            "seen": [
                datetime(2020, 1, 1, 12, 30),
                None,
                datetime(2021, 5, 6),
                datetime(1999, 1, 1),
            ],
            "paris": pl.Series(
                [datetime(2020, 1, 1, 12), datetime(2020, 7, 1, 12), None, datetime(2000, 1, 1)]
            ).dt.replace_time_zone("Europe/Paris"),
            "day": [date(2020, 1, 1), date(1970, 1, 1), None, date(2024, 2, 29)],
            "kind": pl.Series(["x", "y", None, "x"], dtype=pl.Categorical),
        }
    )
    frame.write_parquet(tmp_path / "typed.parquet")
    ws.ingest(tmp_path / "typed.parquet", name="typed", owner="alice", purposes=["analytics"],
              actor="alice", scan=False)  # fmt: skip
    expected = ws.read("typed", purpose="analytics", actor="alice")
    stored = {"small": pl.UInt8(), "big": pl.UInt64(), "kind": pl.Categorical(),
              "paris": pl.Datetime("us", "Europe/Paris"), "seen": pl.Datetime("us")}  # fmt: skip
    assert {c: expected.schema[c] for c in stored} == stored  # ingest kept them
    rows = _rows(ws, "typed")
    _assert_same_read(rows, expected, "ratio")
    counts = rows.counts(["kind", "big", "paris"])
    assert counts.schema == pl.Schema({**{c: expected.schema[c] for c in ["kind", "big", "paris"]},
                                       COUNT: pl.Int64()})  # fmt: skip


# -- how many jobs, and where the tasks' counts are added up -----------------------------------


def test_a_risk_assessment_is_one_spark_job(spark, ws: Workspace, people_with_nulls):
    """Every figure comes from one count, so the assessment decrypts the version once per
    task; the figures equal the test's own from the broker's Polars read."""
    ingest_people(ws, people_with_nulls)
    rows = _rows(ws, "people")
    tracker = spark_session().sparkContext.statusTracker()
    before = set(tracker.getJobIdsForGroup())
    report = assess_risk(rows, QIS, ["income", "education"])
    assert len(set(tracker.getJobIdsForGroup()) - before) == 1
    frame = ws.read("people", purpose="analytics", actor="alice")
    sizes = _polars_counts(frame, QIS).get_column(COUNT)
    assert (report.rows, report.classes, report.k) == (frame.height, sizes.len(), sizes.min())
    assert report.sample_uniques == (sizes == 1).sum() / frame.height
    fewest = min(
        frame.group_by(QIS).agg(pl.col(column).n_unique()).get_column(column).min()
        for column in ["income", "education"]
    )
    assert report.l == fewest


@pytest.mark.parametrize("tasks", [1, 3, 10])
@pytest.mark.parametrize("stepped", [False, True])
def test_counts_add_up_alike_in_the_driver_and_in_spark(
    spark, ws: Workspace, people_with_nulls, tasks: int, stepped: bool
):
    """Up to 8 tasks their counts are added up in the driver (one job), more in Spark's
    shuffle; more tasks than row groups leave some tasks empty. Same counts every way."""
    ingest_people(ws, people_with_nulls)
    rows = _rows(ws, "people")
    expected = ws.read("people", purpose="analytics", actor="alice")
    wide = SparkRows(spark_session(), replace(rows._source, tasks=tasks), rows.schema, rows.height,
                     scratch=ws.hazmat.private_file)  # fmt: skip
    if stepped:
        young = pl.col("age") < 40
        wide = wide.map_batches(lambda frame: frame.filter(young), rows.schema)
        expected = expected.filter(young)
    tracker = spark_session().sparkContext.statusTracker()
    before = set(tracker.getJobIdsForGroup())
    counts = wide.counts(QIS)
    jobs = len(set(tracker.getJobIdsForGroup()) - before)
    assert counts.sort(QIS, nulls_last=True).equals(_polars_counts(expected, QIS))
    assert jobs == 1 if tasks <= 8 else jobs > 1


# -- (e) a standalone master and worker ----------------------------------------------------------


@pytest.mark.parametrize("size", [300, pytest.param(300_000, marks=pytest.mark.slow)])
def test_standalone_cluster_read_and_counts_equal_polars(
    cluster, ws: Workspace, tmp_path: Path, people: pl.DataFrame, size: int
):
    """The executors run in the worker's own JVM and Python processes; at 300,000 rows (slow)
    two tasks share the version's row groups."""
    assert spark_session(cluster).sparkContext.master == cluster
    grown = pl.concat([people] * (size // people.height + 1)).head(size)
    grown = grown.with_columns(
        person_id=pl.format("P{}", pl.int_range(pl.len())),
        workclass=pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise("workclass"),
    )
    grown.write_csv(tmp_path / "grown.csv")
    ingest_people(ws, tmp_path / "grown.csv")
    rows = _rows(ws, "people", master=cluster)
    assert rows._source.tasks == (2 if size > 250_000 else 1)
    expected = ws.read("people", purpose="analytics", actor="alice")
    _assert_same_read(rows, expected, "person_id")
    assert rows.counts(QIS).sort(QIS, nulls_last=True).equals(_polars_counts(expected, QIS))


def test_standalone_cluster_risk_and_protect_equal_polars(cluster, ws: Workspace, people_csv):
    """Acceptance 2: risk and protect run on the master and worker, and agree with Polars."""
    from privet.deid import RiskRequest

    ingest_people(ws, people_csv)
    request = RiskRequest(quasi_identifiers=QIS, sensitive=["income", "education_num"])
    polars = ws.deid.risk("people", request, actor="alice", engine="polars")
    spark = ws.deid.risk("people", request, actor="alice", engine="spark", spark_master=cluster)
    assert spark == polars
    plan = ProtectRequest(k=4, l=2, quasi_identifiers=QIS, sensitive=["income"],
                          max_suppression=0.1)  # fmt: skip
    made = {
        engine: ws.deid.protect("people", plan, output=f"people-{engine}", actor="alice",
                                engine=engine, spark_master=master)
        for engine, master in (("polars", None), ("spark", cluster))
    }  # fmt: skip
    assert made["spark"].levels == made["polars"].levels
    assert made["spark"].risk_after == made["polars"].risk_after
    stored = {
        engine: ws.read(f"people-{engine}", purpose="analytics", actor="alice") for engine in made
    }
    columns = stored["polars"].columns
    assert (
        stored["spark"]
        .sort(columns, nulls_last=True)
        .equals(stored["polars"].sort(columns, nulls_last=True))
    )
    # The test's own count: every class of the stored copy has at least k rows.
    assert stored["spark"].group_by(QIS).len()["len"].min() >= 4
