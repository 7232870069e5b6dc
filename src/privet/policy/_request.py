"""``GrantRequest``: the parameters of a grant request, declared once for the library, the
command line and the HTTP API.

Invalid fields raise :class:`~privet.errors.InvalidInput` naming the field (``parameter``), in
one sentence that never repeats the value given: the CLI shows it as its flag, the server
returns it as a 400 naming the field.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field, StringConstraints

from privet.policy._rules import View
from privet.requests import Request

# The longest grant any policy rule may allow (``Rule.max_days`` is at most 3650).
MAX_GRANT_SECONDS = 3650 * 86_400

# NAME or NAME@VERSION: a dot is always followed by another allowed character (no "..").
_REF = r"^[A-Za-z0-9]([A-Za-z0-9_-]|\.[A-Za-z0-9_-]){0,127}(@([1-9][0-9]{0,8}|latest))?$"
_PURPOSE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
# Free text is stored and shown to the approver: short, and free of control characters.
_TEXT = r"^[^\x00-\x1f\x7f]+$"


_HINTS = {
    "dataset": "use a dataset name (letters, digits, '_', '.' and '-')",
    "purpose": "use letters, digits and '_ . : -' (up to 128)",
    "reason": "use one line of text without control characters",
}


class GrantRequest(Request):
    """What a grant asks for: a view of a dataset, for a purpose, for a while, and why."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)
    hints: ClassVar[dict[str, str]] = _HINTS

    dataset: Annotated[str, StringConstraints(pattern=_REF)] = Field(
        description="The dataset's name (a grant covers every version of it)."
    )
    view: View = Field(description="The view wanted: raw, masked, pseudonymized, protected, …")
    purpose: Annotated[str, StringConstraints(pattern=_PURPOSE)] = Field(
        description="What the data is for: one of the purposes the dataset was collected for."
    )
    duration_seconds: int = Field(
        gt=0,
        le=MAX_GRANT_SECONDS,
        description="How long the grant lasts once approved (its clock starts at approval).",
    )
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=_TEXT)] = Field(
        description="Why: shown to the approver, kept out of the audit log."
    )

    @property
    def duration(self) -> timedelta:
        return timedelta(seconds=self.duration_seconds)
