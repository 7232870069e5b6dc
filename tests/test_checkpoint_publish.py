"""Published checkpoints: one signed file per log size, by hand, on a timer and by the server.

Each published note is opened with the test's own verifier (tests/reference.py), and its
size and root are compared with the log recomputed independently.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import polars as pl
import pytest

from privet import NotFound, Workspace
from privet.auditlog import CheckpointPublisher, publish
from tests.conftest import invoke
from tests.reference import ref_leaf_hash, ref_mth, ref_open_checkpoint
from tests.server_support import ServerProcess, governed_root


def _root_of(ws: Workspace, size: int) -> bytes:
    """The tree head of the first ``size`` entries, from the stored entry bytes."""
    with sqlite3.connect(ws.folder / "catalog.db") as db:
        rows = db.execute("SELECT data FROM log_entries ORDER BY idx LIMIT ?", (size,)).fetchall()
    return ref_mth([ref_leaf_hash(bytes(data)) for (data,) in rows])


def _published(folder: Path, ws: Workspace) -> dict[int, bytes]:
    """{size: root} of every published note, each checked against the workspace's key."""
    found = {}
    for path in sorted(folder.glob("checkpoint-*.txt")):
        _, size, root = ref_open_checkpoint(path.read_text(), ws.log.verifier_key)
        assert path.name == f"checkpoint-{size:012d}.txt"
        found[size] = root
    return found


def test_publish_writes_one_signed_checkpoint_per_log_size(ws: Workspace, tmp_path: Path):
    folder = tmp_path / "witness"
    folder.mkdir()
    first = publish(ws.log, folder)
    assert publish(ws.log, folder) == first  # nothing new: the same file, untouched
    assert len(list(folder.iterdir())) == 1
    with pytest.raises(NotFound, match="does not exist"):
        publish(ws.log, tmp_path / "missing")
    published = _published(folder, ws)
    assert list(published) == [ws.log.size()]
    assert published[ws.log.size()] == _root_of(ws, ws.log.size())


def test_the_publisher_follows_the_log_and_publishes_once_more_at_stop(
    ws: Workspace, tmp_path: Path, people_csv: Path
):
    folder = tmp_path / "witness"
    folder.mkdir()
    publisher = CheckpointPublisher(ws.log, folder, interval=0.05).start()
    try:
        _wait_for(lambda: ws.log.size() in _published(folder, ws))
        ws.ingest(people_csv, name="people", owner="tester", purposes=["training"], actor="t")
        _wait_for(lambda: ws.log.size() in _published(folder, ws))
    finally:
        publisher.stop()
    ws.read("people", purpose="training", actor="late")  # after the stop: not published
    published = _published(folder, ws)
    assert len(published) >= 2 and max(published) == ws.log.size() - 1
    for size, root in published.items():
        assert root == _root_of(ws, size)


def _wait_for(condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "no checkpoint was published in time"
        time.sleep(0.05)


def test_the_server_publishes_checkpoints_of_what_it_served(
    tmp_path_factory: pytest.TempPathFactory, people: pl.DataFrame
):
    with governed_root(tmp_path_factory, "publish", people) as (root, governed):
        witness = root / "witness"
        witness.mkdir()
        args = ("--publish-checkpoints", str(witness), "--checkpoint-every", "1")
        with ServerProcess(root / "project", *args) as server:
            headers = {"Authorization": f"Bearer {governed.tokens['bob']}"}
            read = httpx.get(
                f"{server.url}/v1/datasets/people/rows",
                params={"purpose": "analytics"},
                headers=headers,
            )
            assert read.status_code == 200
        with Workspace.open(root / "project") as ws:
            size = ws.log.size()
            published = _published(witness, ws)
            # The last note, written at shutdown, covers every entry, the read included.
            assert max(published) == size and published[size] == _root_of(ws, size)
            reads = [r.index for r in ws.log.records() if r.event["event"] == "read"]
            assert reads and max(reads) < size
        missing = invoke(
            "serve", "--publish-checkpoints", str(root / "nope"), workspace=root / "project"
        )
        assert missing.exit_code == 1 and "does not exist" in missing.output
