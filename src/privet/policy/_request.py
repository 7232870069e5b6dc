"""``GrantRequest``: the parameters of a grant request, declared once for the library, the
command line and the HTTP API.

Invalid fields raise :class:`~privet.errors.InvalidInput` naming the field (``parameter``), in
one sentence that never repeats the value given: the CLI shows it as its flag, the server
returns it as a 400 naming the field.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic_core import ErrorDetails

from privet.errors import InvalidInput
from privet.policy._rules import View

# The longest grant any policy rule may allow (``Rule.max_days`` is at most 3650).
MAX_GRANT_SECONDS = 3650 * 86_400

# NAME or NAME@VERSION: a dot is always followed by another allowed character (no "..").
_REF = r"^[A-Za-z0-9]([A-Za-z0-9_-]|\.[A-Za-z0-9_-]){0,127}(@([1-9][0-9]{0,8}|latest))?$"
_PURPOSE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
# Free text is stored and shown to the approver: short, and free of control characters.
_TEXT = r"^[^\x00-\x1f\x7f]+$"


class GrantRequest(BaseModel):
    """What a grant asks for: a view of a dataset, for a purpose, for a while, and why."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

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

    @model_validator(mode="wrap")
    @classmethod
    def _one_sentence(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> GrantRequest:
        try:
            return handler(data)
        except ValidationError as err:
            raise invalid_input(err) from None


# What each kind of failure means, without the value given (it could be anything).
_MEANING = {
    "missing": "{field} is required",
    "string_pattern_mismatch": "invalid {field}: {hint}",
    "string_too_short": "give a {field}",
    "string_too_long": "{field} is too long (at most {max_length} characters)",
    "literal_error": "unknown {field}; use one of {expected}",
    "greater_than": "{field} must be more than {gt}",
    "less_than_equal": "{field} must be at most {le}",
}
_HINTS = {
    "dataset": "use a dataset name (letters, digits, '_', '.' and '-')",
    "purpose": "use letters, digits and '_ . : -' (up to 128)",
    "reason": "use one line of text without control characters",
}


def invalid_input(err: ValidationError) -> InvalidInput:
    """The first problem of ``err`` as one sentence naming its field."""
    first: ErrorDetails = err.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(part) for part in first["loc"])[:60] or "request"
    template = _MEANING.get(first["type"])
    if template is None:
        message = f"invalid {field}: {first['msg'][:200]}"
    else:
        context = {**first.get("ctx", {}), "field": field, "hint": _HINTS.get(field, "")}
        message = template.format_map(context)
    return InvalidInput(message, parameter=field if first["loc"] else None)
