"""Forgetting: subject erasure requests, consent records and the owner's keep decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from privet.schema._base import Base


class ErasureRequest(Base):
    """One subject's erasure (Art. 17): queued, worked through, finished with a receipt.

    The subject id is kept only sealed (workspace AEAD) while the request is pending, then
    wiped; the log and the receipt hold ``commitment`` = HMAC(nonce, subject id), which the
    subject checks with the nonce handed out once with the receipt.
    """

    __tablename__ = "erasure_requests"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    commitment: Mapped[str] = mapped_column(String(64), index=True)
    # The dataset the erasure is limited to (None: every dataset with a subject-id column).
    dataset_id: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # pending → done
    status: Mapped[str] = mapped_column(String(16), index=True)
    subject_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    nonce_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    log_index: Mapped[int] = mapped_column(BigInteger)


class ConsentRecord(Base):
    """A subject's latest consent decision for one purpose, keyed by the subject's link
    (``catalog.subject_link``), never by the id itself."""

    __tablename__ = "consent_records"
    # The broker's lookup: the withdrawn links of one purpose (migration 0008).
    __table_args__ = (Index("ix_consent_records_purpose", "purpose", "status", "subject_link"),)
    subject_link: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(128), primary_key=True)
    # "granted" or "withdrawn"
    status: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[str] = mapped_column(String(200))


class KeepDecision(Base):
    """The owner's recorded decision to keep a derived dataset or a model when its source
    expires or one of its subjects is erased (because it is de-identified or DP)."""

    __tablename__ = "keep_decisions"
    # "dataset" or "model"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    object_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
