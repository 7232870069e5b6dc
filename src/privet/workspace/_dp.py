"""``ws.dp``: differential privacy — the budget ledger, DP statistics, DP-SGD, DP synthesis."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from privet.errors import InvalidInput

if TYPE_CHECKING:
    from privet.core import Core
    from privet.dp import (
        BudgetInfo,
        BudgetRequest,
        Charge,
        ColumnDomain,
        KeyValue,
        ModelInfo,
        QueryRequest,
        QueryResult,
        SynthReport,
        SynthRequest,
        TrainedModel,
        TrainRequest,
        UnlearnResult,
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

    def budget(
        self, name: str, change: BudgetRequest | None = None, *, actor: str | None = None
    ) -> BudgetInfo:
        """The ledger that dataset ``name`` spends from (its source's, if derived).

        With a ``change``, its owner (``actor``) first declares the column domains and sets
        the limit it holds (each only if given).
        """
        from privet import dp

        if change is None or not (change.declares or change.sets_limit):
            return dp.budget(self._core, name)
        if actor is None:
            from privet.errors import InvalidInput

            raise InvalidInput("changing a ledger needs the actor who owns it", parameter="actor")
        return dp.update_budget(self._core, name, change, actor=actor)

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
        keys: Mapping[str, Sequence[KeyValue]] | None = None,
    ) -> dict[str, ColumnDomain]:
        """The owner declares public clamping ``bounds`` and category ``keys`` of columns."""
        from privet import dp

        declared = dp.declare(self._core, name, actor=actor, bounds=bounds, keys=keys)
        return {column: dp.ColumnDomain(**d) for column, d in declared.items()}

    def domains(self, name: str) -> dict[str, ColumnDomain]:
        """The column domains declared for dataset ``name``."""
        from privet import dp

        declared = dp.declared_domains(self._core, name)
        return {column: dp.ColumnDomain(**d) for column, d in declared.items()}

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
        request: QueryRequest,
        *,
        actor: str,
        identity: Identity | None = None,
        engine: str | None = None,
        spark_master: str | None = None,
    ) -> QueryResult:
        """A DP answer to ``request.sql`` (count, sum, mean, quantiles, GROUP BY) on ``ref``.

        ``identity`` (an authenticated :class:`privet.policy.Identity`) is who the broker
        decides for; without it, the local ``actor`` and their registered roles. On
        ``engine="spark"`` Spark computes the bounded aggregates and OpenDP adds the noise.
        """
        from privet import dp

        return dp.query(
            self._core,
            ref,
            request,
            actor=actor,
            identity=identity,
            engine=engine,
            spark_master=spark_master,
        )

    def train(
        self,
        ref: str,
        request: TrainRequest,
        *,
        actor: str,
        plan: str | Path | None = None,
        progress: Progress | None = None,
    ) -> ModelInfo:
        """A DP-SGD model of ``request.target`` on ``ref``, stored as ``request.name``.

        ``plan`` (a plan file with ``features``, such as ``privet minimize`` writes) gives the
        features, instead of ``request.features``.

        The card comes full if ``actor`` may read the rows it was made from, else public.
        Features that predict a sensitive column (one not among them) are noted on the card,
        and refused when the policy's ``proxies.refuse_above`` is reached, unless the
        dataset's owner gives ``request.proxy_reason``.
        """
        from privet import deid, dp

        if plan is not None:
            request = _with_plan(request, Path(plan))
        # Features that reconstruct a sensitive attribute the model is not given: noted on the
        # card, refused under the policy's proxies rule; checked on the rows training reads.
        check = deid.training_check(
            self._core,
            ref,
            dp.training_features(self._core, ref, request),
            target=request.target,
            actor=actor,
            reason=request.proxy_reason,
        )
        return dp.train(self._core, ref, request, actor=actor, progress=progress, check=check)

    def synthesize(
        self,
        ref: str,
        request: SynthRequest,
        *,
        actor: str,
        progress: Progress | None = None,
    ) -> SynthReport:
        """A synthetic copy of ``ref`` as dataset ``request.name`` (AIM and MST spend ε)."""
        from privet import dp

        return dp.synthesize(self._core, ref, request, actor=actor, progress=progress)

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

    def unlearn(self, name: str, *, links: Collection[str], actor: str) -> UnlearnResult:
        """Forget the people with these subject ``links`` (``privet.catalog.subject_link``)
        in the unlearnable (SISA) model ``name``: only the shards that held them are
        retrained, each from the first slice that held them. The dataset owner's; the
        result equals the model trained from scratch without them, and repeating it changes
        nothing."""
        from privet import dp

        return dp.unlearn(self._core, name, links, actor=actor)

    def retrain(self, name: str, *, actor: str) -> ModelInfo:
        """Train model ``name`` again with its recorded request on its (rewritten) version;
        the new weights replace the old and a block for an erased subject is lifted. The
        dataset owner's; a DP model is not retrained (train a new one)."""
        from privet import dp

        return dp.retrain(self._core, name, actor=actor)


def _with_plan(request: TrainRequest, path: Path) -> TrainRequest:
    """The request with the features of the plan at ``path``."""
    from privet import deid

    plan = deid.load_plan(path)
    if not plan.features:
        raise InvalidInput(
            f"the plan {path.name} names no features (privet minimize writes a plan that does)",
            parameter="plan",
        )
    if plan.target is not None and plan.target != request.target:
        raise InvalidInput(
            f"the plan {path.name} is for target {plan.target!r}, not {request.target!r}",
            parameter="plan",
        )
    if request.features is not None and set(request.features) != set(plan.features):
        raise InvalidInput("give features or a plan, not both", parameter="plan")
    return request.model_copy(update={"features": list(plan.features)})
