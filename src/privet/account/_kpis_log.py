"""The audit-log entries the KPI series read (grants, alerts, DP releases, erasures),
found by a byte search instead of parsing every entry."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text

from privet.schema import LogEntry
from privet.timestamps import aware

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_EVENTS = (
    b'"event":"grant.request"',
    b'"event":"grant.approve"',
    b'"event":"grant.deny"',
    b'"event":"grant.revoke"',
    b'"event":"alert"',
    b'"event":"dp.release"',
    b'"event":"erasure.request"',
    b'"event":"erasure.done"',
)

# What the database looks for: the events above share these (fewer scans of every entry).
_PREFIXES = (b'"event":"grant.', b'"event":"alert"', b'"event":"dp.release"', b'"event":"erasure.')
_WANTED = re.compile(b"|".join(re.escape(p) for p in _PREFIXES))
_NAMES = {marker.decode().split(":")[1].strip('"') for marker in _EVENTS}


@dataclass
class Log:
    """The entries the KPIs read, in log order."""

    first: datetime | None = None
    requests: dict[str, datetime] = field(default_factory=dict)
    # grant id → (approved at, expires at)
    approvals: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    # grant id → when a request stopped waiting (approved, denied or revoked)
    decided: dict[str, datetime] = field(default_factory=dict)
    revoked: dict[str, datetime] = field(default_factory=dict)
    alerts: list[tuple[datetime, str]] = field(default_factory=list)
    # ledger id → [(at, ε spent after the release)]
    spent: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)
    erasure_requests: dict[str, datetime] = field(default_factory=dict)
    erasure_done: dict[str, datetime] = field(default_factory=dict)

    def approval_seconds(self) -> list[tuple[datetime, float]]:
        """(approved at, seconds from the request) of every approval."""
        return [
            (at, (at - self.requests[g]).total_seconds())
            for g, (at, _) in self.approvals.items()
            if g in self.requests
        ]


def read_log(session: Session) -> Log:
    log = Log()
    first = session.scalars(select(LogEntry.data).where(LogEntry.idx == 0)).first()
    if first is not None:
        log.first = ts(json.loads(bytes(first))["ts"])
    for data in _wanted(session):
        _take(log, json.loads(bytes(data)))
    return log


def _wanted(session: Session) -> Iterator[bytes]:
    """The entries whose event the KPIs read, in log order.

    Canonical JSON (sorted keys, no spaces) spells each event name one way, so a byte search
    finds them without parsing every read entry: PostgreSQL searches (``position`` on bytea);
    elsewhere the rows stream through the DBAPI cursor and a regular expression, since
    SQLite's ``instr`` on blobs and SQLAlchemy's row objects cost several times more
    (1M entries: about 1.5 s against 3.5 s and 12 s on a 2-core machine).
    """
    if session.get_bind().dialect.name == "postgresql":
        where = " OR ".join(f"position(:m{i} in data) > 0" for i in range(len(_PREFIXES)))
        query = text(f"SELECT data FROM log_entries WHERE {where} ORDER BY idx")  # noqa: S608
        yield from session.scalars(query, {f"m{i}": p for i, p in enumerate(_PREFIXES)})
        return
    dbapi = session.connection().connection.dbapi_connection
    assert dbapi is not None  # the session's connection is checked out, so it is open
    cursor = dbapi.cursor()
    try:
        cursor.execute("SELECT data FROM log_entries ORDER BY idx")
        while rows := cursor.fetchmany(10_000):
            for (data,) in rows:
                raw = bytes(data)
                if _WANTED.search(raw):
                    yield raw
    finally:
        cursor.close()


def _take(log: Log, entry: dict[str, Any]) -> None:
    event = entry.get("event")
    if event not in _NAMES:
        return  # a LIKE match elsewhere in the entry (or a case-insensitive one)
    at = ts(entry["ts"])
    if event == "grant.request":
        log.requests[entry["grant"]] = at
    elif event == "grant.approve":
        log.approvals[entry["grant"]] = (at, ts(entry["expires"]))
        log.decided.setdefault(entry["grant"], at)
    elif event == "grant.deny":
        log.decided.setdefault(entry["grant"], at)
    elif event == "grant.revoke":
        log.decided.setdefault(entry["grant"], at)
        log.revoked.setdefault(entry["grant"], at)
    elif event == "alert":
        log.alerts.append((at, str(entry.get("severity"))))
    elif event == "dp.release":
        log.spent.setdefault(entry["ledger"], []).append((at, float(entry["epsilon_spent"])))
    elif event == "erasure.request":
        log.erasure_requests[entry["request"]] = at
    elif event == "erasure.done":
        log.erasure_done[entry["request"]] = at


def ts(text: str) -> datetime:
    """A timestamp as the log and model cards write it, timezone-aware."""
    return aware(datetime.fromisoformat(text))
