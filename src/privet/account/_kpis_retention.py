"""Retention compliance from the versions' creation and destruction times, now and over time.

Its series are rebuilt from the catalog rather than the log: they use each dataset's
*current* retention period and each version's *current* row count (an erasure rewrites a
version in place), so a period changed later, or rows erased later, shift their past points.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from privet.account._kpis_buckets import state_series
from privet.account._kpis_models import Retention, Series
from privet.schema import Dataset, KeepDecision
from privet.schema import Version as VersionRow
from privet.timestamps import aware

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Version:
    created: datetime
    destroyed: datetime | None
    expires: datetime | None  # None: no retention period, or kept by its owner's decision
    rows: int


def versions(session: Session) -> list[Version]:
    kept = set(
        session.scalars(select(KeepDecision.object_id).where(KeepDecision.kind == "dataset"))
    )
    found = []
    rows = session.execute(
        select(VersionRow, Dataset).join(Dataset, Dataset.id == VersionRow.dataset_id)
    )
    for version, dataset in rows:
        days = dataset.retention_days
        # As privet.forget's retention does: a derived dataset its owner keeps is exempt.
        exempt = days is None or (dataset.derived_from is not None and dataset.id in kept)
        created = aware(version.created_at)
        found.append(
            Version(
                created=created,
                destroyed=aware(version.shredded_at) if version.shredded_at else None,
                expires=None if exempt or days is None else created + timedelta(days=days),
                rows=version.row_count,
            )
        )
    return found


def retention_at(versions: list[Version], at: datetime) -> Retention:
    live = [v for v in versions if v.created <= at and (v.destroyed is None or v.destroyed > at)]
    overdue = [v for v in live if v.expires is not None and v.expires <= at]
    rows_live, rows_overdue = sum(v.rows for v in live), sum(v.rows for v in overdue)
    return Retention(
        versions_live=len(live),
        versions_overdue=len(overdue),
        rows_live=rows_live,
        rows_overdue=rows_overdue,
        versions_compliance=1.0 - len(overdue) / len(live) if live else 1.0,
        rows_compliance=1.0 - rows_overdue / rows_live if rows_live else 1.0,
    )


def retention_series(
    versions: list[Version], edges: list[datetime], ends: list[datetime]
) -> list[Series]:
    states = [retention_at(versions, e) for e in ends]
    return [
        state_series("retention_versions_compliance", None, edges,
                     [s.versions_compliance for s in states]),
        state_series("retention_rows_compliance", None, edges,
                     [s.rows_compliance for s in states]),
        state_series("retention_versions_overdue", None, edges,
                     [float(s.versions_overdue) for s in states]),
    ]  # fmt: skip
