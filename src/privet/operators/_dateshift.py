"""``date_shift`` moves every date of a person by the same secret number of days.

The offset comes from the workspace's keyed PRF over the subject id, so intervals within a
person's record (admission to discharge) survive while the calendar dates no longer match an
outside source; it is the same for that person in every dataset of the workspace.
"""

from __future__ import annotations

from datetime import time

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from privet.errors import InvalidInput
from privet.operators._base import Context, KeyedPrf, Operator, register_operator

SHIFT_DOMAIN = b"privet/date-shift/v1\x00"


class DateShiftParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_days: int = Field(180, ge=1, le=3650, description="Shifts lie in ±max_days.")
    subject: str | None = Field(
        None, description="Column identifying the person (default: the dataset's subject id)."
    )


def shift_days(prf: KeyedPrf, subject: str, max_days: int) -> int:
    raw = prf.compute(SHIFT_DOMAIN + subject.encode(), 8)
    return int.from_bytes(raw, "big") % (2 * max_days + 1) - max_days


@register_operator
class DateShift(Operator):
    name = "date_shift"
    summary = "shift each person's dates by one keyed offset (intervals are kept)"
    Params = DateShiftParams
    accepts = ("temporal", "string")  # text columns must hold ISO dates
    needs_keys = True

    def apply(self, frame: pl.DataFrame, column: str, context: Context) -> pl.DataFrame:
        p: DateShiftParams = self.params  # type: ignore[assignment]
        subject = p.subject or context.subject
        if subject is None or subject not in frame.columns:
            raise InvalidInput(
                f"date_shift on {column!r} needs the column that identifies each person: set "
                "`subject:` in the plan or register the dataset with its subject_id column"
            )
        prf = context.prf
        if prf is None:
            raise InvalidInput("date shifting needs a workspace (its key); run in one")
        values = frame.get_column(column)
        if values.dtype == pl.String:
            from privet.operators._base import all_dates

            if values.drop_nulls().len() and not all_dates(values):
                raise InvalidInput(
                    f"date_shift on {column!r} needs dates, and some of its values are not ISO "
                    "dates (YYYY-MM-DD)"
                )
            frame = frame.with_columns(values.str.to_datetime(strict=False).alias(column))
            if frame.get_column(column).dt.time().drop_nulls().eq(time(0)).all():
                frame = frame.with_columns(pl.col(column).dt.date())
        ids = frame.get_column(subject).cast(pl.String)
        offsets = {s: shift_days(prf, s, p.max_days) for s in ids.drop_nulls().unique()}
        days = ids.replace_strict(offsets, default=0, return_dtype=pl.Int64)
        shift = pl.duration(days=pl.lit(days))  # a Series works too, but is not in Polars' types
        return frame.with_columns((pl.col(column) + shift).alias(column))
