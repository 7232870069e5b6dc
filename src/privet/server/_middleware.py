"""The outermost layer: a request id, security headers, and a last-resort error guard.

A pure ASGI middleware (not ``BaseHTTPMiddleware``) so streamed bodies pass through unbuffered
and an exception after the headers went out can still be handled: the connection is then
dropped without the final chunk, so a client never mistakes a cut stream for a whole file.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("privet.server")

API_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
# The dashboard: scripts, styles and API calls from this origin only; nothing inline, no
# frames, no forms posting elsewhere. Stops injected markup from running or exfiltrating.
DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# An impact assessment (/v1/reports/…) is one page with inline CSS and pictures: its styles
# may apply, still no script, nothing fetched.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
# Request bodies are small JSON documents (a grant request, a DP query, a checkpoint note).
MAX_BODY = 256 * 1024
# ... except a private set intersection request: 35 bytes per value (about 10^7 values).
PSI_MAX_BODY = 384 * 1024 * 1024


def body_limit(scope: Scope) -> int:
    path = scope.get("path", "")
    is_psi = path.startswith("/v1/datasets/") and path.endswith("/psi")
    return PSI_MAX_BODY if is_psi and scope.get("method") == "POST" else MAX_BODY


class _TooLarge(BaseException):
    # A BaseException: FastAPI turns an Exception raised while reading a body into a 400.
    pass


class Guard:
    def __init__(self, app: ASGIApp, *, tls: bool) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = False
        path = scope.get("path", "")
        is_dashboard = path.startswith("/dashboard")
        is_report = path.startswith("/v1/reports/")
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"0")
        limit = body_limit(scope)
        if not declared.isdigit() or int(declared) > limit:
            await _send_error(send, request_id, 413, "too_large", "request body too large")
            return
        received = 0

        async def receive_bounded() -> Message:
            # Chunked bodies declare no length: count what actually arrives.
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _TooLarge
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() != b"content-security-policy"
                ]
                headers += API_HEADERS
                headers.append((b"x-request-id", request_id.encode()))
                csp = DASHBOARD_CSP if is_dashboard else REPORT_CSP if is_report else API_CSP
                headers.append((b"content-security-policy", csp.encode()))
                if self.tls:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive_bounded, send_with_headers)
        except BaseException as err:  # noqa: BLE001 - the last resort: nothing leaks
            if isinstance(err, KeyboardInterrupt | SystemExit):
                raise
            if _is(err, _TooLarge) and not started:
                await _send_error(send, request_id, 413, "too_large", "request body too large")
                return
            kind = _describe(err)
            if started:
                # Headers are out: end without the terminating chunk (uvicorn closes the
                # connection), so the client sees a broken transfer, not a short file.
                log.warning("request %s: stream stopped (%s)", request_id, kind)
                return
            log.error("request %s failed: %s", request_id, kind)
            await _send_error(send, request_id, 500, "internal", "internal error")


def _describe(err: BaseException) -> str:
    # Type names only: an exception's message can hold a value or a secret.
    inner = getattr(err, "exceptions", None)
    if inner:
        return ", ".join(_describe(e) for e in inner)
    return type(err).__name__


def _is(err: BaseException, kind: type[BaseException]) -> bool:
    inner = getattr(err, "exceptions", None)
    if inner:
        return any(_is(e, kind) for e in inner)
    return isinstance(err, kind)


async def _send_error(send: Send, request_id: str, status: int, code: str, message: str) -> None:
    payload: dict[str, Any] = {"error": code, "message": message, "request_id": request_id}
    data = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"x-request-id", request_id.encode()),
                *API_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
