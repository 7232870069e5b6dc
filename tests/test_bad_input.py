"""Bad input: one clear sentence, exit 1, no traceback, and the workspace unchanged (8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privet import Workspace
from tests.conftest import ingest_people, invoke, run_privet


def _state(ws_root: Path) -> tuple:
    """What a user can observe of a workspace: catalog, log, checkpoints and stored objects."""
    with Workspace.open(ws_root) as ws:
        return (
            json.dumps([d.model_dump(mode="json") for d in ws.datasets()]),
            ws.log.verify().root,
            [c.note for c in ws.log.checkpoints()],
            sorted(p.relative_to(ws.folder).as_posix() for p in ws.folder.rglob("*")
                   if p.is_file() and not p.name.startswith("catalog.db")),
        )  # fmt: skip


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# (case id, file name, file bytes or None for a missing file, extra args, expected words)
INGEST_CASES = [
    ("missing file", "nope.csv", None, [], "does not exist"),
    ("empty file", "empty.csv", b"", [], "is empty"),
    ("header only", "head.csv", b"a,b\n", [], "no data rows"),
    ("binary file", "bin.csv", bytes(range(256)) * 8, [], "binary file"),
    ("zip renamed", "z.parquet", b"PK\x03\x04" + bytes(500), [], "not a readable Parquet"),
    ("too many fields", "r1.csv", b"a,b\n1,2\n3,4,5\n", [], "more fields"),
    ("too few fields", "r2.csv", b"a,b\n1,2\n3\n", [], "fewer fields"),
    ("non-UTF-8", "latin.csv", "name\nJos\u00e9\n".encode("latin-1"), [], "UTF-8"),
    ("duplicate header", "dup.csv", b"a,a\n1,2\n", [], "duplicate column"),
    ("blank line or empty row", "b.csv", b"a,b\n1,\n\n,\n3,4\n", [], "blank lines"),
    ("blank header", "blank.csv", b",b\n1,2\n", [], "empty name"),
    ("broken JSON lines", "j.jsonl", b'{"a": 1}\n{not json\n', [], "JSON lines"),
    ("unknown type", "data.xlsx", b"whatever", [], "unsupported file type"),
    ("unknown column", "ok.csv", b"a,b\n1,2\n", ["--category", "zz=user.name"], "no column"),
    ("unknown category", "ok.csv", b"a,b\n1,2\n", ["--category", "a=user.nme"], "unknown data"),
    ("bad subject id", "ok.csv", b"a,b\n1,2\n", ["--subject-id", "who"], "no column"),
    ("bad retention", "ok.csv", b"a,b\n1,2\n", ["--retention", "0"], "positive"),
]


@pytest.mark.parametrize(
    ("case", "filename", "content", "extra", "words"),
    INGEST_CASES,
    ids=[c[0] for c in INGEST_CASES],
)
def test_bad_ingest_input_is_refused_cleanly(
    ws: Workspace, project: Path, tmp_path: Path, people_csv: Path,
    case: str, filename: str, content: bytes | None, extra: list[str], words: str,
):  # fmt: skip
    ingest_people(ws, people_csv)
    before = _state(project)
    path = tmp_path / filename
    if content is not None:
        _write(path, content)
    result = run_privet(
        "ingest", path, "--name", "fresh", "--owner", "o", "--purpose", "p", *extra, "-w", project
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert words in result.stderr
    assert result.stderr.startswith("privet: error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert _state(project) == before


@pytest.mark.parametrize(
    ("name", "words"),
    [("../evil", "invalid dataset name"), ("a/b", "invalid dataset name"),
     ("..", "invalid dataset name"), ("", "invalid dataset name")],
)  # fmt: skip
def test_dataset_names_with_path_tricks_are_refused(
    ws: Workspace, project: Path, people_csv: Path, name: str, words: str
):
    before = _state(project)
    result = run_privet("ingest", people_csv, "--name", name, "--owner", "o", "--purpose", "p",
                        "-w", project)  # fmt: skip
    assert result.returncode == 1 and words in result.stderr
    assert _state(project) == before
    assert not any(p.name == "evil" for p in project.parent.rglob("*"))


@pytest.mark.parametrize(
    ("ref", "words"),
    [("ghost", "no dataset named 'ghost'"), ("people@9", "no version 9"),
     ("people@x", "invalid version"), ("../people", "invalid dataset name")],
)  # fmt: skip
def test_unknown_datasets_and_versions_are_refused(
    ws: Workspace, project: Path, people_csv: Path, tmp_path: Path, ref: str, words: str
):
    ingest_people(ws, people_csv)
    before = _state(project)
    result = run_privet("export", ref, "-o", tmp_path / "o.csv", "--purpose", "training",
                        "-w", project)  # fmt: skip
    assert result.returncode == 1 and words in result.stderr
    assert "Traceback" not in result.stderr
    assert _state(project) == before
    assert not (tmp_path / "o.csv").exists()


def test_export_to_a_missing_folder_is_refused_before_reading(
    ws: Workspace, project: Path, people_csv: Path, tmp_path: Path
):
    ingest_people(ws, people_csv)
    before = _state(project)
    result = invoke("export", "people", "-o", tmp_path / "no" / "o.csv", "--purpose", "training",
                    workspace=project)  # fmt: skip
    assert result.exit_code == 1 and "does not exist" in result.stderr
    assert _state(project) == before  # not even a read entry in the log


def test_commands_outside_a_workspace_say_how_to_make_one(tmp_path: Path):
    result = run_privet("datasets", cwd=tmp_path)
    assert result.returncode == 1 and "privet init" in result.stderr


def test_usage_errors_exit_2(ws: Workspace, project: Path):
    assert run_privet("export", "people", "-w", project).returncode == 2  # no -o, no --purpose
    assert run_privet("no-such-command").returncode == 2
    assert run_privet("ingest", "x.csv", "--category", "novalue", "--name", "n",
                      "-w", project).returncode == 2  # fmt: skip


def test_huge_field_is_stored_and_exported_intact(ws: Workspace, tmp_path: Path):
    big = "x" * 5_000_000
    source = _write(tmp_path / "big.csv", f"id,text\n1,{big}\n2,short\n".encode())
    ws.ingest(source, name="big", owner="o", purposes=["p"], actor="a")
    frame = ws.read("big", purpose="p", actor="a")
    assert frame.get_column("text").to_list() == [big, "short"]
