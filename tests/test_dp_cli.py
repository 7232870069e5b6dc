"""The DP commands: help on every option, one JSON document, warnings as one line."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from privet import Workspace
from privet.cli import cli
from tests.conftest import invoke

DP_COMMANDS = ["query", "budget", "train", "models"]


@pytest.mark.parametrize("name", DP_COMMANDS)
def test_every_dp_command_and_option_has_help(name: str) -> None:
    command = cli.commands[name]
    assert command.help and command.help.strip()
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help and param.help.strip(), f"{name} {param.opts} has no help"
    result = invoke(name, "--help")
    assert result.exit_code == 0 and "--json" in result.stdout


def test_a_row_level_dataset_warns_in_one_line_and_json_stays_clean(
    ws: Workspace, people_csv: Path
) -> None:
    ws.ingest(people_csv, name="rows", owner="alice", purposes=["training"], actor="alice")
    result = invoke(
        "query",
        "rows",
        "SELECT COUNT(*) AS n FROM rows",
        "--epsilon",
        "0.5",
        "--purpose",
        "training",
        "--json",
        workspace=ws.folder,
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)  # exactly one document
    assert data["unit"] == "row"
    assert result.stderr.startswith("privet: warning:") and result.stderr.count("\n") == 1


def test_bad_bounds_are_a_usage_error(ws: Workspace, people_csv: Path) -> None:
    ws.ingest(people_csv, name="people", owner="alice", purposes=["training"], actor="alice")
    for bad in ("age=10", "age=a:b", "age=5:1", "=1:2"):
        result = invoke(
            "query",
            "people",
            "SELECT SUM(age) FROM people",
            "--epsilon",
            "1",
            "--purpose",
            "training",
            "--bound",
            bad,
            workspace=ws.folder,
        )
        assert result.exit_code == 2, bad
    assert ws.dp.budget("people").releases == []
