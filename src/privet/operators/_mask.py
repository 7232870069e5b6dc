"""``mask`` hides all but a few leading or trailing characters (e.g. ``*******1234``).

By default one mask character stands for each hidden one, as on a receipt; ``width`` writes
a fixed number instead, so the masked value no longer tells how long the original was.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from privet.operators._base import Context, Operator, register_operator
from privet.tables import unique_map


class MaskParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keep_first: int = Field(0, ge=0, description="Leading characters left visible.")
    keep_last: int = Field(4, ge=0, description="Trailing characters left visible.")
    char: str = Field("*", min_length=1, max_length=1, description="The masking character.")
    width: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Mask characters written whatever the value's length (hides the length); "
        "default: one per hidden character.",
    )


@register_operator
class Mask(Operator):
    name = "mask"
    summary = "replace characters by '*', keeping a few at the start or end"
    Params = MaskParams
    accepts = ("string", "numeric")

    def apply(self, frame: pl.DataFrame, column: str, context: Context) -> pl.DataFrame:
        p: MaskParams = self.params  # type: ignore[assignment]

        def mask(value: str) -> str:
            visible = p.keep_first + p.keep_last
            if len(value) <= visible:  # too short to show anything safely
                return p.char * (p.width or len(value))
            tail = value[len(value) - p.keep_last :] if p.keep_last else ""
            return value[: p.keep_first] + p.char * (p.width or len(value) - visible) + tail

        return frame.with_columns(unique_map(frame.get_column(column), mask))
