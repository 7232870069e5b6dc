"""Trained models at rest: encrypted weights in the object store, the card in the catalog.

Reading a model is governed like the rows it was made from: the full card (and, for a
model without DP, the weights) is for the dataset's owner or a grantee of its raw rows
for the purpose named; everyone else gets the public card. Every full read is logged.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import BaseModel, Field
from sqlalchemy import select

from privet import auditlog, lineage, policy
from privet.catalog import resolve
from privet.core import (
    decrypt_object,
    fresh_object_key,
    model_context,
    replace_object,
    stored_object,
)
from privet.dp import _ledger as led
from privet.dp._card import ModelCard
from privet.dp._features import encode
from privet.errors import AlreadyExists, Destroyed, IntegrityError, NotFound, PolicyDenied
from privet.schema import Dataset, DpModel
from privet.timestamps import UtcDatetime

if TYPE_CHECKING:
    import torch

    from privet.core import Core
    from privet.dp import _accounting as acc


class ModelInfo(BaseModel):
    name: str
    id: str
    dataset: str
    private: bool
    card: ModelCard
    stored_bytes: int
    created_at: UtcDatetime
    created_by: str
    blocked: str | None = Field(
        None, description="why it may not be used until retrained (contains-erased-subject)"
    )


@dataclass(frozen=True)
class Fitted:
    """A trained model before it is stored: its serialized weights and its card."""

    weights: bytes
    card: ModelCard
    charge: acc.Charge | None = None
    delta: float = 0.0


def weights_of(module: torch.nn.Module) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getvalue()


class TrainedModel:
    """A decrypted model with its preprocessing: ``predict(frame)`` gives labels or values."""

    def __init__(self, card: ModelCard, module: torch.nn.Module) -> None:
        self.card = card
        self.module = module
        self.features = list(card.features)

    def encode(self, frame: pl.DataFrame) -> torch.Tensor:
        return encode(frame, self.features)

    def predict(self, frame: pl.DataFrame) -> pl.Series:
        import torch

        with torch.no_grad():
            out = self.module(self.encode(frame))
        if self.card.task == "regression":
            assert self.card.target_bounds is not None
            low, high = self.card.target_bounds
            return pl.Series("prediction", (out.squeeze(1) * (high - low) + low).tolist())
        if out.shape[1] == 1:
            picked = (out.squeeze(1) > 0).long().tolist()
        else:
            picked = out.argmax(1).tolist()
        classes = self.card.classes or []
        return pl.Series("prediction", [classes[i] for i in picked])


def _object_key(dataset_id: str, model_id: str) -> str:
    return f"models/{dataset_id}/{model_id}.pt.tink"


def store(
    core: Core,
    weights: bytes,
    card: ModelCard,
    *,
    charge: acc.Charge | None,
    ref: str,
    purpose: str,
    actor: str,
    delta: float,
    charged: bool = False,
) -> ModelInfo:
    """Encrypt and store the weights; record the model, its release (if DP), audit entry and
    lineage in one transaction (the object is deleted if that transaction fails).

    ``charged``: a DP model whose release is already on the ledger (a federated party
    records its whole run before its first update leaves), so no ``charge`` is added here.
    """
    digest = hashlib.sha256(weights).hexdigest()
    model_id, dataset_id = card.id, card.dataset_id
    key = _object_key(dataset_id, model_id)
    with (
        stored_object(
            core, key, weights, dataset_id=dataset_id, context=model_context(model_id)
        ) as stored,
        core.session() as session,
    ):
        dataset, version = resolve(session, ref)
        now = core.now()
        if charge is not None:
            _, index, _ = led.record_release(
                core,
                session,
                root=led.root_of(session, dataset),
                dataset=dataset,
                version=version,
                kind="train",
                charge=charge,
                actor=actor,
                purpose=purpose,
                model_id=model_id,
                requested_delta=delta,
                facts={"model_name": card.model, "private": True},
            )
        else:
            (index,) = auditlog.append(
                session,
                [
                    auditlog.events.model_train(
                        ts=now,
                        actor=actor,
                        purpose=purpose,
                        dataset=dataset.id,
                        version=version.id,
                        model=model_id,
                    )
                ],
            )
        if session.scalars(select(DpModel).where(DpModel.name == card.model)).first():
            raise AlreadyExists(f"a model named {card.model!r} already exists", parameter="name")
        row = DpModel(
            id=model_id,
            name=card.model,
            dataset_id=dataset_id,
            version_id=version.id,
            object_key=key,
            key_id=stored.key_id,
            stored_bytes=stored.size,
            weights_sha256=digest,
            private=charge is not None or charged,
            card=card.stored(),
            created_at=now,
            created_by=actor,
        )
        stored.register(session)
        session.add(row)
        lineage.record(
            session,
            lineage.version_ref(version.id),
            f"model:{model_id}",
            "train",
            {
                "private": charge is not None or charged,
                "architecture": card.architecture,
                "epsilon": card.privacy.epsilon,
            },
            index,
            now,
        )
        session.commit()
        return _info(row, ref, full=True)


def name_taken(session: Any, name: str) -> bool:
    return session.scalars(select(DpModel).where(DpModel.name == name)).first() is not None


# -- reading ---------------------------------------------------------------------------------------


def _info(row: DpModel, ref: str, *, full: bool = False) -> ModelInfo:
    card = ModelCard.load(row.card)
    return ModelInfo(
        name=row.name,
        id=row.id,
        dataset=ref,
        private=row.private,
        card=card if full else card.public(),
        stored_bytes=row.stored_bytes,
        created_at=row.created_at,
        created_by=row.created_by,
        blocked=row.blocked,
    )


def _find(session: Any, name: str) -> DpModel:
    row = session.scalars(select(DpModel).where(DpModel.name == name)).first()
    if row is None:
        raise NotFound(f"no model named {name[:80]!r} in this workspace (train one first)")
    return row


def _row_access(
    session: Any,
    dataset: Dataset,
    identity: policy.Identity | None,
    purpose: str | None,
    now: datetime,
) -> policy.Decision:
    """May ``identity`` read the raw rows of ``dataset``: its owner, or an active grant of
    the raw view for ``purpose`` (an ungoverned workspace or internal purpose is no grant)."""
    if identity is not None and identity.name == dataset.owner:
        return policy.Decision(True, "owner", basis="owner")
    if identity is None or purpose is None:
        return policy.Decision(False, "no_purpose")
    decision = policy.decide(session, identity, dataset.name, "raw", purpose, now)
    if decision.basis != "grant":
        return policy.Decision(False, decision.reason if not decision.allowed else "no_grant")
    return decision


def _reader(
    core: Core, actor: str | None, identity: policy.Identity | None
) -> policy.Identity | None:
    if identity is not None:
        return identity
    return policy.local_identity(core, actor) if actor else None


def as_seen_by(core: Core, info: ModelInfo, *, actor: str, purpose: str) -> ModelInfo:
    """The trainer sees the full card only if they may read the rows it was made from."""
    identity = policy.local_identity(core, actor)
    with core.reading() as session:
        dataset = session.get(Dataset, info.card.dataset_id)
        access = _row_access(session, dataset, identity, purpose, core.now()) if dataset else None
    if access is not None and access.allowed:
        return info
    return info.model_copy(update={"card": info.card.public()})


def list_models(core: Core) -> list[ModelInfo]:
    """Every model with its public card (``model_info`` gives the full one to who may)."""
    with core.reading() as session:
        rows = list(session.scalars(select(DpModel).order_by(DpModel.name)))
        return [_info(r, r.card.get("dataset", "")) for r in rows]


def model_info(
    core: Core,
    name: str,
    *,
    actor: str | None = None,
    identity: policy.Identity | None = None,
    purpose: str | None = None,
) -> ModelInfo:
    """A model and its card: the full card for the dataset's owner, or for a reader whose
    active grant of the raw rows covers ``purpose`` (that read is logged); the public card
    for anyone else. Naming a ``purpose`` that gives no such access is refused."""
    reader = _reader(core, actor, identity)
    with core.reading() as session:
        row = _find(session, name)
        dataset = session.get(Dataset, row.dataset_id)
        if dataset is None:
            raise NotFound("the dataset of this model is missing from the catalog")
        access = _row_access(session, dataset, reader, purpose, core.now())
        info = _info(row, row.card.get("dataset", ""), full=access.allowed)
        dataset_name = dataset.name
    if not access.allowed:
        if purpose is not None:
            raise PolicyDenied(
                f"no active grant lets you read the raw rows of {dataset_name!r} for "
                f"{purpose!r}, so the full card of {name!r} is not yours to see; without "
                "a purpose you get its public card",
                parameter="purpose",
            )
        return info
    assert reader is not None  # _row_access allows no one without an identity
    with core.session() as session:
        auditlog.append(
            session,
            [
                auditlog.events.model_card(
                    ts=core.now(),
                    actor=reader.name,
                    model=info.id,
                    basis=access.basis,
                    grant=access.grant_id,
                    purpose=purpose,
                )
            ],
        )
        session.commit()
    return info


def refuse_blocked(row: DpModel) -> None:
    """A model holding an erased subject's influence is not used or exported until retrained;
    one retention destroyed (its source expired) is gone for good."""
    if row.blocked == "expired":
        raise Destroyed(f"model {row.name!r} was destroyed by retention (its source expired)")
    if row.blocked is not None:
        raise PolicyDenied(
            f"model {row.name!r} contains an erased subject's influence; its owner must "
            "retrain it before it is used again"
        )


def _weights(core: Core, session: Any, row: DpModel) -> bytes:
    """A model's decrypted object, checked against its recorded hash."""
    weights = decrypt_object(core, session, row)
    if hashlib.sha256(weights).hexdigest() != row.weights_sha256:
        raise IntegrityError("a stored model does not match its recorded hash")
    return weights


