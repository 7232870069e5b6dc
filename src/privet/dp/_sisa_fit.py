"""Unlearnable (SISA) models from a broker read: links, frozen preprocessing, shards, card.

The ML is in :mod:`privet.dp._sisa`; this module turns a dataset version into its shards'
rows (the same way when training and when unlearning) and makes the model card.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from privet.catalog import SUBJECT_LINK, subject_links
from privet.dp import _features as feat
from privet.dp import _sisa
from privet.dp._card import ModelCard, Sisa, Training, make_card
from privet.dp._features import Feature
from privet.dp._model_store import Fitted
from privet.dp._rows import split_record
from privet.errors import InvalidInput

if TYPE_CHECKING:
    import torch

    from privet.core import Core
    from privet.dp._requests import TrainRequest

LINK = "__privet_sisa_link__"
ROW = "__privet_row__"  # the read's row position (as privet.dp._train names it)


def with_links(core: Core, frame: pl.DataFrame, subject: str) -> pl.DataFrame:
    """``frame`` with each row's subject link (carried over in a derived dataset, else the
    keyed link of its subject id); rows without a subject id cannot be erased by it, so
    they are left out."""
    links = frame[subject] if subject == SUBJECT_LINK else subject_links(core, frame[subject])
    return frame.with_columns(links.alias(LINK)).filter(pl.col(LINK).is_not_null())


@dataclass(frozen=True)
class Arranged:
    """A version's rows as the shards see them."""

    frame: pl.DataFrame
    x: torch.Tensor
    y: torch.Tensor
    outputs: int
    where: _sisa.Layout
    data: list[_sisa.ShardData]


def arrange(
    frame: pl.DataFrame,
    *,
    features: Sequence[Feature],
    target: Feature,
    task: str,
    shards: int,
    slices: int,
    test_fraction: float,
    keep: float,
    drop: Collection[str] = (),
) -> Arranged:
    """Encode ``frame`` (with links) and place each row; rows whose link is in ``drop`` go."""
    import torch

    if drop:
        frame = frame.filter(~pl.col(LINK).is_in(list(drop)))
    frame = frame.filter(pl.col(target.name).is_not_null())
    x = feat.encode(frame, features)
    y, outputs = feat.target_tensor(frame, target, task)
    usable = (y >= 0).numpy() if task == "classification" else torch.ones(len(y)).bool().numpy()
    links = frame[LINK].to_list()
    where = _sisa.layout(
        links,
        shards=shards,
        slices=slices,
        test_fraction=test_fraction,
        keep=keep,
        usable=usable,
    )
    data = [_sisa.shard_data(links, x, y, where, s) for s in range(shards)]
    return Arranged(frame=frame, x=x, y=y, outputs=outputs, where=where, data=data)


def target_feature(card: ModelCard) -> Feature:
    """The target's frozen domain as the card records it."""
    if card.task == "classification":
        return Feature(name=card.target, kind="categorical", levels=card.classes, source="data")
    low, high = card.target_bounds or [0.0, 1.0]
    return Feature(name=card.target, kind="numeric", lower=low, upper=high, source="data")


