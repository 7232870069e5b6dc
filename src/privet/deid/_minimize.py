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

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import polars as pl
import yaml
from pydantic import BaseModel, Field

from privet import tables
from privet.catalog import SUBJECT_LINK
from privet.deid._columns import ASSESSMENT, file_columns, stored_columns
from privet.deid._plan import Column, ColumnRule, Plan
from privet.deid._proxies import ProxyFinding, default_sensitive, proxies
from privet.errors import InvalidInput
from privet.requests import Request
from privet.taxonomy import Role

if TYPE_CHECKING:
    from privet.core import Core

Progress = Callable[[str], None]

# A numeric target with at most this many distinct values is a class label.
_MAX_CLASSES = 20
# HistGradientBoosting handles at most this many categories in a categorical feature; a text
# column with more levels is passed as ordered codes.
_MAX_CATEGORIES = 255


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
    if target not in by_name:
        raise InvalidInput(f"{source} has no column {target[:80]!r}", parameter="target")
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
    for field, listed in (("quasi_identifiers", request.quasi_identifiers or []),
                          ("sensitive", sensitive)):  # fmt: skip
        for name in listed:
            if name not in by_name:
                raise InvalidInput(f"{source} has no column {name[:80]!r}", parameter=field)
    frame = frame.filter(pl.col(target).is_not_null())
    if frame.height < 50:
        raise InvalidInput(f"{source} has too few rows with a {target!r} ({frame.height}) to fit")
    model = _Reference(frame, candidates, target, request.seed)
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
    model: _Reference,
    candidates: list[str],
    costs: dict[str, ColumnCost],
    without: dict[str, _Fitted],
    full: _Fitted,
    required: float,
    error: float,
) -> tuple[list[str], _Fitted, list[Step]]:
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
    return not dtype.startswith(("List", "Array", "Struct", "Object", "Binary", "Null"))


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
    fitted: _Fitted,
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


class _Fitted:
    def __init__(self, utility: float, auc: float) -> None:
        self.utility = utility
        self.auc = auc


class _Reference:
    """The quick reference model, cross-fitted: the rows are split in two halves (seeded), a
    model is fitted on each and scores the other, so every row is predicted by a model that
    did not see it. One encoding, two fits per column set."""

    def __init__(self, frame: pl.DataFrame, candidates: list[str], target: str, seed: int) -> None:
        y = frame.get_column(target)
        classes = y.n_unique()
        numeric = y.dtype.is_numeric()
        self.task: Literal["classification", "regression"] = (
            "regression" if numeric and classes > _MAX_CLASSES else "classification"
        )
        if self.task == "classification":
            if classes < 2:
                raise InvalidInput(f"the target {target!r} has one value: nothing to predict")
            self.y = y.cast(pl.String).rank("dense").cast(pl.Int64).to_numpy() - 1
        else:
            self.y = y.cast(pl.Float64).to_numpy()
        self.seed = seed
        half = np.random.default_rng(seed).permutation(frame.height) % 2 == 0
        self.halves = [(np.flatnonzero(half), np.flatnonzero(~half)),
                       (np.flatnonzero(~half), np.flatnonzero(half))]  # fmt: skip
        self.x, self.categorical = {}, {}
        for name in candidates:
            self.x[name], self.categorical[name] = _encode(frame.get_column(name))
        kind = "Classifier" if self.task == "classification" else "Regressor"
        self.description = (
            f"HistGradientBoosting{kind} (scikit-learn, random_state={seed}), cross-fitted on "
            f"two halves of {frame.height:,} rows: each row is scored by the model that did "
            "not train on it"
        )

    def standard_error(self, utility: float) -> float:
        n = len(self.y)
        if self.task == "classification":
            return math.sqrt(max(utility * (1 - utility), 0.0) / n)
        return math.sqrt(2 / n) * max(1 - utility, 0.0)  # R²'s large-sample error, roughly

    def fit(self, columns: Sequence[str]) -> _Fitted:
        """Held-out utility over every row, and the loss attack's AUC averaged over the two
        models (members: the half each trained on; non-members: the other half)."""
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from sklearn.metrics import r2_score, roc_auc_score

        if columns:
            x = np.column_stack([self.x[c] for c in columns])
            mask = [self.categorical[c] for c in columns]
        else:  # no column: a constant input, so the model learns the base rate alone
            x, mask = np.zeros((len(self.y), 1)), [False]
        y = self.y
        predicted = np.zeros(len(y), dtype=y.dtype)
        aucs = []
        for train, test in self.halves:
            if self.task == "classification":
                model = HistGradientBoostingClassifier(
                    categorical_features=mask, random_state=self.seed
                ).fit(x[train], y[train])
                probability = model.predict_proba(x)
                # A class missing from the training rows has no column: its records score -inf.
                column = np.full(int(y.max()) + 1, -1)
                column[model.classes_] = np.arange(len(model.classes_))
                true = probability[np.arange(len(y)), np.maximum(column[y], 0)]
                score = np.where(column[y] >= 0, np.log(np.maximum(true, 1e-300)), -np.inf)
                predicted[test] = model.classes_[probability[test].argmax(1)]
            else:
                model = HistGradientBoostingRegressor(
                    categorical_features=mask, random_state=self.seed
                ).fit(x[train], y[train])
                guess = model.predict(x)
                score = -((guess - y) ** 2)
                predicted[test] = guess[test]
            members = np.r_[np.ones(len(train)), np.zeros(len(test))]
            aucs.append(float(roc_auc_score(members, np.r_[score[train], score[test]])))
        if self.task == "classification":
            utility = float((predicted == y).mean())
        else:
            utility = float(r2_score(y, predicted))
        return _Fitted(utility, float(np.mean(aucs)))


