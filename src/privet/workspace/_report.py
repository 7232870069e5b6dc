"""``ws.report``: the privacy impact assessment of a dataset or a model, as HTML or PDF."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from privet import policy

if TYPE_CHECKING:
    from privet.account import Assessment
    from privet.core import Core
    from privet.policy import Identity

Progress = Callable[[str], None]


class Reports:
    """Privacy impact assessments (GDPR Art. 35(7)) filled from what the workspace records
    and measures: inventory, discovery, re-identification risk, ε per ledger, attack results,
    access and alerts, lineage, retention and erasure. Each number names the ``privet``
    command that reproduces it; what no measurement can say is a field for a person.

    Measuring re-identification risk reads the version through the broker under privet's
    assessment purpose (logged); a measurement is stored and reused while the version's
    content, its columns' roles and privet's code are unchanged.
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    def assess(
        self,
        name: str,
        *,
        actor: str | None = None,
        identity: Identity | None = None,
        progress: Progress | None = None,
    ) -> Assessment:
        """The assessment of dataset ``name``, or of model ``name`` if no dataset has it, for
        a local ``actor`` or an authenticated ``identity``: one who may oversee access (an
        approver or a dataset owner; else ``PolicyDenied``), logged as the actor."""
        from privet import account

        who = policy.overseer(self._core, actor, identity, to="see impact assessments")
        return account.assess(self._core, name, actor=who, progress=progress)

    def assess_all(self, *, actor: str, progress: Progress | None = None) -> list[Assessment]:
        """The assessments of every dataset and every model (one read of the log for all)."""
        from privet import account

        return account.assess_all(self._core, actor=actor, progress=progress)

    def html(self, assessments: Assessment | Sequence[Assessment]) -> str:
        """One self-contained HTML page (inline CSS and SVG; no script, no network)."""
        from privet import account

        return account.html(assessments)

    def write(
        self,
        assessments: Assessment | Sequence[Assessment],
        output: str | Path,
        *,
        pdf: bool = False,
    ) -> Path:
        """Write the HTML to ``output``; with ``pdf`` also its PDF (``output`` with suffix
        .pdf, printed by headless Chromium) and return that path."""
        from privet import account

        return account.write(assessments, Path(output), pdf=pdf)
