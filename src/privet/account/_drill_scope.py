"""privet's incident scope of a drill user, in the drill's terms, and whether it equals the
ground truth (what the drill itself received)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from privet.account._drill_models import Scope, ScopeFn

if TYPE_CHECKING:
    from privet.core import Core


def drill_scope(core: Core, *, actor: str) -> ScopeFn:
    """privet's incident scope (``privet.account.scope``, computed and logged by ``actor``) of
    a drill user since a time, in the drill's terms."""
    from privet.account._incident import scope

    def compute(user: str, since: datetime) -> Scope:
        found = scope(core, actor=user, since=since, by=actor)
        return Scope(
            datasets=sorted(found.datasets),
            reads=found.reads,
            rows=found.rows,
            subjects=found.subjects.total,
        )

    return compute


def same(found: Scope, truth: Scope) -> bool:
    return (
        sorted(found.datasets) == sorted(truth.datasets)
        and found.reads == truth.reads
        and found.rows == truth.rows
        and found.subjects == truth.subjects
    )
