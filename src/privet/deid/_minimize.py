"""The minimization advisor: which columns a model of one target needs, and what each costs.

A quick reference model (scikit-learn's histogram gradient boosting, seeded) is cross-fitted on
two halves of the rows: each half is scored by the model of the other. For each candidate
column:

- **utility added:** the held-out utility (accuracy; R² for a numeric target) with every
  candidate, minus that of the model refitted without the column;
- **uniqueness:** the share of records unique on the column alone, and the share it makes
  unique beside the recommended set's quasi-identifiers (beside all of them nearly everyone
  is unique already; 0 for a column that is not a quasi-identifier);
- **attribute inference:** for each sensitive column, how far the column alone predicts it
  above the base rate (the held-out Bayes rule of :mod:`privet.deid._proxies`);
- **membership exposure added:** the loss attack's AUC (true-class log-probability, each
  model's training half against the other half) with every candidate, minus without.

The recommended set is found backwards: columns are taken out one at a time, each removal
refitted and kept while the held-out utility stays at or above ``utility_floor`` times the
full set's. Columns whose utility is within one standard error of nothing go first, the
riskiest first; then the rest, least useful first. The full and the recommended sets get the
figures ``privet risk`` reproduces: sample uniques on their quasi-identifiers, and how well
they together predict each sensitive column they leave out (``risk --proxies``).

Figures only: no value of any row leaves this module.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

import polars as pl
from pydantic import BaseModel, Field

from privet.catalog import SUBJECT_LINK
from privet.deid._columns import require_columns
from privet.deid._plan import _NESTED, Column
from privet.deid._protect import Progress
from privet.deid._proxies import ProxyFinding, default_sensitive, proxies
from privet.deid._reference_model import Fitted, ReferenceModel
from privet.errors import InvalidInput
from privet.requests import Request
from privet.taxonomy import Role


class MinimizeRequest(Request):
    target: str = Field(min_length=1, description="The column the model predicts.")
    utility_floor: float = Field(
        0.99,
        gt=0,
        le=1,
        description="Share of the full set's held-out utility the recommended set must keep.",
    )
    candidates: list[str] | None = Field(
        None,
        description="Columns to consider (default: what privet train would use: every column "
        "that is not the target, the subject id or a direct identifier).",
    )
    quasi_identifiers: list[str] | None = Field(
        None, description="Columns an attacker may know (default: the catalog's or discovery's)."
    )
    sensitive: list[str] | None = Field(
        None,
        description="Columns whose inference is a risk (default: the sensitive columns and "
        "special categories, as for proxies).",
    )
    folds: int = Field(5, ge=2, le=20, description="Cross-validation folds of the proxy test.")
    seed: int = Field(0, description="Seed of the split, the reference models and the folds.")


class ColumnCost(BaseModel):
    column: str
    role: str
    quasi_identifier: bool
    utility_added: float = Field(
        description="Held-out utility with every candidate minus without it."
    )
    unique_alone: float = Field(description="Share of records unique on this column alone.")
    uniqueness_added: float = Field(
        description="Share of records it makes unique beside the recommended set's "
        "quasi-identifiers: added back to them (a dropped column) or taken out (a kept one); "
        "0 for a column that is not a quasi-identifier."
    )
    inference: dict[str, float] = Field(
        description="Per sensitive column: accuracy of predicting it from this column alone "
        "minus the base rate."
    )
    membership_added: float = Field(
        description="Loss-attack AUC of the reference model with every candidate minus without."
    )
    kept: bool


class SetFigures(BaseModel):
    columns: list[str]
    utility: float = Field(description="Held-out utility of the reference model.")
    quasi_identifiers: list[str]
    sample_uniques: float = Field(
        description="Share of records unique on the set's quasi-identifiers (what privet risk "
        "reports as sample uniques)."
    )
    membership_auc: float = Field(
        description="Loss-attack AUC of the reference model (0.5: no membership signal)."
    )
    inference: list[ProxyFinding] = Field(
        description="How well the set predicts each sensitive column it leaves out (what privet "
        "risk --proxies reports for these features)."
    )
    audited_model: str | None = Field(
        None, description="The privet model trained on the set without DP (audit_model)."
    )
    audited_auc: float | None = Field(
        None,
        description="Its loss-attack AUC: what privet audit MODEL --attack loss --seed SEED "
        "reports.",
    )


class Step(BaseModel):
    column: str
    utility_without: float
    dropped: bool


class MinimizeReport(BaseModel):
    source: str
    rows: int
    target: str
    task: Literal["classification", "regression"]
    metric: Literal["accuracy", "r2"]
    model: str
    seed: int
    utility_floor: float
    utility_required: float
    standard_error: float = Field(description="Standard error of the held-out utility.")
    sensitive: list[str]
    full: SetFigures
    recommended: SetFigures
    dropped: list[str]
    columns: list[ColumnCost]
    steps: list[Step] = Field(description="Each removal tried, in order.")
    seconds: float


def minimize(
    frame: pl.DataFrame,
    columns: Sequence[Column],
    request: MinimizeRequest,
    *,
    source: str,
    subject: str | None = None,
    progress: Progress | None = None,
) -> MinimizeReport:
    """The advisor's report for ``frame``, whose columns are described by ``columns``."""
    started = time.perf_counter()
    say = progress or (lambda _stage: None)
    by_name = {c.name: c for c in columns}
    target = request.target
    require_columns(by_name, source, target=[target])
    candidates = _candidates(request, columns, subject)
    qis = [
        c
        for c in (
            request.quasi_identifiers
            or [c.name for c in columns if c.role == Role.QUASI_IDENTIFIER]
        )
        if c in candidates
    ]
    described = [(c.name, c.role, c.category) for c in columns]
    sensitive = [s for s in (request.sensitive or default_sensitive(described)) if s != target]
    require_columns(
        by_name, source, quasi_identifiers=request.quasi_identifiers or [], sensitive=sensitive
    )
    frame = frame.filter(pl.col(target).is_not_null())
    if frame.height < 50:
        raise InvalidInput(f"{source} has too few rows with a {target!r} ({frame.height}) to fit")
    model = ReferenceModel(frame, candidates, target, request.seed)
    say(f"fitting the reference model on {len(candidates)} columns")
    full = model.fit(candidates)
    # floor × utility, and as far below a negative R² (a model worse than the mean).
    required = full.utility - (1 - request.utility_floor) * abs(full.utility)
    error = model.standard_error(full.utility)

    say(f"refitting without each of {len(candidates)} columns")
    without = {}
    for i, column in enumerate(candidates, 1):
        say(f"without {column} ({i}/{len(candidates)})")
        without[column] = model.fit([c for c in candidates if c != column])
    say("measuring attribute inference")
    alone = proxies(
        frame, sensitive, candidates, source=source, folds=request.folds, seed=request.seed,
        together=False,
    ) if sensitive else None  # fmt: skip
    costs = {}
    for column in candidates:
        inference = {
            f.sensitive: f.lift for f in (alone.findings if alone else []) if f.features == [column]
        }
        costs[column] = ColumnCost(
            column=column,
            role=by_name[column].role,
            quasi_identifier=column in qis,
            utility_added=full.utility - without[column].utility,
            unique_alone=_uniques(frame, [column]),
            uniqueness_added=0.0,
            inference=inference,
            membership_added=full.auc - without[column].auc,
            kept=True,
        )

    say("choosing the smallest set that keeps the utility floor")
    kept, utility, steps = _recommend(model, candidates, costs, without, full, required, error)
    say("measuring the recommended set")
    # Beside all the others nearly everyone is unique, so what one quasi-identifier adds is
    # measured against the recommended set: added back (dropped) or taken out (kept).
    kept_qis = [q for q in qis if q in kept]
    base = _uniques(frame, kept_qis)
    for column in qis:
        cost = costs[column]
        if cost.kept:
            cost.uniqueness_added = base - _uniques(frame, [q for q in kept_qis if q != column])
        else:
            cost.uniqueness_added = _uniques(frame, [*kept_qis, column]) - base
    report = MinimizeReport(
        source=source,
        rows=frame.height,
        target=target,
        task=model.task,
        metric="accuracy" if model.task == "classification" else "r2",
        model=model.description,
        seed=request.seed,
        utility_floor=request.utility_floor,
        utility_required=required,
        standard_error=error,
        sensitive=sensitive,
        full=_figures(frame, candidates, full, qis, sensitive, request, source),
        recommended=_figures(frame, kept, utility, qis, sensitive, request, source),
        dropped=[c for c in candidates if c not in kept],
        columns=list(costs.values()),
        steps=steps,
        seconds=0.0,
    )
    report.seconds = time.perf_counter() - started
    return report


