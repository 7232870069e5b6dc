"""Datasets: metadata, streamed governed reads, DP queries and budgets."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from itertools import chain
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from privet.catalog import DatasetInfo, DatasetSummary
from privet.dp import QueryRequest
from privet.errors import PolicyDenied
from privet.server._auth import Caller
from privet.server._validate import (
    MEDIA_TYPES,
    Format,
    NamePath,
    PurposeQuery,
    RefPath,
    View,
    negotiated,
    own_purpose,
)
from privet.workspace import Workspace

log = logging.getLogger("privet.server")
router = APIRouter(prefix="/v1", tags=["datasets"])


class BudgetSummary(BaseModel):
    dataset: str
    unit: str
    epsilon_limit: float
    delta: float
    epsilon_spent: float
    epsilon_remaining: float
    releases: int


def _ws(request: Request) -> Workspace:
    return request.app.state.ws


@router.get("/datasets", response_model=list[DatasetSummary], summary="List datasets")
def list_datasets(request: Request, caller: Caller) -> list[DatasetSummary]:
    return [d.summary() for d in _ws(request).datasets()]


@router.get("/datasets/{name}", response_model=DatasetInfo, summary="One dataset's metadata")
def show_dataset(request: Request, name: NamePath, caller: Caller) -> DatasetInfo:
    """Versions, columns and their classification; never a cell value."""
    return _ws(request).dataset(name)


@router.get(
    "/datasets/{ref}/rows",
    summary="A governed read, streamed",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {media: {} for media in MEDIA_TYPES.values()},
            "description": "the rows, as Parquet, CSV or an Arrow IPC stream",
        }
    },
)
def read_rows(
    request: Request,
    ref: RefPath,
    purpose: PurposeQuery,
    caller: Caller,
    view: Annotated[View, Query(description="which view of the data")] = View.raw,
    format: Annotated[  # noqa: A002
        Format | None,
        Query(description="parquet, csv or arrow (default: from Accept, else parquet)"),
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
    offset: Annotated[int, Query(ge=0, le=2**40, description="first row of a page")] = 0,
    limit: Annotated[
        int | None, Query(ge=1, le=2**40, description="rows in a page (default: all)")
    ] = None,
) -> StreamingResponse:
    """Checks policy and grant, logs the read once, then streams; an expired or revoked grant
    stops the stream mid-way (the connection is dropped, never a short file that looks whole).
    ``offset``/``limit`` read one page of the view (logged as a read of those rows).

    ``format=arrow`` (or ``Accept: application/vnd.apache.arrow.stream``) sends an Arrow IPC
    stream: record batches, each decodable as it arrives; a stream stopped early lacks the
    end-of-stream marker."""
    own_purpose(purpose)
    fmt = negotiated(format, accept)
    request_id = request.state.request_id
    chunks = _ws(request).access.stream(
        ref,
        identity=caller,
        view=view.value,
        purpose=purpose,
        fmt=fmt.value,
        batch_rows=request.app.state.batch_rows,
        channel=f"http:{request_id}",
        offset=offset,
        limit=limit,
    )
    # The first chunk runs the decision and commits the log entry: a refusal is still a
    # proper 403 here, before any header is sent.
    first = next(chunks, b"")
    name = ref.split("@")[0]
    return StreamingResponse(
        _watch(chain([first], chunks), request_id),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt.value}"'},
    )


def _watch(chunks: Iterator[bytes], request_id: str) -> Iterator[bytes]:
    try:
        yield from chunks
    except PolicyDenied:
        log.warning("request %s: grant ended mid-stream; stream stopped", request_id)
        raise


@router.post("/datasets/{ref}/query", summary="A differentially private statistic")
def dp_query(request: Request, ref: RefPath, body: QueryRequest, caller: Caller) -> dict[str, Any]:
    """Needs a policy rule and grant for the ``aggregate`` view (the broker decides and logs,
    refusals included); spends from the dataset's ledger. The body is the library's
    :class:`privet.dp.QueryRequest`."""
    own_purpose(body.purpose)
    result = _ws(request).dp.query(ref, body, actor=caller.name, identity=caller)
    return result.model_dump(mode="json")


@router.get("/datasets/{name}/budget", response_model=BudgetSummary, summary="Budget use")
def budget(request: Request, name: NamePath, caller: Caller) -> BudgetSummary:
    info = _ws(request).dp.budget(name)
    return BudgetSummary(
        dataset=info.dataset,
        unit=info.unit,
        epsilon_limit=info.epsilon_limit,
        delta=info.delta,
        epsilon_spent=info.epsilon_spent,
        epsilon_remaining=info.epsilon_remaining,
        releases=len(info.releases),
    )
