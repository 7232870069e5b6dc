"""Incident scoping: what one actor (or one API token) read, exported and made, and whom it
touched — from the audit log, the catalog and lineage, never from a cell value.

How it is computed:

- **Entries.** The access index (``access_events``, written with every append of a read,
  release, model or derivation entry) gives the log indexes of the actor's (or token's)
  entries in the window in one range scan; only those entries are parsed.
- **Columns.** A read entry names the version served and the view. The columns are that
  version's columns (privet's own link column excluded); for the ``masked`` and
  ``pseudonymized`` views the direct identifiers are marked masked (the broker masks them
  in every such read).
- **People.** Rows that reached the actor ("disclosed": every channel but DP releases,
  de-identification into the catalog and privet's internal purpose) are counted by person:
  each version read is read again here through the broker, under privet's internal purpose
  on the channel ``incident:scope`` (so the scoping's own reads are in the log, with counts
  only), and its people are taken by keyed subject link — the link column of a derived copy,
  else the link of the dataset's subject-id column. Links are one per person across the
  workspace, so the union over datasets counts each person once. A dataset without a subject
  id has one person per row: it adds the most rows read of it (per root dataset; such rows
  cannot be matched across datasets, so the total is then an upper bound). A read that
  returned fewer rows than its version (a row filter, consent) makes the count an upper bound
  too. A DP synthetic view holds no one's rows.
- **Subject ids** are kept in memory only (a private attribute, never serialized) and leave
  only sealed to the DPO's public key (:func:`seal`, Tink HPKE).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from pydantic import BaseModel, Field, PrivateAttr
from sqlalchemy import select, text

from privet import auditlog, policy
from privet.catalog import INTERNAL_PURPOSES, SUBJECT_LINK, is_reserved, subject_links
from privet.errors import InvalidInput, NotFound, PrivetError
from privet.schema import (
    AccessEvent,
    Alert,
    ApiToken,
    Dataset,
    DpModel,
    DpRelease,
    LineageEdge,
    LogHead,
    User,
    Version,
)
from privet.taxonomy import CATEGORIES, Level
from privet.timestamps import UtcDatetime, aware

if TYPE_CHECKING:
    from privet.core import Core

# Who computes a scope when the library is not told: privet's own processing.
SYSTEM_ACTOR = "privet"
TO_FILL = "TO FILL"
_ASSESSMENT = INTERNAL_PURPOSES[0]
# Channels on which the actor received no rows: DP releases (noisy statistics, models,
# synthetic data) and privet writing a derived dataset into the catalog.
_PROCESSING_PREFIXES = ("dp:", "deid:derive", "incident:")
# GDPR Art. 9 and 10 categories (and their subcategories).
_SPECIAL = (
    "user.health",
    "user.biometrics",
    "user.criminal_history",
    "user.demographic.race_ethnicity",
    "user.demographic.political_opinion",
    "user.demographic.religious_belief",
    "user.demographic.philosophical_belief",
    "user.demographic.sexual_orientation",
    "user.demographic.union_membership",
)
# What a disclosure of a category may do to the people concerned (EDPB Guidelines 9/2022 on
# breach notification: consequences follow from the kind of data and who can be identified).
_CONSEQUENCES = {
    "user.health": "discrimination, exclusion or distress from disclosed health data",
    "user.biometrics": "permanent identity compromise (biometrics cannot be changed)",
    "user.criminal_history": "discrimination and reputational damage",
    "user.demographic.race_ethnicity": "discrimination",
    "user.demographic.sexual_orientation": "discrimination and reputational damage",
    "user.demographic.religious_belief": "discrimination",
    "user.demographic.political_opinion": "discrimination",
    "user.demographic.union_membership": "discrimination by employers",
    "user.government_id": "identity theft and fraud",
    "user.financial": "financial loss and fraud",
    "user.authorization": "account takeover",
    "user.children": "harm to children, who merit specific protection",
    "user.contact": "phishing, spam and unwanted contact",
    "user.name": "identification of the people concerned",
    "user.location": "tracking and physical safety risks",
}


def _is_special(category: str | None) -> bool:
    return category is not None and any(
        category == s or category.startswith(s + ".") for s in _SPECIAL
    )


# -- the scope's model -----------------------------------------------------------------------

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


# -- scoping -------------------------------------------------------------------------------------


_ENTRIES = text(
    "SELECT e.idx, e.data FROM access_events a JOIN log_entries e ON e.idx = a.log_index "
    "WHERE {where} AND a.ts >= :since AND a.ts < :until AND a.log_index < :size "
    "ORDER BY a.log_index"
)


def scope(
    core: Core,
    *,
    actor: str | None = None,
    token: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str = SYSTEM_ACTOR,
    containment: policy.Containment | None = None,
) -> IncidentScope:
    """The incident scope of ``actor`` or of one API ``token`` (exactly one) in
    [``since``, ``until``) (default: all of the log up to now). Logged as ``incident.scope``
    by ``by``; the versions read are re-read through the broker under privet's internal
    purpose to count people (see the module docstring)."""
    if (actor is None) == (token is None):
        raise InvalidInput("give exactly one of actor or token", parameter="actor")
    now = core.now()
    since = aware(since) if since is not None else None
    until = aware(until) if until is not None else now
    if since is not None and since >= until:
        raise InvalidInput("since must be before until", parameter="since")
    with core.reading() as session:
        if token is not None:
            row = session.get(ApiToken, token)
            if row is None:
                raise NotFound(f"no API token {token[:40]!r}", parameter="token")
            who = row.user
            where, key = "a.token = :key", token
        else:
            assert actor is not None
            known = session.get(User, actor) is not None or (
                session.scalars(
                    select(AccessEvent.log_index).where(AccessEvent.actor == actor).limit(1)
                ).first()
                is not None
            )
            if not known:
                raise NotFound(f"no user or logged actor named {actor[:60]!r}", parameter="actor")
            who = actor
            where, key = "a.actor = :key", actor
        size = session.execute(select(LogHead.size).where(LogHead.id == 1)).scalar_one()
        found = session.execute(
            text(_ENTRIES.text.format(where=where)),
            {
                "key": key,
                "since": auditlog.micros(since) if since else -(2**62),
                "until": auditlog.micros(until),
                "size": size,
            },
        ).all()
        entries = [(int(index), json.loads(bytes(data))) for index, data in found]
        work = _Work(session, who, entries)
        alerts = _alerts(session, who, since, until, work.read_indexes if token else None)
        made = work.made()
        # Inside the read transaction: the catalog rows above stay loaded and consistent.
        counted = _count_people(core, work)
        versions = work.version_reads(counted)
    subjects = _subject_total(versions, counted)
    datasets = sorted({v.dataset for v in versions} | {a for v in versions for a in v.asked})
    rows = sum(v.rows for v in versions if v.disclosed)
    done = (
        ContainmentDone(
            tokens_revoked=containment.tokens,
            grants_revoked=containment.grants,
            log_index=containment.log_index,
        )
        if containment is not None
        else None
    )
    result = IncidentScope(
        actor=who,
        token=token,
        since=since,
        until=until,
        computed_at=now,
        computed_by=by,
        log_size=size,
        log_index=-1,
        entries=len(entries),
        reads=work.reads,
        refused=work.refused,
        datasets=datasets,
        purposes=sorted(work.purposes),
        versions=versions,
        rows=rows,
        subjects=subjects,
        exports=work.exports,
        made=made,
        alerts=alerts,
        containment=done,
        notification=_notification(who, token, since, until, work, versions, rows, subjects, done),
    )
    result._people, result._ids_by_link = dict(counted.people), counted.ids_by_link
    result._unresolved = counted.unresolved
    with core.session() as session:
        entry = auditlog.events.incident_scope(
            ts=now,
            actor=by,
            subject_actor=who,
            token=token,
            since=since,
            until=until,
            entries=len(entries),
            reads=work.reads,
            datasets=len(datasets),
            rows=rows,
            subjects=subjects.total,
        )
        (result.log_index,) = auditlog.append(session, [entry])
        session.commit()
    return result


def scope_actor(core: Core, *, actor: str | None, token: str | None) -> str:
    """The user behind ``actor`` or ``token`` (exactly one), checked to exist."""
    if (actor is None) == (token is None):
        raise InvalidInput("give exactly one of actor or token", parameter="actor")
    with core.reading() as session:
        if token is not None:
            row = session.get(ApiToken, token)
            if row is None:
                raise NotFound(f"no API token {token[:40]!r}", parameter="token")
            return row.user
        assert actor is not None
        if session.get(User, actor) is None:
            raise NotFound(f"no user named {actor[:60]!r}", parameter="actor")
        return actor


class _Reads:
    """The reads of one served version, gathered."""

    def __init__(self) -> None:
        self.served = ""  # the dataset the rows came from (a derived copy for some views)
        self.asked: set[str] = set()
        self.views: set[str] = set()
        self.purposes: set[str] = set()
        self.channels: set[str] = set()
        self.reads = 0
        self.rows = 0
        self.max_rows = 0
        self.disclosed = False
        self.disclosed_max = 0
        self.disclosed_rows = 0
        self.disclosed_views: set[str] = set()
        self.first: datetime | None = None
        self.last: datetime | None = None


class _Work:
    """The actor's entries sorted into reads, exports and what they made."""

    def __init__(self, session: Any, actor: str, entries: list[tuple[int, dict[str, Any]]]):
        self.session = session
        self.actor = actor
        self.reads = 0
        self.refused = 0
        self.purposes: set[str] = set()
        self.read_indexes: set[int] = set()
        self.by_version: dict[str, _Reads] = defaultdict(_Reads)
        self.made_entries: list[tuple[int, dict[str, Any]]] = []
        raw_exports: list[tuple[int, dict[str, Any]]] = []
        for index, entry in entries:
            kind = entry.get("event")
            if kind == "read.refused":
                self.refused += 1
            elif kind == "read":
                self._read(index, entry)
                if _exported(entry["channel"]):
                    raw_exports.append((index, entry))
            elif kind in ("dp.release", "model.train", "dataset.derive"):
                self.made_entries.append((index, entry))
        ids = {e["dataset"] for _, e in entries if isinstance(e.get("dataset"), str)}
        ids |= {e["served"] for _, e in entries if isinstance(e.get("served"), str)}
        self.datasets = {
            d.id: d for d in session.scalars(select(Dataset).where(Dataset.id.in_(ids)))
        }
        version_ids = set(self.by_version) | {
            e["version"] for _, e in self.made_entries if isinstance(e.get("version"), str)
        }
        self.versions = {
            v.id: v for v in session.scalars(select(Version).where(Version.id.in_(version_ids)))
        }
        self.exports = [self._export(i, e) for i, e in raw_exports]

    def _read(self, index: int, entry: dict[str, Any]) -> None:
        self.reads += 1
        self.read_indexes.add(index)
        ts = datetime.fromisoformat(entry["ts"])
        group = self.by_version[entry["version"]]
        group.asked.add(entry["dataset"])
        group.served = entry.get("served") or entry["dataset"]
        group.views.add(entry["view"])
        group.purposes.add(entry["purpose"])
        group.channels.add(entry["channel"])
        group.reads += 1
        rows = int(entry.get("rows", 0))
        group.rows += rows
        group.max_rows = max(group.max_rows, rows)
        if _disclosed(entry):
            group.disclosed = True
            group.disclosed_max = max(group.disclosed_max, rows)
            group.disclosed_rows += rows
            group.disclosed_views.add(entry["view"])
            self.purposes.add(entry["purpose"])
        group.first = ts if group.first is None else min(group.first, ts)
        group.last = ts if group.last is None else max(group.last, ts)

    def name(self, dataset_id: str) -> str:
        found = self.datasets.get(dataset_id)
        return found.name if found is not None else dataset_id

    def number(self, version_id: str) -> int:
        found = self.versions.get(version_id)
        return found.number if found is not None else 0

    def _export(self, index: int, entry: dict[str, Any]) -> ExportRead:
        channel = entry["channel"]
        if channel.startswith("file:"):
            destination = f"a {channel[5:]} file written by the actor (path not logged)"
        elif channel.startswith("http:"):
            destination = (
                f"HTTP download by the caller (request id {channel[5:]}, its X-Request-Id; "
                "the server's access log at that time has the client address)"
            )
        else:
            destination = f"a {channel.split(':', 1)[-1]} stream to the caller"
        return ExportRead(
            ts=datetime.fromisoformat(entry["ts"]),
            log_index=index,
            dataset=self.name(entry.get("served") or entry["dataset"]),
            version=self.number(entry["version"]),
            view=entry["view"],
            purpose=entry["purpose"],
            channel=channel,
            destination=destination,
            rows=int(entry.get("rows", 0)),
            token=entry.get("token"),
        )

    def version_reads(self, counted: _People) -> list[VersionRead]:
        out = []
        for version_id, group in self.by_version.items():
            version = self.versions.get(version_id)
            served = group.served
            views = group.disclosed_views or group.views
            columns = [] if version is None else _columns(version, views)
            people = counted.per_version.get(version_id)
            out.append(
                VersionRead(
                    dataset=self.name(served),
                    dataset_id=served,
                    version=version.number if version else 0,
                    version_id=version_id,
                    kind=version.kind if version else "unknown",
                    asked=sorted(self.name(a) for a in group.asked),
                    views=sorted(views),
                    purposes=sorted(group.purposes),
                    channels=sorted(group.channels),
                    reads=group.reads,
                    rows=group.disclosed_rows,
                    processed_rows=group.rows - group.disclosed_rows,
                    max_rows=group.max_rows,
                    version_rows=version.row_count if version else 0,
                    disclosed=group.disclosed,
                    columns=columns,
                    subjects=people[0] if people and group.disclosed else None,
                    subject_basis=people[1] if people else "unknown",
                    subjects_exact=bool(people and people[2]),
                    first_read=group.first or datetime.now(UTC),
                    last_read=group.last or datetime.now(UTC),
                )
            )
        out.sort(key=lambda v: (v.dataset, v.version))
        return out

    def made(self) -> list[Made]:
        """Releases, derived datasets and models by the actor, and those made (by anyone)
        from the versions the actor read."""
        found: dict[tuple[str, str], Made] = {}
        for index, entry in self.made_entries:
            kind = entry["event"]
            ts = datetime.fromisoformat(entry["ts"])
            source = self.name(entry.get("dataset", ""))
            number = self.number(entry.get("version", ""))
            if kind == "dp.release":
                model = entry.get("model")
                if model:
                    row = self.session.get(DpModel, model)
                    found[("model", model)] = Made(
                        kind="model",
                        id=model,
                        name=row.name if row else None,
                        source_dataset=source,
                        source_version=number,
                        made_by=entry["actor"],
                        by_actor=True,
                        ts=ts,
                        log_index=index,
                        epsilon=entry.get("epsilon"),
                        detail="DP-SGD",
                    )
                found[("dp_release", entry["release"])] = Made(
                    kind="dp_release",
                    id=entry["release"],
                    source_dataset=source,
                    source_version=number,
                    made_by=entry["actor"],
                    by_actor=True,
                    ts=ts,
                    log_index=index,
                    epsilon=entry.get("epsilon"),
                    detail=str(entry.get("kind")),
                )
            elif kind == "model.train":
                row = self.session.get(DpModel, entry["model"])
                found[("model", entry["model"])] = Made(
                    kind="model",
                    id=entry["model"],
                    name=row.name if row else None,
                    source_dataset=source,
                    source_version=number,
                    made_by=entry["actor"],
                    by_actor=True,
                    ts=ts,
                    log_index=index,
                    detail="trained without DP",
                )
            elif kind == "dataset.derive":
                found[("derived_dataset", entry["version"])] = Made(
                    kind="synthetic" if entry.get("kind") == "synthetic" else "derived_dataset",
                    id=entry["version"],
                    name=f"{source}@{number}",
                    made_by=entry["actor"],
                    by_actor=True,
                    ts=ts,
                    log_index=index,
                    detail=str(entry.get("kind")),
                )
        self._made_from_reads(found)
        return sorted(found.values(), key=lambda m: (m.kind, m.log_index or -1, m.id))

    def _made_from_reads(self, found: dict[tuple[str, str], Made]) -> None:
        read_ids = list(self.by_version)
        if not read_ids:
            return
        s = self.session
        refs = [f"version:{v}" for v in read_ids]
        for edge in s.scalars(select(LineageEdge).where(LineageEdge.source.in_(refs))):
            if not edge.target.startswith("version:"):
                continue
            target = s.get(Version, edge.target.split(":", 1)[1])
            if target is None or ("derived_dataset", target.id) in found:
                continue
            source = s.get(Version, edge.source.split(":", 1)[1])
            found[("derived_dataset", target.id)] = Made(
                kind="synthetic" if target.kind == "synthetic" else "derived_dataset",
                id=target.id,
                name=f"{target.dataset.name}@{target.number}",
                source_dataset=source.dataset.name if source else None,
                source_version=source.number if source else None,
                made_by=target.created_by,
                by_actor=target.created_by == self.actor,
                ts=aware(target.created_at),
                log_index=edge.log_index,
                detail=edge.activity,
            )
        for model in s.scalars(select(DpModel).where(DpModel.version_id.in_(read_ids))):
            if ("model", model.id) in found:
                continue
            source = s.get(Version, model.version_id)
            found[("model", model.id)] = Made(
                kind="model",
                id=model.id,
                name=model.name,
                source_dataset=source.dataset.name if source else None,
                source_version=source.number if source else None,
                made_by=model.created_by,
                by_actor=model.created_by == self.actor,
                ts=aware(model.created_at),
                detail="DP-SGD" if model.private else "trained without DP",
            )
        for release in s.scalars(select(DpRelease).where(DpRelease.version_id.in_(read_ids))):
            if ("dp_release", release.id) in found:
                continue
            source = s.get(Version, release.version_id)
            found[("dp_release", release.id)] = Made(
                kind="dp_release",
                id=release.id,
                source_dataset=source.dataset.name if source else None,
                source_version=source.number if source else None,
                made_by=release.actor,
                by_actor=release.actor == self.actor,
                ts=aware(release.created_at),
                log_index=release.log_index,
                epsilon=release.epsilon,
                detail=release.kind,
            )


