"""``ws.kpis``: privacy KPIs now and over time."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from privet import policy

if TYPE_CHECKING:
    from privet.account import Kpis
    from privet.core import Core


class KpisFacade:
    """What a data-protection lead watches: ``ws.kpis()`` for the figures and their series."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def __call__(
        self,
        *,
        since: datetime | None = None,
        bucket: str = "day",
        identity: policy.Identity | None = None,
    ) -> Kpis:
        """Current KPIs and series per ``bucket`` ("hour", "day", "week") from ``since``
        (default: the workspace's first log entry). A remote ``identity`` must be one who
        may oversee access (an approver or a dataset owner), as for alerts."""
        from privet import account

        policy.check_may_oversee(self._core, identity, to="see the privacy KPIs")
        return account.kpis(self._core, since=since, bucket=bucket)
