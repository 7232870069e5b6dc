"""The catalog on PostgreSQL: schema, governed reads, the audit log, keys and the CLI.

Each test gets a fresh database on the server named by ``PRIVET_TEST_PG_URL`` (``.ci/run``
starts one), dropped afterwards; the module is skipped when the variable is unset.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import polars as pl
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from polars.testing import assert_frame_equal
from sqlalchemy import create_engine, inspect, text

from privet import IntegrityError, PolicyDenied, Workspace, auditlog, tables
from privet.auditlog import leaf_hash, open_note, verify_inclusion
from privet.datasets import raw_people
from privet.schema import Base

PG_URL = os.environ.get("PRIVET_TEST_PG_URL")
if not PG_URL:
    pytest.skip(
        "PRIVET_TEST_PG_URL is not set (postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB of a "
        "role with CREATEDB; .ci/run starts such a server)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.postgres

PRIVET = Path(sys.executable).with_name("privet")
# The migrations must create exactly the tables the ORM models declare.
CATALOG_TABLES = set(Base.metadata.tables) | {"alembic_version"}
PURPOSE = "fraud-detection"
ACTOR = "alice"


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def key_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PRIVET_KEY_DIR in its own temporary folder, outside every workspace."""
    folder = tmp_path_factory.mktemp("keys")
    monkeypatch.setenv("PRIVET_KEY_DIR", str(folder))
    return folder


@pytest.fixture
def ws(tmp_path: Path, database_url: str, key_dir: Path) -> Iterator[Workspace]:
    workspace = Workspace.init(tmp_path, database_url=database_url)
    try:
        yield workspace
    finally:
        workspace.close()


@pytest.fixture
def people_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("source") / "people.csv"
    raw_people(200).write_csv(path)
    return path


def _ingest_people(ws: Workspace, path: Path, name: str = "people") -> None:
    ws.ingest(path, name=name, owner="data-team", purposes=[PURPOSE], actor=ACTOR)


def _alembic_head() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("privet.schema") / "migrations"))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


# --- schema ------------------------------------------------------------------------------


def test_init_creates_the_catalog_schema_through_alembic_at_its_head_revision(
    ws: Workspace, database_url: str
) -> None:
    engine = create_engine(database_url)
    try:
        assert engine.dialect.name == "postgresql"
        assert set(inspect(engine).get_table_names()) == CATALOG_TABLES
        with engine.connect() as conn:
            revisions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            assert list(revisions) == [_alembic_head()]
    finally:
        engine.dispose()
    # The catalog lives on the server: the workspace folder holds no SQLite file.
    assert not (ws.folder / "catalog.db").exists()


# --- governed reads ----------------------------------------------------------------------


def test_ingested_csv_reads_back_equal_to_its_source(ws: Workspace, people_csv: Path) -> None:
    _ingest_people(ws, people_csv)
    frame = ws.read("people", purpose=PURPOSE, actor=ACTOR)
    assert frame.height == 200
    assert_frame_equal(frame, tables.read_table(people_csv).frame)


def test_an_undeclared_purpose_is_refused_and_the_refusal_is_logged(
    ws: Workspace, people_csv: Path
) -> None:
    _ingest_people(ws, people_csv)
    before = ws.log.size()
    with pytest.raises(PolicyDenied, match="marketing"):
        ws.read("people", purpose="marketing", actor="mallory")
    (refusal,) = ws.log.records(start=before)
    assert refusal.index == before
    assert refusal.event["event"] == "read.refused"
    assert refusal.event["purpose"] == "marketing"
    assert refusal.event["actor"] == "mallory"
    assert refusal.event["reason"] == "purpose_not_declared"
    # No "read" entry was written: the refused read released nothing.
    assert [r.event["event"] for r in ws.log.records()].count("read") == 0


# --- the audit log -----------------------------------------------------------------------