def _disclosed(entry: dict[str, Any]) -> bool:
    """Did the rows of this read reach the actor (not only a DP release or the catalog)?"""
    channel = str(entry.get("channel", ""))
    return entry.get("purpose") not in INTERNAL_PURPOSES and not channel.startswith(
        _PROCESSING_PREFIXES
    )


def _exported(channel: str) -> bool:
    return channel.startswith(("file:", "http:", "stream:"))


def _columns(version: Version, views: Iterable[str]) -> list[ColumnRead]:
    # A masked or pseudonymized read hides direct identifiers; a raw read of the same
    # version in the window shows them, so "masked" holds only when every read masked.
    masking = set(views) <= {"masked", "pseudonymized"}
    return [
        ColumnRead(
            name=c.name,
            category=c.category,
            role=c.role,
            masked=masking and c.role == "direct_identifier",
            special=_is_special(c.category),
        )
        for c in version.columns
        if not is_reserved(c.name)
    ]


def _alerts(
    session: Any,
    user: str,
    since: datetime | None,
    until: datetime,
    reads: set[int] | None,
) -> list[AlertSeen]:
    query = select(Alert, Dataset.name).join(Dataset, Dataset.id == Alert.dataset_id, isouter=True)
    query = query.where(Alert.user == user).order_by(Alert.id)
    out = []
    for row, name in session.execute(query):
        created = aware(row.created_at)
        if (since is not None and created < since) or created >= until:
            continue
        if reads is not None and row.log_index not in reads:
            continue
        out.append(
            AlertSeen(
                id=row.id,
                created_at=created,
                dataset=name or row.dataset_id,
                kind=row.kind,
                severity=row.severity,
                read_log_index=row.log_index,
            )
        )
    return out


