"""Lineage edges, stored in the catalog in the same transaction as the change they record.

References are ids and hashes (``file:sha256:…``, ``version:…``); facts are counts and
formats, never values, so the graph can be exported without exposing personal data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from privet.schema import LineageEdge


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    activity: str
    facts: dict[str, Any]
    log_index: int
    created_at: datetime


def file_ref(sha256: str) -> str:
    return f"file:sha256:{sha256}"


def version_ref(version_id: str) -> str:
    return f"version:{version_id}"


def record(
    session: Session,
    source: str,
    target: str,
    activity: str,
    facts: Mapping[str, object],
    log_index: int,
    now: datetime,
) -> None:
    session.add(
        LineageEdge(
            source=source,
            target=target,
            activity=activity,
            facts=dict(facts),
            log_index=log_index,
            created_at=now,
        )
    )


def edges_of(session: Session, ref: str) -> list[Edge]:
    rows = session.scalars(
        select(LineageEdge)
        .where(or_(LineageEdge.source == ref, LineageEdge.target == ref))
        .order_by(LineageEdge.id)
    )
    return [
        Edge(r.source, r.target, r.activity, dict(r.facts), r.log_index, r.created_at) for r in rows
    ]
