"""KPI series rebuilt from the audit log: grants, alerts, ε spent and erasures per bucket."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime

from privet.account._kpis_buckets import count_series, index, state_series
from privet.account._kpis_log import Log
from privet.account._kpis_models import Point, Series


def log_series(
    log: Log, edges: list[datetime], ends: list[datetime], names: dict[str, str]
) -> list[Series]:
    """Every series the log holds, in the KPIs' order; ``names``: dataset id → name."""
    return [
        *_grant_series(log, edges, ends),
        count_series("alerts", None, [at for at, _ in log.alerts], edges),
        *_epsilon_series(log, edges, ends, names),
        *_erasure_series(log, edges, ends),
    ]


def _grant_series(log: Log, edges: list[datetime], ends: list[datetime]) -> list[Series]:
    def pending(at: datetime) -> float:
        return float(
            sum(
                1
                for g, asked in log.requests.items()
                if asked <= at and not (g in log.decided and log.decided[g] <= at)
            )
        )

    def active(at: datetime) -> float:
        return float(
            sum(
                1
                for g, (approved, expires) in log.approvals.items()
                if approved <= at < expires and not (g in log.revoked and log.revoked[g] <= at)
            )
        )

    by_bucket: dict[int, list[float]] = defaultdict(list)
    for at, seconds in log.approval_seconds():
        i = index(edges, at)
        if i is not None:
            by_bucket[i].append(seconds)
    median = Series(
        name="approval_seconds",
        subject=None,
        measure="median",
        points=[
            Point(t=t, value=statistics.median(by_bucket[i]) if by_bucket.get(i) else None)
            for i, t in enumerate(edges)
        ],
    )
    return [
        count_series("grants_requested", None, list(log.requests.values()), edges),
        count_series("grants_approved", None, [a for a, _ in log.approvals.values()], edges),
        state_series("grants_pending", None, edges, [pending(e) for e in ends]),
        state_series("grants_active", None, edges, [active(e) for e in ends]),
        median,
    ]


def _last_before(points: list[tuple[datetime, float]], at: datetime) -> float | None:
    value = None
    for when, v in points:
        if when > at:
            break
        value = v
    return value


def _epsilon_series(
    log: Log, edges: list[datetime], ends: list[datetime], names: dict[str, str]
) -> list[Series]:
    found = []
    for ledger in sorted(log.spent, key=lambda i: names.get(i, i)):
        points = log.spent[ledger]
        values = [_last_before(points, e) or 0.0 for e in ends]  # 0 before the first release
        found.append(state_series("epsilon_spent", names.get(ledger, ledger), edges, values))
    return found


def _erasure_series(log: Log, edges: list[datetime], ends: list[datetime]) -> list[Series]:
    def open_at(at: datetime) -> float:
        return float(
            sum(
                1
                for r, asked in log.erasure_requests.items()
                if asked <= at and not (r in log.erasure_done and log.erasure_done[r] <= at)
            )
        )

    return [
        count_series("erasures_requested", None, list(log.erasure_requests.values()), edges),
        state_series("erasures_open", None, edges, [open_at(e) for e in ends]),
    ]