def fit(
    core: Core,
    request: TrainRequest,
    frame: pl.DataFrame,
    *,
    subject: str,
    plan: Sequence[Feature],
    target_spec: Feature,
    task: str,
    rows: int,
    read_rows: int,
    ref: str,
    dataset_id: str,
    version_id: str,
    actor: str,
    model_id: str,
    seed: int | None,
    notes: list[str],
    progress: Callable[[str], None],
) -> Fitted:
    """Train an unlearnable model of ``frame`` (a broker read, one row per row of the
    version, with ``ROW``); nothing is stored."""
    from privet.dp._train import _evaluate

    r = request
    frame = with_links(core, frame, subject)
    progress("preprocessing")
    crowd = _sisa.MIN_SUBJECTS
    learned = [feat.from_crowd(f, frame, LINK, crowd) if f.source == "dp" else f for f in plan]
    target = (
        feat.from_crowd(target_spec, frame, LINK, crowd)
        if target_spec.source == "dp"
        else target_spec
    )
    features = [f for f in learned if f.width > 0]
    dropped = [f.name for f in learned if f.width == 0]
    if dropped:
        notes.append(f"dropped features with no level held by {crowd} people: {', '.join(dropped)}")
    if target.kind == "categorical" and len(target.levels or []) < 2:
        raise InvalidInput(
            f"the target {target.name!r} has fewer than two classes held by {crowd} people "
            "each; an unlearnable model learns no class that few people decide",
            parameter="target",
        )
    if not features:
        raise InvalidInput(
            f"no feature has a level held by {crowd} people; give the levels in keys",
            parameter="keys",
        )
    n_train = max(1.0, rows * (1 - r.test_fraction))
    keep = 1.0 if r.train_rows is None else min(1.0, r.train_rows / n_train)
    arranged = arrange(
        frame,
        features=features,
        target=target,
        task=task,
        shards=r.shards,
        slices=r.slices,
        test_fraction=r.test_fraction,
        keep=keep,
    )
    from privet.dp import sgd

    lr = r.learning_rate or (0.1 if r.model == "logreg" else 0.01)
    recipe = _sisa.Recipe(
        architecture=r.model,
        task=task,
        inputs=arranged.x.shape[1],
        outputs=arranged.outputs,
        hidden_units=r.hidden_units if r.model == "mlp" else sgd.HIDDEN_UNITS,
        epochs=_sisa.stage_epochs(r.epochs, r.slices),
        batch_size=r.batch_size,
        learning_rate=lr,
        # Seeds the shards' own streams: the model carries no privacy claim to protect.
        seed=seed if seed is not None else secrets.randbits(62),
        shards=r.shards,
        slices=r.slices,
    )
    progress("training")
    shards, _ = _sisa.fit(recipe, arranged.data, progress=progress)
    progress("evaluating")
    return Fitted(
        weights=shards.dump(),
        card=card_of(
            recipe,
            shards,
            arranged,
            request=r,
            features=features,
            target=target,
            subject=subject,
            keep=keep,
            rows=rows,
            read_rows=read_rows,
            ref=ref,
            dataset_id=dataset_id,
            version_id=version_id,
            model_id=model_id,
            actor=actor,
            notes=notes,
            evaluate=_evaluate,
            now=core.now(),
        ),
    )


def card_of(
    recipe: _sisa.Recipe,
    shards: _sisa.Shards,
    arranged: Arranged,
    *,
    request: TrainRequest,
    features: Sequence[Feature],
    target: Feature,
    subject: str,
    keep: float,
    rows: int,
    read_rows: int,
    ref: str,
    dataset_id: str,
    version_id: str,
    model_id: str,
    actor: str,
    notes: list[str],
    evaluate: Callable[..., object],
    now: datetime,
    unlearned: int = 0,
) -> ModelCard:
    """The card of an unlearnable model: the single-model card plus its ``sisa`` section."""
    import torch

    from privet.dp._card import Evaluation

    where = arranged.where
    module = _sisa.ensemble(recipe, shards)
    test = torch.from_numpy(where.test)
    evaluation = evaluate(
        module,
        arranged.x[test],
        arranged.y[test],
        recipe.task,
        target,
        True,
        None,
        [],
        public_rows=rows,
    )
    assert isinstance(evaluation, Evaluation)
    card = make_card(
        name=request.name,
        model_id=model_id,
        kind=request.model,
        task=recipe.task,  # type: ignore[arg-type]  # checked by the request and train
        ref=ref,
        dataset_id=dataset_id,
        version_id=version_id,
        target=target,
        features=features,
        inputs=recipe.inputs,
        outputs=recipe.outputs,
        training=Training(
            epochs=request.epochs,
            batch_size=recipe.batch_size,
            learning_rate=recipe.learning_rate,
            optimizer="Adam",
            **({"hidden_units": recipe.hidden_units} if request.model == "mlp" else {}),
        ),
        split=split_record(arranged.frame[ROW], torch.from_numpy(where.train), test, read_rows),
        clip=request.clip,
        rate=0.0,
        steps=0,
        budget=None,
        charge=None,
        evaluation=evaluation,
        unit=subject,
        purpose=request.purpose,
        actor=actor,
        now=now,
        notes=[
            *notes,
            "unlearnable models are trained without DP for now: DP-SGD over shards needs "
            "its own accounting",
        ],
    )
    sisa = Sisa(
        kind="sisa",
        aggregation="mean of the shards' probabilities",
        shards=recipe.shards,
        slices=recipe.slices,
        epochs_per_slice=recipe.epochs,
        subject=subject,
        keep=keep,
        seed=recipe.seed,
        min_subjects=_sisa.MIN_SUBJECTS,
        shard_rows=[len(d.links) for d in arranged.data],
        shard_hashes=shards.hashes(),
        unlearned=unlearned,
    )
    stored = card.stored()
    stored["summary"] += (
        f" Unlearnable: a SISA ensemble of {recipe.shards} shards × {recipe.slices} slices; "
        "erasing a subject retrains only their shard, from the slice they first appear in."
    )
    return ModelCard.load(
        {**stored, "sisa": sisa.model_dump(mode="json"), "request": request.model_dump(mode="json")}
    )
