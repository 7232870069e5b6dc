"""Incident scoping over HTTP, for those who may oversee access (approvers, owners)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from privet.server._auth import Caller
from privet.workspace import Workspace

router = APIRouter(prefix="/v1", tags=["incidents"])
_NAME = r"^[A-Za-z0-9_.@+-]{1,128}$"


def _ws(request: Request) -> Workspace:
    return request.app.state.ws


@router.get("/incidents", summary="The scope of an incident")
def incident(
    request: Request,
    caller: Caller,
    actor: Annotated[str | None, Query(pattern=_NAME, description="the user to scope")] = None,
    token: Annotated[
        str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="one API token's id")
    ] = None,
    since: Annotated[datetime | None, Query(description="start of the window (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="end of the window (default now)")] = None,
) -> dict[str, Any]:
    """What ``actor`` (or one API ``token``) read, exported and made in the window: datasets,
    versions, views, columns, records, distinct people (counts; the people themselves never),
    purposes, releases and models, exports, alerts, and the GDPR Art. 33(3) fields prefilled.
    Approvers and dataset owners only; the scoping is logged."""
    found = _ws(request).incidents.investigate(
        actor=actor, token=token, since=since, until=until, identity=caller
    )
    return found.model_dump(mode="json")
