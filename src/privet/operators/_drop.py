"""``drop`` removes a column; ``keep`` leaves it as it is (an explicit, warned choice)."""

from __future__ import annotations

import polars as pl

from privet.operators._base import Context, Operator, register_operator


@register_operator
class Drop(Operator):
    name = "drop"
    summary = "remove the column"

    def apply(self, frame: pl.DataFrame, column: str, context: Context) -> pl.DataFrame:
        return frame.drop(column)


@register_operator
class Keep(Operator):
    name = "keep"
    summary = "leave the column unchanged (for a direct identifier: a weaker, warned choice)"

    def apply(self, frame: pl.DataFrame, column: str, context: Context) -> pl.DataFrame:
        return frame
