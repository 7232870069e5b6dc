"""Privacy KPIs (approvers and dataset owners): the figures now and their series over time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from privet.account import Kpis
from privet.server._auth import Caller
from privet.workspace import Workspace

router = APIRouter(prefix="/v1", tags=["kpis"])


def _ws(request: Request) -> Workspace:
    return request.app.state.ws


@router.get("/kpis", summary="Privacy KPIs over time")
def kpis(
    request: Request,
    caller: Caller,
    since: Annotated[
        datetime | None,
        Query(description="series and event counts from this time (default: the log's start)"),
    ] = None,
    bucket: Annotated[Literal["hour", "day", "week"], Query(description="series step")] = "day",
) -> Kpis:
    """Leakage (latest membership-inference AUC and TPR at 1% FPR per model), retention
    compliance, ε spent per ledger, grants outstanding and approval times, alerts, erasure
    requests and their age; each with its series per bucket (for those who may oversee
    access: approvers and dataset owners)."""
    return _ws(request).kpis(since=since, bucket=bucket, identity=caller)
