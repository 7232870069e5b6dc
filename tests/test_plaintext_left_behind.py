"""No plaintext left behind: exports and the catalog are owner-only, and a killed export's
temporary file is gone once the next privet command has run."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from privet import Workspace, tables
from privet.datasets import raw_people
from tests.conftest import ingest_people, run_privet


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_catalog_and_its_wal_are_owner_only(ws: Workspace, people_csv: Path) -> None:
    ingest_people(ws, people_csv)
    folder = ws.folder
    assert _mode(folder) == 0o700
    for name in ("catalog.db", "catalog.db-wal", "catalog.db-shm"):
        if (folder / name).exists():
            assert _mode(folder / name) == 0o600, name


def test_an_old_world_readable_catalog_is_tightened_on_open(ws: Workspace) -> None:
    (ws.folder / "catalog.db").chmod(0o644)
    ws.close()
    Workspace.open(ws.folder).close()
    assert _mode(ws.folder / "catalog.db") == 0o600


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl"])
def test_exports_are_owner_only(ws: Workspace, people_csv: Path, tmp_path: Path, suffix) -> None:
    ingest_people(ws, people_csv)
    out = tmp_path / f"out.{suffix}"
    old = os.umask(0)  # even a permissive umask must not widen an export
    try:
        ws.export("people", out, purpose="training", actor="alice")
    finally:
        os.umask(old)
    assert _mode(out) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_a_killed_export_leaves_no_plaintext_once_the_next_command_ran(
    ws: Workspace, project: Path, tmp_path: Path
) -> None:
    big = tmp_path / "big.csv"
    pl.concat([raw_people()] * 3).write_csv(big)  # ~146,000 rows: the write takes a while
    ws.ingest(big, name="big", owner="alice", purposes=["training"], actor="alice", scan=False)
    ws.close()
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "privet", "export", "big", "-o", str(out_dir / "big.csv"),
         "--purpose", "training", "--as", "alice", "-w", str(project)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy(),
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not any(out_dir.glob(".*.part")):
        assert proc.poll() is None, "the export finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.kill()
    proc.wait()
    (leftover,) = out_dir.glob(".*.part")
    assert _mode(leftover) == 0o600  # while it exists, only its owner can read it
    assert not (out_dir / "big.csv").exists()
    listing = run_privet("datasets", "-w", project)  # any command opens the workspace
    assert listing.returncode == 0, listing.stderr
    assert list(out_dir.iterdir()) == []
    assert list((project / ".privet" / "pending").iterdir()) == []


def test_the_journal_spares_a_live_writer_and_foreign_files(tmp_path: Path) -> None:
    journal = tmp_path / "pending"
    target = tmp_path / "x.csv"
    with tables.atomic_file(target, journal=journal) as out:
        out.write(b"a\n")
        (live,) = tmp_path.glob(".x.csv.privet-*.part")
        assert tables.clean_journal(journal) == []  # our own process is alive
        assert live.exists()
    assert target.read_bytes() == b"a\n" and list(journal.iterdir()) == []
    # A dead writer's entry that points at a file privet did not name is not followed.
    victim = tmp_path / "precious.txt"
    victim.write_text("keep")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    (journal / "a.json").write_text(f'{{"pid": {dead.stdout.strip()}, "path": "{victim}"}}')
    assert tables.clean_journal(journal) == []
    assert victim.read_text() == "keep" and list(journal.iterdir()) == []
