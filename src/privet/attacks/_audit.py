"""Membership inference on a model privet trained, stored with its card."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from privet import auditlog
from privet.attacks import _ensemble, _lira, _membership, _reference, _report, _rmia
from privet.attacks._requests import MAX_REFERENCES, MembershipAuditRequest
from privet.errors import InvalidInput, NotFound
from privet.schema import DpModel

if TYPE_CHECKING:
    from privet.core import Core

ATTACKS = ("loss", "lira", "rmia")
EXPOSED = 10
Progress = Callable[[str], None]


class MembershipAudit(BaseModel):
    """What a membership attack achieved; record ids are row positions, never values."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    model: str
    attack: str
    auc: float
    tpr_at_fpr: dict[str, float]
    advantage: dict[str, float]
    members: int
    non_members: int
    reference_models: int
    reference_data: str | None  # "population" or "training"; None without reference models
    exposed_rows: list[int]
    plot: str | None
    seconds: float
    parameters: dict[str, Any]
    # Per-record scores, membership and row positions: for callers that check the figures
    # themselves (tests); never in JSON output or on the card.
    scores: np.ndarray | None = Field(default=None, exclude=True, repr=False)
    is_member: np.ndarray | None = Field(default=None, exclude=True, repr=False)
    rows: np.ndarray | None = Field(default=None, exclude=True, repr=False)


def membership(
    core: Core,
    name: str,
    request: MembershipAuditRequest | None = None,
    *,
    actor: str,
    purpose: str | None = None,
    progress: Progress | None = None,
) -> MembershipAudit:
    """Attack model ``name`` and store the result on its card, with an audit-log entry.

    Members and non-members are the model's own training split and held-out rows, or, when
    ``request`` names ``members`` and ``non_members`` files, those records (the loss attack).
    The dataset's owner may audit; anyone else names the ``purpose`` of an approved grant
    of the dataset's raw view (see ``_reference.load``).
    """
    request = request or MembershipAuditRequest()
    if request.from_files:
        from privet.attacks._external import membership_from_files

        return membership_from_files(core, name, request, actor=actor, purpose=purpose)
    step = progress or (lambda _s: None)
    started = time.perf_counter()
    attack, reference_data, seed = request.attack, request.reference_data, request.seed
    references = 0 if attack == "loss" else request.reference_models
    if attack != "loss" and not 1 <= references <= MAX_REFERENCES:
        raise InvalidInput(
            f"{attack} needs between 1 and {MAX_REFERENCES} reference models",
            parameter="reference_models",
        )
    step("reading")
    target = _reference.load(core, name, actor=actor, purpose=purpose)
    card = target.card
    if attack != "loss" and card["task"] != "classification":
        raise InvalidInput(
            f"{attack} attacks classifiers; use attack loss for a regression", parameter="attack"
        )
    rng = np.random.default_rng(secrets.randbits(63) if seed is None else seed)
    train_rows, test_rows = target.scorable_train, target.scorable_test
    size, per_model = _reference.plan_sizes(
        valid_train=len(train_rows),
        valid_test=len(test_rows),
        usable=int(target.valid.sum()),
        references=references,
        audit_size=request.audit_size,
        reference_data=reference_data,
    )
    members = rng.choice(train_rows, size, replace=False)
    non_members = rng.choice(test_rows, size, replace=False)
    audited = np.r_[members, non_members]
    is_member = np.r_[np.ones(size, dtype=bool), np.zeros(size, dtype=bool)]
    module, task = target.model.module, card["task"]
    x_target = _membership.margins(module, target.x[audited], target.y[audited], task)
    parameters: dict[str, Any] = {}
    if attack == "loss":
        scores = _membership.loss_scores(x_target)
    else:
        scores, parameters = _with_references(
            target, audited, x_target, attack, references, reference_data, per_model, rng, step
        )
    step("scoring")
    summary = _report.summarize(scores, is_member)
    exposed = _exposed(scores, is_member, audited)
    picture = None
    if request.plot is not None:
        title = f"{attack.upper()} on {name} ({references} ref.)" if references else name
        picture = str(_report.plot(scores, is_member, request.plot, title))
    result = MembershipAudit(
        model=name,
        attack=attack,
        auc=summary["auc"],
        tpr_at_fpr=summary["tpr_at_fpr"],
        advantage=summary["advantage"],
        members=summary["members"],
        non_members=summary["non_members"],
        reference_models=references,
        reference_data=reference_data if references else None,
        exposed_rows=exposed,
        plot=picture,
        seconds=time.perf_counter() - started,
        parameters=parameters,
        scores=scores,
        is_member=is_member,
        rows=audited,
    )
    record(core, name, actor=actor, kind="membership", result=result.model_dump())
    return result


