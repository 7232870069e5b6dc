"""The minimization advisor's reference model: scikit-learn's histogram gradient boosting,
cross-fitted on two seeded halves of the rows, one fit per column set asked about."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from privet.errors import InvalidInput

# A numeric target with at most this many distinct values is a class label.
_MAX_CLASSES = 20
# HistGradientBoosting handles at most this many categories in a categorical feature; a text
# column with more levels is passed as ordered codes.
_MAX_CATEGORIES = 255


@dataclass(frozen=True)
class Fitted:
    """What one column set scores: held-out utility, and the loss attack's AUC."""

    utility: float
    auc: float


class ReferenceModel:
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
            self.x[name], self.categorical[name] = encode(frame.get_column(name))
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

    def fit(self, columns: Sequence[str]) -> Fitted:
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
        return Fitted(utility, float(np.mean(aucs)))


def encode(values: pl.Series) -> tuple[np.ndarray, bool]:
    """A float column for the model (nulls NaN) and whether it is categorical."""
    if values.dtype.is_numeric():
        return values.cast(pl.Float64).fill_nan(None).to_numpy().astype(np.float64), False
    if values.dtype.is_temporal():
        return values.to_physical().cast(pl.Float64).to_numpy().astype(np.float64), False
    codes = values.cast(pl.String).rank("dense").cast(pl.Float64) - 1
    levels = values.drop_nulls().n_unique()
    return codes.to_numpy().astype(np.float64), levels <= _MAX_CATEGORIES
