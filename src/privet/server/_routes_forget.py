"""Erasure requests (for the policy's erasure roles, e.g. a DPO) and retention due."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from privet.forget import EraseRequest
from privet.server._auth import Caller
from privet.workspace import Workspace

router = APIRouter(prefix="/v1", tags=["forget"])
RequestPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="erasure request id")]


def _ws(request: Request) -> Workspace:
    return request.app.state.ws


@router.post("/erasures", status_code=201, summary="Erase subjects everywhere")
def erase(request: Request, body: EraseRequest, caller: Caller) -> dict[str, Any]:
    """Erase the subjects from every version, derived and synthetic dataset and model (for a
    role in the policy's ``erasure_roles``). The answer holds the signed receipt and each
    subject's nonce, shown this once and kept nowhere."""
    result = _ws(request).forget.erase(body, identity=caller)
    return result.model_dump(mode="json")


@router.get("/erasures", summary="Erasure requests")
def erasures(request: Request, caller: Caller) -> list[dict[str, Any]]:
    """Every request with its status and deadline (erasure roles only)."""
    return [r.model_dump(mode="json") for r in _ws(request).forget.requests(identity=caller)]


class Receipt(BaseModel):
    note: str = Field(description="a C2SP signed note by the log's key")


@router.get("/erasures/{request_id}/receipt", summary="The signed receipt of an erasure")
def receipt(request: Request, request_id: RequestPath, caller: Caller) -> Receipt:
    """It verifies with the log's published verifier key (``GET /v1/log/checkpoint``)."""
    return Receipt(note=_ws(request).forget.receipt(request_id, identity=caller))


@router.get("/retention/due", summary="Versions expiring soon")
def retention_due(
    request: Request,
    caller: Caller,
    days: Annotated[float, Query(ge=0, le=3650)] = 30.0,
) -> list[dict[str, Any]]:
    """Versions that expire within ``days`` days (approvers, owners and erasure roles)."""
    due = _ws(request).forget.due(within_days=days, identity=caller)
    return [d.model_dump(mode="json") for d in due]