# -- people ----------------------------------------------------------------------------------


class _People:
    def __init__(self) -> None:
        # version id → (distinct people, basis, exact)
        self.per_version: dict[str, tuple[int, Basis, bool]] = {}
        self.people: dict[str, set[str]] = defaultdict(set)  # dataset name → subject ids
        self.ids: set[str] = set()  # every subject id (text) seen
        self.link_only: dict[str, set[str]] = defaultdict(set)  # root id → links of copies
        self.ids_by_link: dict[str, str] = {}
        self.unresolved: dict[str, set[str]] = {}  # root dataset id → links with no id seen
        self.per_row: dict[str, int] = {}  # root dataset id → most rows read
        self.removed = 0  # rows read that were removed from their version since
        self.linked = 0
        self.exact = True


def _count_people(core: Core, work: _Work) -> _People:
    """Read each disclosed version again (internal purpose, logged) and count its people.

    A link is the keyed PRF of the subject id's text, so two ids are the same person exactly
    when their links are: ids are unioned as text, and links are computed (one PRF call per
    distinct id) only when a derived copy read carries links alone and must be matched.
    """
    out = _People()
    for version_id, group in work.by_version.items():
        if not group.disclosed:
            continue
        dataset, version = work.datasets.get(group.served), work.versions.get(version_id)
        if dataset is None or version is None:
            out.per_version[version_id] = (group.disclosed_max, "unknown", False)
            out.exact = False
            continue
        whole = group.disclosed_max >= version.row_count
        if group.disclosed_views <= {"synthetic"}:
            out.per_version[version_id] = (0, "none", True)
            continue
        names = {c.name for c in version.columns}
        subject = dataset.subject_id_column
        linked = SUBJECT_LINK in names or (subject is not None and subject in names)
        root = dataset.derived_from or dataset.id
        if not linked:
            rows = min(group.disclosed_max, version.row_count)
            out.per_version[version_id] = (rows, "row", whole)
            out.per_row[root] = max(out.per_row.get(root, 0), rows)
            continue
        try:
            frame = policy.read(
                core,
                f"{dataset.name}@{version.number}",
                purpose=_ASSESSMENT,
                actor=SYSTEM_ACTOR,
                channel=policy.INCIDENT_CHANNEL,
            ).frame
        except PrivetError:
            # Destroyed (retention, erasure) or unreadable: bound by the rows read.
            out.per_version[version_id] = (group.disclosed_max, "unknown", False)
            out.exact = False
            continue
        basis: Basis
        if SUBJECT_LINK in frame.columns:
            found = set(frame.get_column(SUBJECT_LINK).drop_nulls().unique().to_list())
            out.link_only[root] |= found
            basis = "subject_link"
        else:
            assert subject is not None
            values = frame.get_column(subject).cast(pl.String).drop_nulls().unique()
            found = set(values.to_list())
            out.people[dataset.name] |= found
            out.ids |= found
            basis = "subject_id"
        # A version rewritten since the read (an erasure) holds fewer rows than were read:
        # those people were disclosed too; their ids are gone, so they count one per row.
        removed = max(0, group.disclosed_max - frame.height) if whole else 0
        out.removed += removed
        out.per_version[version_id] = (len(found) + removed, basis, whole)
        if not whole or removed:
            out.exact = False
    if out.link_only:
        ids = sorted(out.ids)
        links = subject_links(core, pl.Series(ids, dtype=pl.String)).to_list() if ids else []
        out.ids_by_link = dict(zip(links, ids, strict=True))
        for root, found in out.link_only.items():
            if rest := found - out.ids_by_link.keys():
                out.unresolved[root] = rest
    unmatched = set().union(*out.unresolved.values()) if out.unresolved else set()
    out.linked = len(out.ids) + len(unmatched)
    return out


