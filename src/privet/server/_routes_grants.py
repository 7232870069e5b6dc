"""Grants (request, approve, deny, revoke, list), alerts, and who the caller is."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from privet.policy import GrantInfo, GrantRequest, GrantStatus
from privet.server._auth import Caller
from privet.server._validate import GrantPath, own_purpose
from privet.workspace import Workspace

router = APIRouter(prefix="/v1", tags=["grants"])


class Me(BaseModel):
    name: str
    roles: list[str]
    via: str


def _ws(request: Request) -> Workspace:
    return request.app.state.ws


def _out(grant: GrantInfo) -> dict[str, Any]:
    return grant.model_dump(mode="json")


@router.get("/me", response_model=Me, summary="Who the credentials belong to")
def me(caller: Caller) -> Me:
    return Me(name=caller.name, roles=sorted(caller.roles), via=caller.via)


@router.post("/grants", status_code=201, summary="Request a grant")
def request_grant(request: Request, body: GrantRequest, caller: Caller) -> dict[str, Any]:
    """Pending until the dataset owner or an approver (never the requester) approves it;
    active at once when the policy auto-approves (never for restricted datasets)."""
    own_purpose(body.purpose)
    return _out(_ws(request).access.request_grant(body, identity=caller))


@router.get("/grants", summary="Grants the caller may see")
def list_grants(
    request: Request,
    caller: Caller,
    status: Annotated[GrantStatus | None, Query()] = None,
) -> list[dict[str, Any]]:
    """The caller's own grants, and the grants of datasets the caller may approve."""
    found = _ws(request).access.grants_visible_to(caller, status=status)
    return [_out(g) for g in found]


@router.post("/grants/{grant_id}/approve", summary="Approve a pending grant")
def approve(request: Request, grant_id: GrantPath, caller: Caller) -> dict[str, Any]:
    return _out(_ws(request).access.approve_grant(grant_id, identity=caller))


@router.post("/grants/{grant_id}/deny", summary="Deny a pending grant")
def deny(request: Request, grant_id: GrantPath, caller: Caller) -> dict[str, Any]:
    return _out(_ws(request).access.deny_grant(grant_id, identity=caller))


@router.post("/grants/{grant_id}/revoke", summary="Revoke a grant now")
def revoke(request: Request, grant_id: GrantPath, caller: Caller) -> dict[str, Any]:
    return _out(_ws(request).access.revoke_grant(grant_id, identity=caller))


@router.get("/alerts", summary="Anomaly alerts", tags=["alerts"])
def alerts(
    request: Request,
    caller: Caller,
    since: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> list[dict[str, Any]]:
    """Alerts raised by reads far outside a user's baseline (approvers and admins only)."""
    found = _ws(request).access.list_alerts(since=since, identity=caller)
    return [a.model_dump(mode="json") for a in found]
