"""A fresh PostgreSQL database for the tests that also run on PostgreSQL.

``PRIVET_TEST_PG_URL`` names the server (postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB of a
role with CREATEDB; .ci/run starts such a server); without it the tests that use the
fixture skip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import URL, create_engine, make_url

PG_URL = os.environ.get("PRIVET_TEST_PG_URL")


@pytest.fixture
def database_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, empty database on the test server; dropped (even if still in use) afterwards.

    The password travels in PGPASSWORD, as privet asks: a URL with one is refused.
    """
    if not PG_URL:
        pytest.skip("PRIVET_TEST_PG_URL is not set")
    admin_url = make_url(PG_URL)
    if admin_url.password:
        monkeypatch.setenv("PGPASSWORD", admin_url.password)
    name = f"privet_test_{secrets.token_hex(8)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield URL.create(
                admin_url.drivername, admin_url.username, None, admin_url.host, admin_url.port, name
            ).render_as_string()
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