def _subject_total(versions: list[VersionRead], counted: _People) -> SubjectCount:
    linked = counted.linked
    per_row = sum(counted.per_row.values())
    removed = counted.removed
    exact = counted.exact and (per_row == 0 or (linked == 0 and len(counted.per_row) == 1))
    parts = []
    if linked:
        parts.append(
            f"{linked} distinct people by keyed subject link across "
            f"{len({v.dataset for v in versions if v.subject_basis.startswith('subject')})} "
            "dataset(s)"
        )
    if per_row:
        parts.append(
            f"{per_row} rows of dataset(s) with no subject id, one person per row "
            "(cannot be matched across datasets: may overlap the others)"
        )
    if removed:
        parts.append(
            f"{removed} rows read were removed by an erasure since, one person per row "
            "(their ids are gone)"
        )
    if not counted.exact:
        parts.append("upper bound: some reads returned part of a version or a version is gone")
    return SubjectCount(
        total=linked + per_row + removed,
        linked=linked,
        per_row=per_row,
        removed=removed,
        exact=exact,
        method="; ".join(parts) or "no rows of people were disclosed",
    )


# -- Art. 33(3) ------------------------------------------------------------------------------------


def _notification(
    actor: str,
    token: str | None,
    since: datetime | None,
    until: datetime,
    work: _Work,
    versions: list[VersionRead],
    rows: int,
    subjects: SubjectCount,
    containment: ContainmentDone | None,
) -> Notification:
    disclosed = [v for v in versions if v.disclosed]
    columns = [c for v in disclosed for c in v.columns if c.category]
    categories = sorted({c.category for c in columns if c.category})
    clear = {c.category for c in columns if c.category and not c.masked}
    special = sorted(c for c in clear if _is_special(c))
    levels = [CATEGORIES[c][1] for c in clear if c in CATEGORIES]
    if special or Level.RESTRICTED in levels:
        severity: Literal["high", "medium", "low"] = "high"
    elif Level.CONFIDENTIAL in levels or any(c.role == "direct_identifier" for c in columns):
        severity = "medium"
    else:
        severity = "low"
    if not disclosed:
        severity = "low"
    harms = sorted(
        {h for c in clear for prefix, h in _CONSEQUENCES.items() if c.startswith(prefix)}
    )
    window = f"from {since.isoformat()} " if since else ""
    who = f"{actor} (API token {token})" if token else actor
    exports = len(work.exports)
    nature = (
        f"Confidentiality breach (to confirm): access to personal data by {who} {window}"
        f"until {until.isoformat()}: {work.reads} read(s) of {len(disclosed)} dataset "
        f"version(s) disclosing {rows} record(s), {exports} of them exported "
        f"({', '.join(sorted({e.channel.split(':')[0] for e in work.exports})) or 'none'}); "
        f"purposes claimed: {', '.join(sorted(work.purposes)) or 'none'}."
    )
    subjects_text = (
        f"People whose records are in {', '.join(sorted({v.dataset for v in disclosed}))}"
        f" ({TO_FILL}: customers, employees, patients, …)"
        if disclosed
        else "none: no rows of people were disclosed"
    )
    if any(c.startswith("user.children") for c in categories):
        subjects_text += "; includes children"
    consequences = (
        f"{severity.upper()} risk: "
        + ("; ".join(harms) if harms else "limited")
        + (f"; special categories disclosed: {', '.join(special)}" if special else "")
    )
    if containment:
        measures = (
            f"Containment before this scope (audit log entry {containment.log_index}): "
            f"{len(containment.tokens_revoked)} API token(s) and "
            f"{len(containment.grants_revoked)} grant(s) of {actor} revoked at once. "
            f"Further measures: {TO_FILL}"
        )
    else:
        measures = TO_FILL
    to_fill = ["nature (confirm)", "subject_categories", "dpo_contact"]
    if not containment:
        to_fill.append("measures_taken")
    return Notification(
        nature=nature,
        subject_categories=subjects_text,
        data_categories=categories,
        special_categories=special,
        approximate_subjects=subjects.total,
        approximate_records=rows,
        likely_consequences=consequences,
        severity=severity,
        measures_taken=measures,
        to_fill=to_fill,
    )


