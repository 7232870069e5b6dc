"""Failures privet did not foresee still end in one sentence and exit 1, never a traceback.

Each input below once printed "internal error (X)" or a Rust panic with a Python traceback:
a missing, empty, truncated or garbage catalog; an unreachable PostgreSQL; an unwritable
output; a list-typed column; and a panic inside Polars, in the CLI (a real process, whose
native stderr Rust writes its report to) and in the HTTP server.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from privet import Workspace
from tests.conftest import ingest_people, run_privet


def one_sentence(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("privet: error: ")
    assert "Traceback" not in result.stderr and "panicked" not in result.stderr
    assert "internal error" not in lines[0]
    return lines[0]


@pytest.fixture
def broken(ws: Workspace, people_csv: Path) -> Path:
    ingest_people(ws, people_csv)
    ws.close()
    return ws.folder


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("missing", "is missing"),
        ("empty", "is empty"),
        ("garbage", "not a SQLite database"),
        ("truncated", "truncated or corrupted"),
        ("no tables", "not a privet catalog"),
    ],
)
def test_a_damaged_catalog_is_named_and_left_alone(
    broken: Path, project: Path, damage: str, expected: str
) -> None:
    catalog = broken / "catalog.db"
    for extra in ("catalog.db-wal", "catalog.db-shm"):
        (broken / extra).unlink(missing_ok=True)
    data = catalog.read_bytes()
    if damage == "missing":
        catalog.unlink()
    elif damage == "empty":
        catalog.write_bytes(b"")
    elif damage == "garbage":
        catalog.write_bytes(os.urandom(8192))
    elif damage == "truncated":
        catalog.write_bytes(data[:3000])
    else:
        catalog.unlink()
        sqlite3.connect(catalog).execute("CREATE TABLE unrelated (x)").connection.commit()
    before = catalog.read_bytes() if catalog.exists() else None
    message = one_sentence(run_privet("datasets", "-w", project))
    assert expected in message
    # Nothing was created or migrated over the damage.
    if damage == "no tables":  # SQLite may rewrite its header (WAL mode); the tables stay
        tables = sqlite3.connect(catalog).execute("SELECT name FROM sqlite_master").fetchall()
        assert tables == [("unrelated",)]
    else:
        assert (catalog.read_bytes() if catalog.exists() else None) == before


def test_an_unreachable_postgresql_is_one_sentence(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:9/privet"  # port 9: nothing listens
    message = one_sentence(run_privet("init", tmp_path / "pg", "--database-url", url))
    assert "cannot reach the catalog database" in message


def test_an_unwritable_output_names_the_file(broken: Path, project: Path) -> None:
    message = one_sentence(
        run_privet(
            "export",
            "people",
            "-o",
            "/proc/x.csv",
            "--purpose",
            "training",
            "--as",
            "alice",
            "-w",
            project,
        )  # fmt: skip
    )
    assert message == "privet: error: /proc/x.csv cannot be written (No such file or directory)"


def test_protecting_a_list_column_says_why(tmp_path: Path) -> None:
    source = tmp_path / "lists.parquet"
    pl.DataFrame({"a": [[1, 2], [3]], "b": ["x", "y"], "c": [1, 2]}).write_parquet(source)
    message = one_sentence(
        run_privet("protect", source, "--k", "2", "--qi", "a,c", "-o", tmp_path / "o.parquet")
    )
    assert "column 'a' holds lists" in message


# A real Rust panic: Polars' zfill with an absurd width panics inside Rust ("Formatting
# argument out of range"), reaching Python as pyo3's PanicException, a BaseException.
PANIC = "import polars as pl; pl.Series(['1']).str.zfill(2**40)"


def test_a_rust_panic_in_a_command_is_one_sentence(broken: Path, project: Path) -> None:
    driver = (
        "import sys, privet.catalog\n"
        "def boom(*a, **k):\n"
        f"    {PANIC}\n"
        "privet.catalog.dataset_info = boom\n"
        "from privet.cli import main\n"
        "sys.argv = ['privet', 'datasets', '-w', sys.argv[1]]\n"
        "main()\n"
    )
    env = {**os.environ, "RUST_BACKTRACE": "1"}  # a backtrace too must not reach the user
    result = subprocess.run(
        [sys.executable, "-c", driver, str(project)], capture_output=True, text=True, env=env
    )
    assert "Rust panic" in one_sentence(result)


def test_a_rust_panic_in_the_server_is_a_500_with_one_sentence(
    broken: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from privet.server import create_app

    ws = Workspace.open(broken)
    ws.access.add_user("alice", roles=["analyst"], actor="alice")
    token = ws.access.issue_token("alice", expires_in=timedelta(hours=1), actor="alice").secret

    def boom(*_args: object, **_kwargs: object) -> None:
        exec(PANIC)  # noqa: S102 - the same real panic, raised inside a route

    monkeypatch.setattr("privet.catalog.dataset_info", boom)
    with TestClient(create_app(ws), raise_server_exceptions=False) as client:
        response = client.get("/v1/datasets", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal" and "Traceback" not in response.text
    ws.close()


def test_interrupt_is_exit_130_as_documented() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert "130" in readme and "interrupted" in readme


def test_cli_main_keeps_non_panic_native_output() -> None:
    # What native code writes to stderr that is not a panic report still reaches the user.
    driver = (
        "import os, sys\n"
        "from privet.cli import main\n"
        "import privet.cli._app as app\n"
        "with app.native_panics_silenced():\n"
        "    os.write(2, b'native note\\n')\n"
    )
    result = subprocess.run([sys.executable, "-c", driver], capture_output=True, text=True)
    assert result.stderr == "native note\n"