def _recommend(
    model: ReferenceModel,
    candidates: list[str],
    costs: dict[str, ColumnCost],
    without: dict[str, Fitted],
    full: Fitted,
    required: float,
    error: float,
) -> tuple[list[str], Fitted, list[Step]]:
    """Take columns out one at a time (see ``_removal_order``), refitting; a removal stays
    when the held-out utility is still at least ``required``. Marks the dropped columns."""
    kept, utility, steps = list(candidates), full, []
    for column in _removal_order(list(costs.values()), error):
        if len(kept) == 1:
            break
        rest = [c for c in kept if c != column]
        fitted = without[column] if len(rest) == len(candidates) - 1 else model.fit(rest)
        dropped = fitted.utility >= required
        steps.append(Step(column=column, utility_without=fitted.utility, dropped=dropped))
        if dropped:
            kept, utility = rest, fitted
            costs[column].kept = False
    return kept, utility, steps


def _candidates(
    request: MinimizeRequest, columns: Sequence[Column], subject: str | None
) -> list[str]:
    names = {c.name for c in columns}
    target = request.target
    if request.candidates is not None:
        chosen = list(dict.fromkeys(request.candidates))
        for name in chosen:
            if name not in names:
                raise InvalidInput(f"no column {name[:80]!r} to consider", parameter="candidates")
            if name == target:
                raise InvalidInput(
                    f"the target {target!r} cannot also be a candidate", parameter="candidates"
                )
    else:
        chosen = [
            c.name
            for c in columns
            if c.name not in (target, subject, SUBJECT_LINK)
            and c.role != Role.DIRECT_IDENTIFIER
            and _usable(c.dtype)
        ]
    if not chosen:
        raise InvalidInput("no candidate column to weigh", parameter="candidates")
    return chosen


