"""``redact`` replaces every value by a fixed text (or null)."""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from privet.operators._base import Context, Operator, register_operator


class RedactParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    replacement: str | None = Field(
        "[REDACTED]", description="The text put in place of each value; null for an empty cell."
    )


@register_operator
class Redact(Operator):
    name = "redact"
    summary = "replace each value by a fixed text"
    Params = RedactParams
    output_role = (None, "other")

    def apply(self, frame: pl.DataFrame, column: str, context: Context) -> pl.DataFrame:
        replacement = self.params.replacement  # type: ignore[attr-defined]
        value = pl.lit(replacement, dtype=pl.String)
        return frame.with_columns(
            pl.when(pl.col(column).is_null()).then(None).otherwise(value).alias(column)
        )
