"""``microaggregate``: numbers sorted into groups of at least k, each replaced by its mean.

Univariate fixed-size microaggregation (Defays and Nanopoulos 1993; optimal for one variable
up to group boundaries, Hansen and Mukherjee 2003): every published value is shared by at
least k records. A remainder smaller than k joins the last group.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from privet.operators._base import Context, Operator, register_operator


class MicroParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k: int = Field(5, ge=2, description="Smallest group size.")
    statistic: Literal["mean", "median"] = Field("mean", description="What replaces a group.")


@register_operator
class Microaggregate(Operator):
    name = "microaggregate"
    summary = "replace numbers by the mean (or median) of their group of at least k"
    Params = MicroParams
    accepts = ("numeric",)

    def apply(self, frame: pl.DataFrame, column: str, context: Context) -> pl.DataFrame:
        p: MicroParams = self.params  # type: ignore[assignment]
        values = frame.get_column(column).cast(pl.Float64)
        present = np.flatnonzero(values.is_not_null().to_numpy())
        data = values.to_numpy()
        order = present[np.argsort(data[present], kind="stable")]
        groups = np.arange(len(order)) // p.k
        if len(order) >= p.k and len(order) % p.k:
            groups[groups == groups[-1]] = max(groups[-1] - 1, 0)
        statistic = pl.col("v").mean() if p.statistic == "mean" else pl.col("v").median()
        grouped = pl.DataFrame({"g": groups, "v": data[order]}).select(statistic.over("g"))
        out = np.full(len(data), np.nan)
        out[order] = grouped.get_column("v").to_numpy()
        result = pl.Series(column, out).fill_nan(None)
        return frame.with_columns(result)
