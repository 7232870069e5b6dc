"""Run the service: uvicorn with TLS by default off loopback, and safe logging.

Encryption in transit is the default: binding an address other than loopback without a
certificate is refused unless the operator passes the explicitly named, warned opt-in (for a
TLS-terminating proxy on the same host). With a certificate, the port speaks only TLS (1.2+),
so a plain-HTTP request fails at the handshake instead of being answered in clear.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from privet.errors import InvalidInput
from privet.server._logging import log_config
from privet.server._ratelimit import RateLimit
from privet.server._schedule import ForgetSchedule

if TYPE_CHECKING:
    import uvicorn

    from privet.server._flight import GovernedFlight
    from privet.workspace import Workspace

log = logging.getLogger("privet.server")


class InsecureTransportWarning(UserWarning):
    """The service answers in plain HTTP on a non-loopback address."""


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8700
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure_plain_http: bool = False
    rate_limit: RateLimit = RateLimit()
    log_level: str = "info"
    stream_batch_rows: int = 65_536
    publish_checkpoints: Path | None = None  # a folder for signed checkpoints, on a timer
    checkpoint_every: float = 300.0
    retention_every: float = 3600.0  # seconds between retention rounds; 0 disables them
    flight_port: int | None = None  # also serve governed reads over Arrow Flight on this port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_transport(options: ServeOptions) -> bool:
    """True when TLS is on; refuses unsafe combinations with one sentence."""
    if (options.tls_cert is None) != (options.tls_key is None):
        raise InvalidInput(
            "give both a TLS certificate and its key (or neither)", parameter="tls_key"
        )
    tls = options.tls_cert is not None
    for path in (options.tls_cert, options.tls_key):
        if path is not None and not path.is_file():
            raise InvalidInput(f"TLS file not found: {path.name}")
    if not tls and not is_loopback(options.host):
        if not options.insecure_plain_http:
            raise InvalidInput(
                f"refusing to serve plain HTTP on {options.host}: tokens and data would cross "
                "the network unencrypted; give a TLS certificate and key (or, behind a "
                "TLS-terminating proxy on this host, allow insecure_plain_http)",
                parameter="insecure_plain_http",
            )
        warnings.warn(
            f"serving plain HTTP on non-loopback address {options.host}: credentials and data "
            "travel unencrypted unless a proxy terminates TLS in front of this port",
            InsecureTransportWarning,
            stacklevel=2,
        )
    if tls and options.insecure_plain_http:
        raise InvalidInput(
            "insecure_plain_http makes no sense with a TLS certificate",
            parameter="insecure_plain_http",
        )
    return tls


@dataclass(frozen=True)
class Serving:
    """A configured uvicorn server (not started) and the workspace it serves."""

    server: uvicorn.Server
    workspace: Workspace
    options: ServeOptions
    flight: GovernedFlight | None = None  # already listening when built

    @property
    def flight_location(self) -> str | None:
        """``grpc[+tls]://host:port`` of the Flight server (its real port), or None."""
        from privet.server._flight import flight_location

        if self.flight is None:
            return None
        tls = self.options.tls_cert is not None
        return flight_location(self.options.host, self.flight.port, tls=tls)

    def run(self) -> None:
        """Serve until Ctrl-C, publishing checkpoints if asked and enforcing retention on its
        schedule; then a last checkpoint covers everything served, and the workspace closes."""
        from privet.auditlog import CheckpointPublisher

        folder, every = self.options.publish_checkpoints, self.options.checkpoint_every
        publisher = None
        if folder is not None:
            publisher = CheckpointPublisher(self.workspace.log, folder, every).start()
        schedule = None
        if self.options.retention_every > 0:
            schedule = ForgetSchedule(self.workspace, self.options.retention_every).start()
        try:
            self.server.run()
        except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: a normal stop
            pass
        finally:
            if self.flight is not None:
                self.flight.shutdown()
            if schedule is not None:
                schedule.stop()
            if publisher is not None:
                publisher.stop()
            self.workspace.close()


def build_server(workspace: Path | str | None, options: ServeOptions) -> Serving:
    """A configured ``uvicorn.Server`` (not started) on the opened workspace."""
    import uvicorn

    from privet.server._app import create_app
    from privet.workspace import Workspace

    tls = check_transport(options)
    folder = options.publish_checkpoints
    if folder is not None and not folder.is_dir():
        raise InvalidInput(f"the folder {folder} does not exist", parameter="publish_checkpoints")
    if options.retention_every < 0:
        raise InvalidInput(
            "retention_every is seconds between rounds (0 disables them)",
            parameter="retention_every",
        )
    ws = Workspace.open(workspace)
    app = create_app(
        ws, rate_limit=options.rate_limit, tls=tls, stream_batch_rows=options.stream_batch_rows
    )
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        ssl_certfile=str(options.tls_cert) if tls else None,
        ssl_keyfile=str(options.tls_key) if tls else None,
        log_config=log_config(options.log_level),
        proxy_headers=False,
        server_header=False,
        date_header=True,
        timeout_keep_alive=5,
        limit_concurrency=512,
        h11_max_incomplete_event_size=64 * 1024,
        ssl_context_factory=_tls12 if tls else None,
    )
    try:
        config.load()
    except (ssl.SSLError, ValueError):
        ws.close()
        raise InvalidInput("the TLS certificate or key could not be loaded") from None
    flight = None
    if options.flight_port is not None:
        flight = _flight_server(ws, options, tls)
    return Serving(uvicorn.Server(config), ws, options, flight)


def _flight_server(ws: Workspace, options: ServeOptions, tls: bool) -> GovernedFlight:
    """The Arrow Flight server of ``ws``, listening now (same host, TLS material and rate
    limit as the HTTP server)."""
    import pyarrow as pa

    from privet.server._flight import GovernedFlight, flight_location

    assert options.flight_port is not None
    if options.flight_port == options.port and options.port != 0:
        ws.close()
        raise InvalidInput(
            "the Flight port must differ from the HTTP port", parameter="flight_port"
        )
    location = flight_location(options.host, options.flight_port, tls=tls)
    cert, key = options.tls_cert, options.tls_key
    pair = (cert, key) if tls and cert is not None and key is not None else None
    try:
        return GovernedFlight(
            ws,
            location,
            batch_rows=options.stream_batch_rows,
            rate_limit=options.rate_limit,
            tls=pair,
        )
    except (pa.ArrowException, OSError) as err:
        ws.close()
        raise InvalidInput(
            f"cannot serve Arrow Flight on port {options.flight_port} (in use, or the TLS "
            f"material was refused: {type(err).__name__})",
            parameter="flight_port",
        ) from None


def _tls12(_config: object, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    context = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
