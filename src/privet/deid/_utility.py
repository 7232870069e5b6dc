"""How useful the protected table still is: information loss and machine-learning utility.

- generalization loss: Iyengar's loss metric (2002), as ARX computes its "Loss": a value
  generalized to a label covering m of the D distinct values of its column loses
  (m − 1)/(D − 1); a suppressed record loses 1 in every column. Averaged over records and
  quasi-identifiers: 0 is the original table, 1 is everything suppressed.
- discernibility (Bayardo and Agrawal 2005): Σ |class|² over released classes plus n for
  each suppressed record; also given divided by n².
- non-uniform entropy (Gionis and Tassa 2009): Σ over records and quasi-identifiers of
  −log₂ P(original value | released label), divided by its value when everything is ``*``.
- ML utility: the same classifier (logistic regression fitted by Newton's method with a
  small L2 penalty, written with NumPy) trained on original and on protected rows, scored on
  the same held-out people; the ratio of the two accuracies.

These are computed from the frames with Polars, independently of the search's own NumPy
bookkeeping, so the tests can check one against the other.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from privet.deid._hierarchy import Hierarchy

ROW = "__privet_row"


class MlUtility(BaseModel):
    target: str = Field(description="The column predicted.")
    model: str = Field(description="The classifier used.")
    accuracy_original: float = Field(description="Held-out accuracy, trained on original rows.")
    accuracy_protected: float = Field(description="Held-out accuracy, trained on protected rows.")
    ratio: float = Field(description="accuracy_protected / accuracy_original.")
    majority_baseline: float = Field(description="Accuracy of always guessing the commonest class.")
    train_rows: int
    test_rows: int


class UtilityReport(BaseModel):
    generalization_loss: float | None = Field(description="Iyengar/ARX loss, 0 (none) to 1.")
    discernibility: float | None = Field(description="Discernibility metric (DM).")
    discernibility_normalized: float | None = Field(description="DM divided by n².")
    discernibility_normalized_before: float | None = Field(
        None, description="DM / n² of the table before generalization (its classes as they were)."
    )
    non_uniform_entropy: float | None = Field(description="Normalized non-uniform entropy.")
    ml: MlUtility | None = Field(None, description="Classifier accuracy, original vs protected.")
    ml_note: str | None = Field(None, description="Why ML utility was not measured, if not.")


def information_loss(
    frame: pl.DataFrame,
    hierarchies: Mapping[str, Hierarchy],
    levels: Mapping[str, int],
    kept: np.ndarray,
    weight: np.ndarray | None = None,
) -> tuple[float, float, float]:
    """(generalization loss, discernibility, normalized non-uniform entropy) of a release.

    ``frame`` is the original table, ``levels`` the level of each quasi-identifier, and
    ``kept`` marks the rows released (the others were suppressed). With ``weight``, each row
    of ``frame`` stands for that many records (a table of group counts).
    """
    weights = np.ones(frame.height) if weight is None else np.asarray(weight, dtype=np.float64)
    rows = float(weights.sum())
    columns = list(levels)
    if not columns or frame.height == 0:
        return 0.0, rows, 0.0
    labelled = frame.select(
        *[pl.col(c).alias(f"v{i}") for i, c in enumerate(columns)],
        *[
            hierarchies[c].expr(levels[c]).cast(pl.String).alias(f"g{i}")
            for i, c in enumerate(columns)
        ],
    ).with_columns(pl.Series("__kept", kept), pl.Series("__w", weights))
    suppressed = rows - float(weights[kept].sum())
    losses, entropy, entropy_top = [], 0.0, 0.0
    for i in range(len(columns)):
        v, g = f"v{i}", f"g{i}"
        domain = labelled.select(pl.col(v).n_unique()).item()
        # Every distinct original value under each label, over the whole table.
        per = labelled.with_columns(
            pl.col(v).n_unique().over(g).alias("m"),
            pl.col("__w").sum().over(g).alias("label_count"),
            pl.col("__w").sum().over(v).alias("value_count"),
        )
        released = per.filter(pl.col("__kept"))
        share = (
            (((released.get_column("m") - 1) / (domain - 1)) * released.get_column("__w")).sum()
            if domain > 1
            else 0.0
        )
        losses.append((share + suppressed) / rows)
        value_count = per.get_column("value_count").to_numpy().astype(np.float64)
        label_count = per.get_column("label_count").to_numpy().astype(np.float64)
        top = np.log2(rows / value_count)
        entropy += float((np.where(kept, np.log2(label_count / value_count), top) * weights).sum())
        entropy_top += float((top * weights).sum())
    sizes = (
        labelled.filter(pl.col("__kept"))
        .group_by([f"g{i}" for i in range(len(columns))])
        .agg(pl.col("__w").sum())
        .get_column("__w")
        .to_numpy()
        .astype(np.float64)
    )
    discernibility = float((sizes**2).sum() + suppressed * rows)
    nue = entropy / entropy_top if entropy_top > 0 else 0.0
    return float(np.mean(losses)), discernibility, nue


# -- ML utility -----------------------------------------------------------------------------

MODEL = "logistic regression (NumPy, Newton's method, L2 = 1.0)"
_MAX_LEVELS = 20
_MISSING = "\x00missing"  # a missing value is a category of its own


def ml_utility(
    original: pl.DataFrame,
    protected: pl.DataFrame,
    target: str,
    *,
    seed: int = 0,
    test_share: float = 0.3,
) -> MlUtility | str:
    """Train on original vs protected rows, test on the same held-out people.

    Both frames carry the row id column ``ROW``; a person suppressed from the protected table
    is left out of both test sets. Returns a sentence instead when it cannot be measured.
    """
    if target not in original.columns or target not in protected.columns:
        return f"the target column {target!r} is not in both tables"
    labels = original.get_column(target)
    classes = labels.drop_nulls().unique().sort()
    if len(classes) < 2:
        return f"the target column {target!r} has fewer than two classes"
    if len(classes) > 20:
        return f"the target column {target!r} has more than 20 classes (not a classification)"
    # The same features on both sides: columns the protection removed are not used.
    original = original.select([c for c in protected.columns if c in original.columns])
    ids = original.get_column(ROW).to_numpy()
    rng = np.random.default_rng(seed)
    test_ids = set(rng.choice(ids, size=int(len(ids) * test_share), replace=False).tolist())
    in_protected = set(protected.get_column(ROW).to_list())
    test_ids &= in_protected

    def split(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        frame = frame.filter(pl.col(target).is_not_null())
        is_test = pl.col(ROW).is_in(list(test_ids))
        return frame.filter(~is_test), frame.filter(is_test).sort(ROW)

    train_o, test_o = split(original)
    train_p, test_p = split(protected)
    if train_o.height < 10 or test_o.height < 10 or train_p.height < 10:
        return "too few rows to train and test a classifier"
    acc_o = _fit_score(train_o, test_o, target, classes)
    acc_p = _fit_score(train_p, test_p, target, classes)
    truth = test_o.get_column(target)
    majority = train_o.get_column(target).mode().sort()[0]
    baseline = float((truth == majority).mean())
    return MlUtility(
        target=target,
        model=MODEL,
        accuracy_original=acc_o,
        accuracy_protected=acc_p,
        ratio=acc_p / acc_o if acc_o > 0 else 0.0,
        majority_baseline=baseline,
        train_rows=train_p.height,
        test_rows=test_o.height,
    )


def _design(train: pl.DataFrame, test: pl.DataFrame, target: str) -> tuple[np.ndarray, np.ndarray]:
    blocks_train: list[np.ndarray] = []
    blocks_test: list[np.ndarray] = []
    for name, dtype in train.schema.items():
        if name in (target, ROW):
            continue
        column = train.get_column(name)
        if dtype.is_numeric() and dtype != pl.Boolean:
            values = column.cast(pl.Float64)
            mean = _float(values.mean()) or 0.0
            std = _float(values.std()) or 1.0
            for frame, blocks in ((train, blocks_train), (test, blocks_test)):
                x = frame.get_column(name).cast(pl.Float64).fill_null(mean).to_numpy()
                blocks.append(((x - mean) / (std or 1.0))[:, None])
            continue
        text = column.cast(pl.String).fill_null(_MISSING)
        if text.n_unique() > max(0.5 * train.height, 50) and text.n_unique() > _MAX_LEVELS:
            continue  # an identifier-like column: no signal a model may use
        levels = text.value_counts(sort=True).head(_MAX_LEVELS).get_column(name).to_list()
        for frame, blocks in ((train, blocks_train), (test, blocks_test)):
            values = frame.get_column(name).cast(pl.String).fill_null(_MISSING)
            blocks.append(
                np.column_stack(
                    [(values == lv).fill_null(False).to_numpy() for lv in levels]
                ).astype(np.float64)
            )
    ones_train = np.ones((train.height, 1))
    ones_test = np.ones((test.height, 1))
    return np.hstack([ones_train, *blocks_train]), np.hstack([ones_test, *blocks_test])


def _fit_score(train: pl.DataFrame, test: pl.DataFrame, target: str, classes: pl.Series) -> float:
    x_train, x_test = _design(train, test, target)
    y_train = train.get_column(target)
    y_test = test.get_column(target)
    names = classes.to_list()
    scores = []
    for name in names if len(names) > 2 else names[1:]:
        w = _logistic(x_train, (y_train == name).to_numpy().astype(np.float64))
        scores.append(x_test @ w)
    if len(names) == 2:
        predicted = np.where(scores[0] > 0, names[1], names[0])
    else:
        predicted = np.asarray(names, dtype=object)[np.argmax(np.column_stack(scores), axis=1)]
    return float((np.asarray(y_test.to_list(), dtype=object) == predicted).mean())


def _logistic(x: np.ndarray, y: np.ndarray, ridge: float = 1.0, steps: int = 25) -> np.ndarray:
    """Binary logistic regression by Newton–Raphson (IRLS) with an L2 penalty."""
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], ridge)
    penalty[0] = 0.0  # the intercept is not shrunk
    for _ in range(steps):
        z = np.clip(x @ w, -30, 30)
        p = 1.0 / (1.0 + np.exp(-z))
        gradient = x.T @ (p - y) + penalty * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def _float(value: object) -> float | None:
    # Polars types Series.mean()/std() broadly; on a Float64 series they are floats or None.
    if value is None or isinstance(value, float):
        return value
    raise TypeError(f"expected a float, not {type(value).__name__}")
