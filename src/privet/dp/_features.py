"""How columns become model inputs: choose the features, learn their domains, encode them.

A feature's domain (a numeric column's bounds, a category's levels) is public: given in the
request, declared by the dataset's owner, or learned with OpenDP (thresholded counts for
levels, a histogram for bounds), which spends part of the training release's ε. Only a
model without DP reads it exactly from the rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from pydantic import BaseModel, Field

from privet.catalog import Role, analysis_dtype
from privet.errors import InvalidInput

if TYPE_CHECKING:
    import torch

    from privet.dp import _accounting as acc

# Bin edges for privately learned numeric bounds: 0 and ±{1, 2, 5}·10^k, k = 0…9.
_GRID = sorted({0.0} | {s * m * 10.0**k for s in (-1, 1) for m in (1, 2, 5) for k in range(10)})


class Feature(BaseModel):
    """How one column becomes model inputs (all public or privately learned facts)."""

    name: str
    kind: Literal["numeric", "categorical"]
    lower: float | None = None
    upper: float | None = None
    levels: list[Any] | None = None
    source: Literal["given", "declared", "dp", "data"] = Field(
        description="given (argument), declared (owner), dp (learned with budget), data "
        "(read exactly: only for models without DP)"
    )

    @property
    def width(self) -> int:
        return len(self.levels or []) if self.kind == "categorical" else 1


_NUMERIC = ("Int", "UInt", "Float")


def is_numeric(dtype: str) -> bool:
    return dtype.startswith(_NUMERIC)


def is_categorical(dtype: str) -> bool:
    return dtype in ("String", "Boolean", "Categorical") or dtype.startswith("Enum")


def default_features(columns: Mapping[str, Any], *, target: str, subject: str | None) -> list[str]:
    """The features a model is trained on when none are named: every usable column that is
    not the target, the subject id or a direct identifier."""
    return [
        name
        for name, column in columns.items()
        if name not in (target, subject)
        and column.role != Role.DIRECT_IDENTIFIER
        and (is_numeric(analysis_dtype(column)) or is_categorical(column.dtype))
    ]


def plan_features(
    columns: Mapping[str, Any],
    *,
    target: str,
    features: Sequence[str] | None,
    subject: str | None,
    declared: Mapping[str, dict[str, Any]],
    bounds: Mapping[str, tuple[float, float]],
    keys: Mapping[str, Sequence[Any]],
) -> list[Feature]:
    if features is None:
        chosen = default_features(columns, target=target, subject=subject)
    else:
        chosen = list(dict.fromkeys(features))
        for name in chosen:
            if name not in columns:
                raise InvalidInput(
                    f"unknown column {name[:80]!r}: the dataset has no such column",
                    parameter="features",
                )
            if name == target:
                raise InvalidInput(
                    f"the target {target!r} cannot also be a feature", parameter="features"
                )
            dtype = analysis_dtype(columns[name])
            if not (is_numeric(dtype) or is_categorical(dtype)):
                raise InvalidInput(
                    f"feature {name!r} has type {dtype}; use numbers or categories",
                    parameter="features",
                )
    if not chosen:
        raise InvalidInput("no usable feature columns; name them in features", parameter="features")
    dtypes = {name: analysis_dtype(columns[name]) for name in chosen}  # numbers kept as text
    return [feature_spec(name, dtypes[name], declared, bounds, keys) for name in chosen]


def feature_spec(
    name: str,
    dtype: str,
    declared: Mapping[str, dict[str, Any]],
    bounds: Mapping[str, tuple[float, float]],
    keys: Mapping[str, Sequence[Any]],
) -> Feature:
    known = declared.get(name) or {}
    if is_numeric(dtype):
        source: Literal["given", "declared"]
        if name in bounds:
            low, high = bounds[name]
            source = "given"
        elif known.get("bounds"):
            low, high = known["bounds"]
            source = "declared"
        else:
            return Feature(name=name, kind="numeric", source="dp")
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise InvalidInput(
                f"the bounds of {name!r} must be finite with LO < HI", parameter="bounds"
            )
        return Feature(name=name, kind="numeric", lower=low, upper=high, source=source)
    if name in keys:
        return Feature(name=name, kind="categorical", levels=list(keys[name]), source="given")
    if known.get("keys"):
        return Feature(name=name, kind="categorical", levels=list(known["keys"]), source="declared")
    return Feature(name=name, kind="categorical", source="dp")


# -- preprocessing --------------------------------------------------------------------------------


def learn(
    feature: Feature,
    frame: pl.DataFrame,
    subject: str | None,
    budget: dict[str, Any] | None,
    charges: list[acc.Charge],
    rows: int,
) -> Feature:
    """Learn levels or bounds of one column with OpenDP, spending the preprocessing share."""
    if budget is None:
        return feature
    from privet.dp import _accounting as acc
    from privet.dp import _opendp

    dp = _opendp.dp
    column = feature.name
    data = frame.select([column, *([subject] if subject else [])])
    if feature.kind == "categorical":
        prepared = _opendp.prepare(
            data,
            lambda source: source.group_by(column).agg(dp.len(signed=True)),
            subject=subject,
            max_rows=1,
            epsilon=budget["preprocessing_epsilon"],
            delta=budget["discovery_delta"],
            public_rows=rows,
            discover_keys=True,
        )
        found = _opendp.release(prepared, data)
        levels = sorted(v for v in found[column].to_list() if v is not None)
        charges.append(acc.Charge(acc.pure(prepared.epsilon), prepared.delta))
        return Feature(name=column, kind="categorical", levels=levels, source="dp")
    # A histogram over log-spaced bins (one count per subject: sensitivity 1), then the
    # bins where its cumulative share crosses 2% and 98%. Counts below what noise alone
    # could reach are ignored first, so empty bins do not pull the bounds outward.
    labels = [str(i) for i in range(len(_GRID) + 1)]
    keys = pl.DataFrame({"bin": pl.Series(labels).cast(pl.Categorical)})

    def histogram(source: pl.LazyFrame) -> pl.LazyFrame:
        binned = pl.col(column).cast(pl.Float64).cut(_GRID, labels=labels).alias("bin")
        counts = source.group_by(binned).agg(dp.len(signed=True).alias("n"))
        return keys.lazy().join(counts, how="left", on=["bin"], nulls_equal=True)

    prepared = _opendp.prepare(
        data,
        histogram,
        subject=subject,
        max_rows=1,
        epsilon=budget["preprocessing_epsilon"],
        delta=0.0,
        public_rows=rows,
        discover_keys=False,
    )
    found = _opendp.release(prepared, data)
    charges.append(acc.Charge(acc.pure(prepared.epsilon)))
    noisy = dict(zip(found["bin"].cast(pl.String).to_list(), found["n"].to_list(), strict=True))
    floor = math.log(len(labels) / 0.05) / prepared.epsilon
    counts = [max(0.0, float(noisy.get(label) or 0)) for label in labels]
    counts = [c if c > floor else 0.0 for c in counts]
    low, high = _histogram_bounds(counts)
    return Feature(name=column, kind="numeric", lower=low, upper=high, source="dp")


def _histogram_bounds(counts: list[float]) -> tuple[float, float]:
    """The edges of the bins holding the 2% and 98% points (bin i is (edge i-1, edge i])."""
    total = sum(counts)
    if total <= 0:
        return 0.0, 1.0
    edges = [_GRID[0], *_GRID, _GRID[-1]]
    cumulative, low_bin, high_bin = 0.0, None, len(counts) - 1
    for i, count in enumerate(counts):
        cumulative += count
        if low_bin is None and cumulative >= 0.02 * total:
            low_bin = i
        if cumulative >= 0.98 * total:
            high_bin = i
            break
    low, high = edges[low_bin or 0], edges[high_bin + 1]
    return (low, high) if high > low else (low, low + 1.0)


def from_data(feature: Feature, frame: pl.DataFrame) -> Feature:
    """Exact levels or range, for a model that makes no privacy claim anyway."""
    series = frame[feature.name]
    if feature.kind == "categorical":
        levels = sorted(v for v in series.unique().to_list() if v is not None)
        return Feature(name=feature.name, kind="categorical", levels=levels, source="data")
    least, most = _number(series.min()), _number(series.max())
    low = 0.0 if least is None else least
    high = low + 1.0 if most is None or most <= low else most
    return Feature(name=feature.name, kind="numeric", lower=low, upper=high, source="data")


def from_crowd(feature: Feature, frame: pl.DataFrame, people: str, min_people: int) -> Feature:
    """A domain no one person decides, for a model that must forget people (SISA): levels
    held by at least ``min_people`` distinct people (column ``people``), and bounds at the
    1st and 99th percentiles widened to the coarse grid of privately learned bounds. Read
    from the rows (source "data"): the public card withholds it."""
    column = frame[feature.name]
    if feature.kind == "categorical":
        counts = frame.group_by(feature.name).agg(pl.col(people).n_unique().alias("n"))
        levels = sorted(v for v, n in counts.iter_rows() if v is not None and n >= min_people)
        return Feature(name=feature.name, kind="categorical", levels=levels, source="data")
    values = column.cast(pl.Float64).drop_nulls().drop_nans()
    if values.is_empty():
        return Feature(name=feature.name, kind="numeric", lower=0.0, upper=1.0, source="data")
    low_q = _number(values.quantile(0.01, "lower"))
    high_q = _number(values.quantile(0.99, "higher"))
    assert low_q is not None and high_q is not None
    low = max((g for g in _GRID if g <= low_q), default=_GRID[0])
    high = min((g for g in _GRID if g >= high_q), default=_GRID[-1])
    if high <= low:
        high = min((g for g in _GRID if g > low), default=low + 1.0)
    return Feature(name=feature.name, kind="numeric", lower=low, upper=high, source="data")


def _number(value: object) -> float | None:
    """A numeric column's minimum or maximum as a float (None for a column of nulls)."""
    if value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    raise TypeError(f"expected a number, got a {type(value).__name__}")