def test_log_verifies_and_every_checkpointed_entry_has_a_valid_inclusion_proof(
    ws: Workspace, people_csv: Path
) -> None:
    _ingest_people(ws, people_csv)
    ws.read("people", purpose=PURPOSE, actor=ACTOR)
    report = ws.log.verify()
    assert report.size == ws.log.size() == len(ws.log.records())
    checkpoint = ws.log.checkpoint()
    assert checkpoint.size == report.size
    assert bytes(checkpoint.root) == report.root
    signed = open_note(checkpoint.note, ws.log.verifier_key)
    assert (signed.size, signed.root) == (report.size, report.root)
    for index in range(report.size):
        proof = ws.log.prove_inclusion(index)
        assert verify_inclusion(
            index,
            proof["tree_size"],
            leaf_hash(proof["entry"].encode()),
            [bytes.fromhex(h) for h in proof["proof"]],
            bytes.fromhex(proof["root"]),
        )
        assert bytes.fromhex(proof["root"]) == report.root
    assert ws.log.verify().checkpoints == 1


def test_rewriting_one_log_row_in_sql_is_reported_at_that_rows_index(
    ws: Workspace, people_csv: Path
) -> None:
    _ingest_people(ws, people_csv)
    ws.read("people", purpose=PURPOSE, actor=ACTOR)
    target = ws.log.records()[2]
    forged = dict(target.event, actor="nobody")
    with ws.hazmat.engine.begin() as conn:
        conn.execute(
            text("UPDATE log_entries SET data = :data WHERE idx = :idx"),
            {"data": auditlog.canonical(forged), "idx": target.index},
        )
    with pytest.raises(IntegrityError) as caught:
        ws.log.verify()
    assert caught.value.index == target.index


