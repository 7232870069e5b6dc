"""The owner's keep decisions: a derived dataset or model that outlives its source.

By default what was made from personal data goes with it: a derived dataset or a model
expires when its source version does, and a model trained on an erased subject is blocked.
The owner may record, with a reason, that one is kept because it no longer singles anyone
out (de-identified, or DP with an ε that bounds each person's influence).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from privet import auditlog
from privet.errors import InvalidInput, NotFound, PolicyDenied
from privet.schema import Dataset, DpModel, KeepDecision
from privet.timestamps import UtcDatetime

if TYPE_CHECKING:
    from privet.core import Core

Kind = Literal["dataset", "model"]


class KeepInfo(BaseModel):
    kind: Kind
    name: str
    reason: str
    decided_by: str
    decided_at: UtcDatetime


def set_keep(
    core: Core, name: str, *, keep: bool, reason: str | None, actor: str
) -> KeepInfo | None:
    """Record (``keep``) or withdraw the decision to keep dataset or model ``name``.

    Only for derived datasets and models, and only by the owner of their data.
    """
    if keep and not (reason and reason.strip()):
        raise InvalidInput("a decision to keep needs its reason", parameter="reason")
    with core.session() as session:
        kind, object_id, label, owner = _target(session, name)
        if owner != actor:
            raise PolicyDenied(f"only the owner of {label!r} ({owner}) may decide to keep it")
        row = session.get(KeepDecision, (kind, object_id))
        now = core.now()
        if keep:
            assert reason is not None
            if row is None:
                row = KeepDecision(kind=kind, object_id=object_id)
                session.add(row)
            row.reason, row.decided_by, row.decided_at = reason.strip(), actor, now
        elif row is not None:
            session.delete(row)
        entry = auditlog.events.keep_decision(
            ts=now, actor=actor, kind=kind, target=object_id, keep=keep
        )
        auditlog.append(session, [entry])
        session.commit()
        if not keep:
            return None
        assert row is not None
        return KeepInfo(
            kind=kind, name=name, reason=row.reason, decided_by=actor, decided_at=row.decided_at
        )


def kept(session: Session, kind: Kind, object_id: str) -> KeepDecision | None:
    return session.get(KeepDecision, (kind, object_id))


def _target(session: Session, name: str) -> tuple[Kind, str, str, str]:
    dataset = session.scalars(select(Dataset).where(Dataset.name == name)).first()
    if dataset is not None:
        if dataset.derived_from is None:
            raise InvalidInput(
                f"{name!r} is a source dataset: its retention is its own (only derived "
                "datasets and models can be kept beyond their source)",
                parameter="name",
            )
        return "dataset", dataset.id, name, dataset.owner
    model = session.scalars(select(DpModel).where(DpModel.name == name)).first()
    if model is None:
        raise NotFound(f"no dataset or model is named {name!r}")
    source = session.get(Dataset, model.dataset_id)
    return "model", model.id, name, source.owner if source else ""
