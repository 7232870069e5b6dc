"""Catalog tables (SQLAlchemy 2). The schema itself is created by Alembic migrations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Workspace-wide settings: its id, the KMS URI, the log origin."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Keyset(Base):
    """A wrapped key: never stored in the clear."""

    __tablename__ = "keysets"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


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


class LineageEdge(Base):
    """``source`` → ``target`` through ``activity``; references are ids and hashes only."""

    __tablename__ = "lineage_edges"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(256), index=True)
    target: Mapped[str] = mapped_column(String(256), index=True)
    activity: Mapped[str] = mapped_column(String(64))
    facts: Mapped[dict] = mapped_column(JSON)
    log_index: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# -- differential privacy (privet.dp) ---------------------------------------------------------


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
    event: Mapped[dict] = mapped_column(JSON)
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
    keys: Mapped[list | None] = mapped_column(JSON)
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
    card: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))


# -- access governance (privet.policy) --------------------------------------------------------


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
    datasets: Mapped[list] = mapped_column(JSON)
    hours: Mapped[list] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user: Mapped[str] = mapped_column(String(200), index=True)
    dataset_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    facts: Mapped[dict] = mapped_column(JSON)
    log_index: Mapped[int] = mapped_column(BigInteger)
