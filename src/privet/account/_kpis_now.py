"""The KPIs' current figures: grants, alerts, erasures and ε budgets as the catalog holds
them now."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from privet.account._kpis_models import Alerts, Budget, Erasures, Grants
from privet.timestamps import aware

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from privet.core import Core
    from privet.forget import ErasureInfo


def grant_table(session: Session, now: datetime) -> tuple[int, int]:
    """(pending, active) grants as the grants table holds them now."""
    from privet.schema import Grant

    pending = active = 0
    for status, expires in session.execute(select(Grant.status, Grant.expires_at)):
        if status == "pending":
            pending += 1
        elif status == "active" and expires is not None and aware(expires) > now:
            active += 1
    return pending, active


def grants(states: tuple[int, int], approvals: list[float]) -> Grants:
    """``states`` from :func:`grant_table`; ``approvals``: seconds each approval took."""
    return Grants(
        pending=states[0],
        active=states[1],
        approvals=len(approvals),
        approval_seconds_median=statistics.median(approvals) if approvals else None,
        approval_seconds_max=max(approvals) if approvals else None,
    )


def alerts(rows: list[tuple[datetime, str, str]]) -> Alerts:
    """``rows``: (raised at, kind, severity) of the alerts counted."""
    return Alerts(
        total=len(rows),
        by_kind=dict(sorted(Counter(k for _, k, _ in rows).items())),
        by_severity=dict(sorted(Counter(s for _, _, s in rows).items())),
    )


def erasures(infos: Sequence[ErasureInfo], now: datetime) -> Erasures:
    open_ = [e for e in infos if e.status != "done"]
    return Erasures(
        open=len(open_),
        done=sum(e.status == "done" for e in infos),
        overdue=sum(e.overdue for e in open_),
        oldest_open_days=(now - min(e.requested_at for e in open_)).total_seconds() / 86400
        if open_
        else None,
    )


def budget(core: Core, name: str) -> Budget:
    from privet import dp

    info = dp.budget(core, name)
    return Budget(
        dataset=info.dataset,
        epsilon_spent=info.epsilon_spent,
        epsilon_limit=info.epsilon_limit,
        delta=info.delta,
        releases=len(info.releases),
    )
