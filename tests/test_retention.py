"""Retention (issue 16, acceptance 4): with an injected clock, expired versions are
crypto-shredded by ``retention run``; the dry run changes nothing; what was made from an
expired version goes with it unless the owner kept it; each destruction is a log entry
with its evidence.

Versions expire ``retention_days`` after their own creation. The checks are independent:
object files are hashed and decrypted here with the keys the master key still unwraps.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from privet import Workspace
from privet.datasets import raw_people
from privet.errors import Destroyed
from tests.conftest import invoke
from tests.forget_checks import (
    Clock,
    any_key_opens,
    assert_consistent,
    build_expiring,
    catalog_dump,
    key_ids,
    object_files,
    rows,
)

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
# At START + 30.5 days: people@1 is 30.5 days old (expired); people-masked@1 is 29.5 days
# old (not yet expired on its own: it goes because its source did); people@2 and @3 live.
EXPECTED = {
    ("version", "people@1"): "expired",
    ("version", "people-masked@1"): "source_expired",
    ("model", "m1"): "source_expired",
}


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def built(project: Path, tmp_path: Path, clock: Clock):
    ws = Workspace.init(project, actor="tester", clock=clock)
    frames = build_expiring(ws, clock, tmp_path)
    yield ws, frames
    ws.close()


def _items(report) -> dict[tuple[str, str], str]:
    return {(i.kind, i.name): i.reason for i in report.destroyed}


def test_nothing_expires_before_its_time(built, clock: Clock):
    ws, _ = built
    clock.now = START + timedelta(days=30) - timedelta(seconds=1)
    assert ws.forget.retention(actor="alice", dry_run=True).destroyed == []
    assert ws.forget.retention(actor="alice").destroyed == []


def test_retention_run_destroys_what_expired_and_only_that(built, clock: Clock):
    ws, frames = built
    clock.now = START + timedelta(days=30.5)
    project = ws.folder  # the .privet folder
    by_label = {r.label: r for r in rows(ws)}
    doomed = [by_label[name] for _, name in EXPECTED]
    files_before = object_files(ws)
    ciphertext = {r.label: (ws.hazmat.store.root / r.object_key).read_bytes() for r in doomed}
    live_before = {
        ref: ws.read(ref, purpose="training", actor="alice")
        for ref in ("people@2", "people@3", "people-kept")
    }
    catalog_before, log_size = catalog_dump(project), ws.log.size()

    # The dry run lists exactly what expired, and changes nothing at all.
    dry = ws.forget.retention(actor="alice", dry_run=True)
    assert dry.dry_run and _items(dry) == EXPECTED
    assert all(i.key_id is None and i.object_sha256 is None for i in dry.destroyed)
    assert catalog_dump(project) == catalog_before
    assert object_files(ws) == files_before and ws.log.size() == log_size

    report = ws.forget.retention(actor="alice")
    assert not report.dry_run and _items(report) == EXPECTED
    # Its evidence: the key ids and the SHA-256 of each object's file, taken before the run.
    for item in report.destroyed:
        row = by_label[item.name]
        assert item.key_id == row.key_id
        assert item.object_sha256 == files_before[row.object_key]
    # Tombstones: rows kept, keys gone from the keysets, object files deleted, and a copy of
    # the old ciphertext (a backup) opens with no key the master key still unwraps.
    after = {r.label: r for r in rows(ws)}
    keys = key_ids(ws)
    for row in doomed:
        assert after[row.label].destroyed
        assert row.key_id not in keys[row.dataset_id]
        assert not (ws.hazmat.store.root / row.object_key).exists()
        context = row.id if row.kind == "version" else f"model:{row.id}"
        assert not any_key_opens(ws, ciphertext[row.label], row.dataset_id, context)
    assert_consistent(ws, settled=True)
    # Reads of what was destroyed fail with one sentence; the rest reads exactly as before.
    for ref in ("people@1", "people-masked@1", "people-masked"):
        with pytest.raises(Destroyed) as refused:
            ws.read(ref, purpose="training", actor="alice")
        assert "\n" not in str(refused.value)
    with pytest.raises(Destroyed, match="retention"):
        ws.dp.load_model("m1", actor="alice")
    for ref, frame in live_before.items():
        assert ws.read(ref, purpose="training", actor="alice").equals(frame)
    assert live_before["people@2"].height == frames[2].height
    # One retention.shred entry per destruction, with its evidence and never a value.
    entries = [r.event for r in ws.log.records() if r.event["event"] == "retention.shred"]
    assert len(entries) == len(EXPECTED)
    for entry in entries:
        row = next(r for r in doomed if r.id == entry.get("version", entry.get("model")))
        assert entry["object"] == row.object_key and entry["key_id"] == row.key_id
        assert entry["key_destroyed"] is True
        assert entry["object_sha256"] == hashlib.sha256(ciphertext[row.label]).hexdigest()
    people = frames[1]
    log_text = json.dumps([r.event for r in ws.log.records()])
    assert not any(v in log_text for v in people["email"].to_list() + people["ssn"].to_list())
    verify = invoke("log", "verify", workspace=project)
    assert verify.exit_code == 0, verify.output
    # A second run finds nothing left to do.
    assert ws.forget.retention(actor="alice").destroyed == []
    # What comes next: people@2 is due at START + 40 days, people@3 at + 50.
    assert [(d.dataset, d.version, d.due_at) for d in ws.forget.due(within_days=15)] == [
        ("people", 2, START + timedelta(days=40))
    ]
    # people-kept is exempt; people-masked has no live version left.
    soon = {(d.dataset, d.version) for d in ws.forget.due(within_days=60)}
    assert soon == {("people", 2), ("people", 3)}


def test_unkeep_makes_a_derived_dataset_follow_its_source_again(built, clock: Clock):
    ws, _ = built
    clock.now = START + timedelta(days=30.5)
    ws.forget.retention(actor="alice")
    ws.forget.unkeep("people-kept", actor="alice")
    # Its source is already a tombstone: the next run still finds what was made from it.
    report = ws.forget.retention(actor="alice")
    assert _items(report) == {("version", "people-kept@1"): "source_expired"}
    assert_consistent(ws, settled=True)


def test_retention_through_the_cli(project: Path, tmp_path: Path):
    # Built on a clock set 30.5 days back: the command, on the real clock, sees it expired.
    clock = Clock(datetime.now(UTC) - timedelta(days=30.5))
    with Workspace.init(project, actor="tester", clock=clock) as ws:
        build_expiring(ws, clock, tmp_path)
    catalog_before = catalog_dump(project / ".privet")
    dry = invoke("retention", "run", "--dry-run", "--json", "--as", "alice", workspace=project)
    assert dry.exit_code == 0, dry.output
    listed = json.loads(dry.output)
    assert listed["dry_run"] is True
    assert {(i["kind"], i["name"]): i["reason"] for i in listed["destroyed"]} == EXPECTED
    assert catalog_dump(project / ".privet") == catalog_before
    run = invoke("retention", "run", "--json", "--as", "alice", workspace=project)
    assert run.exit_code == 0, run.output
    done = json.loads(run.output)
    assert {(i["kind"], i["name"]) for i in done["destroyed"]} == set(EXPECTED)
    assert all(i["key_id"] and len(i["object_sha256"]) == 64 for i in done["destroyed"])
    due = invoke("retention", "due", "--days", "15", "--json", workspace=project)
    assert [(d["dataset"], d["version"]) for d in json.loads(due.output)] == [("people", 2)]
    human = invoke("retention", "run", "--as", "alice", workspace=project)
    assert human.exit_code == 0 and "destroyed 0 object(s)" in human.output
    assert invoke("log", "verify", workspace=project).exit_code == 0
    with Workspace.open(project) as ws:
        assert_consistent(ws, settled=True)
        out = tmp_path / "old.csv"
        read = invoke("export", "people@1", "--purpose", "training", "-o", out, "--as", "alice",
                      workspace=project)  # fmt: skip
        assert read.exit_code == 1 and "destroyed" in read.output
        assert len(read.output.strip().splitlines()) == 1 and not out.exists()
        assert isinstance(ws.read("people@3", purpose="training", actor="alice"), pl.DataFrame)


# -- privet serve enforces retention on its schedule ------------------------------------------


def test_the_server_destroys_expired_versions_on_its_schedule(project: Path, tmp_path: Path):
    from tests.server_support import ServerProcess

    # Version 1 was made 31 days ago with 30 days' retention; version 2 is fresh.
    clock = Clock(datetime.now(UTC) - timedelta(days=31))
    csv = tmp_path / "people.csv"
    with Workspace.init(project, actor="tester", clock=clock) as ws:
        for number in (1, 2):
            raw_people(40).write_csv(csv)
            ws.ingest(csv, name="people", owner="alice", purposes=["training"], actor="alice",
                      retention_days=30, new_version=number > 1)  # fmt: skip
            clock.now = datetime.now(UTC)
    with ServerProcess(project, "--retention-every", "0.5") as server:
        deadline = time.monotonic() + 30
        while not _destroyed_in(project):
            assert time.monotonic() < deadline, f"nothing destroyed in time:\n{server.log()}"
            time.sleep(0.2)
    assert "retention destroyed 1 object(s)" in server.log()
    with Workspace.open(project) as ws:
        assert [label for label, gone in _versions(ws) if gone] == ["people@1"]
        entries = [r.event for r in ws.log.records() if r.event["event"] == "retention.shred"]
        assert [(e["actor"], e["reason"]) for e in entries] == [("privet", "expired")]
        ws.log.verify()
        assert_consistent(ws, settled=True)
    off = invoke("serve", "--retention-every", "-1", workspace=project)
    assert off.exit_code != 0 and "--retention-every" in off.output


def _destroyed_in(project: Path) -> bool:
    with sqlite3.connect(project / ".privet" / "catalog.db") as db:
        (count,) = db.execute(
            "SELECT count(*) FROM versions WHERE shredded_at IS NOT NULL"
        ).fetchone()
    return count > 0


def _versions(ws: Workspace) -> list[tuple[str, bool]]:
    return [(r.label, r.destroyed) for r in rows(ws) if r.kind == "version"]
