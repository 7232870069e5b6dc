"""Access governance: users, roles, API tokens, grants, policies, baselines, alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from privet.schema._base import Base


class User(Base):
    """A person (or service) privet knows by name; roles decide what they may request."""

    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class UserRole(Base):
    __tablename__ = "user_roles"
    user: Mapped[str] = mapped_column(ForeignKey("users.name"), primary_key=True)
    role: Mapped[str] = mapped_column(String(64), primary_key=True)


class ApiToken(Base):
    """An API token: only the SHA-256 of its 256-bit secret is kept (shown once at issue)."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user: Mapped[str] = mapped_column(ForeignKey("users.name"), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(200))


class Grant(Base):
    """Access to one view of one dataset, for one purpose, for a while, once approved."""

    __tablename__ = "grants"
    __table_args__ = (Index("ix_grants_lookup", "user", "dataset_id", "view", "purpose", "status"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user: Mapped[str] = mapped_column(String(200))
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    view: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    # pending → active → (revoked | expired by time); pending → denied.
    status: Mapped[str] = mapped_column(String(16))
    duration_seconds: Mapped[int] = mapped_column(BigInteger)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PolicyDoc(Base):
    """Every policy ever set, numbered; the highest number is in force."""

    __tablename__ = "policies"
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))


class AccessBaseline(Base):
    """A user's usual reading: counts only (rows, datasets, hour of day), never values."""

    __tablename__ = "access_baselines"
    user: Mapped[str] = mapped_column(String(200), primary_key=True)
    reads: Mapped[int] = mapped_column(BigInteger)
    rows_total: Mapped[int] = mapped_column(BigInteger)
    # Dataset ids read before, and 24 read counts by UTC hour.
    datasets: Mapped[list[str]] = mapped_column(JSON)
    hours: Mapped[list[int]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RecentRead(Base):
    """A user's governed reads of the last window (the longest of the alert windows), for
    the patterns that span reads: scraping (many small reads) and purpose hopping. Counts,
    ids and purposes only; rows older than the window are deleted as new reads come in."""

    __tablename__ = "recent_reads"
    __table_args__ = (Index("ix_recent_reads_user_at", "user", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    dataset_id: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(200))
    rows: Mapped[int] = mapped_column(BigInteger)


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user: Mapped[str] = mapped_column(String(200), index=True)
    dataset_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    log_index: Mapped[int] = mapped_column(BigInteger)
