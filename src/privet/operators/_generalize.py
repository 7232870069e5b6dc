"""``generalize`` replaces values by their label at a fixed level of a hierarchy.

The hierarchy is the plan's (``hierarchies:``) or the automatic one for the column's type.
Quasi-identifiers under a privacy model are not given a level here: the search picks it.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from privet.errors import InvalidInput
from privet.operators._base import Context, Operator, register_operator


class GeneralizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: int = Field(1, ge=1, description="Hierarchy level (1 = the first above the value).")


@register_operator
class Generalize(Operator):
    name = "generalize"
    summary = "replace values by their label at a level of a hierarchy"
    Params = GeneralizeParams
    accepts = ("string", "numeric", "temporal", "boolean")

    def apply(self, frame: pl.DataFrame, column: str, context: Context) -> pl.DataFrame:
        hierarchy = context.hierarchies.get(column)
        if hierarchy is None:
            raise InvalidInput(f"column {column!r} has no hierarchy to generalize with")
        level = self.params.level  # type: ignore[attr-defined]
        if level > hierarchy.height:
            raise InvalidInput(
                f"column {column!r} has generalization levels 1–{hierarchy.height}, not {level}"
            )
        return frame.with_columns(hierarchy.expr(level).alias(column))
