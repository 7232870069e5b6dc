"""Privacy KPIs: what a data-protection lead watches, now and over time.

Every figure is recomputed from what the workspace records, never stored as a figure: the
grants, alerts, erasure requests and ledgers in the catalog for the current values
(:mod:`._kpis_now`), the timestamped audit log (``grant.*``, ``alert``, ``dp.release``,
``erasure.*``) for the series (:mod:`._kpis_log`, :mod:`._kpis_series`), model cards (each
audit with its time and log index) for leakage (:mod:`._kpis_leakage`), and the versions'
creation and destruction times for retention compliance over time (:mod:`._kpis_retention`,
which says why its past points can shift). This module puts them together.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from privet.account import _kpis_now as current
from privet.account._kpis_buckets import BUCKETS, buckets, ends
from privet.account._kpis_leakage import latest_leakage, leakage_series
from privet.account._kpis_log import read_log
from privet.account._kpis_models import Kpis
from privet.account._kpis_retention import retention_at, retention_series, versions
from privet.account._kpis_series import log_series
from privet.errors import InvalidInput
from privet.schema import Alert, Dataset, DpLedger, DpModel, DpRelease
from privet.timestamps import aware

if TYPE_CHECKING:
    from privet.core import Core


def kpis(core: Core, *, since: datetime | None = None, bucket: str = "day") -> Kpis:
    """The KPIs at the workspace clock's now; series in ``bucket`` steps from ``since``
    (default: the log's first entry), counts of events (alerts, approvals) since then."""
    if bucket not in BUCKETS:
        raise InvalidInput(
            f"bucket must be one of {', '.join(BUCKETS)}, not {bucket[:20]!r}", parameter="bucket"
        )
    now = aware(core.now())
    with core.reading() as session:
        log = read_log(session)
        start = _utc(since) if since is not None else (log.first or now)
        if start > now:
            raise InvalidInput("since is in the future", parameter="since")
        step = BUCKETS[bucket]
        edges = buckets(start, now, step)
        read_at = ends(edges, step, now)
        names = dict(session.execute(select(Dataset.id, Dataset.name)).all())
        held = versions(session)
        models = list(session.scalars(select(DpModel).order_by(DpModel.name)))
        alert_rows = [
            (aware(a.created_at), a.kind, a.severity)
            for a in session.scalars(select(Alert))
            if aware(a.created_at) >= start
        ]
        ledgers = sorted(
            {names[i] for i in session.scalars(select(DpRelease.ledger_id)) if i in names}
            | {names[i] for i in session.scalars(select(DpLedger.dataset_id)) if i in names}
        )
        grant_states = current.grant_table(session, now)
    budgets = [current.budget(core, name) for name in ledgers]
    from privet.forget import list_requests

    erasure_infos = list_requests(core)
    approvals = [s for at, s in log.approval_seconds() if at >= start]
    series = [
        *log_series(log, edges, read_at, names),
        *leakage_series(models, edges, read_at),
        *retention_series(held, edges, read_at),
    ]
    return Kpis(
        now=now,
        since=start,
        bucket=bucket,  # type: ignore[arg-type]  # checked above
        leakage=[lk for m in models if (lk := latest_leakage(m)) is not None],
        retention=retention_at(held, now),
        budgets=budgets,
        grants=current.grants(grant_states, approvals),
        alerts=current.alerts(alert_rows),
        erasures=current.erasures(erasure_infos, now),
        series=series,
    )


def _utc(at: datetime) -> datetime:
    try:
        return aware(at).astimezone(UTC)
    except (OverflowError, ValueError):  # year 1 at +14:00 is before year 1 in UTC
        raise InvalidInput("since is out of range", parameter="since") from None