# -- sealing for the DPO -------------------------------------------------------------------------

SEALED_FORMAT = "privet-incident-sealed/1"
_CONTEXT = b"privet/incident-seal/v1\x00"


class Sealed(BaseModel):
    path: str
    subjects: int
    sha256: str
    log_index: int


def check_new(path: Path) -> Path:
    """``path`` may be written: it does not exist and its folder does."""
    if path.exists():
        raise InvalidInput(f"{path} exists already; choose another file name")
    if not path.parent.is_dir():
        raise InvalidInput(f"folder {path.parent} does not exist")
    return path


def write_new(path: Path, data: str, *, mode: int = 0o600) -> None:
    """Write ``data`` to a new file ``path`` whole or not at all."""
    from privet import tables

    check_new(path)
    with tables.atomic_file(path, mode=mode) as out:
        out.write(data.encode())


def _hybrid() -> Any:
    from tink import hybrid

    hybrid.register()
    return hybrid


def make_dpo_key(folder: Path) -> tuple[Path, Path]:
    """A DPO key pair (Tink HPKE: X25519, HKDF-SHA256, AES-256-GCM) in ``folder``: the
    private keyset ``dpo-private.json`` (cleartext, mode 0600: keep it offline) and the
    public keyset ``dpo-public.json`` (give it to whoever runs ``privet incident``)."""
    import tink
    from tink import secret_key_access

    hybrid = _hybrid()
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / "dpo-private.json", folder / "dpo-public.json"
    for path in (private, public):
        if path.exists():
            raise InvalidInput(f"{path} exists already; choose another folder")
    handle = tink.new_keyset_handle(
        hybrid.hybrid_key_templates.DHKEM_X25519_HKDF_SHA256_HKDF_SHA256_AES_256_GCM
    )
    secret = tink.json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret)
    public.write_text(
        tink.json_proto_keyset_format.serialize_without_secret(handle.public_keyset_handle())
    )
    return private, public