def load_model(core: Core, name: str, *, actor: str, purpose: str | None = None) -> TrainedModel:
    """Decrypt a model's weights (logged). A model without DP carries its training rows, so it
    is for its dataset's owner, or for an actor whose active grant lets them read those rows
    raw for ``purpose``; the same decides whether its card comes full or public. A model
    blocked for holding an erased subject's influence is refused until retrained."""
    identity = policy.local_identity(core, actor)
    with core.session() as session:
        row = _find(session, name)
        refuse_blocked(row)
        dataset = session.get(Dataset, row.dataset_id)
        if dataset is None:
            raise NotFound("the dataset of this model is missing from the catalog")
        access = _row_access(session, dataset, identity, purpose, core.now())
        if not row.private and not access.allowed:
            raise PolicyDenied(
                f"model {name!r} has no privacy guarantee; only the owner of "
                f"{dataset.name!r}, or someone granted its raw rows, may load it"
            )
        weights = _weights(core, session, row)
        auditlog.append(
            session,
            [
                auditlog.events.model_read(
                    ts=core.now(),
                    actor=actor,
                    model=row.id,
                    private=row.private,
                    card="full" if access.allowed else "public",
                )
            ],
        )
        session.commit()
        stored = ModelCard.load(row.card)
    card = stored if access.allowed else stored.public()
    return TrainedModel(card, module_of(stored, weights))


