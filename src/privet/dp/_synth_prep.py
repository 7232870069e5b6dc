"""Preprocessing for marginal-based synthesizers: every column becomes a keyed category.

AIM and MST model a table of categories. A numeric column is clipped to bounds and cut into
equal-width bins; the bounds are public (the owner's declaration, or given) or learned with
DP (charged). A categorical column keeps its values; its keys are public (declared, given,
or a Boolean's two values) or discovered by OpenDP's thresholded counts inside the
synthesizer's own measurement (charged there, with δ). After synthesis each bin is turned
back into a value drawn uniformly inside it: post-processing, which costs no privacy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from privet.catalog import Role, analysis_dtype
from privet.errors import InvalidInput

DEFAULT_BINS = 16
_NUMERIC = ("Int", "UInt", "Float")
_CATEGORICAL = ("String", "Boolean", "Categorical")


class SynthColumn(BaseModel):
    """How one column is modelled (public or privately learned facts only, never values)."""

    name: str
    kind: Literal["numeric", "categorical"]
    dtype: str
    domain: Literal["declared", "given", "public", "dp", "data"] = Field(
        description="where its keys or bounds come from: declared by the owner, given in the "
        "call, public by type (Boolean), learned with DP (charged), or read exactly (only "
        "for the non-DP independent baseline)"
    )
    keys: list[Any] | None = Field(default=None, description="categories (None: discovered)")
    lower: float | None = None
    upper: float | None = None
    bins: int | None = None

    @property
    def integer(self) -> bool:
        return self.dtype.startswith(("Int", "UInt"))

    def width(self) -> float:
        """The width of one bin (an integer for integer columns)."""
        assert self.lower is not None and self.upper is not None and self.bins
        span = self.upper - self.lower
        if self.integer:
            return float(max(1, math.ceil((span + 1) / self.bins)))
        return span / self.bins

    def labels(self) -> list[str]:
        assert self.lower is not None and self.upper is not None
        if self.integer:
            count = int((self.upper - self.lower) // self.width()) + 1
        else:
            count = self.bins or 1
        return [f"b{i:03d}" for i in range(count)]


def is_numeric(dtype: str) -> bool:
    return dtype.startswith(_NUMERIC)


def is_categorical(dtype: str) -> bool:
    return dtype in _CATEGORICAL or dtype.startswith("Enum")


def plan_columns(
    catalog_columns: Mapping[str, Any],
    *,
    chosen: Sequence[str] | None,
    subject: str | None,
    declared: Mapping[str, dict[str, Any]],
    bounds: Mapping[str, tuple[float, float]],
    keys: Mapping[str, Sequence[Any]],
    bins: int,
) -> tuple[list[SynthColumn], list[str]]:
    """The modelled columns and the names left out (identifiers, free text, dates, …)."""
    if not 2 <= bins <= 1000:
        raise InvalidInput("the number of bins must be between 2 and 1000")
    skipped: list[str] = []
    if chosen is None:
        names = []
        for name, column in catalog_columns.items():
            usable = is_numeric(analysis_dtype(column)) or is_categorical(column.dtype)
            # Direct identifiers and the subject id say who someone is: never synthesized.
            if name == subject or column.role == Role.DIRECT_IDENTIFIER or not usable:
                skipped.append(name)
            else:
                names.append(name)
    else:
        names = list(dict.fromkeys(chosen))
        for name in names:
            if name not in catalog_columns:
                raise InvalidInput(f"unknown column {name[:80]!r}: the dataset has no such column")
            dtype = analysis_dtype(catalog_columns[name])
            if not (is_numeric(dtype) or is_categorical(dtype)):
                raise InvalidInput(
                    f"column {name!r} has type {dtype}; synthesize numbers or categories"
                )
        skipped = [n for n in catalog_columns if n not in names]
    if len(names) < 2:
        raise InvalidInput(
            "a synthetic table needs at least two usable columns", parameter="columns"
        )
    plan = [
        _column(n, analysis_dtype(catalog_columns[n]), declared.get(n) or {}, bounds, keys, bins)
        for n in names
    ]
    return plan, skipped


def _column(
    name: str,
    dtype: str,
    declared: Mapping[str, Any],
    bounds: Mapping[str, tuple[float, float]],
    keys: Mapping[str, Sequence[Any]],
    bins: int,
) -> SynthColumn:
    if is_numeric(dtype) and name not in keys and not declared.get("keys"):
        source: Literal["given", "declared"]
        if name in bounds:
            low, high = bounds[name]
            source = "given"
        elif declared.get("bounds"):
            low, high = declared["bounds"]
            source = "declared"
        else:
            return SynthColumn(name=name, kind="numeric", dtype=dtype, domain="dp", bins=bins)
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise InvalidInput(f"the bounds of {name!r} must be finite with LO < HI")
        return SynthColumn(
            name=name, kind="numeric", dtype=dtype, domain=source, lower=low, upper=high, bins=bins
        )
    if name in keys:
        return SynthColumn(
            name=name, kind="categorical", dtype=dtype, domain="given", keys=list(keys[name])
        )
    if declared.get("keys"):
        return SynthColumn(
            name=name, kind="categorical", dtype=dtype, domain="declared", keys=declared["keys"]
        )
    if dtype == "Boolean":
        return SynthColumn(
            name=name, kind="categorical", dtype=dtype, domain="public", keys=[False, True]
        )
    return SynthColumn(name=name, kind="categorical", dtype=dtype, domain="dp")


def exact_domain(column: SynthColumn, frame: pl.DataFrame) -> SynthColumn:
    """Bounds read exactly from the data: only for the baseline that claims no privacy."""
    if column.kind != "numeric" or column.lower is not None:
        return column
    series = frame[column.name].drop_nulls()
    low = float(series.min()) if len(series) else 0.0  # type: ignore[arg-type]
    high = float(series.max()) if len(series) else 1.0  # type: ignore[arg-type]
    return column.model_copy(update={"lower": low, "upper": max(high, low + 1.0), "domain": "data"})


def encode(frame: pl.DataFrame, plan: Sequence[SynthColumn]) -> pl.DataFrame:
    """Numeric columns as bin labels (clipped to their bounds); categories as String."""
    expressions = []
    for column in plan:
        value = pl.col(column.name)
        if column.kind == "numeric":
            assert column.lower is not None and column.upper is not None
            labels = column.labels()
            clipped = value.cast(pl.Float64).clip(column.lower, column.upper)
            index = ((clipped - column.lower) / column.width()).floor().cast(pl.Int64, strict=False)
            index = index.clip(0, len(labels) - 1)
            expressions.append(
                pl.when(index.is_null())
                .then(None)
                .otherwise(pl.format("b{}", index.cast(pl.String).str.zfill(3)))
                .alias(column.name)
            )
        else:
            expressions.append(value.cast(pl.String).alias(column.name))
    return frame.select(expressions)


def key_values(column: SynthColumn) -> list[str] | None:
    """The public keys OpenDP is given for a column, as strings (None: discover them)."""
    if column.kind == "numeric":
        return column.labels()
    if column.keys is None:
        return None
    return [str(k) for k in column.keys]


def decode(
    frame: pl.DataFrame, plan: Sequence[SynthColumn], rng: np.random.Generator
) -> pl.DataFrame:
    """Bin labels back to numbers drawn uniformly in the bin; categories to their dtype."""
    out = []
    for column in plan:
        series = frame[column.name]
        if column.kind == "numeric":
            assert column.lower is not None and column.upper is not None
            text = series.cast(pl.String)
            index = text.str.strip_prefix("b").cast(pl.Int64, strict=False).to_numpy()
            valid = ~np.isnan(index.astype(float))
            idx = np.where(valid, index, 0).astype(np.int64)
            width = column.width()
            if column.integer:
                values = column.lower + idx * width + rng.integers(0, int(width), size=len(idx))
                values = np.minimum(values, column.upper)
            else:
                values = column.lower + (idx + rng.random(len(idx))) * width
                values = np.clip(values, column.lower, column.upper)
            result = pl.Series(column.name, values).cast(_dtype(column.dtype))
            result = pl.select(
                pl.when(pl.Series(valid)).then(result).otherwise(None).alias(column.name)
            ).to_series()
            out.append(result)
        elif column.dtype == "Boolean":
            out.append(
                series.cast(pl.String).replace_strict(
                    {"true": True, "false": False}, default=None, return_dtype=pl.Boolean
                )
            )
        else:
            out.append(series.cast(pl.String).cast(_dtype(column.dtype), strict=False))
    return pl.DataFrame(out)


def _dtype(name: str) -> pl.DataType:
    simple = {
        "Int8": pl.Int8,
        "Int16": pl.Int16,
        "Int32": pl.Int32,
        "Int64": pl.Int64,
        "UInt8": pl.UInt8,
        "UInt16": pl.UInt16,
        "UInt32": pl.UInt32,
        "UInt64": pl.UInt64,
        "Float32": pl.Float32,
        "Float64": pl.Float64,
        "Boolean": pl.Boolean,
    }
    return simple.get(name, pl.String)()
