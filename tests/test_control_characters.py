"""Control characters never reach a terminal raw: names with them are refused at the door,
and whatever is stored (an actor given to the library, a reason) is escaped at every output.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from privet import Workspace
from privet.server._logging import EscapeControls
from privet.text import escape_controls, escape_json
from tests.conftest import ingest_people, invoke

EVIL = "evil\x1b[2J\nfake row\u202e\x9b"


def test_as_with_control_characters_is_refused(ws: Workspace, project: Path) -> None:
    result = invoke("datasets", "--as", "evil\x1b[2J\nfake", workspace=project)
    assert result.exit_code == 2
    assert "--as" in result.stderr and "\x1b" not in result.stderr


@pytest.mark.parametrize("name", ["b\x1b[2Jc", "line\nbreak", "rtl\u202eo", "bell\x07"])
def test_column_names_with_control_characters_are_refused(
    ws: Workspace, tmp_path: Path, project: Path, name: str
) -> None:
    path = tmp_path / "ctl.csv"
    header = '"' + name.replace('"', '""') + '"'
    path.write_text(f"a,{header}\n1,2\n")
    result = invoke("ingest", path, "--name", "ctl", "--owner", "o", "--purpose", "p",
                    workspace=project)  # fmt: skip
    assert result.exit_code == 1
    assert "control character" in result.stderr
    assert all(ch not in result.stderr for ch in "\x1b\u202e\x07")
    assert ws.datasets() == []


def test_a_stored_actor_is_escaped_in_the_log_table_and_json(
    ws: Workspace, people_csv: Path, project: Path
) -> None:
    ingest_people(ws, people_csv)
    ws.read("people", purpose="training", actor=EVIL)  # the library stores what it is given
    table = invoke("log", "show", workspace=project)
    assert table.exit_code == 0, table.stderr
    assert all(ch not in table.stdout for ch in "\x1b\u202e\x9b")
    compact = re.sub(r"[\s│]", "", table.stdout)  # undo the table's wrapping
    assert "evil\\x1" in compact  # shown escaped (a narrow cell cuts it short)
    # No forged row: every table line starts with a border character.
    body = [line for line in table.stdout.splitlines() if line.strip()]
    assert all(line[0] in "┏┃┡│└ a" for line in body), body
    as_json = invoke("log", "show", "--json", workspace=project)
    assert all(ch not in as_json.stdout for ch in "\x1b\u202e\x9b")
    actors = [e.get("actor") for e in json.loads(as_json.stdout)["entries"]]
    assert EVIL in actors  # escaped in transit, the same string once parsed


def test_escaping_is_visible_and_reversible_for_json() -> None:
    assert escape_controls(EVIL) == "evil\\x1b[2J\\nfake row\\u202e\\x9b"
    assert escape_controls("plain text, é ü") == "plain text, é ü"
    document = json.dumps({"x": EVIL}, ensure_ascii=False, indent=2)
    safe = escape_json(document)
    assert json.loads(safe) == {"x": EVIL} and "\u202e" not in safe and "\x9b" not in safe


def test_server_log_lines_are_one_line() -> None:
    record = logging.LogRecord("privet", logging.INFO, __file__, 1, "user %s read", (EVIL,), None)
    assert EscapeControls().filter(record)
    line = record.getMessage()
    assert "\n" not in line and "\x1b" not in line and "\u202e" not in line