def _usable(dtype: str) -> bool:
    return not dtype.startswith((*_NESTED, "Binary", "Null"))


def _removal_order(listed: Sequence[ColumnCost], error: float) -> list[str]:
    """Useless columns first (utility added within one standard error of nothing), the
    riskiest first; then the others, least useful first."""

    def risk(c: ColumnCost) -> float:
        inference = max([0.0, *c.inference.values()])
        return c.unique_alone + inference + max(0.0, c.membership_added)

    useless = sorted((c for c in listed if c.utility_added <= error), key=lambda c: -risk(c))
    useful = sorted((c for c in listed if c.utility_added > error), key=lambda c: c.utility_added)
    return [c.column for c in [*useless, *useful]]


def _uniques(frame: pl.DataFrame, columns: Sequence[str]) -> float:
    """Share of records whose values of ``columns`` no other record shares (nulls are values)."""
    if not columns or frame.height == 0:
        return 0.0
    return float(frame.select(pl.struct(list(columns)).is_unique().mean()).item())


def _figures(
    frame: pl.DataFrame,
    columns: list[str],
    fitted: Fitted,
    qis: list[str],
    sensitive: list[str],
    request: MinimizeRequest,
    source: str,
) -> SetFigures:
    set_qis = [q for q in qis if q in columns]
    left_out = [s for s in sensitive if s not in columns]
    inference: list[ProxyFinding] = []
    if left_out:
        found = proxies(
            frame, left_out, columns, source=source, folds=request.folds, seed=request.seed
        )
        # One feature alone is its own "together" figure: proxies reports it as alone.
        inference = [f for f in found.findings if f.together or len(columns) == 1]
    return SetFigures(
        columns=columns,
        utility=fitted.utility,
        quasi_identifiers=set_qis,
        sample_uniques=_uniques(frame, set_qis),
        membership_auc=fitted.auc,
        inference=inference,
    )
