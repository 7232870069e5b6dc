"""How good and how safe is a synthetic table: fidelity, utility and privacy risk.

Fidelity compares marginals: the total-variation distance (TVD, half the L1 distance of the
two distributions) of every 1-way and 2-way marginal, 3-way marginals on a sample of column
triples, and the difference of pairwise associations (Cramér's V on every pair, Pearson's r
on numeric pairs). Numbers with more than 20 distinct values are cut at the real data's
deciles first, so a synthesizer is not penalised for drawing 41.3 where the data says 41.

Utility trains the same classifier on the synthetic rows and on real rows and tests both on
real rows the synthesizer never saw when a holdout is given (train-on-synthetic,
test-on-real; Esteban et al. 2017): the ratio says how much a model built from the
synthetic copy loses.

These are exact measurements on real rows, for the data's owner; they are not DP releases.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from privet.attacks._synthetic import SyntheticRisk as SyntheticRiskModel
from privet.errors import InvalidInput

NULL = "<null>"
DISTINCT_AS_CATEGORY = 20
MAX_TRIPLES = 100
MAX_TRAIN_ROWS = 20_000


class MarginalFidelity(BaseModel):
    way: int
    marginals: int
    mean_tvd: float
    max_tvd: float
    worst: list[str] = Field(description="the columns of the worst marginal")


class Fidelity(BaseModel):
    one_way: MarginalFidelity
    two_way: MarginalFidelity
    three_way: MarginalFidelity | None
    association_mean_abs_diff: float = Field(description="mean |ΔCramér's V| over column pairs")
    association_max_abs_diff: float
    correlation_mean_abs_diff: float | None = Field(description="mean |Δr| over numeric pairs")
    correlation_max_abs_diff: float | None


class Utility(BaseModel):
    target: str
    model: str = "logistic regression (scikit-learn), one-hot features"
    test_rows: int
    test_set: str = Field(description="holdout (never seen by the synthesizer) or a real split")
    accuracy_real: float = Field(description="trained on real rows")
    accuracy_synthetic: float = Field(description="trained on synthetic rows")
    ratio: float = Field(description="accuracy_synthetic / accuracy_real")
    majority_baseline: float


# -- alignment ----------


def align(
    real: pl.DataFrame,
    synth: pl.DataFrame,
    holdout: pl.DataFrame | None = None,
    columns: Sequence[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None]:
    """The three frames on the same columns and types, or one sentence saying what differs."""
    if synth.height == 0:
        raise InvalidInput("the synthetic data has no rows")
    if real.height == 0:
        raise InvalidInput("the real data has no rows")
    if columns is not None:
        wanted = list(dict.fromkeys(columns))
        for name, frame in (("REAL", real), ("SYNTH", synth), ("HOLDOUT", holdout)):
            if frame is None:
                continue
            missing = [c for c in wanted if c not in frame.columns]
            if missing:
                raise InvalidInput(f"{name} has no column {_names(missing)}", parameter="columns")
    else:
        wanted = real.columns
        for name, frame in (("SYNTH", synth), ("HOLDOUT", holdout)):
            if frame is None or set(frame.columns) == set(wanted):
                continue
            only_real = [c for c in wanted if c not in frame.columns]
            only_other = [c for c in frame.columns if c not in wanted]
            parts = []
            if only_real:
                parts.append(f"only in REAL: {_names(only_real)}")
            if only_other:
                parts.append(f"only in {name}: {_names(only_other)}")
            raise InvalidInput(
                f"REAL and {name} have different columns ({'; '.join(parts)}); "
                "name a shared subset of columns to compare"
            )
    if len(wanted) < 2:
        raise InvalidInput("compare at least two columns")
    real = real.select(wanted)
    return (
        real,
        _cast_like(synth.select(wanted), real, "SYNTH"),
        (None if holdout is None else _cast_like(holdout.select(wanted), real, "HOLDOUT")),
    )


def _names(columns: Sequence[str]) -> str:
    shown = ", ".join(repr(c[:40]) for c in columns[:5])
    return shown + (f" and {len(columns) - 5} more" if len(columns) > 5 else "")


def _cast_like(frame: pl.DataFrame, real: pl.DataFrame, name: str) -> pl.DataFrame:
    out = []
    for column, dtype in real.schema.items():
        series = frame[column]
        if series.dtype == dtype:
            out.append(series)
            continue
        numeric_real = dtype.is_numeric()
        if numeric_real != (series.dtype.is_numeric() or series.dtype == pl.Null):
            raise InvalidInput(
                f"column {column[:40]!r} holds {'numbers' if numeric_real else 'text'} in REAL "
                f"but not in {name}"
            )
        cast = series.cast(dtype, strict=False)
        if cast.null_count() > series.null_count():
            raise InvalidInput(f"column {column[:40]!r} of {name} has values of another type")
        out.append(cast)
    return pl.DataFrame(out)


# -- fidelity ----------


def discretize(real: pl.DataFrame, others: Sequence[pl.DataFrame]) -> list[pl.DataFrame]:
    """Every column as text labels: many-valued numbers cut at the real deciles; null a label."""
    expressions = []
    for column, dtype in real.schema.items():
        value = pl.col(column)
        if dtype.is_numeric() and real[column].n_unique() > DISTINCT_AS_CATEGORY:
            values = real[column].drop_nulls().cast(pl.Float64)
            edges = sorted(set(np.quantile(values.to_numpy(), np.linspace(0.1, 0.9, 9)).tolist()))
            label = value.cast(pl.Float64).cut(edges).cast(pl.String)
        else:
            label = value.cast(pl.String)
        expressions.append(label.fill_null(NULL).alias(column))
    return [frame.select(expressions) for frame in [real, *others]]


def tvd(real: pl.DataFrame, synth: pl.DataFrame, columns: Sequence[str]) -> float:
    cols = list(columns)
    p = real.group_by(cols).len().with_columns(pl.col("len") / real.height)
    q = synth.group_by(cols).len().with_columns(pl.col("len") / synth.height)
    joined = p.join(q, on=cols, how="full", coalesce=True)
    return float((joined["len"].fill_null(0) - joined["len_right"].fill_null(0)).abs().sum() / 2)


def _marginals(
    real: pl.DataFrame, synth: pl.DataFrame, sets: Sequence[tuple[str, ...]], way: int
) -> MarginalFidelity:
    values = [tvd(real, synth, s) for s in sets]
    worst = int(np.argmax(values))
    return MarginalFidelity(
        way=way,
        marginals=len(values),
        mean_tvd=float(np.mean(values)),
        max_tvd=float(values[worst]),
        worst=list(sets[worst]),
    )


def cramers_v(frame: pl.DataFrame, a: str, b: str) -> float:
    """Cramér's V of two label columns (0: independent, 1: one determines the other)."""
    table = frame.group_by(a, b).len().pivot(on=b, index=a, values="len").drop(a).fill_null(0)
    counts = table.to_numpy().astype(float)
    n = counts.sum()
    if n == 0 or min(counts.shape) < 2:
        return 0.0
    expected = counts.sum(1, keepdims=True) * counts.sum(0, keepdims=True) / n
    chi2 = float(((counts - expected) ** 2 / np.where(expected > 0, expected, 1)).sum())
    return math.sqrt(chi2 / n / (min(counts.shape) - 1))


