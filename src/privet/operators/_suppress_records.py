"""``suppress_records`` removes whole rows whose value in a column is rarer than min_count."""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from privet.operators._base import Context, Operator, register_operator


class RecordParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_count: int = Field(ge=2, description="Rows whose value fewer rows share are removed.")


@register_operator
class SuppressRecords(Operator):
    name = "suppress_records"
    summary = "remove rows whose value in this column is rarer than min_count"
    Params = RecordParams

    def apply(self, frame: pl.DataFrame, column: str, context: Context) -> pl.DataFrame:
        min_count = self.params.min_count  # type: ignore[attr-defined]
        return frame.filter(pl.len().over(column) >= min_count)
