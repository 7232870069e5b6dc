"""The types columns have for analysis: text kept exactly as given may still hold numbers.

A CSV column whose values a type would change (``1.50``, ``1e5``, ``-0``) is stored as text,
and the catalog records its meaning ("number"). Risk, DP and training read such a column as
Float64; exports and derived tables keep its text. Digit strings kept as text ("integer":
postcodes, account numbers) are codes, not quantities, and stay categories.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import polars as pl


class _Described(Protocol):
    # Read-only members, so frozen dataclasses match as well as catalog rows.
    @property
    def name(self) -> str: ...
    @property
    def dtype(self) -> str: ...
    @property
    def meaning(self) -> str | None: ...


def analysis_dtype(column: _Described) -> str:
    """The dtype (catalog name, e.g. ``"Float64"``) ``column`` has for analysis."""
    if column.meaning == "number" and column.dtype == "String":
        return "Float64"
    return column.dtype


def for_analysis(frame: pl.DataFrame, columns: Iterable[_Described]) -> pl.DataFrame:
    """``frame`` with its text columns of numbers cast to Float64 (other columns unchanged)."""
    numbers = [
        frame.get_column(c.name).cast(pl.Float64, strict=False)
        for c in columns
        if c.name in frame.columns
        and frame.schema[c.name] == pl.String
        and analysis_dtype(c) != c.dtype
    ]
    return frame.with_columns(numbers) if numbers else frame
