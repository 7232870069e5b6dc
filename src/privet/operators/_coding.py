"""``top_bottom_code`` caps extreme numbers (at a value or a quantile of the column)."""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from privet.operators._base import Context, Operator, register_operator


class CodingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    top: float | None = Field(None, description="Values above become this value.")
    bottom: float | None = Field(None, description="Values below become this value.")
    top_quantile: float | None = Field(
        None, gt=0, lt=1, description="Cap at this quantile of the column instead (e.g. 0.99)."
    )
    bottom_quantile: float | None = Field(
        None, gt=0, lt=1, description="Floor at this quantile of the column instead."
    )

    @model_validator(mode="after")
    def _something(self) -> CodingParams:
        if (
            self.top is None
            and self.bottom is None
            and self.top_quantile is None
            and (self.bottom_quantile is None)
        ):
            raise ValueError("give top, bottom, top_quantile or bottom_quantile")
        if self.top is not None and self.top_quantile is not None:
            raise ValueError("give top or top_quantile, not both")
        if self.bottom is not None and self.bottom_quantile is not None:
            raise ValueError("give bottom or bottom_quantile, not both")
        return self


@register_operator
class TopBottomCode(Operator):
    name = "top_bottom_code"
    summary = "cap values above a top and below a bottom (fixed or quantile)"
    Params = CodingParams
    accepts = ("numeric",)

    def apply(self, frame: pl.DataFrame, column: str, context: Context) -> pl.DataFrame:
        p: CodingParams = self.params  # type: ignore[assignment]
        values = frame.get_column(column)
        top = p.top if p.top_quantile is None else values.quantile(p.top_quantile, "nearest")
        bottom = (
            p.bottom if p.bottom_quantile is None else values.quantile(p.bottom_quantile, "nearest")
        )
        expr = pl.col(column)
        if values.dtype.is_integer():
            # Integer columns stay integer: round the cap inwards so no value is invented.
            import math

            top = math.floor(top) if top is not None else None
            bottom = math.ceil(bottom) if bottom is not None else None
        return frame.with_columns(
            expr.clip(lower_bound=bottom, upper_bound=top).cast(values.dtype).alias(column)
        )