def test_concurrent_appenders_in_separate_workspaces_leave_a_gap_free_log(
    ws: Workspace, tmp_path: Path
) -> None:
    threads_count, per_thread = 6, 200
    start_size = ws.log.size()
    barrier = threading.Barrier(threads_count)
    errors: list[BaseException] = []
    returned: list[int] = []
    lock = threading.Lock()

    def appender(worker: int) -> None:
        try:
            with Workspace.open(tmp_path) as own:
                barrier.wait()
                for n in range(per_thread):
                    with own.hazmat.session() as session:
                        indexes = auditlog.append(
                            session, [{"event": "test.append", "worker": worker, "n": n}]
                        )
                        session.commit()
                    with lock:
                        returned.extend(indexes)
        except BaseException as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)
            barrier.abort()

    workers = [threading.Thread(target=appender, args=(w,)) for w in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert not any(worker.is_alive() for worker in workers)
    assert errors == []

    expected = start_size + threads_count * per_thread
    assert sorted(returned) == list(range(start_size, expected))
    assert ws.log.size() == expected
    records = ws.log.records()
    assert [r.index for r in records] == list(range(expected))
    appended = [r.event for r in records if r.event["event"] == "test.append"]
    for worker in range(threads_count):
        # Each worker's own entries appear in the order it committed them.
        assert [e["n"] for e in appended if e["worker"] == worker] == list(range(per_thread))
    assert ws.log.verify().size == expected


# --- keys --------------------------------------------------------------------------------


def test_key_rotation_with_reencrypt_rewrites_versions_that_stay_readable(
    ws: Workspace, people_csv: Path, tmp_path: Path
) -> None:
    _ingest_people(ws, people_csv)
    before = ws.dataset("people").versions[-1]
    result = ws.rotate_keys(actor=ACTOR, reencrypt=True)
    assert result["workspace_keys"] == 2
    assert result["dataset_keysets"] == 1
    assert result["reencrypted_versions"] == 1
    # The old object was replaced, not left behind next to the new one.
    assert len(list(ws.hazmat.store.object_keys())) == 1
    assert ws.garbage() == []
    with Workspace.open(tmp_path) as reopened:
        rotated = reopened.dataset("people").versions[-1]
        assert rotated.content_sha256 == before.content_sha256
        assert_frame_equal(
            reopened.read("people", purpose=PURPOSE, actor=ACTOR),
            tables.read_table(people_csv).frame,
        )
        events = [r.event["event"] for r in reopened.log.records()]
        assert events.count("keys.rotate") == 1
        assert events.count("keys.reencrypt") == 1
        reopened.log.verify()
    # Each rotation brings a new primary key, so the version is rewritten again.
    assert ws.rotate_keys(actor=ACTOR, reencrypt=True)["reencrypted_versions"] == 1


# --- the command line --------------------------------------------------------------------


def _privet(*args: str, key_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRIVET_KEY_DIR": str(key_dir), "PRIVET_USER": ACTOR}
    env.pop("PRIVET_WORKSPACE", None)
    return subprocess.run(
        [str(PRIVET), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_cli_init_ingest_export_and_log_verify_work_against_postgres(
    tmp_path: Path, database_url: str, key_dir: Path, people_csv: Path
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    out = tmp_path / "out.csv"
    steps = [
        ["init", str(root), "--database-url", database_url, "--json"],
        ["ingest", str(people_csv), "--name", "people", "--owner", "data-team",
         "--purpose", PURPOSE, "-w", str(root), "--json"],
        ["export", "people", "-o", str(out), "--purpose", PURPOSE, "-w", str(root), "--json"],
        ["log", "verify", "-w", str(root), "--json"],
    ]  # fmt: skip
    results = []
    for step in steps:
        done = _privet(*step, key_dir=key_dir)
        assert done.returncode == 0, (step[0], done.stderr)
        assert "Traceback" not in done.stderr
        results.append(json.loads(done.stdout))
    init, _ingest, export, verify = results
    assert init["database"] == "external"
    assert len(list(key_dir.iterdir())) == 1
    assert export["rows"] == 200
    assert verify["ok"] is True
    assert verify["size"] == export["log_index"] + 1
    assert_frame_equal(tables.read_table(out).frame, tables.read_table(people_csv).frame)
    # The catalog is in PostgreSQL: the library sees the CLI's dataset through the same URL.
    with Workspace.open(root) as ws:
        assert ws.hazmat.config.database_url == database_url
        assert [d.name for d in ws.datasets()] == ["people"]
        assert ws.hazmat.engine.dialect.name == "postgresql"
        assert isinstance(ws.read("people", purpose=PURPOSE, actor=ACTOR), pl.DataFrame)


# --- forgetting (issue 16) -------------------------------------------------------------------


def test_erasure_and_retention_work_against_postgres(
    ws: Workspace, people_csv: Path, tmp_path: Path
) -> None:
    """The same erasure as on SQLite: versions rewritten under new keys, a protected copy
    reached by its subject link, the receipt verified; then retention destroys a version."""
    from privet.deid import ProtectRequest, parse_plan
    from privet.forget import EraseRequest
    from tests.forget_support import decryptable_objects, holds_any
    from tests.test_erasure import MASK_PLAN

    for number in (1, 2):
        ws.ingest(people_csv, name="people", owner="data-team", purposes=[PURPOSE], actor=ACTOR,
                  subject_id="person_id", retention_days=30, new_version=number > 1)  # fmt: skip
    plan = parse_plan(MASK_PLAN)
    ws.deid.protect("people", ProtectRequest(plan=plan), output="masked", actor="data-team")
    ws.access.set_policy("erasure_roles: [dpo]\n", actor="data-team")
    ws.access.add_user("dana", roles=["dpo"], actor="data-team")
    subject = raw_people(200).row(4, named=True)
    result = ws.forget.erase(EraseRequest(subjects=[subject["person_id"]], reason="r"),
                             actor="dana")  # fmt: skip
    assert [s["action"] for s in result.receipt["stores"]] == ["rewritten"] * 3
    opened, sealed = decryptable_objects(ws)
    values = [subject["person_id"], subject["email"], subject["ssn"]]
    assert opened and sealed == [] and not any(holds_any(o.plaintext, values) for o in opened)
    assert ws.forget.verify_receipt(result.note)["request"] == result.id
    assert ws.read("people", purpose=PURPOSE, actor="data-team").height == 199
    ws.log.verify()
    later = datetime.now(UTC) + timedelta(days=31)  # both versions past their 30 days
    with Workspace.open(ws.folder.parent, clock=lambda: later) as aged:
        report = aged.forget.retention(actor="privet")
        assert {item.name for item in report.destroyed} == {"people@1", "people@2", "masked@1"}
        aged.log.verify()
