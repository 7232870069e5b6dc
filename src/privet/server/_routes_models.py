"""Trained models: the list and one model's card, governed like the rows it came from."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from privet.dp import ModelInfo
from privet.server._auth import Caller
from privet.server._validate import PURPOSE, NamePath, own_purpose
from privet.workspace import Workspace

router = APIRouter(prefix="/v1", tags=["models"])


def _ws(request: Request) -> Workspace:
    return request.app.state.ws


@router.get("/models", response_model=list[ModelInfo], summary="List models (public cards)")
def list_models(request: Request, caller: Caller) -> list[ModelInfo]:
    """Every card without exact counts or row bitmaps (see ``GET /v1/models/{name}``)."""
    return _ws(request).dp.models()


@router.get("/models/{name}", response_model=ModelInfo, summary="One model and its card")
def show_model(
    request: Request,
    name: NamePath,
    caller: Caller,
    purpose: Annotated[
        str | None,
        Query(
            pattern=PURPOSE,
            description="for a grantee of the dataset's raw rows: that grant's purpose, to "
            "get the full card (row bitmaps, exact counts)",
        ),
    ] = None,
) -> ModelInfo:
    """The full card for the dataset's owner or a grantee of its raw rows for ``purpose``
    (logged); the public card for everyone else; 403 if ``purpose`` gives no such access."""
    if purpose is not None:
        own_purpose(purpose)
    return _ws(request).dp.model(name, identity=caller, purpose=purpose)
