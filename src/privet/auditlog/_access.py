"""The access index: who acted in which log entry, and when (table ``access_events``).

An incident scope asks "every entry where U acted between T0 and T1". Parsing a 10^6-entry
log to answer it costs seconds; this index, written in the transaction that appends the
entries, answers it with one range scan. Only the kinds an incident scope reads are indexed
(reads and their refusals, releases, models, derivations), so the other appends pay nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import text

# The kinds of entry an incident scope reads (see privet.account). The migration that made
# the index (0009) backfilled exactly these; a kind added here is indexed from then on only.
ACCESS_EVENTS = frozenset(
    {
        "read",
        "read.refused",
        "read.stopped",
        "dp.release",
        "dp.refused",
        "model.train",
        "model.read",
        "model.card",
        "model.audit",
        "dataset.derive",
        "deid.detokenize",
        "deid.protect_file",
    }
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INSERT = text(
    "INSERT INTO access_events (log_index, actor, token, ts, event) "
    "VALUES (:log_index, :actor, :token, :ts, :event)"
)


def micros(moment: datetime) -> int:
    """``moment`` (naive means UTC) as whole microseconds since the Unix epoch."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def access_rows(start: int, events: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
    """The index rows of ``events`` appended from index ``start`` (the kinds indexed only)."""
    rows = []
    for offset, event in enumerate(events):
        kind, actor, ts = event.get("event"), event.get("actor"), event.get("ts")
        if kind not in ACCESS_EVENTS or not isinstance(actor, str) or not isinstance(ts, str):
            continue
        token = event.get("token")
        rows.append(
            {
                "log_index": start + offset,
                "actor": actor,
                "token": token if isinstance(token, str) else None,
                "ts": micros(datetime.fromisoformat(ts)),
                "event": kind,
            }
        )
    return rows
