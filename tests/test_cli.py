"""The command line as documented: every command has help and is in the README, and the
README's tour and library example run as written."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import polars as pl
import pytest

from privet import Workspace
from privet.cli import cli
from privet.demo import run_demo
from tests.conftest import invoke

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, click.Group):
            found += _commands(command, path)
        else:
            found.append(path)
    return found


@pytest.mark.parametrize("path", _commands(cli), ids=" ".join)
def test_every_command_has_help_json_and_is_documented(path: tuple[str, ...]):
    result = invoke(*path, "--help")
    assert result.exit_code == 0
    assert "--json" in result.stdout and "--workspace" in result.stdout
    assert f"privet {' '.join(path)}" in README.read_text() or (
        f"privet {path[0]} " in README.read_text()  # grouped: `privet log show|verify|…`
        and path[-1] in README.read_text()
    )


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_set_up_shows_exactly_make_demo_and_make_test():
    first = _blocks("bash")[0]
    assert [line.split("#")[0].strip() for line in first.strip().splitlines()] == [
        "make demo",
        "make test",
    ]


def test_readme_tour_runs_as_written(tmp_path: Path):
    tour = _blocks("bash")[1].replace("\\\n", " ")
    cwd, env = tmp_path, os.environ.copy()
    env["HOME"] = str(tmp_path)
    for line in tour.strip().splitlines():
        command, _, comment = line.partition("  #")
        for part in command.split("&&"):
            argv = shlex.split(part.replace("~", str(tmp_path)))
            if argv[0] == "source":
                continue
            if argv[0] == "cd":
                cwd = Path(argv[1])
                continue
            argv = [sys.executable, *argv[1:]] if argv[0] == "python" else [
                sys.executable, "-m", "privet", *argv[1:]
            ]  # fmt: skip
            result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
            expected = 1 if "refused" in comment else 0
            assert result.returncode == expected, f"{part}\n{result.stderr}"
    env["PRIVET_WORKSPACE"] = str(cwd)
    example = _blocks("python")[0]
    result = subprocess.run(
        [sys.executable, "-c", example], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "1000 restricted" in result.stdout and "marketing" in result.stdout


def test_demo_runs_the_lifecycle():
    lines: list[str] = []
    summary = run_demo(rows=500, echo=lines.append)
    assert summary["rows"] == summary["exported_rows"] == 500
    assert summary["classification"] == "restricted"
    assert summary["refused"] and summary["refusal_included"]
    assert summary["checkpoint_size"] == summary["log_size"] == 5
    assert not Path(summary["workspace"]).exists()  # temporary unless --keep
    assert any("refused" in line for line in lines)
    assert summary["grant_status"] == "active" and summary["self_approval_refused"]
    assert summary["erased_versions"] >= 1 and summary["erasure_receipt_verified"]
    assert 0 < summary["masked_rows"] == 500
    assert summary["synthetic_epsilon"] > 0 and summary["synthetic"].startswith("people-synthetic")
    assert 0.0 <= summary["audit_auc"] <= 1.0 and any("RMIA" in line for line in lines)
    # Step 15: the analyst read the masked view once; the person erased in step 14 still
    # counts among the people that read disclosed (one row each).
    assert summary["incident_rows"] == summary["incident_subjects"] == 500
    assert summary["lineage_runs"] > 0 and summary["assessment_facts"] > 0
    assert summary["minimized_columns"] and "zip" in summary["minimize_dropped"]


def test_demo_keep_and_json(tmp_path: Path):
    keep = tmp_path / "demo"
    result = invoke("demo", "--rows", "300", "--keep", keep, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert Path(summary["workspace"]).is_dir()
    # The protected dataset really is 5-anonymous and 2-diverse (counted here, not by privet).
    with Workspace.open(summary["workspace"]) as ws:
        # The demo ends governed (step 13): the owner reads without a grant, others need one.
        owner = ws.dataset(summary["protected"].split("@")[0]).owner
        protected = ws.read(summary["protected"], purpose="model-training", actor=owner)
    qis = ["age", "sex", "race", "marital_status", "native_country"]
    assert protected.group_by(qis).len()["len"].min() >= 5 and summary["k_after"] >= 5
    assert protected.group_by(qis).agg(pl.col("income").n_unique())["income"].min() >= 2
    assert summary["same_on_spark"] is True  # the demo's risk on Spark equals Polars'
    again = invoke("demo", "--rows", "300", "--keep", keep)
    assert again.exit_code == 1 and "not empty" in again.stderr
