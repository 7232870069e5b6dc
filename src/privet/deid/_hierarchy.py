"""Generalization hierarchies: how a value is coarsened, level by level, up to ``*``.

Level 0 is the original value; the top level is always ``*`` (the value suppressed). Every
hierarchy is a tree: a value's label at level ``j + 1`` depends only on its label at level
``j``. Full-domain generalization (Samarati 2001) and its monotonicity pruning rely on that,
so the search checks it on the data before it uses a hierarchy.

Nulls stay null below the top level: a missing value is its own group, never merged with a
real value, because "unknown" is itself a distinguishing fact.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from privet.deid._measure import int_max
from privet.errors import InvalidInput
from privet.operators import all_dates

TOP = "*"
_POSTAL_NAME = re.compile(r"(^|_)(zip|zipcode|postcode|postal(_?code)?|plz|post_code)($|_)", re.I)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntervalsSpec(_Spec):
    """Numbers into intervals of growing width: e.g. ages in 5-, 10-, then 20-year bins."""

    type: Literal["intervals"] = Field(description="Numeric intervals.")
    widths: list[float] = Field(
        min_length=1,
        description="Interval width at each level above the original; each must divide the next.",
    )
    origin: float = Field(0.0, description="Where the bins start (bins are origin + n·width).")

    @field_validator("widths")
    @classmethod
    def _nested(cls, widths: list[float]) -> list[float]:
        for low, high in zip(widths, widths[1:], strict=False):
            if low <= 0 or high <= low or not math.isclose(high / low, round(high / low)):
                raise ValueError(
                    "interval widths must be positive, increasing, each a multiple of the last"
                )
        if widths[0] <= 0:
            raise ValueError("interval widths must be positive")
        return widths


class GroupsSpec(_Spec):
    """Categories into named groups, one mapping per level (``label: [members]``)."""

    type: Literal["groups"] = Field(description="Categorical groups given in the plan.")
    levels: list[dict[str, list[str | int | float | bool]]] = Field(
        min_length=1,
        description="Level 1 groups the original values; level j+1 groups the labels of level j.",
    )

    @model_validator(mode="after")
    def _each_member_once(self) -> GroupsSpec:
        for number, level in enumerate(self.levels, 1):
            members = [str(m) for group in level.values() for m in group]
            if len(members) != len(set(members)):
                raise ValueError(f"level {number} lists a member in more than one group")
        return self

    def mappings(self) -> list[dict[str, str]]:
        return [
            {str(member): str(label) for label, group in level.items() for member in group}
            for level in self.levels
        ]


class DateSpec(_Spec):
    """Dates to month, then year (then decade if asked), then ``*``."""

    type: Literal["date"] = Field(description="Dates and timestamps.")
    levels: list[Literal["month", "year", "decade"]] = Field(
        default=["month", "year"], min_length=1, description="The levels above the full date."
    )


class TruncateSpec(_Spec):
    """Codes such as postcodes, keeping fewer leading characters at each level."""

    type: Literal["truncate"] = Field(description="Drop trailing characters, e.g. postcodes.")
    steps: int | None = Field(
        None, ge=1, description="How many levels (one character each); default: length - 1."
    )


class SuppressSpec(_Spec):
    """Only two levels: the original value, then ``*``."""

    type: Literal["suppress"] = Field(description="Original value or '*', nothing between.")


HierarchySpec = Annotated[
    IntervalsSpec | GroupsSpec | DateSpec | TruncateSpec | SuppressSpec,
    Field(discriminator="type"),
]


class Hierarchy:
    """A hierarchy bound to a column: ``height`` levels above the original, the last ``*``."""

    def __init__(self, column: str, spec: _Spec, height: int) -> None:
        self.column = column
        self.spec = spec
        self.height = height

    @property
    def kind(self) -> str:
        return self.spec.type  # type: ignore[attr-defined]

    def expr(self, level: int, source: pl.Expr | None = None) -> pl.Expr:
        """The labels at ``level`` (1 … height) as a String expression; level 0 is the value."""
        col = pl.col(self.column) if source is None else source
        if level == 0:
            return col
        if self.text_numbers:
            col = col.cast(pl.Float64, strict=False)
        if not 0 < level <= self.height:
            raise InvalidInput(
                f"column {self.column!r} has generalization levels 0–{self.height}, not {level}"
            )
        if level == self.height:
            return pl.lit(TOP, dtype=pl.String)
        spec = self.spec
        if isinstance(spec, IntervalsSpec):
            return _interval_label(col, spec.widths[level - 1], spec.origin, self._integral)
        if isinstance(spec, GroupsSpec):
            out = col.cast(pl.String)
            for mapping in spec.mappings()[:level]:
                out = out.replace_strict(mapping, default=None, return_dtype=pl.String)
            return out
        if isinstance(spec, DateSpec):
            if self._text_dates:  # ISO dates stored as text (as CSV files give them)
                col = col.str.to_datetime(strict=False)
            what = spec.levels[level - 1]
            if what == "month":
                return col.dt.strftime("%Y-%m")
            if what == "year":
                return col.dt.year().cast(pl.String)
            decade = col.dt.year() // 10 * 10
            return pl.format("{}s", decade)
        if isinstance(spec, TruncateSpec):
            text = col.cast(pl.String)
            keep = (text.str.len_chars().cast(pl.Int64) - level).clip(lower_bound=0)
            return pl.concat_str([text.str.slice(0, keep), pl.lit(TOP * level)])
        raise AssertionError(f"unhandled hierarchy {spec!r}")  # SuppressSpec has height 1

    _integral = False
    _text_dates = False
    text_numbers = False  # numbers kept as text, generalized into intervals

    def check(self, values: pl.Series) -> None:
        """Refuse a hierarchy that does not fit the column's type or misses a value."""
        spec, name = self.spec, self.column
        dtype = values.dtype
        if isinstance(spec, IntervalsSpec) and not (dtype.is_numeric() and dtype != pl.Boolean):
            raise InvalidInput(
                f"the intervals hierarchy of {name!r} needs a numeric column, and it holds "
                f"{dtype}; use a groups hierarchy instead"
            )
        if isinstance(spec, DateSpec) and not (dtype.is_temporal() or all_dates(values)):
            raise InvalidInput(
                f"the date hierarchy of {name!r} needs a date column, and it holds {dtype} "
                "that is not all ISO dates"
            )
        if isinstance(spec, TruncateSpec) and not (dtype == pl.String or dtype.is_integer()):
            raise InvalidInput(
                f"the truncate hierarchy of {name!r} needs a text or integer column (a code), "
                f"and it holds {dtype}"
            )
        if isinstance(spec, GroupsSpec):
            present = values.drop_nulls().cast(pl.String).unique()
            for number, mapping in enumerate(spec.mappings(), 1):
                missing = int((~present.is_in(list(mapping))).sum())
                if missing:
                    what = "values of the data" if number == 1 else f"labels of level {number - 1}"
                    raise InvalidInput(
                        f"the hierarchy of {name!r} misses {missing} {what} at level {number}; "
                        f"add each to a group of level {number}"
                    )
                present = present.replace_strict(mapping, return_dtype=pl.String).unique()