def _read_public(path: Path) -> Any:
    import tink

    try:
        return tink.json_proto_keyset_format.parse_without_secret(path.read_text())
    except (OSError, tink.TinkError, ValueError):
        raise InvalidInput(f"{path} is not a Tink public keyset (JSON)") from None


def seal(core: Core, incident: IncidentScope, public_keyset: Path, out: Path, *, by: str) -> Sealed:
    """Write the scope's subject list encrypted to the DPO's public keyset (Tink HPKE) at
    ``out``; logged as ``incident.seal`` (counts and the file's hash only)."""
    hybrid = _hybrid()
    handle = _read_public(Path(public_keyset))
    encrypt = handle.primitive(hybrid.HybridEncrypt)
    people = _resolve(core, incident)
    body = json.dumps(
        {
            "actor": incident.actor,
            "token": incident.token,
            "scope_log_index": incident.log_index,
            "subjects": people,
        },
        sort_keys=True,
    ).encode()
    header = {
        "format": SEALED_FORMAT,
        "workspace": core.config.id,
        "scope_log_index": incident.log_index,
        "recipient_key": handle.keyset_info().primary_key_id,
    }
    context = _CONTEXT + json.dumps(header, sort_keys=True).encode()
    ciphertext = encrypt.encrypt(body, context)
    document = json.dumps({**header, "ciphertext": base64.b64encode(ciphertext).decode()})
    write_new(out, document, mode=0o644)
    digest = hashlib.sha256(document.encode()).hexdigest()
    count = sum(len(v) for v in people.values())
    with core.session() as session:
        (index,) = auditlog.append(
            session,
            [
                auditlog.events.incident_seal(
                    ts=core.now(),
                    actor=by,
                    scope=incident.log_index,
                    subjects=count,
                    recipient_key=header["recipient_key"],
                    sha256=digest,
                )
            ],
        )
        session.commit()
    return Sealed(path=str(out), subjects=count, sha256=digest, log_index=index)


