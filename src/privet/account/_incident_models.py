"""The incident scope's models: counts, ids of catalog objects and column names only. The
subject ids ride along as private attributes (never serialized) and leave only sealed to the
DPO's public key (see ``_incident_seal``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, PrivateAttr

from privet.timestamps import UtcDatetime

# What a person must complete in the Art. 33(3) notification.
TO_FILL = "TO FILL"

Basis = Literal["subject_link", "subject_id", "row", "none", "unknown"]


class ColumnRead(BaseModel):
    name: str
    category: str | None = Field(description="fideslang data category, None when not personal")
    role: str
    masked: bool = Field(description="masked or pseudonymized in every read of this version")
    special: bool = Field(description="a special category of GDPR Art. 9/10")


class VersionRead(BaseModel):
    """One version the actor's reads were served from, all reads of it together."""

    dataset: str = Field(description="the dataset served (a derived copy for some views)")
    dataset_id: str
    version: int
    version_id: str
    kind: str
    asked: list[str] = Field(description="the dataset names asked for (may differ when served)")
    views: list[str] = Field(description="views disclosed to the actor (else those processed)")
    purposes: list[str]
    channels: list[str]
    reads: int
    rows: int = Field(
        description="rows disclosed to the actor over all reads (a row read twice counts twice)"
    )
    processed_rows: int = Field(
        description="rows read only by DP releases or catalog steps (never shown to the actor)"
    )
    max_rows: int = Field(description="the most rows released by one read")
    version_rows: int
    disclosed: bool = Field(description="rows reached the actor (not only a DP or catalog step)")
    columns: list[ColumnRead]
    subjects: int | None = Field(
        description="distinct people in the rows read; None when not disclosed"
    )
    subject_basis: Basis
    subjects_exact: bool
    first_read: UtcDatetime
    last_read: UtcDatetime


class ExportRead(BaseModel):
    ts: UtcDatetime
    log_index: int
    dataset: str
    version: int
    view: str
    purpose: str
    channel: str = Field(description="as logged: file:FORMAT, http:REQUEST-ID, stream:FORMAT")
    destination: str
    rows: int
    token: str | None = None


class Made(BaseModel):
    """A release, derived dataset or model made from what the actor read (or by the actor)."""

    kind: Literal["derived_dataset", "synthetic", "dp_release", "model"]
    id: str
    name: str | None = None
    source_dataset: str | None = None
    source_version: int | None = None
    made_by: str
    by_actor: bool
    ts: UtcDatetime | None = None
    log_index: int | None = None
    epsilon: float | None = None
    detail: str | None = None


class AlertSeen(BaseModel):
    id: int
    created_at: UtcDatetime
    dataset: str
    kind: str
    severity: str
    read_log_index: int


class SubjectCount(BaseModel):
    total: int = Field(description="distinct people whose rows reached the actor (approximate)")
    linked: int = Field(description="distinct people counted by keyed subject link")
    per_row: int = Field(description="people counted as one per row (no subject id)")
    removed: int = Field(
        0,
        description="rows read that an erasure (or its k upkeep) has removed since: their "
        "people are counted one per row, and their ids are gone",
    )
    exact: bool
    method: str


class Notification(BaseModel):
    """GDPR Art. 33(3) notification fields, prefilled from the scope; ``to_fill`` names those
    a person must complete or confirm."""

    nature: str
    subject_categories: str
    data_categories: list[str]
    special_categories: list[str]
    approximate_subjects: int
    approximate_records: int
    likely_consequences: str
    severity: Literal["high", "medium", "low"]
    measures_taken: str
    dpo_contact: str = TO_FILL
    to_fill: list[str]


class ContainmentDone(BaseModel):
    """What containment revoked before the scope was computed (ids only)."""

    tokens_revoked: list[str]
    grants_revoked: list[str]
    log_index: int = Field(description="the incident.contain log entry")


class IncidentScope(BaseModel):
    """What one actor (or one API token) read, exported and made in a window — counts, ids
    of catalog objects and column names only; the people themselves are sealed apart."""

    actor: str
    token: str | None
    since: UtcDatetime | None
    until: UtcDatetime
    computed_at: UtcDatetime
    computed_by: str
    log_size: int = Field(description="log entries when scoped (later ones are not included)")
    log_index: int = Field(description="the audit entry of this scoping (incident.scope)")
    entries: int = Field(description="log entries of the actor (or token) in the window")
    reads: int
    refused: int
    datasets: list[str]
    purposes: list[str]
    versions: list[VersionRead]
    rows: int = Field(description="rows disclosed to the actor (a row read twice counts twice)")
    subjects: SubjectCount
    exports: list[ExportRead]
    made: list[Made]
    alerts: list[AlertSeen]
    containment: ContainmentDone | None = None
    notification: Notification
    # Subject ids (as text) by dataset name, and links not resolved to an id. Never
    # serialized, never printed (a pydantic private attribute): see seal().
    _people: dict[str, set[str]] = PrivateAttr(default_factory=dict)
    _ids_by_link: dict[str, str] = PrivateAttr(default_factory=dict)
    _unresolved: dict[str, set[str]] = PrivateAttr(default_factory=dict)

    def __repr__(self) -> str:  # the private attributes must not reach a log by repr
        return f"IncidentScope(actor={self.actor!r}, log_index={self.log_index})"

    __str__ = __repr__
