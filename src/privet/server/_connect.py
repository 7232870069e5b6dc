"""``privet.connect(url, token=…)``: governed reads from a privet server into Polars or Arrow.

``https://`` (or ``http://`` on loopback) reads the Arrow IPC stream of
``GET /v1/datasets/{ref}/rows``; ``grpc+tls://`` (or ``grpc://`` on loopback) reads over Arrow
Flight. Either way the server decides, logs the read once and re-checks the grant between
batches; a stream it stops (grant revoked or expired) raises ``PolicyDenied`` here, never a
short table that looks whole. The token travels only in the ``authorization`` header.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode, urlsplit

from privet.errors import (
    InvalidInput,
    NotFound,
    PolicyDenied,
    PrivetError,
    Unauthenticated,
)
from privet.server._serve import is_loopback

if TYPE_CHECKING:
    import pyarrow as pa

_STOPPED = (
    "the server stopped the stream before the end (a grant expired or was revoked, or the "
    "connection broke)"
)


class Connection:
    """A privet server, for governed reads (see :func:`connect`)."""

    def __init__(
        self, url: str, token: str, *, verify: str | bool | None = None, timeout: float = 60.0
    ) -> None:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname
        if scheme not in ("http", "https", "grpc", "grpc+tls") or not host:
            raise InvalidInput(
                "the server URL must look like https://HOST:PORT or grpc+tls://HOST:PORT"
            )
        if scheme in ("http", "grpc") and not is_loopback(host):
            raise InvalidInput(
                "refusing to send a token unencrypted to another machine; use https:// or "
                "grpc+tls://"
            )
        if not token:
            raise InvalidInput("give a token", parameter="token")
        if verify is None:
            verify = os.environ.get("PRIVET_CA_CERT") or True
        self.url = url.rstrip("/")
        self._parts = parts
        self._token = token
        self._verify = verify
        self._timeout = timeout
        self._flight: Any = None

    @property
    def transport(self) -> Literal["http", "flight"]:
        return "flight" if self._parts.scheme.startswith("grpc") else "http"

    def read(
        self,
        ref: str,
        *,
        purpose: str,
        view: str = "raw",
        to: Literal["polars", "arrow"] = "polars",
        wire: Literal["arrow", "parquet"] = "arrow",
    ) -> Any:
        """The governed read of ``ref`` for ``purpose`` as ``view``: a Polars DataFrame (the
        default) or, with ``to="arrow"``, a ``pyarrow.Table``.

        Over HTTP, ``wire="parquet"`` asks for the stored Parquet instead of the Arrow stream
        and decodes it here once whole: far fewer bytes on the wire (a compressed Parquet
        file is often a tenth of its Arrow form), so it is the faster choice on a slow link
        (see BENCHMARKS.md). Flight always sends Arrow."""
        if to not in ("polars", "arrow"):
            raise InvalidInput('to must be "polars" or "arrow"', parameter="to")
        if wire not in ("arrow", "parquet"):
            raise InvalidInput('wire must be "arrow" or "parquet"', parameter="wire")
        if wire == "parquet" and self.transport == "http":
            return self._http_parquet(ref, purpose, view, to)
        table = self.read_arrow(ref, purpose=purpose, view=view)
        if to == "arrow":
            return table
        import polars as pl

        return pl.from_arrow(table, rechunk=False)

    def read_arrow(self, ref: str, *, purpose: str, view: str = "raw") -> pa.Table:
        """The governed read of ``ref`` as a ``pyarrow.Table`` (its record batches as sent)."""
        if self.transport == "flight":
            return self._flight_read(ref, purpose, view)
        return self._http_read(ref, purpose, view)

    def _http_parquet(self, ref: str, purpose: str, view: str, to: str) -> Any:
        import polars as pl

        body = self._http_get(ref, purpose, view, "parquet", lambda response: response.read())
        frame = pl.read_parquet(body)
        return frame.to_arrow(compat_level=pl.CompatLevel.newest()) if to == "arrow" else frame

    # -- HTTP: the Arrow IPC stream ------------------------------------------------------------

    def _http_read(self, ref: str, purpose: str, view: str) -> pa.Table:
        import pyarrow as pa

        def decode(response: http.client.HTTPResponse) -> pa.Table:
            return pa.ipc.open_stream(_Body(response)).read_all()

        return self._http_get(ref, purpose, view, "arrow", decode)

    def _http_get(
        self,
        ref: str,
        purpose: str,
        view: str,
        fmt: str,
        decode: Callable[[http.client.HTTPResponse], Any],
    ) -> Any:
        import pyarrow as pa

        host, port = self._parts.hostname or "", self._parts.port
        if self._parts.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=self._timeout, context=self._tls()
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self._timeout)
        query = urlencode({"purpose": purpose, "view": view, "format": fmt})
        path = f"{self._parts.path.rstrip('/')}/v1/datasets/{quote(ref, safe='@')}/rows?{query}"
        headers = {"Authorization": f"Bearer {self._token}", "User-Agent": "privet-connect"}
        try:
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as err:
                raise PrivetError(_transport_message(err)) from None
            if response.status >= 400:
                _raise_for(response.status, response.read(), response.getheader("retry-after"))
            try:
                # The response reads whole chunks, and raises on a chunked body cut short (no
                # final chunk): a stopped stream never passes for a whole one.
                return decode(response)
            except (OSError, http.client.HTTPException, pa.ArrowInvalid):
                raise PolicyDenied(_STOPPED) from None
        finally:
            connection.close()

    def _tls(self) -> ssl.SSLContext:
        if isinstance(self._verify, str):
            return ssl.create_default_context(cafile=self._verify)
        if self._verify is False:
            raise InvalidInput("TLS verification cannot be turned off; give the server's CA")
        return ssl.create_default_context()

    # -- Arrow Flight ---------------------------------------------------------------------------

    def _flight_read(self, ref: str, purpose: str, view: str) -> pa.Table:
        import pyarrow as pa
        from pyarrow import flight

        from privet.server._flight import FlightTicket

        if self._flight is None:
            kwargs: dict[str, Any] = {}
            if isinstance(self._verify, str):
                with open(self._verify, "rb") as ca:
                    kwargs["tls_root_certs"] = ca.read()
            elif self._verify is False:
                raise InvalidInput("TLS verification cannot be turned off; give the server's CA")
            self._flight = flight.FlightClient(self.url, **kwargs)
        try:
            ticket = FlightTicket.model_validate({"dataset": ref, "purpose": purpose, "view": view})
        except ValueError:
            raise InvalidInput("a dataset reference, purpose or view has the wrong form") from None
        options = flight.FlightCallOptions(
            headers=[(b"authorization", f"Bearer {self._token}".encode())],
            timeout=self._timeout,
        )
        try:
            reader = self._flight.do_get(flight.Ticket(ticket.encode()), options)
        except flight.FlightError as err:
            raise _flight_refusal(err) from None
        except pa.ArrowException as err:
            raise _flight_refusal(err) from None
        try:
            return reader.read_all()
        except flight.FlightUnauthorizedError:
            raise PolicyDenied(_STOPPED) from None
        except (flight.FlightError, pa.ArrowException, OSError):
            raise PolicyDenied(_STOPPED) from None

    def close(self) -> None:
        if self._flight is not None:
            self._flight.close()
            self._flight = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class _Body:
    """The response body as pyarrow reads it: ``read_buffer`` fills one new buffer per IPC
    message straight from the socket (``HTTPResponse.read`` would copy it a second time)."""

    closed = False

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self._response = response

    def read_buffer(self, size: int) -> memoryview:
        buffer = bytearray(size)
        got = self._response.readinto(buffer)
        return memoryview(buffer)[:got]

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return self._response.read()
        return self.read_buffer(size).tobytes()


def connect(
    url: str, *, token: str, verify: str | bool | None = None, timeout: float = 60.0
) -> Connection:
    """A connection to the privet server at ``url`` for governed reads, authenticated by
    ``token`` (a privet API token or an OIDC JWT).

    ``https://HOST:PORT`` reads Arrow IPC streams over HTTP; ``grpc+tls://HOST:PORT`` reads
    over Arrow Flight (``privet serve --flight-port``); plain ``http://`` and ``grpc://`` only
    on loopback. ``verify`` is a CA file (default ``$PRIVET_CA_CERT``, else the system's).

    >>> import privet                                                  # doctest: +SKIP
    >>> with privet.connect("https://privet.example:8700", token=t) as server:
    ...     people = server.read("people", purpose="analytics")       # a Polars DataFrame
    """
    return Connection(url, token, verify=verify, timeout=timeout)


def _raise_for(status: int, body: bytes, retry_after: str | None) -> None:
    try:
        message = str(json.loads(body).get("message") or "request refused")
    except (ValueError, AttributeError):
        message = f"the server answered {status}"
    if status == 401:
        raise Unauthenticated("the server did not accept the token (unknown, expired or revoked)")
    if status == 403:
        raise PolicyDenied(message)
    if status == 404:
        raise NotFound(message)
    if status == 429:
        raise PrivetError(f"rate limited by the server; retry in {retry_after or 'a few'} s")
    if status < 500:
        raise InvalidInput(message)
    raise PrivetError(f"the server failed ({status})")


def _flight_refusal(err: Exception) -> PrivetError:
    from pyarrow import flight

    detail = str(err).split("\n")[0][:300]
    if isinstance(err, flight.FlightUnauthenticatedError):
        return Unauthenticated("the server did not accept the token (unknown, expired or revoked)")
    if isinstance(err, flight.FlightUnauthorizedError):
        return PolicyDenied(_flight_message(detail))
    if isinstance(err, KeyError):
        return NotFound(_flight_message(detail))
    if isinstance(err, flight.FlightUnavailableError):
        return PrivetError(_flight_message(detail))
    if isinstance(err, ValueError):
        return InvalidInput(_flight_message(detail))
    return PrivetError(f"the Flight server failed ({_flight_message(detail)})")


def _flight_message(detail: str) -> str:
    # gRPC prefixes the server's sentence with the status and call names.
    for marker in ("detail: ", ". Detail: "):
        detail = detail.split(marker)[0]
    return detail.split("Flight returned ")[-1].split(" error, with message: ")[-1].strip()


def _transport_message(err: Exception) -> str:
    if isinstance(err, ConnectionRefusedError):
        return "cannot connect to the server (is it running, and is the URL right?)"
    if isinstance(err, TimeoutError):
        return "the server did not answer in time"
    return f"the connection to the server failed ({type(err).__name__})"
