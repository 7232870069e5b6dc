"""Governed reads over Arrow Flight (``privet serve --flight-port P``).

The same doors as ``GET /v1/datasets/{ref}/rows``: the bearer token in the ``authorization``
header (authenticated by the workspace, rate-limited per token), and one library call,
``ws.access.batches``, which decides, logs the read once before the first batch, checks the
content hash and re-checks the grant between batches. A ticket is a small JSON document naming
the dataset reference, the purpose and the view; it carries no credential. With the HTTP
server's certificate and key the port speaks only TLS (``grpc+tls://``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyarrow import flight
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from privet.errors import (
    IntegrityError,
    InvalidInput,
    KeyUnavailable,
    NotFound,
    PolicyDenied,
    PrivetError,
    Unauthenticated,
)
from privet.server._errors import scrub
from privet.server._ratelimit import RateLimit, TokenBuckets
from privet.server._validate import PURPOSE, REF, View

if TYPE_CHECKING:
    from privet.policy import Identity
    from privet.workspace import Workspace

log = logging.getLogger("privet.server")
# Governed-read decisions made at once (each writes an audit entry): below the catalog's
# connection pool (SQLAlchemy's default 5 + 10), so a burst of clients waits, never fails.
_DECISIONS = 4
_MAX_TICKET = 4096


class FlightTicket(BaseModel):
    """What a Flight ticket names: a governed read, as the HTTP route's parameters do."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(pattern=REF, description="dataset reference NAME or NAME@VERSION")
    purpose: str = Field(pattern=PURPOSE, description="why the data is read")
    view: View = Field(default=View.raw, description="which view of the data")

    def encode(self) -> bytes:
        return self.model_dump_json().encode()


class _Caller(flight.ServerMiddleware):
    """One call's caller and request id (sent back as ``x-request-id``, as over HTTP, and
    named in the read's log entry as channel ``flight:<id>``)."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.request_id = uuid.uuid4().hex

    def sending_headers(self) -> dict[str, str]:
        return {"x-request-id": self.request_id}


class _Authenticate(flight.ServerMiddlewareFactory):
    """``authorization: Bearer <token>`` → the caller's identity, or the call is refused."""

    def __init__(self, ws: Workspace, limit: RateLimit) -> None:
        self._ws = ws
        self._buckets = TokenBuckets(limit)
        self._failures = TokenBuckets(RateLimit(rate=20.0, burst=200))

    def start_call(self, info: Any, headers: dict[str, list[str]]) -> _Caller:
        values = headers.get("authorization", [])
        scheme, _, secret = (values[0] if len(values) == 1 else "").partition(" ")
        if scheme.lower() != "bearer" or not secret or len(secret) > 8192:
            self._failed()
            raise flight.FlightUnauthenticatedError(
                "valid credentials are required (authorization: Bearer <token>)"
            )
        try:
            identity = self._ws.access.authenticate(secret)
        except Unauthenticated:
            self._failed()
            raise flight.FlightUnauthenticatedError("the credentials are not valid") from None
        except PrivetError as err:
            raise _flight_error(err) from None
        key = identity.token_id or "jwt:" + hashlib.sha256(secret.encode()).hexdigest()
        if self._buckets.take(key):
            raise flight.FlightUnavailableError("too many requests for this token; slow down")
        return _Caller(identity)

    def _failed(self) -> None:
        # Bad credentials are limited server-wide here (a Flight peer is host:port, not a
        # stable address): a flood of guesses costs a lookup each, no more.
        if self._failures.take("flight"):
            raise flight.FlightUnavailableError("too many failed authentications; slow down")


class GovernedFlight(flight.FlightServerBase):
    """An Arrow Flight server whose ``do_get`` is a governed read of one workspace."""

    def __init__(
        self,
        ws: Workspace,
        location: str,
        *,
        batch_rows: int,
        rate_limit: RateLimit,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        certificates = []
        if tls is not None:
            cert, key = tls
            certificates = [flight.CertKeyPair(cert=cert.read_bytes(), key=key.read_bytes())]
        super().__init__(
            location,
            tls_certificates=certificates,
            middleware={"auth": _Authenticate(ws, rate_limit)},
        )
        self._ws = ws
        self._batch_rows = batch_rows
        # gRPC runs every call at once; the decisions and their log entries queue here
        # instead of on the catalog's connection pool, whose wait ends in an error.
        self._deciding = threading.BoundedSemaphore(_DECISIONS)

    def do_get(self, context: Any, ticket: flight.Ticket) -> flight.FlightDataStream:
        caller: _Caller = context.get_middleware("auth")
        asked = _parse(ticket.ticket)
        if asked.purpose.startswith("privet:"):
            raise pa.ArrowInvalid("purposes starting with 'privet:' are reserved")
        channel = f"flight:{caller.request_id}"
        try:
            with self._deciding:
                batches = self._ws.access.batches(
                    asked.dataset,
                    identity=caller.identity,
                    purpose=asked.purpose,
                    view=asked.view.value,
                    batch_rows=self._batch_rows,
                    channel=channel,
                )
        except PrivetError as err:
            raise _flight_error(err, channel) from None
        return flight.GeneratorStream(batches.schema, _watch(batches, channel))

    def list_flights(self, context: Any, criteria: bytes) -> Iterator[flight.FlightInfo]:
        return iter(())


def _parse(raw: bytes) -> FlightTicket:
    if len(raw) > _MAX_TICKET:
        raise pa.ArrowInvalid("the ticket is too long")
    try:
        return FlightTicket.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        # Name the form, never echo the value (it could be anything).
        raise pa.ArrowInvalid(
            'a ticket is JSON: {"dataset": NAME[@VERSION], "purpose": P, "view": V}'
        ) from None


def _watch(batches: Any, channel: str) -> Iterator[pa.RecordBatch]:
    try:
        yield from batches
    except PolicyDenied as err:
        log.warning("%s: grant ended mid-stream; stream stopped", channel)
        raise flight.FlightUnauthorizedError(scrub(str(err))) from None
    except PrivetError as err:
        raise _flight_error(err, channel) from None
    finally:
        batches.close()


def _flight_error(err: PrivetError, channel: str | None = None) -> Exception:
    """A library error as the Flight status a client expects; messages as over HTTP."""
    if isinstance(err, Unauthenticated):
        return flight.FlightUnauthenticatedError("the credentials are not valid")
    if isinstance(err, PolicyDenied):
        return flight.FlightUnauthorizedError(scrub(str(err)))
    if isinstance(err, NotFound):
        return pa.ArrowKeyError(scrub(str(err)))
    if isinstance(err, InvalidInput):
        return pa.ArrowInvalid(scrub(str(err)))
    if isinstance(err, KeyUnavailable):
        return flight.FlightUnavailableError("the service cannot reach its master key")
    log.error("%s failed: %s", channel or "flight call", type(err).__name__)
    if isinstance(err, IntegrityError):
        return flight.FlightServerError("stored data failed an integrity check")
    return flight.FlightServerError("internal error")


def flight_location(host: str, port: int, *, tls: bool) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{'grpc+tls' if tls else 'grpc'}://{shown}:{port}"