def fidelity(
    real: pl.DataFrame, synth: pl.DataFrame, *, rng: np.random.Generator | None = None
) -> Fidelity:
    rng = rng or np.random.default_rng()
    real_d, synth_d = discretize(real, [synth])
    columns = real.columns
    pairs = list(itertools.combinations(columns, 2))
    triples = list(itertools.combinations(columns, 3))
    if len(triples) > MAX_TRIPLES:
        picked = rng.choice(len(triples), size=MAX_TRIPLES, replace=False)
        triples = [triples[i] for i in sorted(picked)]
    association = [abs(cramers_v(real_d, a, b) - cramers_v(synth_d, a, b)) for a, b in pairs]
    numeric = [c for c, t in real.schema.items() if t.is_numeric()]
    correlation = []
    for a, b in itertools.combinations(numeric, 2):
        r_real = _pearson(real, a, b)
        r_synth = _pearson(synth, a, b)
        correlation.append(abs(r_real - r_synth))
    return Fidelity(
        one_way=_marginals(real_d, synth_d, [(c,) for c in columns], 1),
        two_way=_marginals(real_d, synth_d, pairs, 2),
        three_way=_marginals(real_d, synth_d, triples, 3) if triples else None,
        association_mean_abs_diff=float(np.mean(association)),
        association_max_abs_diff=float(np.max(association)),
        correlation_mean_abs_diff=float(np.mean(correlation)) if correlation else None,
        correlation_max_abs_diff=float(np.max(correlation)) if correlation else None,
    )


