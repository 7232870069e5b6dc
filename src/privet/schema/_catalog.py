"""The catalog's tables: workspace settings, datasets, their purposes, versions and columns."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from privet.schema._base import Base


class Meta(Base):
    """Workspace-wide settings: its id, the KMS URI, the log origin."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    owner: Mapped[str] = mapped_column(String(200))
    legal_basis: Mapped[str | None] = mapped_column(String(64))
    retention_days: Mapped[int | None] = mapped_column(Integer)
    subject_id_column: Mapped[str | None] = mapped_column(String(512))
    classification: Mapped[str] = mapped_column(String(16))
    # The dataset this one was derived from (protected, synthetic…): same people, same ledger.
    derived_from: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    purposes: Mapped[list[DatasetPurpose]] = relationship(
        cascade="all, delete-orphan", order_by="DatasetPurpose.purpose"
    )
    versions: Mapped[list[Version]] = relationship(
        back_populates="dataset", cascade="all, delete-orphan", order_by="Version.number"
    )


class DatasetPurpose(Base):
    __tablename__ = "dataset_purposes"
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(128), primary_key=True)


class Version(Base):
    """An immutable version: its rows live encrypted in the object store under object_key."""

    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("dataset_id", "number"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    row_count: Mapped[int] = mapped_column(BigInteger)
    content_sha256: Mapped[str] = mapped_column(String(64))
    plaintext_bytes: Mapped[int] = mapped_column(BigInteger)
    stored_bytes: Mapped[int] = mapped_column(BigInteger)
    object_key: Mapped[str] = mapped_column(String(256))
    key_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    # Set when retention destroyed it: its key is gone from the keyset, its object deleted.
    shredded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    shred_reason: Mapped[str | None] = mapped_column(String(32))
    dataset: Mapped[Dataset] = relationship(back_populates="versions")
    columns: Mapped[list[Column]] = relationship(
        cascade="all, delete-orphan", order_by="Column.position"
    )


class Column(Base):
    __tablename__ = "version_columns"
    version_id: Mapped[str] = mapped_column(ForeignKey("versions.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(512))
    dtype: Mapped[str] = mapped_column(String(128))
    category: Mapped[str | None] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    # Who said so: "declared" (at ingest), "discovered" (by a scan), "corrected" (by the owner).
    source: Mapped[str] = mapped_column(String(16), default="declared")
    confidence: Mapped[float | None] = mapped_column(Float)
    # What a text column holds when its values are kept as given ("integer", "number",
    # "boolean", "date"); None when the stored type says it (or it is plain text).
    meaning: Mapped[str | None] = mapped_column(String(16))
