"""Governance attestations on a PostgreSQL catalog: every edit of tests/test_governance_attest.py,
made with SQL on the server, is refused by the read, authentication or DP release relying on
it and reported by ``privet log verify``.

One governed workspace is built per module in a template database; each test gets a copy
(``CREATE DATABASE … TEMPLATE``), dropped afterwards. Skipped unless ``PRIVET_TEST_PG_URL``
is set (``.ci/run`` starts a server).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL, create_engine, make_url, text

from privet import GovernanceMismatch, Workspace
from privet.core import DIRNAME, WorkspaceConfig
from tests.conftest import invoke
from tests.governance_support import (
    DP_CASES,
    READ_CASES,
    TOKEN_CASES,
    Case,
    Ids,
    bearer_of,
    build,
    command,
    last_event,
    released,
    tamper,
    words,
)

PG_URL = os.environ.get("PRIVET_TEST_PG_URL")
if not PG_URL:
    pytest.skip(
        "PRIVET_TEST_PG_URL is not set (postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB of a "
        "role with CREATEDB; .ci/run starts such a server)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.postgres


def _admin() -> tuple[URL, object]:
    url = make_url(PG_URL)
    return url, create_engine(url, isolation_level="AUTOCOMMIT")


def _database(url: URL, name: str) -> str:
    return URL.create(
        url.drivername, url.username, None, url.host, url.port, name
    ).render_as_string()


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory, people: object
) -> Iterator[tuple[Path, Ids]]:
    admin_url, admin = _admin()
    name = f"privet_tmpl_{secrets.token_hex(6)}"
    root = tmp_path_factory.mktemp("governed-pg")
    with pytest.MonkeyPatch.context() as patch:
        if admin_url.password:
            patch.setenv("PGPASSWORD", admin_url.password)
        patch.setenv("PRIVET_KEY_DIR", str(root / "keys"))
        with admin.connect() as conn:  # type: ignore[attr-defined]
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            csv = root / "people.csv"
            people.write_csv(csv)  # type: ignore[attr-defined]
            (root / "project").mkdir()
            ids = build(root / "project", csv, _database(admin_url, name))
            yield root / "project", ids
        finally:
            with admin.connect() as conn:  # type: ignore[attr-defined]
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()  # type: ignore[attr-defined]


@pytest.fixture
def governed(
    template: tuple[Path, Ids], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, Ids, str]]:
    """A copy of the template workspace on its own copy of the template database."""
    source, ids = template
    admin_url, admin = _admin()
    if admin_url.password:
        monkeypatch.setenv("PGPASSWORD", admin_url.password)
    folder = WorkspaceConfig.load(source / DIRNAME)
    template_db = make_url(folder.database_url or "").database
    name = f"privet_test_{secrets.token_hex(8)}"
    with admin.connect() as conn:  # type: ignore[attr-defined]
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    try:
        project = tmp_path / "governed"
        shutil.copytree(source, project)
        url = _database(admin_url, name)
        folder.model_copy(update={"database_url": url}).save(project / DIRNAME)
        yield project, ids, url
    finally:
        with admin.connect() as conn:  # type: ignore[attr-defined]
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()  # type: ignore[attr-defined]


def _refused(result: object, expected: list[str]) -> None:
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    message = result.stderr  # type: ignore[attr-defined]
    assert message.startswith("privet: error: ") and message.count("\n") == 1, message
    for fragment in expected:
        assert fragment in message, (fragment, message)


def test_an_untouched_governed_workspace_on_postgresql_verifies(
    governed: tuple[Path, Ids, str],
) -> None:
    project, _, _ = governed
    with Workspace.open(project) as ws:
        assert ws.log.verify().governance == 13
        bob = invoke(*command(READ_CASES[6], project.parent / "m.csv"), workspace=project)
    assert bob.exit_code == 0, bob.output


@pytest.mark.parametrize("case", READ_CASES + DP_CASES, ids=[c.id for c in READ_CASES + DP_CASES])
def test_a_row_changed_with_sql_on_postgresql_is_refused_and_reported(
    governed: tuple[Path, Ids, str], case: Case
) -> None:
    project, ids, url = governed
    with Workspace.open(project) as ws:
        before = len(released(ws))
    tamper(url, ids, case.edits)

    out = project.parent / "out.csv"
    result = invoke(*command(case, out), workspace=project)
    _refused(result, words(case, ids))
    assert not out.exists() and "SELECT" not in result.stdout
    with Workspace.open(project) as ws:
        assert len(released(ws)) == before
        if case in READ_CASES:
            assert last_event(ws)["reason"] == "governance_mismatch"
    _refused(invoke("log", "verify", workspace=project), words(case, ids))


@pytest.mark.parametrize("case", TOKEN_CASES, ids=[c.id for c in TOKEN_CASES])
def test_a_token_changed_with_sql_on_postgresql_does_not_authenticate(
    governed: tuple[Path, Ids, str], case: Case
) -> None:
    project, ids, url = governed
    tamper(url, ids, case.edits)
    with Workspace.open(project) as ws, pytest.raises(GovernanceMismatch) as caught:
        ws.access.authenticate(bearer_of(case, ids))
    for fragment in words(case, ids):
        assert fragment in str(caught.value)
    _refused(invoke("log", "verify", workspace=project), words(case, ids))


def test_pointer_table_on_postgresql_matches_the_log(governed: tuple[Path, Ids, str]) -> None:
    """Every attested object has exactly one pointer, at its latest attestation."""
    project, _, url = governed
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            heads = dict(
                ((kind, key), index)
                for kind, key, index in conn.execute(
                    text("SELECT kind, object_id, log_index FROM governance_heads")
                )
            )
    finally:
        engine.dispose()
    with Workspace.open(project) as ws:
        latest: dict[tuple[str, str], int] = {}
        for record in ws.log.records():
            for item in record.event.get("governance", []):
                latest[(item["kind"], item["key"])] = record.index
    assert heads == latest and len(heads) == 13
