"""``privet federate``: bad input is one sentence and exit 1, before any party is started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from privet import Workspace
from tests.conftest import invoke


@pytest.fixture
def coordinator(tmp_path: Path) -> Path:
    Workspace.init(tmp_path / "coordinator", actor="carol").close()
    return tmp_path / "coordinator"


def parties_file(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "parties.yaml"
    parties = [
        {"name": f"p{i}", "workspace": f"./p{i}", "dataset": "adult", "actor": "bob",
         "purpose": "research"}
        for i in range(count)
    ]  # fmt: skip
    path.write_text(yaml.safe_dump({"parties": parties}))
    return path


def schema_file(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


GOOD_SCHEMA = {"keys": {"income": ["<=50K", ">50K"], "sex": ["Female", "Male"]},
               "bounds": {"age": [17, 90]}}  # fmt: skip


def federate(coordinator: Path, *args: str | Path) -> tuple[int, str]:
    result = invoke("federate", "m", *args, workspace=coordinator)
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing-parties", "no parties file"),
        ("one-party", "invalid parties file at parties"),
        ("bad-yaml", "cannot read the parties file"),
        ("shares", "SecAgg+ shares each party's key among 5 parties, but there are 3"),
        ("threshold", "threshold must be less than num_shares"),
        ("no-domain", "feature 'race' has no public domain"),
        ("no-classes", "give the target's classes in keys"),
        ("bad-schema", "must hold only 'keys' and 'bounds'"),
        ("epsilon", "ε must be a finite number greater than 0"),
    ],
)
def test_bad_input_is_one_sentence(
    coordinator: Path, tmp_path: Path, case: str, expected: str
) -> None:
    parties = parties_file(tmp_path, 3)
    schema = schema_file(tmp_path, GOOD_SCHEMA)
    args: list[str | Path] = ["--parties", parties, "--target", "income", "--schema", schema]
    if case == "missing-parties":
        args[1] = tmp_path / "nowhere.yaml"
    elif case == "one-party":
        args[1] = parties_file(tmp_path, 1)
    elif case == "bad-yaml":
        parties.write_text("parties: [unclosed")
    elif case == "shares":
        args += ["--secagg", "--shares", "5"]
    elif case == "threshold":
        args += ["--secagg", "--shares", "3", "--threshold", "3"]
    elif case == "no-domain":
        args += ["--feature", "age", "--feature", "race"]
    elif case == "no-classes":
        args[3] = "salary"
    elif case == "bad-schema":
        args[5] = schema_file(tmp_path, {"levels": {"x": [1]}})
    elif case == "epsilon":
        args += ["--epsilon", "-1"]
    code, stderr = federate(coordinator, *args)
    assert code == 1, stderr
    assert stderr.count("\n") == 1 and expected in stderr, stderr
    assert "Traceback" not in stderr


def test_without_the_federated_extra_one_sentence_names_the_install(
    coordinator: Path, tmp_path: Path
) -> None:
    """A machine without Flower: the command says how to install it (Flower is hidden from
    the import system of a fresh interpreter)."""
    parties = parties_file(tmp_path, 3)
    schema = schema_file(tmp_path, GOOD_SCHEMA)
    hide = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'flwr' or name.startswith('flwr.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from privet.cli import main\n"
        "sys.argv = ['privet'] + sys.argv[1:]\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", hide, "federate", "m", "--parties", str(parties),
         "--target", "income", "--schema", str(schema), "-w", str(coordinator)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "pip install 'privet[federated]'" in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