def module_of(card: ModelCard, weights: bytes) -> torch.nn.Module:
    """The model a stored object holds: one network, or a SISA ensemble of shards."""
    import torch

    from privet.dp import _sisa
    from privet.dp import sgd as _sgd

    if card.sisa is not None:
        shards = _sisa.Shards.load(weights, shards=card.sisa.shards, slices=card.sisa.slices)
        return _sisa.ensemble(recipe_of(card), shards)
    module = _sgd.build_model(
        card.architecture,
        card.inputs,
        card.outputs,
        card.training.hidden_units or _sgd.HIDDEN_UNITS,
    )
    module.load_state_dict(torch.load(io.BytesIO(weights), weights_only=True))
    module.eval()
    return module


def recipe_of(card: ModelCard) -> Any:
    """How an unlearnable model's shards train (a ``privet.dp._sisa.Recipe``)."""
    from privet.dp import _sisa
    from privet.dp import sgd as _sgd

    assert card.sisa is not None
    return _sisa.Recipe(
        architecture=card.architecture,
        task=card.task,
        inputs=card.inputs,
        outputs=card.outputs,
        hidden_units=card.training.hidden_units or _sgd.HIDDEN_UNITS,
        epochs=card.sisa.epochs_per_slice,
        batch_size=card.training.batch_size,
        learning_rate=card.training.learning_rate,
        seed=card.sisa.seed,
        shards=card.sisa.shards,
        slices=card.sisa.slices,
    )


# -- replacing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """A model's row as read for unlearning or retraining: its card and decrypted object."""

    id: str
    name: str
    dataset_id: str
    owner: str
    card: ModelCard
    weights: bytes
    blocked: str | None


def read_stored(core: Core, name: str) -> Stored:
    """A model's full card and decrypted object, for its owner's unlearning or retraining
    (the caller checks who may; nothing is logged here: the replacement is)."""
    with core.reading() as session:
        row = _find(session, name)
        dataset = session.get(Dataset, row.dataset_id)
        if dataset is None:
            raise NotFound("the dataset of this model is missing from the catalog")
        return Stored(
            id=row.id,
            name=row.name,
            dataset_id=row.dataset_id,
            owner=dataset.owner,
            card=ModelCard.load(row.card),
            weights=_weights(core, session, row),
            blocked=row.blocked,
        )


def replace(
    core: Core, model_id: str, fitted: Fitted, *, entry: auditlog.events.Entry
) -> ModelInfo:
    """New weights and card for an existing model: a new object under a new data key, the row
    pointed at it (and unblocked) with the audit ``entry`` in one transaction; the old
    object's key is destroyed in that transaction (its weights may hold an erased subject's
    influence) and the object deleted after it."""
    weights, card = fitted.weights, fitted.card
    digest = hashlib.sha256(weights).hexdigest()
    with core.reading() as session:
        current = session.get(DpModel, model_id)
        if current is None:
            raise NotFound("the model was deleted while it was being retrained")
        old_object = current.object_key
    infos: list[ModelInfo] = []

    def change(session: Any, row: Any, _replaced: Any) -> None:
        row.weights_sha256 = digest
        row.card = card.stored()
        row.blocked, row.blocked_at = None, None
        auditlog.append(session, [entry])
        infos.append(_info(row, card.dataset, full=True))

    replace_object(
        core,
        DpModel,
        model_id,
        weights,
        expected_object=old_object,
        new_object=fresh_object_key(old_object),
        change=change,
    )
    return infos[0]
