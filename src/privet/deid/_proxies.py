"""Proxies: features that predict a sensitive attribute, alone and together.

A model that never sees race can still learn it from a postcode. For each sensitive column
this measures how well each other feature predicts it on its own, and how well all of them
do together, against the base rate (always guessing the most common value), by k-fold
cross-validation: every row is predicted by a rule learned without it.

- **Alone:** the rule is "the most common sensitive value among the training rows with this
  feature value" (the Bayes classifier of the empirical table; numeric features in deciles).
  It is exact, not a model choice: no classifier does better with that feature alone, up to
  sampling error.
- **Together:** scikit-learn's histogram gradient boosting on every feature.

Accuracy comes with a Wilson 95% interval over the held-out predictions. A feature set is
flagged when its accuracy exceeds the base rate by at least ``threshold`` (in accuracy
points) and the interval's lower end is above the base rate. Figures only: no value of any
row leaves this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from privet import catalog, tables
from privet.catalog import SUBJECT_LINK
from privet.deid._columns import ASSESSMENT, file_columns, require_columns, stored_columns
from privet.deid._plan import Column
from privet.errors import InvalidInput, PolicyDenied
from privet.requests import Request
from privet.taxonomy import Level, Role, check_category

if TYPE_CHECKING:
    from privet.core import Core

# A numeric column with more distinct values than this is cut into deciles.
_MAX_LEVELS = 20
_DECILES = 10
# Rows the joint model is fitted on (a seeded sample above it): its figure needs no more.
_JOINT_ROWS = 20_000
_Z95 = 1.959963984540054


class ProxyRequest(Request):
    sensitive: list[str] | None = Field(
        None,
        description="Sensitive columns to protect (default: the catalog's sensitive columns "
        "and special categories).",
    )
    features: list[str] | None = Field(
        None, description="Features to test (default: every column that is not a direct "
        "identifier or a sensitive column).",
    )  # fmt: skip
    threshold: float = Field(
        0.1, gt=0, lt=1, description="Accuracy points above the base rate that flag a proxy."
    )
    folds: int = Field(5, ge=2, le=20, description="Cross-validation folds.")
    seed: int = Field(0, description="Seed of the folds and of the joint model's sample.")


class ProxyFinding(BaseModel):
    sensitive: str
    features: list[str] = Field(description="One feature, or every feature (together).")
    together: bool
    accuracy: float = Field(description="Held-out accuracy of predicting the sensitive value.")
    ci_low: float
    ci_high: float
    base_rate: float = Field(description="Share of the most common sensitive value.")
    lift: float = Field(description="accuracy - base_rate")
    flagged: bool


class ProxyReport(BaseModel):
    source: str
    rows: int
    threshold: float
    sensitive: list[str]
    features: list[str]
    binned: list[str] = Field(description="Numeric columns cut into deciles.")
    findings: list[ProxyFinding]

    @property
    def flagged(self) -> list[ProxyFinding]:
        return [f for f in self.findings if f.flagged]


def default_sensitive(columns: Sequence[tuple[str, str, str | None]]) -> list[str]:
    """Sensitive columns: the catalog's sensitive role, and every special category
    (``restricted`` level) that is not a direct identifier."""
    out = []
    for name, role, category in columns:
        special = category is not None and check_category(category)[1] == Level.RESTRICTED
        if role == Role.SENSITIVE or (special and role != Role.DIRECT_IDENTIFIER):
            out.append(name)
    return out


def proxies(
    frame: pl.DataFrame,
    sensitive: Sequence[str],
    features: Sequence[str],
    *,
    source: str,
    threshold: float = 0.1,
    folds: int = 5,
    seed: int = 0,
    together: bool = True,
) -> ProxyReport:
    """How well ``features`` predict each of ``sensitive`` in ``frame`` (see the module);
    without ``together``, each feature alone only."""
    if not sensitive:
        raise InvalidInput("no sensitive column to test: give sensitive", parameter="sensitive")
    if not features:
        raise InvalidInput("no feature to test: give features", parameter="features")
    require_columns(frame.columns, source, sensitive=sensitive, features=features)
    if frame.height < 2 * folds:
        raise InvalidInput(f"{source} has too few rows ({frame.height}) for {folds} folds")
    binned = [c for c in {*sensitive, *features} if _needs_bins(frame.get_column(c))]
    codes = {c: _codes(frame.get_column(c), c in binned) for c in {*sensitive, *features}}
    fold = np.random.default_rng(seed).permutation(frame.height) % folds
    findings = []
    for target in sensitive:
        y = codes[target]
        base = float(np.bincount(y).max() / y.size)
        others = [f for f in features if f != target]
        for feature in others:
            hits = _alone(codes[feature], y, fold, folds)
            findings.append(_finding(target, [feature], False, hits, base, threshold))
        if together and len(others) > 1:
            matrix = np.column_stack([codes[f] for f in others])
            hits = _together(matrix, y, fold, folds, seed)
            findings.append(_finding(target, others, True, hits, base, threshold))
    return ProxyReport(
        source=source,
        rows=frame.height,
        threshold=threshold,
        sensitive=list(sensitive),
        features=list(features),
        binned=sorted(binned),
        findings=findings,
    )


def _needs_bins(values: pl.Series) -> bool:
    return values.dtype.is_numeric() and values.n_unique() > _MAX_LEVELS


def _codes(values: pl.Series, binned: bool) -> np.ndarray:
    """Dense integer codes (a null is a code of its own; deciles for a binned column)."""
    if binned:
        ranks = values.cast(pl.Float64).rank("min")
        share = ranks / max(1, values.drop_nulls().len())
        values = (share * _DECILES).ceil().clip(1, _DECILES).cast(pl.Int64)
    text = values.cast(pl.String)
    return text.rank("dense").fill_null(0).cast(pl.Int64).to_numpy()


def _alone(x: np.ndarray, y: np.ndarray, fold: np.ndarray, folds: int) -> np.ndarray:
    """Whether each row's sensitive value is the most common one among the other folds' rows
    with its feature value (the other folds' most common value overall for an unseen one)."""
    classes = int(y.max()) + 1
    levels = int(x.max()) + 1
    hits = np.zeros(y.size, dtype=bool)
    for k in range(folds):
        train, test = fold != k, fold == k
        table = np.bincount(x[train] * classes + y[train], minlength=levels * classes)
        table = table.reshape(levels, classes)
        best = table.argmax(axis=1)  # ties: the lowest code, a fixed rule
        unseen = table.sum(axis=1) == 0
        best[unseen] = np.bincount(y[train], minlength=classes).argmax()
        hits[test] = best[x[test]] == y[test]
    return hits


def _together(
    matrix: np.ndarray, y: np.ndarray, fold: np.ndarray, folds: int, seed: int
) -> np.ndarray:
    """Held-out hits of gradient boosting on every feature (on a sample of at most
    ``_JOINT_ROWS`` rows)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rows = np.arange(y.size)
    if y.size > _JOINT_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(y.size, _JOINT_ROWS, replace=False))
    x, target, part = matrix[rows], y[rows], fold[rows]
    # Codes of more than 255 levels are passed as ordered numbers (the model's limit).
    categorical = [bool(x[:, j].max() < 255) for j in range(x.shape[1])]
    hits = np.zeros(rows.size, dtype=bool)
    for k in range(folds):
        train, test = part != k, part == k
        if len(np.unique(target[train])) < 2:
            hits[test] = target[test] == target[train][0]
            continue
        model = HistGradientBoostingClassifier(
            categorical_features=categorical, max_iter=50, random_state=seed
        )
        model.fit(x[train], target[train])
        hits[test] = model.predict(x[test]) == target[test]
    return hits


def _finding(
    sensitive: str,
    features: list[str],
    together: bool,
    hits: np.ndarray,
    base: float,
    threshold: float,
) -> ProxyFinding:
    accuracy = float(hits.mean())
    low, high = wilson(int(hits.sum()), hits.size)
    return ProxyFinding(
        sensitive=sensitive,
        features=features,
        together=together,
        accuracy=accuracy,
        ci_low=low,
        ci_high=high,
        base_rate=base,
        lift=accuracy - base,
        flagged=accuracy - base >= threshold and low > base,
    )


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The Wilson score 95% interval of a proportion."""
    p, z2 = successes / n, _Z95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def dataset_proxies(
    core: Core, ref: str, request: ProxyRequest | None = None, *, actor: str
) -> ProxyReport:
    """Proxies in a stored dataset, read through the broker under privet's assessment
    purpose (one logged read)."""
    from privet import policy

    stored = stored_columns(core, ref)
    sensitive, features = _chosen(request, stored.columns, stored.subject, f"dataset {ref!r}")
    read = policy.read(core, stored.ref, purpose=ASSESSMENT, actor=actor)
    return _report(read.frame, sensitive, features, stored.ref, request)


def file_proxies(path: str | Path, request: ProxyRequest | None = None) -> ProxyReport:
    """Proxies in a CSV, Parquet or JSON-lines file (roles from discovery)."""
    frame = tables.read_table(Path(path)).frame
    sensitive, features = _chosen(request, file_columns(frame), None, Path(path).name)
    return _report(frame, sensitive, features, str(path), request)


def _chosen(
    request: ProxyRequest | None, columns: Sequence[Column], subject: str | None, where: str
) -> tuple[list[str], list[str]]:
    request = request or ProxyRequest()
    described = [(c.name, c.role, c.category) for c in columns]
    sensitive = list(request.sensitive or default_sensitive(described))
    if not sensitive:
        raise InvalidInput(
            f"no column of {where} is sensitive or a special category; give sensitive",
            parameter="sensitive",
        )
    features = list(
        request.features
        or [
            c.name
            for c in columns
            if c.role != Role.DIRECT_IDENTIFIER
            and c.name not in sensitive
            and c.name not in (SUBJECT_LINK, subject)
        ]
    )
    require_columns({c.name for c in columns}, where, sensitive=sensitive, features=features)
    return sensitive, features


def _report(
    frame: pl.DataFrame,
    sensitive: list[str],
    features: list[str],
    source: str,
    request: ProxyRequest | None,
) -> ProxyReport:
    request = request or ProxyRequest()
    return proxies(
        frame.select(list(dict.fromkeys([*sensitive, *features]))),
        sensitive,
        features,
        source=source,
        threshold=request.threshold,
        folds=request.folds,
        seed=request.seed,
    )


@dataclass(frozen=True)
class TrainingCheck:
    """The proxy check of one training run, made on the rows that run reads (no read of its
    own): do the features reconstruct a sensitive column the model is not given?"""

    columns: tuple[str, ...]  # the sensitive columns it needs beside the features
    dataset: str
    owner: str
    reason: str | None
    limit: float | None  # the policy's proxies.refuse_above

    def __call__(self, frame: pl.DataFrame, features: Sequence[str]) -> list[str]:
        """The notes for the model card (each proxy found, and the owner's reason); raises
        ``PolicyDenied`` when a proxy reaches the policy's limit without the owner's reason."""
        report = proxies(frame, list(self.columns), list(features), source=self.dataset)
        notes = [
            f"{'the features together' if f.together else 'feature ' + repr(f.features[0])} "
            f"predict {f.sensitive!r} with accuracy {f.accuracy:.2f} (95% CI {f.ci_low:.2f}–"
            f"{f.ci_high:.2f}) against a base rate of {f.base_rate:.2f}: a proxy"
            for f in report.flagged
        ]
        worst = max(report.flagged, key=lambda f: f.lift, default=None)
        limit = self.limit
        if worst is not None and limit is not None and worst.lift >= limit and not self.reason:
            raise PolicyDenied(
                f"{notes[report.flagged.index(worst)]}; the policy refuses training at "
                f"{limit * 100:g} points above the base rate: leave those features out, or "
                f"have the owner ({self.owner}) record why (proxy_reason)",
                parameter="features",
            )
        if self.reason and notes:
            notes.append(f"the owner ({self.owner}) recorded why these features are used: "
                         f"{self.reason}")  # fmt: skip
        return notes


def training_check(
    core: Core,
    ref: str,
    features: Sequence[str],
    *,
    target: str,
    actor: str,
    reason: str | None = None,
) -> TrainingCheck | None:
    """The proxy check for training on ``features`` of ``ref`` (None when the dataset has
    no sensitive column the model is not given). Only the owner may give ``reason``."""
    from privet import policy

    with core.reading() as session:
        dataset = catalog.resolve(session, ref)[0]
        name, owner = dataset.name, dataset.owner
    if reason is not None and actor != owner:
        raise PolicyDenied(
            f"only the owner of {name!r} ({owner}) may record why its features may "
            "reconstruct a sensitive attribute",
            parameter="proxy_reason",
        )
    stored = stored_columns(core, ref)
    described = [(c.name, c.role, c.category) for c in stored.columns]
    sensitive = [c for c in default_sensitive(described) if c != target and c not in features]
    if not sensitive or not features:
        return None
    return TrainingCheck(tuple(sensitive), name, owner, reason, policy.proxy_limit(core))