def _resolve(core: Core, incident: IncidentScope) -> dict[str, list[str]]:
    """Subject ids by dataset; links of derived copies whose people were not in a dataset
    read with its ids are mapped through their root dataset's newest readable version (read
    under the internal purpose, logged); a link still unmatched is written as ``link:HEX``."""
    people = {name: set(ids) for name, ids in incident._people.items()}
    for root, links in incident._unresolved.items():
        mapping = _root_ids(core, root)
        with core.reading() as session:
            row = session.get(Dataset, root)
            name = row.name if row is not None else root
        people.setdefault(name, set()).update(mapping.get(link) or f"link:{link}" for link in links)
    return {name: sorted(ids) for name, ids in sorted(people.items())}


def _root_ids(core: Core, root: str) -> dict[str, str]:
    with core.reading() as session:
        dataset = session.get(Dataset, root)
        if dataset is None or dataset.subject_id_column is None:
            return {}
        versions = [v for v in dataset.versions if v.shredded_at is None]
        if not versions:
            return {}
        ref = f"{dataset.name}@{versions[-1].number}"
        column = dataset.subject_id_column
    try:
        frame = policy.read(
            core, ref, purpose=_ASSESSMENT, actor=SYSTEM_ACTOR, channel=policy.INCIDENT_CHANNEL
        ).frame
    except PrivetError:
        return {}
    values = frame.get_column(column).cast(pl.String).drop_nulls().unique()
    return dict(zip(subject_links(core, values).to_list(), values.to_list(), strict=True))