def encode(frame: pl.DataFrame, features: Sequence[Feature]) -> torch.Tensor:
    """Numbers clipped to their bounds and scaled to [0, 1]; categories one-hot (unknown: 0)."""
    import torch

    expressions = []
    for f in features:
        if f.name not in frame.columns:
            raise InvalidInput(f"the frame has no column named {f.name[:80]!r}")
        column = pl.col(f.name)
        if f.kind == "numeric":
            assert f.lower is not None and f.upper is not None
            scaled = (column.cast(pl.Float64).clip(f.lower, f.upper) - f.lower) / (
                f.upper - f.lower
            )
            expressions.append(scaled.fill_nan(0.0).fill_null(0.0).alias(f"{f.name}"))
        else:
            for i, level in enumerate(f.levels or []):
                expressions.append(
                    (column.cast(pl.String) == str(level)).fill_null(False).alias(f"{f.name}#{i}")
                )
    matrix = frame.select(expressions).cast(pl.Float32).to_numpy()
    return torch.from_numpy(matrix.copy())


def target_tensor(frame: pl.DataFrame, spec: Feature, task: str) -> tuple[torch.Tensor, int]:
    import torch

    column = frame[spec.name]
    if task == "regression":
        assert spec.lower is not None and spec.upper is not None
        scaled = (
            (
                (column.cast(pl.Float64).clip(spec.lower, spec.upper) - spec.lower)
                / (spec.upper - spec.lower)
            )
            .fill_null(0.5)
            .fill_nan(0.5)
        )
        return torch.tensor(scaled.to_list(), dtype=torch.float32), 1
    levels = [str(v) for v in spec.levels or []]
    lookup = {level: i for i, level in enumerate(levels)}
    # -1: a class the model does not know (below the discovery threshold); never predicted.
    codes = [lookup.get(str(v), -1) for v in column.to_list()]
    if len(levels) == 2:
        return torch.tensor(codes, dtype=torch.float32), 1
    return torch.tensor(codes, dtype=torch.int64), len(levels)
