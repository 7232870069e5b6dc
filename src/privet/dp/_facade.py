"""``ws.dp``: the differential-privacy entry points of a workspace."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from privet.dp import _accounting as acc
from privet.dp import _ledger, _query, _synth, _train

if TYPE_CHECKING:
    from privet.workspace import Workspace


class DifferentialPrivacy:
    """DP statistics, DP-SGD training and the budget ledger of one workspace."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws

    # -- the ledger -------------------------------------------------------------------------

    def budget(self, name: str) -> _ledger.BudgetInfo:
        """The ledger that dataset ``name`` spends from (its source's, if derived)."""
        return _ledger.budget(self._ws, name)

    def set_budget(
        self,
        name: str,
        *,
        actor: str,
        epsilon: float | None = None,
        delta: float | None = None,
    ) -> _ledger.BudgetInfo:
        """The owner sets the ledger's limit (ε at the ledger's δ)."""
        return _ledger.set_limit(self._ws, name, actor=actor, epsilon=epsilon, delta=delta)

    def declare(
        self,
        name: str,
        *,
        actor: str,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        keys: Mapping[str, Sequence[Any]] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """The owner declares public clamping bounds and category keys of columns."""
        return _ledger.declare(self._ws, name, actor=actor, bounds=bounds, keys=keys)

    def domains(self, name: str) -> dict[str, dict[str, Any]]:
        from privet.catalog import find_dataset

        with self._ws.reading() as session:
            return _ledger.domains(session, find_dataset(session, name).id)

    def charge(
        self,
        ref: str,
        charge: acc.Charge,
        *,
        kind: str,
        purpose: str,
        actor: str,
    ) -> str:
        """Record a release made elsewhere (e.g. a DP synthesizer) on the ledger of ``ref``.

        Refused with ``BudgetExhausted`` if it does not fit; returns the release id.
        """
        from privet.catalog import check_purpose, resolve

        check_purpose(purpose)
        with self._ws.session() as session:
            dataset, version = resolve(session, ref)
            root = _ledger.root_of(session, dataset)
            release_id, _, _ = _ledger.record_release(
                self._ws,
                session,
                root=root,
                dataset=dataset,
                version=version,
                kind=kind,
                charge=charge,
                actor=actor,
                purpose=purpose,
            )
            session.commit()
        return release_id

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
        identity: Any = None,
    ) -> _query.QueryResult:
        """A DP answer to ``sql`` (count, sum, mean, quantiles, GROUP BY) on ``ref``.

        ``identity`` (a :class:`privet.policy.Identity`, e.g. from ``authenticate``) is who
        the broker decides for; without it, the local ``actor`` and their registered roles.
        """
        return _query.query(
            self._ws,
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
        progress: Callable[[str], None] | None = None,
        **options: Any,
    ) -> _train.ModelInfo:
        """A DP-SGD model of ``target`` (see :func:`privet.dp._train.train` for options)."""
        return _train.train(
            self._ws,
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
        progress: Callable[[str], None] | None = None,
        **options: Any,
    ) -> _synth.SynthReport:
        """A synthetic copy of ``ref`` as dataset ``name`` (AIM/MST spend ``epsilon``)."""
        return _synth.synthesize(
            self._ws,
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

    def models(self) -> list[_train.ModelInfo]:
        """Every model, with its public card (no exact counts, no row bitmaps)."""
        return _train.list_models(self._ws)

    def model(
        self,
        name: str,
        *,
        actor: str | None = None,
        purpose: str | None = None,
        identity: Any = None,
    ) -> _train.ModelInfo:
        """A model's card: full for its dataset's owner or a grantee of the raw rows for
        ``purpose`` (logged), public (exact counts and row bitmaps withheld) otherwise."""
        return _train.model_info(self._ws, name, actor=actor, identity=identity, purpose=purpose)

    def load_model(
        self, name: str, *, actor: str, purpose: str | None = None
    ) -> _train.TrainedModel:
        """Decrypt a stored model (logged) with its preprocessing, ready to predict."""
        return _train.load_model(self._ws, name, actor=actor, purpose=purpose)
