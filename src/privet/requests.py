"""The base of privet's request models: one pydantic model per operation, declared once and
shared by the library, the command line and the HTTP service.

A request that breaks a rule raises :class:`~privet.errors.InvalidInput` in one sentence that
names the field (as its ``parameter``) and never repeats the value given — it could be
anything, a cell value included. That holds however the request is built: from keywords (the
library, the CLI) or with ``model_validate`` (the server's JSON bodies), so the CLI shows the
field as its flag and exits 1, and the server answers 400 naming the field.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError, ValidatorFunctionWrapHandler
from pydantic import model_validator as _model_validator
from pydantic_core import ErrorDetails

from privet.errors import InvalidInput

# What each kind of failure means, without the value given.
_MEANING = {
    "missing": "{field} is required",
    "extra_forbidden": "{field} is not a parameter of this request",
    "string_pattern_mismatch": "invalid {field}{hint}",
    "string_too_short": "give a {field}",
    "string_too_long": "{field} is too long (at most {max_length} characters)",
    "too_long": "{field} has too many items (at most {max_length})",
    "literal_error": "unknown {field}; use one of {expected}",
    "enum": "unknown {field}; use one of {expected}",
    "greater_than": "{field} must be more than {gt}",
    "greater_than_equal": "{field} must be at least {ge}",
    "less_than": "{field} must be less than {lt}",
    "less_than_equal": "{field} must be at most {le}",
    "int_parsing": "{field} must be a whole number",
    "int_type": "{field} must be a whole number",
    "float_parsing": "{field} must be a number",
    "float_type": "{field} must be a number",
    "finite_number": "{field} must be a finite number",
    "bool_parsing": "{field} must be true or false",
}


class Request(BaseModel):
    """Base of every request model: unknown fields are refused, and a refused value is one
    sentence naming its field. ``hints`` adds what a field accepts to a pattern mismatch."""

    model_config = ConfigDict(extra="forbid")
    hints: ClassVar[dict[str, str]] = {}

    # The wrap validator covers a request nested in another model or a server body; the two
    # overrides cover a subclass's own "after" validators, which run outside the wrap.
    @_model_validator(mode="wrap")
    @classmethod
    def _one_sentence(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError as err:
            raise invalid_request(err, cls.hints) from None

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise invalid_request(err, self.hints) from None

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        try:
            return super().model_validate(obj, **options)
        except ValidationError as err:
            raise invalid_request(err, cls.hints) from None


def invalid_request(err: ValidationError, hints: dict[str, str] | None = None) -> InvalidInput:
    """The first problem of ``err`` as one sentence naming its field, never its value."""
    first: ErrorDetails = err.errors(include_url=False, include_input=False)[0]
    loc = [str(part) for part in first["loc"]]
    field = ".".join(loc)[:60] or "request"
    template = _MEANING.get(first["type"])
    if first["type"] == "value_error":  # a validator's own sentence (says no value either)
        error = (first.get("ctx") or {}).get("error")
        message = f"{field}: {error or first['msg']}" if loc else str(error or first["msg"])
    elif template is None:
        message = f"invalid {field}: {first['msg'][:200]}"
    else:
        hint = (hints or {}).get(field, "")
        context = {**(first.get("ctx") or {}), "field": field, "hint": f": {hint}" if hint else ""}
        message = template.format_map(context)
    return InvalidInput(message, parameter=loc[0] if loc else None)