def build(column: str, spec: _Spec, values: pl.Series) -> Hierarchy:
    """Bind ``spec`` to ``column`` and check it against the column's values."""
    if isinstance(spec, IntervalsSpec):
        height = len(spec.widths) + 1
    elif isinstance(spec, GroupsSpec):
        last = spec.levels[-1]
        single_top = len(last) == 1 and next(iter(last)) == TOP
        height = len(spec.levels) + (0 if single_top else 1)
    elif isinstance(spec, DateSpec):
        height = len(spec.levels) + 1
    elif isinstance(spec, TruncateSpec):
        longest = int_max(values.cast(pl.String).str.len_chars()) or 1
        height = (spec.steps if spec.steps is not None else max(longest - 1, 1)) + 1
    else:
        height = 1
    hierarchy = Hierarchy(column, spec, height)
    hierarchy.check(values)
    hierarchy._text_dates = isinstance(spec, DateSpec) and values.dtype == pl.String
    if isinstance(spec, IntervalsSpec):
        hierarchy._integral = (
            values.dtype.is_integer()
            and all(float(w).is_integer() for w in spec.widths)
            and float(spec.origin).is_integer()
        )
    return hierarchy


def default_spec(values: pl.Series, *, category: str | None = None) -> _Spec:
    """A sensible automatic hierarchy for a column, from its type, name and category.

    Numbers: intervals from a "nice" width giving at most 16 bins, doubling until two remain.
    Dates: month, year. Postcodes (by name or category): truncation. Anything else: ``*``.
    """
    dtype = values.dtype
    name = values.name
    if dtype.is_temporal() or (dtype == pl.String and all_dates(values)):
        return DateSpec(type="date")
    postal = (category or "").endswith("postal_code") or bool(_POSTAL_NAME.search(name))
    if postal and (dtype == pl.String or dtype.is_integer()):
        return TruncateSpec(type="truncate")  # a code, even when a CSV made it a number
    if dtype.is_numeric() and dtype != pl.Boolean:
        low, high = values.min(), values.max()
        if low is None or high is None or high == low:
            return SuppressSpec(type="suppress")
        span = float(high) - float(low)  # type: ignore[arg-type]
        width = _nice_width(span, integral=dtype.is_integer())
        widths = [width]
        while math.ceil(span / widths[-1]) > 2:
            widths.append(widths[-1] * 2)
        if len(widths) > 1 and math.ceil(span / widths[-1]) <= 1:
            widths.pop()
        return IntervalsSpec(type="intervals", widths=widths)
    return SuppressSpec(type="suppress")


def _nice_width(span: float, *, integral: bool) -> float:
    exponent = math.floor(math.log10(span / 16)) if span > 0 else 0
    for power in range(exponent - 1, exponent + 3):
        for mantissa in (1, 2, 5):
            width = mantissa * 10.0**power
            if integral and width < 1:
                continue
            if math.ceil(span / width) <= 16:
                return float(int(width)) if integral else width
    return span


def _interval_label(col: pl.Expr, width: float, origin: float, integral: bool) -> pl.Expr:
    if integral:
        w, o = int(width), int(origin)
        low = (col - o) // w * w + o
        return pl.format("{}-{}", low, low + (w - 1))
    low = ((col.cast(pl.Float64) - origin) / width).floor() * width + origin
    return pl.format("[{}, {})", low, low + width)
