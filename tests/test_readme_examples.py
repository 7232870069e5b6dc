"""The README's library examples run, in order, on the workspace its tour builds.

Each ```python block of README.md is executed as written (in a fresh namespace, in the
project folder, so ``Workspace.open()`` finds the workspace). The blocks before "Access
governance" run in the tour's single-operator workspace; the README's policy.yaml and its
``privet user add bob --role analyst`` are applied before the blocks after it, as a reader
following the README would.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from privet.datasets import raw_people
from tests.conftest import invoke

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def _blocks(kind: str, text: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(text) if lang == kind]


def _sections() -> tuple[str, str]:
    text = README.read_text(encoding="utf-8")
    before, after = text.split("\n## Access governance\n", 1)
    return before, after


def test_the_readme_has_library_examples_on_both_sides_of_the_policy():
    before, after = _sections()
    assert len(_blocks("python", before)) >= 2 and len(_blocks("python", after)) >= 1
    assert len(_blocks("yaml", after)) >= 1


def _tour_workspace(project: Path) -> None:
    """``privet init`` and ``privet ingest`` as the README's tour runs them."""
    raw_people(1000).write_csv(project / "people.csv")
    assert invoke("init", project).exit_code == 0
    ingested = invoke(
        "ingest", project / "people.csv", "--name", "people", "--owner", "dpo@example.org",
        "--purpose", "model-training", "--purpose", "fraud-analytics",
        "--legal-basis", "legitimate_interests", "--retention", "365",
        "--subject-id", "person_id",
        "--category", "email=user.contact.email",
        "--category", "ssn=user.government_id.national_identification_number",
        "--category", "race=user.demographic.race_ethnicity",
        workspace=project,
    )  # fmt: skip
    assert ingested.exit_code == 0, ingested.stderr


def _run(block: str, project: Path, label: str) -> None:
    cwd = os.getcwd()
    os.chdir(project)
    try:
        exec(compile(block, f"README.md ({label})", "exec"), {"__name__": "readme"})  # noqa: S102
    finally:
        os.chdir(cwd)


def test_every_library_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "my-project"
    project.mkdir()
    _tour_workspace(project)
    before, after = _sections()
    for number, block in enumerate(_blocks("python", before), start=1):
        _run(block, project, f"example {number}")
    assert "is not one dataset 'people' was collected for" in capsys.readouterr().out

    policy = project / "policy.yaml"
    policy.write_text(_blocks("yaml", after)[0], encoding="utf-8")
    assert invoke("policy", "set", policy, workspace=project).exit_code == 0
    assert invoke("user", "add", "bob", "--role", "analyst", workspace=project).exit_code == 0
    for number, block in enumerate(_blocks("python", after), start=1):
        _run(block, project, f"governance example {number}")
