"""Anomaly alerts on governed reads, against each user's own baseline.

The baseline is counts only: reads, rows read, the datasets read before, and reads per UTC
hour. It is updated in the read's own transaction, and an alert is raised in that same
transaction — recorded in the audit log and the alerts table before any row leaves — so an
alert is never later than the read it flags. Three signals, each a known insider-exfiltration
pattern: a read far above the usual volume, a first-ever read of a restricted dataset, and a
bulk read at an hour the user never works.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from privet import auditlog
from privet.errors import PolicyDenied
from privet.policy._decide import Facts
from privet.policy._grants import may_oversee
from privet.policy._identity import Identity, aware
from privet.policy._rules import Alerts
from privet.schema import AccessBaseline, Alert, Dataset
from privet.taxonomy import Level
from privet.timestamps import UtcDatetime

if TYPE_CHECKING:
    from privet.core import Core


class AlertInfo(BaseModel):
    id: int
    created_at: UtcDatetime
    user: str
    dataset: str
    kind: str
    severity: str
    facts: dict[str, Any]
    log_index: int


def observe(
    session: Session,
    thresholds: Alerts,
    *,
    user: str,
    dataset: Facts,
    rows: int,
    now: datetime,
    read_index: int,
) -> list[dict[str, Any]]:
    """Compare one read with ``user``'s baseline, fold it in, and record any alert.

    Returns the alert events appended to the log (empty for an ordinary read).
    """
    # Called after the read's log append, whose update of the log-head row (PostgreSQL) or
    # write lock (SQLite) already serializes writers, so a first baseline row is never
    # inserted twice; FOR UPDATE keeps that true if the order ever changes.
    base = session.scalars(
        select(AccessBaseline).where(AccessBaseline.user == user).with_for_update()
    ).first()
    if base is None:
        base = AccessBaseline(user=user, reads=0, rows_total=0, datasets=[], hours=[0] * 24)
        session.add(base)
    hour = (now.astimezone(UTC) if now.tzinfo else now).hour
    found: list[tuple[str, str, dict[str, Any]]] = []
    history = base.reads >= thresholds.min_history
    mean = base.rows_total / base.reads if base.reads else 0.0
    if history and rows > thresholds.volume_factor * max(mean, 1.0):
        found.append(
            ("volume", "high", {"rows": rows, "mean_rows": round(mean, 1), "reads": base.reads})
        )
    # The owner registered the dataset: their first read of it is no surprise.
    first = dataset.id not in base.datasets and user != dataset.owner
    if dataset.classification == Level.RESTRICTED and first:
        found.append(("first_restricted", "high", {"rows": rows, "classification": "restricted"}))
    share = base.hours[hour] / base.reads if base.reads else 0.0
    if history and share < thresholds.usual_hour_share and rows >= thresholds.bulk_rows:
        found.append(("off_hours_bulk", "medium", {"rows": rows, "hour": hour}))
    # Fold the read in (new lists: JSON columns do not track in-place mutation).
    base.reads += 1
    base.rows_total += rows
    if dataset.id not in base.datasets:
        base.datasets = [*base.datasets, dataset.id]
    hours = list(base.hours)
    hours[hour] += 1
    base.hours = hours
    base.updated_at = now
    if not found:
        return []
    events = [
        auditlog.events.alert(
            ts=now,
            user=user,
            dataset=dataset.id,
            kind=kind,
            severity=severity,
            read=read_index,
            facts=facts,
        )
        for kind, severity, facts in found
    ]
    indexes = auditlog.append(session, events)
    for (kind, severity, facts), index in zip(found, indexes, strict=True):
        session.add(
            Alert(
                created_at=now,
                user=user,
                dataset_id=dataset.id,
                kind=kind,
                severity=severity,
                facts={**facts, "read": read_index},
                log_index=index,
            )
        )
    return events


def list_alerts(
    core: Core, *, since: int | None = None, identity: Identity | None = None
) -> list[AlertInfo]:
    """Alerts, newest first; ``since`` gives only those with an id above it (for polling).

    With ``identity`` (a remote caller), only someone who may oversee access (an approver or
    a dataset owner) sees them; without it, the local key holder does.
    """
    if identity is not None and not may_oversee(core, identity):
        raise PolicyDenied("only approvers and administrators see alerts")
    query = (
        select(Alert, Dataset.name)
        .join(Dataset, Dataset.id == Alert.dataset_id, isouter=True)
        .order_by(Alert.id.desc())
    )
    if since is not None:
        query = query.where(Alert.id > since)
    with core.reading() as session:
        return [
            AlertInfo(
                id=row.id,
                created_at=aware(row.created_at),
                user=row.user,
                dataset=name or row.dataset_id,
                kind=row.kind,
                severity=row.severity,
                facts=dict(row.facts),
                log_index=row.log_index,
            )
            for row, name in session.execute(query)
        ]
