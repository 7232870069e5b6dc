"""The erasure request: one model shared by the library, the command line and the server."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from privet.requests import Request

SubjectId = Annotated[str, StringConstraints(min_length=1, max_length=512)]
MAX_SUBJECTS = 100_000


class EraseRequest(Request):
    """Erase subjects (GDPR Art. 17) from every dataset, derived dataset and model."""

    subjects: list[SubjectId] = Field(
        min_length=1,
        max_length=MAX_SUBJECTS,
        description="the subjects' ids, as their subject-id column holds them",
    )
    dataset: str | None = Field(
        None,
        min_length=1,
        description="limit the erasure to this dataset and what was derived from it",
    )
    reason: str = Field(
        min_length=1, max_length=2000, description="why (kept in the catalog, never in the log)"
    )

    @field_validator("subjects")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))
