"""Forgetting in models: unlearn subjects from a SISA model, retrain a blocked one.

Both are the dataset owner's (like training without DP) and both replace the model's
object and card in place (same id and name) through ``_model_store.replace``, which logs
the change in the same transaction and then discards the old object.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection
from typing import TYPE_CHECKING

import polars as pl
from pydantic import BaseModel, Field

from privet import auditlog, policy
from privet.catalog import INTERNAL_PURPOSES, for_analysis, is_reserved, resolve
from privet.dp import _model_store as models
from privet.dp import _sisa
from privet.dp import _sisa_fit as sf
from privet.dp._card import ModelCard
from privet.dp._model_store import Fitted, ModelInfo, Stored
from privet.dp._requests import TrainRequest
from privet.errors import InvalidInput, PolicyDenied

if TYPE_CHECKING:
    from privet.core import Core


class UnlearnResult(BaseModel):
    """What unlearning retrained, and each shard's parameter hash before and after."""

    model: str
    shards: dict[int, int] = Field(description="each retrained shard: the first slice redone")
    slices_retrained: int = Field(description="stages retrained, over all shards")
    hashes_before: list[str]
    hashes_after: list[str]
    seconds: float


def _owned(core: Core, name: str, actor: str, doing: str) -> Stored:
    stored = models.read_stored(core, name)
    if actor != stored.owner:
        raise PolicyDenied(
            f"only the owner of the dataset of {name!r} ({stored.owner}) may {doing} it"
        )
    return stored


def _kept(card: ModelCard, new: ModelCard) -> ModelCard:
    """The new card keeps who made the model and when; earlier audits attacked the old
    weights, so they stay in the audit log, not on the card."""
    stored = {**new.stored(), "created_at": card.created_at, "created_by": card.created_by}
    stored.pop("audits", None)
    return ModelCard.load(stored)


def unlearn(
    core: Core, name: str, links: Collection[str], *, actor: str, erasure: str | None = None
) -> UnlearnResult:
    """Forget the people with these subject ``links`` in the SISA model ``name``.

    Re-reads the model's dataset version (already rewritten without them, or not: their
    rows are dropped either way), then retrains each shard whose rows changed from the
    first changed slice, resuming from the checkpoint before it. The result equals, bit
    for bit, the model trained from scratch on the remaining rows with the same seed.
    Calling it again changes nothing.

    Within an ``erasure`` (its request id; the erasure itself was authorised by the policy's
    erasure roles) the owner need not act, and the version is read as privet's own
    processing, so that a grant or a consent withdrawal does not change the rows it sees.
    """
    started = time.perf_counter()
    stored = (
        models.read_stored(core, name) if erasure else _owned(core, name, actor, "unlearn from")
    )
    card = stored.card
    if card.sisa is None or card.request is None:
        raise InvalidInput(
            f"model {name!r} is not unlearnable (train it with unlearnable); retrain it instead",
            parameter="name",
        )
    request = TrainRequest.model_validate(card.request)
    frame, read_rows, rows = _read(core, card, actor=actor, internal=erasure is not None)
    arranged = sf.arrange(
        frame,
        features=card.features,
        target=sf.target_feature(card),
        task=card.task,
        shards=card.sisa.shards,
        slices=card.sisa.slices,
        test_fraction=request.test_fraction,
        keep=card.sisa.keep,
        drop=set(links),
    )
    recipe = models.recipe_of(card)
    previous = _sisa.Shards.load(stored.weights, shards=recipe.shards, slices=recipe.slices)
    shards, retrained = _sisa.fit(recipe, arranged.data, previous=previous)
    from privet.dp._train import _evaluate

    new = sf.card_of(
        recipe,
        shards,
        arranged,
        request=request,
        features=card.features,
        target=sf.target_feature(card),
        subject=card.sisa.subject,
        keep=card.sisa.keep,
        rows=rows,
        read_rows=read_rows,
        ref=card.dataset,
        dataset_id=card.dataset_id,
        version_id=card.version_id,
        model_id=stored.id,
        actor=actor,
        notes=[n for n in card.notes if not n.startswith("unlearnable models are")],
        evaluate=_evaluate,
        now=core.now(),
        unlearned=card.sisa.unlearned + 1,
    )
    before, after = previous.hashes(), shards.hashes()
    seconds = time.perf_counter() - started
    entry = auditlog.events.model_unlearned(
        ts=core.now(),
        actor=actor,
        model=stored.id,
        version=card.version_id,
        shards=retrained,
        hashes_before=before,
        hashes_after=after,
        subjects=len(set(links)),
        seconds=seconds,
    )
    models.replace(
        core, stored.id, Fitted(weights=shards.dump(), card=_kept(card, new)), entry=entry
    )
    return UnlearnResult(
        model=name,
        shards=retrained,
        slices_retrained=sum(recipe.slices - start for start in retrained.values()),
        hashes_before=before,
        hashes_after=after,
        seconds=time.perf_counter() - started,
    )


def _read(
    core: Core, card: ModelCard, *, actor: str, internal: bool = False
) -> tuple[pl.DataFrame, int, int]:
    """The model's version as the broker serves it now (logged), with links; its read's
    row count and the catalog's."""
    assert card.sisa is not None
    with core.reading() as session:
        _, version = resolve(session, card.dataset)
        columns = [c for c in version.columns if not is_reserved(c.name)]
        rows = version.row_count
    read = policy.read(
        core,
        card.dataset,
        purpose=INTERNAL_PURPOSES[0] if internal else card.purpose,
        actor=actor,
        view="aggregate",
        channel="dp:unlearn",
    )
    subject = card.sisa.subject
    frame = read.frame.with_row_index(sf.ROW).select(
        [sf.ROW, *(f.name for f in card.features), card.target, subject]
    )
    frame = for_analysis(frame, columns)
    return sf.with_links(core, frame, subject), read.frame.height, rows


def retrain(core: Core, name: str, *, actor: str) -> ModelInfo:
    """Train model ``name`` again with its recorded request on its (rewritten) version; the
    new weights replace the old and a block for an erased subject is lifted."""
    from privet.dp import _train

    stored = _owned(core, name, actor, "retrain")
    card = stored.card
    if card.privacy.differentially_private:
        raise InvalidInput(
            f"model {name!r} is differentially private: retraining would spend budget again; "
            "train a new model instead",
            parameter="name",
        )
    if card.request is None:
        raise InvalidInput(
            f"model {name!r} was trained before privet recorded its request; train a new "
            "model instead",
            parameter="name",
        )
    request = TrainRequest.model_validate(card.request)
    fitted = _train.fit(
        core,
        card.dataset,
        request,
        actor=actor,
        model_id=stored.id,
        sisa_seed=card.sisa.seed if card.sisa else None,
    )
    entry = auditlog.events.model_retrained(
        ts=core.now(),
        actor=actor,
        model=stored.id,
        version=card.version_id,
        sha256_before=hashlib.sha256(stored.weights).hexdigest(),
        sha256_after=hashlib.sha256(fitted.weights).hexdigest(),
    )
    fitted = Fitted(weights=fitted.weights, card=_kept(card, fitted.card))
    models.replace(core, stored.id, fitted, entry=entry)
    return models.model_info(core, name, actor=actor)
