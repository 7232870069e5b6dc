"""Account over HTTP, for those who may oversee access (approvers, dataset owners): contain a
user's account, and read the privacy impact assessment of a dataset or model."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from privet.account import Assessment
from privet.policy import Containment
from privet.server._auth import Caller
from privet.server._validate import NAME, USER
from privet.workspace import Workspace

router = APIRouter(prefix="/v1")


def _ws(request: Request) -> Workspace:
    return request.app.state.ws


class ContainBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_.:-]{0,63}$",
        description="a short word (incident, stolen-token…): the log holds no free text",
    )


@router.post("/users/{name}/contain", summary="Contain an account now", tags=["incidents"])
def contain(
    request: Request,
    name: Annotated[str, Path(pattern=USER, description="the user to contain")],
    body: ContainBody,
    caller: Caller,
) -> Containment:
    """Revoke, at once and in one transaction, every active API token and every active or
    pending grant of user ``name``; their next request is refused. Approvers and dataset
    owners only; logged (``incident.contain``) with the caller as the actor."""
    return _ws(request).access.contain(name, reason=body.reason, identity=caller)


_REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the assessment: self-contained HTML, or its JSON with format=json",
        "content": {
            "text/html": {"schema": {"type": "string"}},
        },
    }
}


@router.get(
    "/reports/{name}",
    summary="The privacy impact assessment of a dataset or model",
    tags=["reports"],
    response_model=Assessment,
    responses=_REPORT_RESPONSES,
)
def report(
    request: Request,
    name: Annotated[str, Path(pattern=NAME, description="dataset (else model) name")],
    caller: Caller,
    format: Annotated[
        Literal["html", "json"] | None,
        Query(description="html (default) or json; else from the Accept header"),
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """The GDPR Art. 35(7) assessment of dataset ``name`` (or of model ``name`` when no
    dataset has it), filled from what the workspace records and measures: one HTML page with
    inline CSS and no script, or its JSON (``format=json`` or ``Accept: application/json``).
    Approvers and dataset owners only; measuring the risk is a logged read."""
    ws = _ws(request)
    found = ws.report.assess(name, identity=caller)
    wants = accept or ""
    as_json = format == "json" or (
        format is None and "application/json" in wants and "text/html" not in wants
    )
    if as_json:
        return JSONResponse(found.model_dump(mode="json"))
    return HTMLResponse(ws.report.html(found))
