"""Strict shapes for every parameter the HTTP API accepts.

Names, references, purposes and ids are matched against anchored patterns before any library
call: a quote, a slash, ``..``, a NUL or a SQL fragment in one of them is a 422, so injection
never reaches the catalog, the object store or a file path.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import Path, Query
from pydantic import StringConstraints

# A dot is always followed by another allowed character: no "..", no trailing dot.
_NAME = r"[A-Za-z0-9]([A-Za-z0-9_-]|\.[A-Za-z0-9_-]){0,100}"
NAME = rf"^{_NAME}$"
REF = rf"^{_NAME}(@([1-9][0-9]{{0,8}}|latest))?$"
# Purposes starting with "privet:" are privet's own; the routes refuse them (see own_purpose).
PURPOSE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
USER = r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$"
GRANT_ID = r"^[A-Za-z0-9_-]{1,64}$"

Sql = Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=r"^[^\x00]+$")]
Note = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]
PurposeStr = Annotated[str, StringConstraints(pattern=PURPOSE)]

NamePath = Annotated[str, Path(pattern=NAME, description="dataset name")]
RefPath = Annotated[str, Path(pattern=REF, description="dataset reference NAME or NAME@VERSION")]
GrantPath = Annotated[str, Path(pattern=GRANT_ID, description="grant id")]
PurposeQuery = Annotated[
    str, Query(pattern=PURPOSE, description="why the data is read (a declared purpose)")
]


class View(StrEnum):
    raw = "raw"
    masked = "masked"
    pseudonymized = "pseudonymized"
    protected = "protected"
    aggregate = "aggregate"
    synthetic = "synthetic"


class Format(StrEnum):
    parquet = "parquet"
    csv = "csv"
    arrow = "arrow"


ARROW_STREAM = "application/vnd.apache.arrow.stream"
MEDIA_TYPES = {
    Format.parquet: "application/vnd.apache.parquet",
    Format.csv: "text/csv",
    Format.arrow: ARROW_STREAM,
}


def negotiated(fmt: Format | None, accept: str | None) -> Format:
    """The format asked for: ``format=`` when given, else the first media type of the
    ``Accept`` header that privet serves (quality factors aside), else Parquet."""
    if fmt is not None:
        return fmt
    by_type = {media: key for key, media in MEDIA_TYPES.items()}
    for part in (accept or "").split(","):
        media = part.split(";")[0].strip().lower()
        if media in by_type:
            return by_type[media]
    return Format.parquet


def own_purpose(purpose: str) -> str:
    """Refuse privet's internal purposes over HTTP: they are for its own processing only."""
    from privet.server._errors import ApiError

    if purpose.startswith("privet:"):
        raise ApiError(422, "invalid_input", "purposes starting with 'privet:' are reserved")
    return purpose
