"""``ws.drills``: breach drills against a running ``privet serve`` on this workspace."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from privet.account import DrillReport
    from privet.core import Core


class Drills:
    """Scripted breaches (a stolen token read off-hours, slow scraping, purpose hopping, a
    revoked token replayed) played over HTTP by disposable users on disposable data, with the
    time to alert and to containment measured and privet's incident scope set beside what the
    drill knows it read. See :mod:`privet.account._drill`."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def run(
        self,
        server: str,
        *,
        actor: str,
        scenarios: Sequence[str] | None = None,
        timeout: float = 5.0,
        verify: bool | str = True,
        output: Path | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> DrillReport:
        """Play ``scenarios`` (default: every one) against the server at ``server``, which must
        serve this workspace; returns the after-action report, also written to ``output``
        (``.html`` or ``.json``, checked before anything is played) when given. The drill's
        users are disabled afterwards; its datasets (``drill-…``) and every log entry stay.
        ``timeout`` bounds each wait (for an alert, for a refusal) in seconds; ``verify`` is
        httpx's (a CA bundle path for a server with a private certificate)."""
        from privet import account

        if output is not None:
            account.check_output(output)
        report = account.run_drill(
            self._core,
            server,
            actor=actor,
            scenarios=scenarios,
            scope=account.drill_scope(self._core, actor=actor),
            timeout=timeout,
            verify=verify,
            progress=progress,
        )
        if output is not None:
            account.write_report(report, output)
        return report

    @staticmethod
    def html(report: DrillReport) -> str:
        """``report`` as one self-contained HTML page."""
        from privet import account

        return account.render_drill_html(report)
