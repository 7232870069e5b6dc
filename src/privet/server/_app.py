"""The FastAPI application of one workspace: ``create_app(ws)``.

Every route is a thin layer over one library call; the routes run in the worker thread pool
(they are plain functions) because the library does blocking database and file work.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from privet import __version__
from privet.server import (
    _dashboard,
    _errors,
    _routes_account,
    _routes_audit,
    _routes_data,
    _routes_forget,
    _routes_grants,
    _routes_incident,
    _routes_kpis,
    _routes_models,
    _routes_psi,
)
from privet.server._middleware import Guard
from privet.server._ratelimit import RateLimit, TokenBuckets
from privet.workspace import Workspace

DESCRIPTION = """Governed access to the datasets of one privet workspace.

Authenticate with `Authorization: Bearer <token>` (a privet API token or an OIDC JWT of the
configured issuer). 401: no valid credentials; 403: the policy or a grant says no; 429: the
token's rate limit. Every read and every decision is in the workspace's tamper-evident log."""


def create_app(
    workspace: Workspace | str | Path,
    *,
    rate_limit: RateLimit | None = None,
    tls: bool = False,
    stream_batch_rows: int = 65_536,
) -> FastAPI:
    """The HTTP API and dashboard of ``workspace`` (an open Workspace or its path)."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    app = FastAPI(
        title="privet",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        # The interactive docs load scripts from a CDN: off (the spec itself is served).
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.ws = ws
    app.state.buckets = TokenBuckets(rate_limit or RateLimit())
    # Failed authentications per client address: tokens are 256-bit (nothing to guess), so
    # this only keeps a flood of bad credentials from costing a lookup each.
    app.state.failures = TokenBuckets(RateLimit(rate=20.0, burst=200))
    app.state.batch_rows = stream_batch_rows
    _errors.install(app)
    for router in (
        _routes_data.router,
        _routes_grants.router,
        _routes_models.router,
        _routes_audit.router,
        _routes_forget.router,
        _routes_kpis.router,
        _routes_incident.router,
        _routes_account.router,
        _routes_psi.router,
    ):
        app.include_router(router, responses=_errors.ERROR_RESPONSES)
    app.include_router(_dashboard.router)
    app.add_middleware(Guard, tls=tls)
    return app
