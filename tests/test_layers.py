"""The layer contracts of ``make lint`` hold on the tree, and fail when a forbidden import is
added (in a temporary copy: the contracts are checked by import-linter, not by this test)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _copy(tmp_path: Path) -> Path:
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "src" / "privet", copy / "src" / "privet",
                    ignore=shutil.ignore_patterns("__pycache__", "static"))  # fmt: skip
    shutil.copytree(ROOT / "lint", copy / "lint", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.fail("import-linter is missing: make test installs it with .[dev]")
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree / 'lint'}"}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def _add_import(module: Path, line: str) -> None:
    with module.open("a", encoding="utf-8") as handle:  # import-linter reads every import
        handle.write(f"\n{line}  # noqa: E402\n")


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:]
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # the catalog is below policy: it may not reach up into the broker
        ("catalog/_info.py", "import privet.policy", "Layers"),
        # the vault is below the catalog
        ("vault/__init__.py", "from privet import catalog", "Layers"),
        # the CLI goes through a package's public names, never its underscore modules
        ("cli/_log.py", "from privet.dp import _ledger", "underscore modules"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    tree = _copy(tmp_path)
    _add_import(tree / "src" / "privet" / module, line)
    result = _lint(tree)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout[-3000:]
