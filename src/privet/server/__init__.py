"""The HTTP service: governed reads, grants, DP queries, the audit log, and a dashboard.

``create_app(ws)`` builds the FastAPI application; ``privet serve`` runs it with uvicorn
(TLS by default off loopback). ``Client`` is the small httpx client the CLI's
``--server URL`` mode uses; ``connect(url, token=…)`` reads governed Arrow streams (HTTP) or
Arrow Flight (``privet serve --flight-port``) into Polars or Arrow.
"""

from privet.server._app import create_app
from privet.server._client import Client
from privet.server._connect import Connection, connect
from privet.server._ratelimit import RateLimit
from privet.server._serve import InsecureTransportWarning, ServeOptions, Serving, build_server

__all__ = [
    "Client",
    "Connection",
    "InsecureTransportWarning",
    "RateLimit",
    "ServeOptions",
    "Serving",
    "build_server",
    "connect",
    "create_app",
]
