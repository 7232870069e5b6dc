"""The registry of governance kinds (see ``privet.auditlog._attest``).

Its own module, importing nothing of privet: the packages that own governance rows (catalog,
policy, dp) register their kinds while they are imported, which can happen in the middle of
importing ``privet.auditlog`` itself (the log's models live in the catalog).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.orm import Session

State = dict[str, Any] | None
_NAMED = re.compile(r"(?<![:\w]):(\w+)")
_PYFORMAT: dict[str, str] = {}


@dataclass(frozen=True)
class Kind:
    """A kind of governance object, registered by the package that owns its rows.

    ``state(rows, key)`` is the object's canonical state (None when it does not exist): the
    fields that decide access, JSON-ready, never a cell value. ``keys(rows)`` lists every
    existing object; ``label(rows, key, state)`` names one ("dataset 'people'"). ``rows``
    is a :class:`Reader` on the caller's session.
    """

    name: str
    state: Callable[[Reader, str], State]
    keys: Callable[[Reader], Iterable[str]]
    label: Callable[[Reader, str, State], str]


_KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind, *, force: bool = False) -> None:
    """Register ``kind``; registering another kind under the same name needs ``force``."""
    if kind.name in _KINDS and _KINDS[kind.name] != kind and not force:
        raise ValueError(f"governance kind {kind.name!r} is already registered")
    _KINDS[kind.name] = kind


def lookup(name: str) -> Kind | None:
    """The kind registered under ``name``, if any."""
    return _KINDS.get(name)


def registered() -> dict[str, Kind]:
    """Every registered kind by name, in name order."""
    return dict(sorted(_KINDS.items()))


class Reader:
    """Rows of plain SQL (``:name`` parameters) on a session's own connection and
    transaction, through the DBAPI cursor.

    A read checks several objects; SQLAlchemy's statement and result machinery costs
    several times what SQLite takes to answer these indexed lookups (``privet.auditlog``
    reads log entries the same way). Values come back as the driver gives them: see
    :func:`stored_time` and :func:`stored_bool`. Use one within one transaction only.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._dbapi: DBAPIConnection | None = None
        self._pyformat = False

    def __call__(self, sql: str, **params: object) -> list[tuple[Any, ...]]:
        dbapi = self._dbapi
        if dbapi is None:
            connection = self.session.connection()
            dbapi = connection.connection.dbapi_connection
            assert dbapi is not None  # the session's connection is checked out, so it is open
            self._dbapi = dbapi
            self._pyformat = connection.dialect.paramstyle == "pyformat"  # psycopg
        if self._pyformat:
            converted = _PYFORMAT.get(sql)
            if converted is None:
                converted = _PYFORMAT[sql] = _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))
            sql = converted
        cursor = dbapi.cursor()
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
        finally:
            cursor.close()


def fetch(session: Session, sql: str, **params: object) -> list[tuple[Any, ...]]:
    """One query through a :class:`Reader`."""
    return Reader(session)(sql, **params)


def stored_time(value: datetime | str | None) -> str | None:
    """A stored time as ISO 8601 UTC: SQLite gives back the text the ORM wrote (naive UTC),
    PostgreSQL an aware datetime in the session's zone."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat()


def stored_bool(value: object) -> bool | None:
    """SQLite stores booleans as 0/1."""
    return None if value is None else bool(value)