def _pearson(frame: pl.DataFrame, a: str, b: str) -> float:
    pair = frame.select(pl.col(a).cast(pl.Float64), pl.col(b).cast(pl.Float64)).drop_nulls()
    value = pair.select(pl.corr(a, b)).item() if pair.height > 2 else None
    return 0.0 if value is None or not math.isfinite(value) else float(value)


# -- utility ----------


def default_target(real: pl.DataFrame) -> str:
    """The last column that holds a few classes (text, Boolean or a small integer code)."""
    for column in reversed(real.columns):
        dtype = real.schema[column]
        if not dtype.is_float() and 2 <= real[column].n_unique() <= DISTINCT_AS_CATEGORY:
            return column
    raise InvalidInput(
        "no column holds a few classes to predict; name one as the target", parameter="target"
    )


def utility(
    real: pl.DataFrame,
    synth: pl.DataFrame,
    holdout: pl.DataFrame | None,
    *,
    target: str | None = None,
    rng: np.random.Generator | None = None,
) -> Utility:
    """Train on synthetic, test on real, against train on real (same model, same test)."""
    from sklearn.linear_model import LogisticRegression

    rng = rng or np.random.default_rng()
    target = target or default_target(real)
    if target not in real.columns:
        raise InvalidInput(f"unknown target column {target[:80]!r}", parameter="target")
    if holdout is not None:
        train_real, test, test_set = real, holdout, "holdout"
    else:
        order = rng.permutation(real.height)
        cut = max(1, real.height // 5)
        test, train_real = real[order[:cut]], real[order[cut:]]
        test_set = "20% of REAL (seen by the synthesizer: give a holdout for a fair test)"
    train_real = _subsample(train_real, rng)
    train_synth = _subsample(synth, rng)
    features = [c for c in real.columns if c != target]
    labelled = discretize(real.select(features), [train_real, train_synth, test])[1:]
    encoded = _one_hot(labelled, features)
    y = [f[target].cast(pl.String).fill_null(NULL).to_numpy() for f in (train_real, train_synth)]
    y_test = test[target].cast(pl.String).fill_null(NULL).to_numpy()
    scores = []
    for x, labels in zip(encoded[:2], y, strict=True):
        if len(set(labels)) < 2:
            # One class only: the model predicts it everywhere.
            scores.append(float((y_test == labels[0]).mean()) if len(labels) else 0.0)
            continue
        model = LogisticRegression(max_iter=300)
        model.fit(x, labels)
        scores.append(float((model.predict(encoded[2]) == y_test).mean()))
    values, counts = np.unique(y[0], return_counts=True)
    majority = values[np.argmax(counts)]
    return Utility(
        target=target,
        test_rows=len(y_test),
        test_set=test_set,
        accuracy_real=scores[0],
        accuracy_synthetic=scores[1],
        ratio=scores[1] / scores[0] if scores[0] > 0 else 0.0,
        majority_baseline=float((y_test == majority).mean()),
    )


def _subsample(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    if frame.height <= MAX_TRAIN_ROWS:
        return frame
    return frame[np.sort(rng.choice(frame.height, MAX_TRAIN_ROWS, replace=False))]


def _one_hot(frames: Sequence[pl.DataFrame], columns: Sequence[str]) -> list[np.ndarray]:
    levels = {
        c: sorted(set().union(*(set(f[c].unique().to_list()) for f in frames))) for c in columns
    }
    out = []
    for frame in frames:
        parts = [
            np.stack([(frame[c] == level).to_numpy() for level in levels[c]], axis=1)
            for c in columns
        ]
        out.append(np.concatenate(parts, axis=1).astype(np.float32))
    return out


# -- the whole evaluation ----------


class SynthEvaluation(BaseModel):
    """Fidelity, utility and privacy risk of SYNTH against REAL (and HOLDOUT)."""

    real: str
    synthetic: str
    holdout: str | None
    columns: list[str]
    rows: dict[str, int]
    fidelity: Fidelity
    utility: Utility | None
    privacy: SyntheticRiskModel | None = None
    notes: list[str] = Field(default_factory=list)


def evaluate(
    real: pl.DataFrame,
    synth: pl.DataFrame,
    holdout: pl.DataFrame | None = None,
    *,
    names: tuple[str, str, str | None] = ("REAL", "SYNTH", None),
    columns: Sequence[str] | None = None,
    target: str | None = None,
    n_attacks: int = 500,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> SynthEvaluation:
    """Evaluate ``synth`` against ``real``; the privacy attacks need ``holdout``.

    ``progress`` hears each stage (utility, each privacy attack, fidelity) as it starts.
    """
    from privet.attacks import synthetic_risk

    if not 10 <= n_attacks <= 100_000:
        raise InvalidInput("n_attacks must be between 10 and 100,000", parameter="n_attacks")
    real, synth, holdout = align(real, synth, holdout, columns)
    rng = np.random.default_rng(seed)
    step = progress or (lambda _stage: None)
    notes = []
    step("utility")
    try:
        useful = utility(real, synth, holdout, target=target, rng=rng)
    except InvalidInput:
        if target is not None:
            raise
        useful = None
        notes.append("no column holds a few classes, so utility was not measured (name a target)")
    privacy = None
    if holdout is None:
        notes.append("privacy risk needs records the synthesizer never saw: give a holdout")
    else:
        if real.height != holdout.height:
            # A predicate isolates one record more easily in a smaller set, so singling out
            # compares the two at the smaller size (see privet.attacks.singling_out).
            size = min(real.height, holdout.height)
            weaker = (
                "; a copied record counts only when in that part of REAL, so a HOLDOUT as "
                "large as REAL measures with more power"
                if holdout.height < real.height
                else ""
            )
            notes.append(
                f"REAL has {real.height:,} rows and HOLDOUT {holdout.height:,}: singling out "
                f"compares them at {size:,} rows each, averaged over every subset of that "
                f"size{weaker}"
            )
        privacy = synthetic_risk(
            real,
            synth,
            holdout,
            n_attacks=n_attacks,
            seed=int(rng.integers(2**31)),
            progress=lambda stage: step(f"privacy: {stage}"),
        )
    step("fidelity")
    measured = fidelity(real, synth, rng=rng)
    return SynthEvaluation(
        real=names[0],
        synthetic=names[1],
        holdout=names[2],
        columns=real.columns,
        rows={
            "real": real.height,
            "synthetic": synth.height,
            **({"holdout": holdout.height} if holdout is not None else {}),
        },
        fidelity=measured,
        utility=useful,
        privacy=privacy,
        notes=notes,
    )
