"""SIGKILL in the middle of an ingest loses nothing committed and shows nothing partial (7)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from privet import Workspace
from privet.datasets import raw_people
from tests.conftest import run_privet


@pytest.fixture(scope="module")
def large_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "people.csv"
    pl.concat([raw_people()] * 3).write_csv(path)  # ~146,000 rows, ~40 MB
    return path


def _start_ingest(csv: Path, project: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "privet", "ingest", str(csv), "--name", "big", "--owner", "o",
         "--purpose", "p", "-w", str(project)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy(),
    )  # fmt: skip


def _kill_when(proc: subprocess.Popen, ready) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()`` holds; False if it finished first."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    proc.kill()
    raise AssertionError("ingest neither finished nor reached the point to kill it")


def _assert_clean(project: Path) -> list[dict]:
    listing = run_privet("datasets", "--json", "-w", project)
    assert listing.returncode == 0, listing.stderr
    datasets = json.loads(listing.stdout)
    for dataset in datasets:  # whatever is visible is complete
        assert [v["number"] for v in dataset["versions"]] == [1]
        assert dataset["versions"][0]["rows"] == 146_526
    verify = run_privet("log", "verify", "-w", project)
    assert verify.returncode == 0, verify.stderr
    return datasets


def _object_written(project: Path) -> bool:
    return any((project / ".privet" / "objects" / "versions").rglob("*.tink"))


@pytest.mark.parametrize(
    "moment",
    [
        "while encrypting",  # the temporary object file exists
        "after the object, before the commit",  # the final object exists
        "0.4 s in",  # still reading and parsing the CSV
    ],
)
def test_sigkill_mid_ingest_leaves_a_clean_workspace(
    ws: Workspace, project: Path, large_csv: Path, moment: str
):
    tmp_dir = project / ".privet" / "objects" / ".tmp"
    started = time.monotonic()
    ready = {
        "while encrypting": lambda: any(tmp_dir.glob("*.part")),
        "after the object, before the commit": lambda: _object_written(project),
        "0.4 s in": lambda: time.monotonic() - started > 0.4,
    }[moment]
    proc = _start_ingest(large_csv, project)
    killed = _kill_when(proc, ready)
    assert killed or moment.startswith("after"), "the ingest finished before the kill"
    datasets = _assert_clean(project)
    if datasets:  # the kill landed after the commit: the version is whole and readable
        assert moment.startswith("after")
        return
    assert run_privet("gc", "-w", project).returncode == 0
    assert list((project / ".privet" / "objects").rglob("*.tink")) == []
    rerun = run_privet("ingest", large_csv, "--name", "big", "--owner", "o", "--purpose", "p",
                       "-w", project)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert len(_assert_clean(project)) == 1
