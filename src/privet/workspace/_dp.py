"""``ws.dp``: differential privacy — the budget ledger, DP statistics, DP-SGD, DP synthesis."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from privet.core import Core
    from privet.dp import (
        BudgetInfo,
        Charge,
        ModelInfo,
        QueryResult,
        SynthReport,
        TrainedModel,
    )
    from privet.policy import Identity

Progress = Callable[[str], None]


class DifferentialPrivacy:
    """DP statistics, DP-SGD training, DP synthesis and the budget ledger of one workspace.

    Every release spends from the ledger of the dataset's source, is refused before it reads
    anything if it would exceed the owner's limit, and is recorded with its audit entry.
    OpenDP and PyTorch load on first use.
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    # -- the ledger -------------------------------------------------------------------------

    def budget(self, name: str) -> BudgetInfo:
        """The ledger that dataset ``name`` spends from (its source's, if derived)."""
        from privet import dp

        return dp.budget(self._core, name)

    def set_budget(
        self, name: str, *, actor: str, epsilon: float | None = None, delta: float | None = None
    ) -> BudgetInfo:
        """The owner sets the ledger's limit: ``epsilon`` at the ledger's ``delta``."""
        from privet import dp

        return dp.set_limit(self._core, name, actor=actor, epsilon=epsilon, delta=delta)

    def declare(
        self,
        name: str,
        *,
        actor: str,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        keys: Mapping[str, Sequence[Any]] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """The owner declares public clamping ``bounds`` and category ``keys`` of columns."""
        from privet import dp

        return dp.declare(self._core, name, actor=actor, bounds=bounds, keys=keys)

    def domains(self, name: str) -> dict[str, dict[str, Any]]:
        """The column domains declared for dataset ``name``: {column: {bounds, keys}}."""
        from privet import dp

        return dp.declared_domains(self._core, name)

    def charge(self, ref: str, charge: Charge, *, kind: str, purpose: str, actor: str) -> str:
        """Record a release made elsewhere on the ledger of ``ref``; returns its id.

        Refused with ``BudgetExhausted`` if it does not fit.
        """
        from privet import dp

        return dp.charge(self._core, ref, charge, kind=kind, purpose=purpose, actor=actor)

    # -- releases -----------------------------------------------------------------------------

    def query(
        self,
        ref: str,
        sql: str,
        *,
        epsilon: float,
        purpose: str,
        actor: str,
        delta: float | None = None,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        keys: Mapping[str, Sequence[Any]] | None = None,
        max_rows_per_subject: int = 1,
        identity: Identity | None = None,
    ) -> QueryResult:
        """A DP answer to ``sql`` (count, sum, mean, quantiles, GROUP BY) on ``ref``.

        ``identity`` (an authenticated :class:`privet.policy.Identity`) is who the broker
        decides for; without it, the local ``actor`` and their registered roles.
        """
        from privet import dp

        return dp.query(
            self._core,
            ref,
            sql,
            epsilon=epsilon,
            purpose=purpose,
            actor=actor,
            delta=delta,
            bounds=bounds,
            keys=keys,
            max_rows_per_subject=max_rows_per_subject,
            identity=identity,
        )

    def train(
        self,
        ref: str,
        *,
        target: str,
        name: str,
        purpose: str,
        actor: str,
        epsilon: float | None = None,
        delta: float | None = None,
        progress: Progress | None = None,
        **options: Any,
    ) -> ModelInfo:
        """A DP-SGD model of ``target`` stored as ``name`` (options: see ``privet.dp.train``)."""
        from privet import dp

        return dp.train(
            self._core,
            ref,
            target=target,
            name=name,
            purpose=purpose,
            actor=actor,
            epsilon=epsilon,
            delta=delta,
            progress=progress,
            **options,
        )

    def synthesize(
        self,
        ref: str,
        *,
        name: str,
        actor: str,
        method: str = "aim",
        epsilon: float | None = None,
        delta: float | None = None,
        rows: int | None = None,
        progress: Progress | None = None,
        **options: Any,
    ) -> SynthReport:
        """A synthetic copy of ``ref`` as dataset ``name`` (AIM and MST spend ``epsilon``)."""
        from privet import dp

        return dp.synthesize(
            self._core,
            ref,
            name=name,
            actor=actor,
            method=method,
            epsilon=epsilon,
            delta=delta,
            rows=rows,
            progress=progress,
            **options,
        )

    # -- models ---------------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        """Every model, with its public card (no exact counts, no row bitmaps)."""
        from privet import dp

        return dp.list_models(self._core)

    def model(
        self,
        name: str,
        *,
        actor: str | None = None,
        purpose: str | None = None,
        identity: Identity | None = None,
    ) -> ModelInfo:
        """A model's card: full for its dataset's owner or a grantee of the raw rows for
        ``purpose`` (logged), public (exact counts and row bitmaps withheld) otherwise."""
        from privet import dp

        return dp.model_info(self._core, name, actor=actor, identity=identity, purpose=purpose)

    def load_model(self, name: str, *, actor: str, purpose: str | None = None) -> TrainedModel:
        """Decrypt a stored model (logged) with its preprocessing, ready to predict."""
        from privet import dp

        return dp.load_model(self._core, name, actor=actor, purpose=purpose)
