"""Lineage edges, stored in the catalog in the same transaction as the change they record.

References are ids and hashes (``file:sha256:…``, ``version:…``); facts are counts and
formats, never values, so the graph can be exported without exposing personal data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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


def all_edges(session: Session) -> list[Edge]:
    """Every edge of the graph, in the order they were recorded."""
    rows = session.scalars(select(LineageEdge).order_by(LineageEdge.id))
    return [
        Edge(r.source, r.target, r.activity, dict(r.facts), r.log_index, r.created_at) for r in rows
    ]


def derived_versions(
    session: Session,
    version_ids: Iterable[str],
    *,
    include: Callable[[str], bool] = lambda _version_id: True,
) -> list[tuple[str, str]]:
    """``(source id, version id)`` for every version made from ``version_ids``, transitively,
    each listed once, a source before what was made from it. A version ``include`` refuses
    is neither listed nor followed (what was made from it is reached only another way)."""
    found: set[str] = set()
    pairs: list[tuple[str, str]] = []
    frontier = list(version_ids)
    while frontier:
        source = frontier.pop()
        for target in session.scalars(
            select(LineageEdge.target).where(LineageEdge.source == version_ref(source))
        ):
            version_id = target.removeprefix("version:")
            if not target.startswith("version:") or version_id in found:
                continue
            if include(version_id):
                found.add(version_id)
                pairs.append((source, version_id))
                frontier.append(version_id)
    return pairs