def _encode(values: pl.Series) -> tuple[np.ndarray, bool]:
    """A float column for the model (nulls NaN) and whether it is categorical."""
    if values.dtype.is_numeric():
        return values.cast(pl.Float64).fill_nan(None).to_numpy().astype(np.float64), False
    if values.dtype.is_temporal():
        return values.to_physical().cast(pl.Float64).to_numpy().astype(np.float64), False
    codes = values.cast(pl.String).rank("dense").cast(pl.Float64) - 1
    levels = values.drop_nulls().n_unique()
    return codes.to_numpy().astype(np.float64), levels <= _MAX_CATEGORIES


def plan_of(report: MinimizeReport, columns: Sequence[Column]) -> Plan:
    """The plan that keeps the recommended columns and the target and drops the rest: for
    ``protect`` (a release with only what the model needs) and ``train --plan``."""
    kept = {*report.recommended.columns, report.target}
    return Plan(
        target=report.target,
        features=list(report.recommended.columns),
        quasi_identifiers=list(report.recommended.quasi_identifiers),
        columns={c.name: ColumnRule(operator="drop") for c in columns if c.name not in kept},
        direct_identifiers="drop",
    )


def write_plan(report: MinimizeReport, columns: Sequence[Column], path: Path) -> Plan:
    """Write the plan of ``report`` to ``path`` (YAML, whole or not at all)."""
    plan = plan_of(report, columns)
    data = plan.model_dump(mode="json", exclude_defaults=False, exclude_none=True)
    data["columns"] = {name: "drop" for name in data["columns"]}
    header = (
        f"# privet minimize {report.source} --target {report.target} "
        f"--utility-floor {report.utility_floor:g}\n"
        f"# keeps {len(report.recommended.columns)} of {len(report.full.columns)} candidate "
        f"columns: {report.metric} {report.recommended.utility:.4f} against "
        f"{report.full.utility:.4f} with all of them\n"
    )
    text = header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    with tables.atomic_file(path, mode=0o644) as out:
        out.write(text.encode())
    return plan


def dataset_minimize(
    core: Core,
    ref: str,
    request: MinimizeRequest,
    *,
    actor: str,
    plan: Path | None = None,
    plot: Path | None = None,
    progress: Progress | None = None,
) -> MinimizeReport:
    """The advisor on a stored dataset, read through the broker under privet's assessment
    purpose (one logged read); ``plan`` and ``plot`` are written when given."""
    from privet import policy

    stored = stored_columns(core, ref)
    if request.target not in {c.name for c in stored.columns}:
        raise InvalidInput(f"dataset {ref!r} has no column {request.target[:80]!r}",
                           parameter="target")  # fmt: skip
    read = policy.read(core, stored.ref, purpose=ASSESSMENT, actor=actor)
    report = minimize(
        read.frame, stored.columns, request, source=stored.ref, subject=stored.subject,
        progress=progress,
    )  # fmt: skip
    return _written(report, stored.columns, plan, plot)


def file_minimize(
    path: str | Path,
    request: MinimizeRequest,
    *,
    plan: Path | None = None,
    plot: Path | None = None,
    progress: Progress | None = None,
) -> MinimizeReport:
    """The advisor on a CSV, Parquet or JSON-lines file (roles from discovery)."""
    frame = tables.read_table(Path(path)).frame
    columns = file_columns(frame)
    report = minimize(frame, columns, request, source=str(path), progress=progress)
    return _written(report, columns, plan, plot)


def _written(
    report: MinimizeReport, columns: Sequence[Column], plan: Path | None, plot: Path | None
) -> MinimizeReport:
    if plan is not None:
        write_plan(report, columns, plan)
    if plot is not None:
        draw(report, plot)
    return report


def draw(report: MinimizeReport, path: Path) -> Path:
    """The picture: each column's utility added against what it adds to each risk (PNG,
    written whole or not at all); kept columns in blue, dropped ones in orange."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    risks = (
        ("uniqueness added (share of records)", lambda c: c.uniqueness_added),
        ("attribute inference (best lift alone)", lambda c: max([0.0, *c.inference.values()])),
        ("membership AUC added", lambda c: c.membership_added),
    )
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4), dpi=100, sharex=True)
    try:
        for ax, (label, value) in zip(axes, risks, strict=True):
            for cost in report.columns:
                colour = "tab:blue" if cost.kept else "tab:orange"
                x, y = cost.utility_added, value(cost)
                ax.scatter([x], [y], color=colour, s=22)
                ax.annotate(cost.column, (x, y), fontsize=7, xytext=(3, 2),
                            textcoords="offset points")  # fmt: skip
            ax.axvline(report.standard_error, color="grey", linestyle="--", linewidth=0.8)
            ax.set_xlabel(f"{report.metric} added (dashed: one standard error)")
            ax.set_ylabel(label)
        fig.suptitle(
            f"{report.source}: what each column adds to predicting {report.target} and to risk "
            f"(blue kept, orange dropped)",
            fontsize=10,
        )
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    with tables.atomic_file(path, mode=0o644) as out:
        out.write(buffer.getvalue())
    return path
