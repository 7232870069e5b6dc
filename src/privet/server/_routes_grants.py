"""Grants (request, approve, deny, revoke, list), alerts, and who the caller is."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from privet import policy
from privet.server._auth import Caller
from privet.server._errors import ApiError
from privet.server._validate import (
    DatasetName,
    GrantPath,
    GrantStatus,
    PurposeStr,
    Reason,
    View,
    own_purpose,
)

router = APIRouter(prefix="/v1", tags=["grants"])

MAX_SECONDS = 3650 * 86_400


class GrantRequest(BaseModel):
    dataset: DatasetName
    view: View
    purpose: PurposeStr
    duration_seconds: int = Field(ge=60, le=MAX_SECONDS, description="how long, once approved")
    reason: Reason


class Me(BaseModel):
    name: str
    roles: list[str]
    via: str


def _ws(request: Request) -> Any:
    return request.app.state.ws


def _out(grant: Any) -> dict[str, Any]:
    return grant.model_dump(mode="json")


@router.get("/me", response_model=Me, summary="Who the credentials belong to")
def me(caller: Caller) -> Me:
    return Me(name=caller.name, roles=sorted(caller.roles), via=caller.via)


@router.post("/grants", status_code=201, summary="Request a grant")
def request_grant(request: Request, body: GrantRequest, caller: Caller) -> dict[str, Any]:
    """Pending until the dataset owner or an approver (never the requester) approves it;
    active at once when the policy auto-approves (never for restricted datasets)."""
    own_purpose(body.purpose)
    grant = policy.request_grant(
        _ws(request),
        caller,
        dataset=body.dataset,
        view=body.view.value,
        purpose=body.purpose,
        duration=timedelta(seconds=body.duration_seconds),
        reason=body.reason,
    )
    return _out(grant)


@router.get("/grants", summary="Grants the caller may see")
def list_grants(
    request: Request,
    caller: Caller,
    status: Annotated[GrantStatus | None, Query()] = None,
) -> list[dict[str, Any]]:
    """The caller's own grants, and the grants of datasets the caller may approve."""
    found = policy.grants_visible_to(_ws(request), caller, status=status.value if status else None)
    return [_out(g) for g in found]


@router.post("/grants/{grant_id}/approve", summary="Approve a pending grant")
def approve(request: Request, grant_id: GrantPath, caller: Caller) -> dict[str, Any]:
    return _out(policy.approve_grant(_ws(request), grant_id, identity=caller))


@router.post("/grants/{grant_id}/deny", summary="Deny a pending grant")
def deny(request: Request, grant_id: GrantPath, caller: Caller) -> dict[str, Any]:
    return _out(policy.deny_grant(_ws(request), grant_id, identity=caller))


@router.post("/grants/{grant_id}/revoke", summary="Revoke a grant now")
def revoke(request: Request, grant_id: GrantPath, caller: Caller) -> dict[str, Any]:
    return _out(policy.revoke_grant(_ws(request), grant_id, identity=caller))


@router.get("/alerts", summary="Anomaly alerts", tags=["alerts"])
def alerts(
    request: Request,
    caller: Caller,
    since: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> list[dict[str, Any]]:
    """Alerts raised by reads far outside a user's baseline (approvers and admins only)."""
    _require_overseer(request, caller)
    return [a.model_dump(mode="json") for a in policy.list_alerts(_ws(request), since=since)]


def _require_overseer(request: Request, caller: Any) -> None:
    if not policy.may_oversee(_ws(request), caller):
        raise ApiError(403, "forbidden", "only approvers and administrators see alerts")