def unseal(sealed: Path, private_keyset: Path) -> dict[str, Any]:
    """The DPO's side: decrypt a sealed subject list with the private keyset."""
    import tink
    from tink import secret_key_access

    hybrid = _hybrid()
    try:
        document = json.loads(Path(sealed).read_text())
        ciphertext = base64.b64decode(document.pop("ciphertext"))
    except (OSError, ValueError, KeyError, TypeError):
        raise InvalidInput(f"{sealed} is not a sealed incident file") from None
    if document.get("format") != SEALED_FORMAT:
        raise InvalidInput(f"{sealed} is not a sealed incident file ({SEALED_FORMAT})")
    try:
        handle = tink.json_proto_keyset_format.parse(
            Path(private_keyset).read_text(), secret_key_access.TOKEN
        )
        decrypt = handle.primitive(hybrid.HybridDecrypt)
    except (OSError, tink.TinkError, ValueError):
        raise InvalidInput(f"{private_keyset} is not a Tink private keyset (JSON)") from None
    context = _CONTEXT + json.dumps(document, sort_keys=True).encode()
    try:
        plaintext = decrypt.decrypt(ciphertext, context)
    except tink.TinkError:
        raise InvalidInput(
            "the sealed file does not open with this key (wrong key, or the file was altered)"
        ) from None
    result: dict[str, Any] = json.loads(plaintext)
    return result
