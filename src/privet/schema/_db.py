"""Database engines and schema migrations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from privet.errors import InvalidInput

if TYPE_CHECKING:
    import sqlite3

    from alembic.config import Config

READ_ONLY = "privet_read_only"
# The newest migration. Opening a workspace compares against this constant instead of
# loading Alembic (a test keeps it equal to Alembic's head); Alembic runs only to upgrade.
SCHEMA_REVISION = "0011"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, full fsync and immediate write locks."""
    try:
        engine = create_engine(url, future=True)
    except (ArgumentError, NoSuchModuleError):
        raise InvalidInput(
            "the database URL is not understood (use sqlite:///PATH or postgresql+psycopg://…)"
        ) from None
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Take over transaction control from pysqlite so that BEGIN IMMEDIATE can be issued:
        # writers then queue on the lock instead of failing when a read upgrades to a write.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Deleted and overwritten rows are zeroed, not left in free pages: a destroyed data
        # key (crypto-shredding) must not survive in the file it was removed from.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        reading = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN DEFERRED" if reading else "BEGIN IMMEDIATE")


def reader(engine: Engine) -> Engine:
    """The same engine for read-only work: on SQLite it takes no write lock."""
    return engine.execution_options(**{READ_ONLY: True})


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    location = resources.files("privet.schema") / "migrations"
    cfg.set_main_option("script_location", str(location))
    return cfg


@contextmanager
def migrating(engine: Engine) -> Iterator[Config]:
    """An Alembic config bound to a connection in a transaction, for running migrations.

    SQLite's batch migrations rebuild tables, which foreign-key enforcement would block;
    it is switched off for the migration only (the pragma has no effect inside a transaction).
    """
    sqlite = engine.dialect.name == "sqlite"
    cfg = alembic_config()
    with engine.connect() as conn:
        if sqlite:
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                yield cfg
        finally:
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def upgrade(engine: Engine, then: Callable[[Connection, str | None], None] | None = None) -> None:
    """Bring the schema to the newest migration (idempotent).

    ``then(connection, previous_revision)`` runs after the migrations in their transaction
    (``previous_revision`` is None for an empty database), so what it writes commits with
    them or not at all.
    """
    from alembic import command

    with migrating(engine) as cfg:
        conn: Connection = cfg.attributes["connection"]
        previous = None
        if inspect(conn).has_table("alembic_version"):
            previous = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        command.upgrade(cfg, "head")
        if then is not None:
            then(conn, previous)


def is_current(engine: Engine) -> bool:
    try:
        with reader(engine).connect() as conn:
            found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return False
    return found == SCHEMA_REVISION