def _with_references(
    target: _reference.Target,
    audited: np.ndarray,
    x_target: np.ndarray,
    attack: str,
    references: int,
    reference_data: str,
    per_model: int,
    rng: np.random.Generator,
    step: Progress,
) -> tuple[np.ndarray, dict[str, Any]]:
    import torch

    from privet.dp import sgd as _sgd

    card, task = target.card, target.card["task"]
    usable = np.flatnonzero(target.valid)
    pool = np.setdiff1d(usable, audited)
    x_refs, z_refs, z_in = [], [], []
    samples, x_out = _reference.reference_rows(
        reference_data=reference_data,
        references=references,
        train_rows=target.scorable_train,
        audited=audited,
        pool=pool,
        per_model=per_model,
        rng=rng,
    )
    generator = _sgd.torch_generator(int(rng.integers(2**62)))
    if _ensemble.supported(card):
        step(f"{references} reference model(s), trained together")
        rows = [torch.from_numpy(r) for r in samples]
        models = _ensemble.train(card, target.x, target.y, rows, generator)
    else:
        models = []
        for k, r in enumerate(samples):
            step(f"reference model {k + 1}/{references}")
            models.append(_reference.train_like(card, target.x[r], target.y[r], generator))
    for ref, rows_of in zip(models, samples, strict=True):
        x_refs.append(_membership.margins(ref, target.x[audited], target.y[audited], task))
        z_refs.append(_membership.margins(ref, target.x[pool], target.y[pool], task))
        z_in.append(np.isin(pool, rows_of))
    refs = np.stack(x_refs)
    if attack == "lira":
        return _lira.scores(x_target, refs, x_out), {}
    z_phi, z_out = np.stack(z_refs), ~np.stack(z_in)
    with torch.no_grad():
        z_target = _membership.margins(target.model.module, target.x[pool], target.y[pool], task)
    if references > 1:
        a = _rmia.tune_a(z_phi, z_out)
    else:
        # One reference model: attack it with the target as its OUT reference, on population
        # rows the target never trained on (their membership in the reference is known).
        fresh = ~np.isin(pool, target.train)
        a = DEFAULT_A
        if fresh.sum() >= 100:
            pair = np.stack([z_phi[0][fresh], z_target[fresh]])
            a = _rmia.tune_a(pair, np.stack([z_out[0][fresh], np.ones(fresh.sum(), dtype=bool)]))
    return _rmia.scores(x_target, refs, x_out, z_target, z_phi, z_out, a=a), {
        "a": a,
        "gamma": 1.0,
    }


# RMIA's offline a when it cannot be tuned: ML Privacy Meter's default.
DEFAULT_A = 0.3


def _exposed(scores: np.ndarray, is_member: np.ndarray, rows: np.ndarray) -> list[int]:
    """Members the attack singles out at ≤ 1% FPR (most confident first), as row positions."""
    negatives = np.sort(scores[~is_member])[::-1]
    if len(negatives) == 0:
        return []
    cut = negatives[max(0, int(np.floor(0.01 * len(negatives))) - 1)]
    picked = np.flatnonzero(is_member & (scores > cut))
    order = picked[np.argsort(-scores[picked], kind="stable")][:EXPOSED]
    return [int(r) for r in rows[order]]


def record(core: Core, name: str, *, actor: str, kind: str, result: dict[str, Any]) -> None:
    """Append an audit's result to the model card, with an audit-log entry, in one transaction."""
    with core.session() as session:
        row = session.scalars(select(DpModel).where(DpModel.name == name)).first()
        if row is None:
            raise NotFound(f"no model named {name[:80]!r} in this workspace")
        now = core.now()
        facts = {k: v for k, v in result.items() if k not in ("exposed_rows", "plot", "model")}
        entry = {"kind": kind, "at": now.isoformat(), "by": actor, **facts}
        audited = auditlog.events.model_audit(
            ts=now, actor=actor, model=row.id, kind=kind, measures=facts
        )
        (index,) = auditlog.append(session, [audited])
        # A new dict: the JSON column only notices assignment, not in-place mutation.
        row.card = {**row.card, "audits": [*row.card.get("audits", []), {**entry, "log": index}]}
        session.commit()
