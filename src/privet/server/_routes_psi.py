"""Private set intersection: the peer's side of ``privet link --psi`` (openmined-psi)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from privet.server._auth import Caller
from privet.server._validate import NamePath, PurposeQuery, own_purpose
from privet.workspace import Workspace

router = APIRouter(prefix="/v1", tags=["datasets"])
OCTETS = "application/octet-stream"

ColumnQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=256,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="the column whose values are intersected",
    ),
]


@router.post(
    "/datasets/{name}/psi",
    summary="Private set intersection: answer a peer's request",
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {OCTETS: {"schema": {"type": "string", "format": "binary"}}},
            "description": "a privet-psi/1 request (openmined-psi requests, one per bucket)",
        }
    },
    responses={200: {"content": {OCTETS: {}}, "description": "the privet-psi/1 answer"}},
)
async def psi(
    request: Request, name: NamePath, column: ColumnQuery, purpose: PurposeQuery, caller: Caller
) -> Response:
    """Reads ``column`` of the dataset through the broker (policy, grant for ``purpose``, log
    entry) and answers with openmined-psi's setup message and response per bucket. This side
    learns how many values the requester sent, never the intersection; the run is logged
    with counts only."""
    own_purpose(purpose)
    # The body is read only now, after authentication: a stranger cannot make us take it in.
    body = await request.body()
    ws: Workspace = request.app.state.ws
    answer = await run_in_threadpool(
        ws.federated.psi_answer,
        name,
        body,
        column=column,
        purpose=purpose,
        identity=caller,
        channel=f"http:{request.state.request_id}",
    )
    return Response(answer, media_type=OCTETS)
