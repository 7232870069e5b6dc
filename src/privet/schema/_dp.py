"""Differential privacy: ledgers, releases, declared domains, trained models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from privet.schema._base import Base


class DpLedger(Base):
    """The privacy budget of one source dataset: every version derived from it spends here."""

    __tablename__ = "dp_ledgers"
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), primary_key=True)
    epsilon_limit: Mapped[float] = mapped_column(Float)
    delta_limit: Mapped[float] = mapped_column(Float)
    # "subject" (the dataset's subject-id column) or "row".
    unit: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(200))


class DpRelease(Base):
    """One differentially private release, stored as a dp-accounting event (JSON).

    Holds ids, parameters and a hash of the query text, never a released value.
    """

    __tablename__ = "dp_releases"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ledger_id: Mapped[str] = mapped_column(ForeignKey("dp_ledgers.dataset_id"), index=True)
    dataset_id: Mapped[str] = mapped_column(String(32))
    version_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(128))
    event: Mapped[dict[str, Any]] = mapped_column(JSON)
    epsilon: Mapped[float] = mapped_column(Float)
    delta: Mapped[float] = mapped_column(Float)
    query_sha256: Mapped[str | None] = mapped_column(String(64))
    model_id: Mapped[str | None] = mapped_column(String(32))
    log_index: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DpDomain(Base):
    """Public facts about a column the owner declared: clamping bounds, category keys."""

    __tablename__ = "dp_domains"
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), primary_key=True)
    column: Mapped[str] = mapped_column(String(512), primary_key=True)
    lower: Mapped[float | None] = mapped_column(Float)
    upper: Mapped[float | None] = mapped_column(Float)
    keys: Mapped[list[Any] | None] = mapped_column(JSON)  # the column's values: any JSON scalar
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(200))


class DpModel(Base):
    """A trained model: its weights live encrypted in the object store, its card here."""

    __tablename__ = "dp_models"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    version_id: Mapped[str] = mapped_column(String(32))
    object_key: Mapped[str] = mapped_column(String(256))
    key_id: Mapped[int] = mapped_column(BigInteger)
    stored_bytes: Mapped[int] = mapped_column(BigInteger)
    weights_sha256: Mapped[str] = mapped_column(String(64))
    private: Mapped[bool] = mapped_column(Boolean)
    card: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Why it may not be used or exported ("contains-erased-subject"), until retrained.
    blocked: Mapped[str | None] = mapped_column(String(64))
    blocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
