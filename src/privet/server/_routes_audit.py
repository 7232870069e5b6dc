"""The audit log: the latest signed checkpoint, new checkpoints, inclusion and consistency
proofs (anyone holding the verifier key can check them offline)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel

from privet.server._auth import Caller
from privet.server._validate import Note

router = APIRouter(prefix="/v1/log", tags=["audit log"])


class CheckpointOut(BaseModel):
    size: int
    root: str
    note: str
    verifier_key: str


class ConsistencyRequest(BaseModel):
    checkpoint: Note


def _checkpoint(ws: Any, row: Any) -> CheckpointOut:
    return CheckpointOut(
        size=row.size, root=bytes(row.root).hex(), note=row.note, verifier_key=ws.log.verifier_key
    )


@router.get("/checkpoint", response_model=CheckpointOut, summary="The latest signed checkpoint")
def latest(request: Request, caller: Caller) -> CheckpointOut:
    ws = request.app.state.ws
    return _checkpoint(ws, ws.log.latest_checkpoint())


@router.post(
    "/checkpoint", response_model=CheckpointOut, summary="Verify the log and sign a checkpoint"
)
def checkpoint(request: Request, caller: Caller) -> CheckpointOut:
    ws = request.app.state.ws
    return _checkpoint(ws, ws.log.checkpoint())


@router.get("/proofs/inclusion/{index}", summary="Inclusion proof of one entry")
def inclusion(
    request: Request, index: Annotated[int, Path(ge=0, le=2**62)], caller: Caller
) -> dict[str, Any]:
    return request.app.state.ws.log.prove_inclusion(index)


@router.post("/proofs/consistency", summary="Consistency proof from an older checkpoint")
def consistency(request: Request, body: ConsistencyRequest, caller: Caller) -> dict[str, Any]:
    return request.app.state.ws.log.prove_consistency(body.checkpoint)
