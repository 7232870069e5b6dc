"""Errors as HTTP answers that never leak internals.

Every error body is ``{"error": CODE, "message": SENTENCE, "request_id": ID}``. Library errors
keep their one-sentence message (they never carry cell values) with any filesystem path cut
out; validation errors name the parameter but do not echo its value; anything unexpected is a
bare 500 with the request id, and the server log gets the exception's type only: an exception
message or traceback could hold a cell value or a secret.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from privet.errors import (
    AlreadyExists,
    BudgetExhausted,
    IntegrityError,
    InvalidInput,
    KeyUnavailable,
    NotFound,
    PolicyDenied,
    PrivetError,
    Unauthenticated,
)

log = logging.getLogger("privet.server")

_PATH = re.compile(r"(?:[A-Za-z]:)?(?:/[^\s'\"/]+){2,}/?")


class ErrorBody(BaseModel):
    """Every error answer: a code, one sentence, and the request id to quote to an operator."""

    error: str = Field(description="a stable code: invalid_input, forbidden, not_found, …")
    message: str = Field(description="one sentence saying what to fix; never a cell value")
    request_id: str | None = Field(description="the X-Request-Id of this request")
    parameter: str | None = Field(
        default=None, description="the request field the message is about, when there is one"
    )


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Documented on every route, so the OpenAPI document says what the server does.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("invalid input: a malformed value, an unknown column, a bad query"),
    401: _error("missing, malformed, expired or revoked credentials"),
    403: _error("refused by policy: purpose, grant or role; or the privacy budget is spent"),
    404: _error("no such dataset, version, grant, model or log entry"),
    409: _error("already exists"),
    413: _error("request body too large"),
    422: _error("a parameter does not have the declared type or form"),
    429: _error("too many requests: slow down (see Retry-After)"),
    500: _error("internal error: stored data failed a check, or something unforeseen"),
    503: _error("the service cannot reach its master key"),
}


class ApiError(Exception):
    """An error answer raised by the server itself (bad parameter, rate limit, no token)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def classify(err: PrivetError) -> tuple[int, str, str]:
    """(status, code, message) for a library error."""
    if isinstance(err, Unauthenticated):
        return 401, "unauthenticated", "valid credentials are required (a Bearer token)"
    if isinstance(err, BudgetExhausted):
        return 403, "budget_exhausted", scrub(str(err))
    if isinstance(err, PolicyDenied):
        return 403, "forbidden", scrub(str(err))
    if isinstance(err, NotFound):
        return 404, "not_found", scrub(str(err))
    if isinstance(err, InvalidInput):
        return 400, "invalid_input", scrub(str(err))
    if isinstance(err, AlreadyExists):
        return 409, "conflict", scrub(str(err))
    if isinstance(err, KeyUnavailable):
        return 503, "unavailable", "the service cannot reach its master key"
    if isinstance(err, IntegrityError):
        return 500, "integrity", "stored data failed an integrity check"
    return 500, "internal", "internal error"


def scrub(message: str) -> str:
    """Cut filesystem paths out of a message and bound its length."""
    return _PATH.sub("<path>", message)[:500]


def body(
    request: Request | None, code: str, message: str, parameter: str | None = None
) -> dict[str, Any]:
    rid = getattr(request.state, "request_id", None) if request is not None else None
    answer = {"error": code, "message": message, "request_id": rid}
    if parameter is not None:
        answer["parameter"] = parameter  # the request field the message is about
    return answer


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, err: ApiError) -> JSONResponse:
        return JSONResponse(body(request, err.code, err.message), err.status, headers=err.headers)

    @app.exception_handler(PrivetError)
    async def _privet_error(request: Request, err: PrivetError) -> JSONResponse:
        status, code, message = classify(err)
        if status >= 500:
            log.error("request %s failed: %s", request.state.request_id, type(err).__name__)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        parameter = err.parameter if status < 500 else None
        return JSONResponse(body(request, code, message, parameter), status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        # Name the parameters, never echo their values (they could be anything).
        where = sorted({".".join(str(p) for p in e.get("loc", ())) for e in err.errors()})
        message = "invalid request parameter(s): " + ", ".join(where)[:300]
        return JSONResponse(body(request, "invalid_input", message), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "http_error")
        message = {404: "no such endpoint", 405: "method not allowed"}.get(
            err.status_code, "request refused"
        )
        return JSONResponse(
            body(request, code, message), err.status_code, headers=getattr(err, "headers", None)
        )
