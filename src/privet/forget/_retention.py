"""Retention (storage limitation, GDPR Art. 5(1)(e)): expired versions are crypto-shredded.

A version expires ``retention_days`` after **its own creation** (each version is a separate
collection of the data; an old version does not live on because a newer one was added).
What was made from an expired version goes with it — a derived version whose lineage source
expired, a model trained on it — unless the owner recorded a keep decision for that derived
dataset or model (it is then exempt from retention: its reason says why).

Destroying = the object's data key is removed from its dataset's keyset, then the
ciphertext is deleted; the version row stays as a tombstone (number, hashes, who, when) and
each destruction is an audit entry with its evidence. Every object is destroyed in its own
transaction, so a run stopped at any point is finished by the next one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from privet import auditlog
from privet.core import collect_garbage, shred_object
from privet.forget._keep import kept
from privet.lineage import derived_versions
from privet.schema import Dataset, DpModel, Version
from privet.timestamps import UtcDatetime, aware

if TYPE_CHECKING:
    from privet.core import Core, Shredded

Reason = Literal["expired", "source_expired"]


class Expiry(BaseModel):
    """One object retention destroys (or, in a dry run, would destroy)."""

    kind: Literal["version", "model"]
    dataset: str
    name: str  # DATASET@N or the model's name
    reason: Reason
    due_at: UtcDatetime
    key_id: int | None = None  # set once destroyed
    object_sha256: str | None = None


class RetentionReport(BaseModel):
    dry_run: bool
    now: UtcDatetime
    destroyed: list[Expiry]


class Due(BaseModel):
    """A version that expires within the window asked for (the dashboard's list)."""

    dataset: str
    version: int
    due_at: UtcDatetime


def due(core: Core, *, within_days: float = 30.0) -> list[Due]:
    """Live versions that expire in the next ``within_days`` days (or are overdue)."""
    horizon = core.now() + timedelta(days=within_days)
    with core.reading() as session:
        return [
            Due(dataset=d.name, version=v.number, due_at=at)
            for d, v, at in _expiring(session)
            if at <= horizon
        ]


def run(
    core: Core, *, actor: str, dry_run: bool = False, progress: Callable[[str], None] | None = None
) -> RetentionReport:
    """Destroy what has expired by now (or list it, with ``dry_run``: nothing changes)."""
    step = progress or (lambda _s: None)
    now = core.now()
    with core.reading() as session:
        plan = _plan(session, now)
    if dry_run:
        return RetentionReport(dry_run=True, now=now, destroyed=[item for item, _ in plan])
    done = []
    for position, (item, target) in enumerate(plan, 1):
        step(f"destroying {position}/{len(plan)}")
        evidence = _destroy(core, target, item, actor=actor)
        done.append(item.model_copy(update={"key_id": evidence.key_id,
                                            "object_sha256": evidence.object_sha256}))  # fmt: skip
    # Files a run killed after a destroying commit left behind (their keys are already gone).
    collect_garbage(core)
    return RetentionReport(dry_run=False, now=now, destroyed=done)


def _expiring(session: Session) -> list[tuple[Dataset, Version, datetime]]:
    """Live versions of datasets with a retention period, with when each expires."""
    found = []
    rows = session.execute(
        select(Dataset, Version)
        .join(Version, Version.dataset_id == Dataset.id)
        .where(Dataset.retention_days.is_not(None), Version.shredded_at.is_(None))
        .order_by(Dataset.name, Version.number)
    )
    for dataset, version in rows:
        if dataset.derived_from is not None and kept(session, "dataset", dataset.id):
            continue
        assert dataset.retention_days is not None
        found.append(
            (dataset, version, aware(version.created_at) + timedelta(days=dataset.retention_days))
        )
    return found


def _plan(session: Session, now: datetime) -> list[tuple[Expiry, tuple[str, str]]]:
    """What expires at ``now``: versions first (sources before what was made from them)."""
    plan: list[tuple[Expiry, tuple[str, str]]] = []
    gone: set[str] = set()
    due_at: dict[str, datetime] = {}  # version id → when it expired (the sources' date)
    for dataset, version, at in _expiring(session):
        if at <= now:
            plan.append((_version_item(dataset, version, "expired", at), ("version", version.id)))
            gone.add(version.id)
            due_at[version.id] = at
    # Sources retention already destroyed count too: a run stopped midway, or a keep decision
    # withdrawn since, must not leave what was made from them alive.
    due_at.update({**_destroyed(session), **due_at})

    # What was derived from a version that goes (transitively), unless kept.
    def follows(version_id: str) -> bool:
        made = session.get(Version, version_id)
        if made is None or made.shredded_at is not None or version_id in gone:
            return False
        return kept(session, "dataset", made.dataset_id) is None

    for source, version_id in derived_versions(session, list(due_at), include=follows):
        made = session.get(Version, version_id)
        owner = session.get(Dataset, made.dataset_id) if made else None
        assert made is not None and owner is not None
        at = due_at[version_id] = due_at[source]
        plan.append((_version_item(owner, made, "source_expired", at), ("version", made.id)))
    models = session.scalars(
        select(DpModel).where(
            DpModel.version_id.in_(list(due_at)), DpModel.blocked.is_distinct_from("expired")
        )
    )
    for model in models:
        if kept(session, "model", model.id):
            continue
        parent = session.get(Dataset, model.dataset_id)
        item = Expiry(
            kind="model",
            dataset=parent.name if parent else model.dataset_id,
            name=model.name,
            reason="source_expired",
            due_at=due_at[model.version_id],
        )
        plan.append((item, ("model", model.id)))
    return plan


def _destroyed(session: Session) -> dict[str, datetime]:
    """Versions retention destroyed, with when they had expired."""
    rows = session.execute(
        select(Version, Dataset.retention_days)
        .join(Dataset, Dataset.id == Version.dataset_id)
        .where(Version.shred_reason == "retention")
    )
    found = {}
    for version, days in rows:
        assert version.shredded_at is not None
        found[version.id] = (
            aware(version.created_at) + timedelta(days=days) if days else aware(version.shredded_at)
        )
    return found


def _version_item(dataset: Dataset, version: Version, reason: Reason, at: datetime) -> Expiry:
    return Expiry(
        kind="version",
        dataset=dataset.name,
        name=f"{dataset.name}@{version.number}",
        reason=reason,
        due_at=at,
    )


def _destroy(core: Core, target: tuple[str, str], item: Expiry, *, actor: str) -> Shredded:
    kind, row_id = target
    table = Version if kind == "version" else DpModel

    def mark(session: Session, row: Version | DpModel, evidence: Shredded) -> None:
        now = core.now()
        governance = None
        if isinstance(row, Version):
            row.shredded_at, row.shred_reason = now, "retention"
            session.flush()
            governance = auditlog.attest(session, ("dataset", row.dataset_id), ("version", row.id))
        else:
            row.blocked, row.blocked_at = "expired", now
        entry = auditlog.events.retention_shred(
            ts=now,
            actor=actor,
            dataset=row.dataset_id,
            reason=item.reason,
            evidence=destruction(evidence),
            version=row.id if isinstance(row, Version) else None,
            model=row.id if isinstance(row, DpModel) else None,
            governance=governance,
        )
        auditlog.append(session, [entry])

    return shred_object(core, table, row_id, mark=mark, actor=actor)


def destruction(evidence: Shredded) -> auditlog.events.Destruction:
    return auditlog.events.Destruction(
        object_key=evidence.object_key,
        key_id=evidence.key_id,
        object_sha256=evidence.object_sha256,
        key_destroyed=evidence.key_destroyed,
    )
