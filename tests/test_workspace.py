"""Creating and finding workspaces; where the master key lives."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from privet import AlreadyExists, InvalidInput, NotFound, Workspace
from privet.schema import SCHEMA_REVISION, alembic_config
from privet.workspace import locate
from tests.conftest import invoke


def test_init_puts_master_key_outside_workspace_with_mode_0600(ws: Workspace, tmp_path: Path):
    key_path = Path(ws.hazmat.config.kms_uri.removeprefix("local-file://"))
    assert key_path.is_file()
    assert not key_path.resolve().is_relative_to(ws.folder.parent)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    # Nothing in the workspace folder is the key.
    key_bytes = key_path.read_bytes()
    for path in ws.folder.rglob("*"):
        if path.is_file():
            assert key_bytes not in path.read_bytes()


def test_init_twice_is_refused(ws: Workspace, project: Path):
    with pytest.raises(AlreadyExists):
        Workspace.init(project)


def test_failed_init_leaves_no_folder_and_no_key(project: Path, tmp_path: Path):
    with pytest.raises(InvalidInput):
        Workspace.init(project, kms_uri="gcp-kms://projects/x")
    assert list(project.iterdir()) == []
    assert not (tmp_path / "keys").exists() or list((tmp_path / "keys").iterdir()) == []


def test_catalog_schema_is_at_the_newest_migration(ws: Workspace):
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head == SCHEMA_REVISION
    with ws.hazmat.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head


@pytest.mark.parametrize("how", ["explicit", "dotprivet", "env", "upward"])
def test_workspace_is_found_like_git_finds_dotgit(
    ws: Workspace, project: Path, how: str, monkeypatch: pytest.MonkeyPatch
):
    nested = project / "a" / "b"
    nested.mkdir(parents=True)
    if how == "explicit":
        found = locate(project)
    elif how == "dotprivet":
        found = locate(project / ".privet")
    elif how == "env":
        monkeypatch.setenv("PRIVET_WORKSPACE", str(project))
        found = locate(None, cwd=Path("/"))
    else:
        found = locate(None, cwd=nested)
    assert found == ws.folder


def test_no_workspace_is_a_clear_error(tmp_path: Path):
    with pytest.raises(NotFound, match="no privet workspace here"):
        locate(None, cwd=tmp_path)


def test_cli_init_prints_json_with_key_uri_and_verifier(project: Path):
    result = invoke("init", project, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["kms_uri"].startswith("local-file://")
    assert data["log_verifier_key"].startswith("privet.local/")
    assert Path(data["workspace"]) == project / ".privet"


def test_cli_finds_workspace_from_a_subfolder(ws: Workspace, project: Path):
    sub = project / "sub"
    sub.mkdir()
    cwd = os.getcwd()
    os.chdir(sub)
    try:
        result = invoke("datasets", "--json")
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_init_creates_a_missing_folder_and_removes_it_again_on_failure(tmp_path: Path):
    ws = Workspace.init(tmp_path / "new" / "project")
    assert ws.folder == tmp_path / "new" / "project" / ".privet"
    with pytest.raises(InvalidInput):
        Workspace.init(tmp_path / "other", kms_uri="gcp-kms://x")
    assert not (tmp_path / "other").exists()


def test_a_database_password_in_the_url_is_refused_before_anything_is_made(project: Path):
    with pytest.raises(InvalidInput, match="PGPASSWORD"):
        Workspace.init(project, database_url="postgresql+psycopg://u:secret@127.0.0.1/db")
    assert list(project.iterdir()) == []
    assert not (project.parent / "keys").exists()
