"""``Authorization: Bearer <token>`` → an :class:`~privet.policy.Identity`, rate-limited.

Credentials travel only in the header: never in the URL, where access logs, proxies and
browser history would keep them.
"""

from __future__ import annotations

import hashlib
import math
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from privet.errors import PrivetError
from privet.policy import Identity
from privet.server._errors import ApiError, classify

bearer_scheme = HTTPBearer(auto_error=False, description="a privet API token or an OIDC JWT")


def _limited(wait: float) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        "too many requests for this token; slow down",
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )


def current_identity(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Identity:
    """The caller, authenticated by the workspace (``ws.access``); 401 without valid
    credentials."""
    state = request.app.state
    client = request.client.host if request.client else "?"
    if credentials is None or not credentials.credentials:
        _count_failure(state, client)
        raise ApiError(
            401,
            "unauthenticated",
            "valid credentials are required (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    secret = credentials.credentials
    if len(secret) > 8192:
        _count_failure(state, client)
        raise ApiError(401, "unauthenticated", "the credentials are not valid")
    try:
        identity = state.ws.access.authenticate(secret)
    except PrivetError as err:
        status, _, _ = classify(err)
        if status in (401, 403):
            _count_failure(state, client)
        raise
    # The bucket is keyed by the credential itself (hashed: no secret kept in memory as is).
    key = identity.token_id or "jwt:" + hashlib.sha256(secret.encode()).hexdigest()
    wait = state.buckets.take(key)
    if wait:
        raise _limited(wait)
    return identity


def _count_failure(state: Any, client: str) -> None:
    # Failed authentications are limited per client address: slows down token guessing.
    wait = state.failures.take(client)
    if wait:
        raise _limited(wait)


Caller = Annotated[Identity, Depends(current_identity)]
