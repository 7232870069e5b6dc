"""Shared fixtures: every test gets its own workspace and a master-key folder outside it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

from privet import Workspace
from privet.cli import cli
from privet.datasets import raw_people
from tests.browser_support import browser  # noqa: F401 - the Chromium fixture, for every test
from tests.pg_support import database_url  # noqa: F401 - a fresh PostgreSQL database

# Columns of the generated raw table and the categories a steward would declare.
PEOPLE_CATEGORIES = {
    "email": "user.contact.email",
    "ssn": "user.government_id.national_identification_number",
    "full_name": "user.name",
    "race": "user.demographic.race_ethnicity",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``slow`` tests run only with PRIVET_SLOW=1 (``make test-slow``); each has a small
    variant in the default run."""
    if os.environ.get("PRIVET_SLOW"):
        return
    skip = pytest.mark.skip(reason="slow: PRIVET_SLOW=1 (make test-slow) runs it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIVET_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("PRIVET_USER", "tester")
    monkeypatch.delenv("PRIVET_WORKSPACE", raising=False)
    monkeypatch.delenv("PRIVET_DEBUG", raising=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def ws(project: Path) -> Workspace:
    workspace = Workspace.init(project, actor="tester")
    yield workspace
    workspace.close()


@pytest.fixture(scope="session")
def people() -> pl.DataFrame:
    return raw_people(300)


@pytest.fixture
def people_csv(tmp_path: Path, people: pl.DataFrame) -> Path:
    path = tmp_path / "people.csv"
    people.write_csv(path)
    return path


def ingest_people(ws: Workspace, path: Path, name: str = "people") -> object:
    return ws.ingest(
        path,
        name=name,
        owner="alice",
        purposes=["training", "analytics"],
        actor="alice",
        subject_id="person_id",
        categories=PEOPLE_CATEGORIES,
    )


def invoke(*args: str | Path, workspace: Path | None = None) -> Result:
    """Run the CLI in-process (Click's runner), the way a user types it."""
    argv = [str(a) for a in args]
    if workspace is not None:
        argv += ["-w", str(workspace)]
    return CliRunner().invoke(cli, argv, catch_exceptions=False)


def run_privet(*args: str | Path, cwd: Path | None = None, timeout: float = 120):
    """Run ``privet`` as a real process (exit codes, stderr and signals as users see them)."""
    return subprocess.run(
        [sys.executable, "-m", "privet", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )
