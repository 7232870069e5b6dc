"""``suppress`` empties cells: every cell, or those holding a rare value (``min_count``)."""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from privet.operators._base import Context, Operator, register_operator


class SuppressParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_count: int | None = Field(
        None, ge=2, description="Empty only values held by fewer rows than this (default: all)."
    )


@register_operator
class Suppress(Operator):
    name = "suppress"
    summary = "empty the column's cells, or only those holding a value rarer than min_count"
    Params = SuppressParams

    def apply(self, frame: pl.DataFrame, column: str, context: Context) -> pl.DataFrame:
        min_count = self.params.min_count  # type: ignore[attr-defined]
        col = pl.col(column)
        if min_count is None:
            return frame.with_columns(pl.lit(None, dtype=frame.schema[column]).alias(column))
        rare = col.count().over(column) < min_count
        return frame.with_columns(pl.when(rare).then(None).otherwise(col).alias(column))
