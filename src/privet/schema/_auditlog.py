"""The audit log's tables: entries, the head, governance pointers, checkpoints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from privet.schema._base import Base


class LogEntry(Base):
    """One audit-log leaf: ``data`` is the exact canonical JSON whose RFC 9162 hash is stored."""

    __tablename__ = "log_entries"
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary)


class LogHead(Base):
    """A single row holding the log size; updating it first serializes concurrent appenders."""

    __tablename__ = "log_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)


class GovernanceHead(Base):
    """Where the latest attestation of a governance object is: (kind, object id) → log index.

    The entry at ``log_index`` holds the object's attested state and its signature (see
    ``privet.auditlog``); this table only makes finding it one indexed lookup.
    """

    __tablename__ = "governance_heads"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    object_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    log_index: Mapped[int] = mapped_column(BigInteger)


class Checkpoint(Base):
    __tablename__ = "checkpoints"
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccessEvent(Base):
    """Who acted in a log entry, and when: an index over the entries an incident scope reads.

    Written in the transaction that appends the entry (``privet.auditlog.append``) for the
    kinds in ``privet.auditlog.ACCESS_EVENTS`` only. Scoping one actor over a 10^6-entry log
    is then an index range, not a parse of every entry (BENCHMARKS.md, section 12). ``ts`` is
    the entry's time in microseconds since the Unix epoch (UTC), comparable on every database.
    """

    __tablename__ = "access_events"
    __table_args__ = (
        Index("ix_access_events_actor", "actor", "ts"),
        Index("ix_access_events_token", "token", "ts"),
    )
    log_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    actor: Mapped[str] = mapped_column(String(200))
    token: Mapped[str | None] = mapped_column(String(32))
    ts: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[str] = mapped_column(String(32))
