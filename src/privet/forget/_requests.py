"""The erasure request: one model shared by the library, the command line and the server."""

from __future__ import annotations

from pydantic import Field

from privet.requests import Request


class EraseRequest(Request):
    """Erase one subject (GDPR Art. 17) from every dataset, derived dataset and model."""

    subject: str = Field(
        min_length=1,
        max_length=512,
        description="the subject's id, as its subject-id column holds it",
    )
    dataset: str | None = Field(
        None,
        min_length=1,
        description="limit the erasure to this dataset and what was derived from it",
    )
    reason: str = Field(
        min_length=1, max_length=2000, description="why (kept in the catalog, never in the log)"
    )
