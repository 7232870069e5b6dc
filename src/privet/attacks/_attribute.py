"""Attribute inference: does the model help infer a sensitive column of its training records?

The attacker knows a record's other features (its quasi-identifiers among them) and its
label, and wants the sensitive column COL. Without the model, the best it can do is a
classifier of COL learned from population rows (never audited ones): π(v | other features,
label). With the model it also weighs each candidate v by how well the model explains the
known label: π(v | other features) · Pr_θ(label | other features, v) (the model-inversion
attack of Fredrikson et al. 2014, in the Bayes-optimal form of Yeom et al. 2018). The
audit reports both attackers' accuracy on the model's members and on held-out rows: the gain
on members beyond the gain on non-members is what the model leaks about its training set.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from pydantic import BaseModel

from privet.attacks import _membership, _reference
from privet.attacks._requests import AttributeAuditRequest
from privet.errors import InvalidInput

if TYPE_CHECKING:
    import torch

    from privet.core import Core

MAX_RECORDS = 2000


class AttributeAudit(BaseModel):
    model: str
    attribute: str
    candidates: int
    members: int
    non_members: int
    baseline_accuracy: dict[str, float]
    model_accuracy: dict[str, float]
    advantage: dict[str, float]
    seconds: float


def audit(
    core: Core,
    name: str,
    request: AttributeAuditRequest,
    *,
    actor: str,
    purpose: str | None = None,
) -> AttributeAudit:
    """Attribute inference of ``request.attribute`` with model ``name``, stored on its card."""
    from privet.attacks._audit import record

    started = time.perf_counter()
    column, seed = request.attribute, request.seed
    target = _reference.load(core, name, actor=actor, purpose=purpose)
    card, model = target.card, target.model
    feature = next((f for f in model.features if f.name == column), None)
    if feature is None:
        raise InvalidInput(
            f"{column[:80]!r} is not a feature of model {name!r}; name one of: "
            + ", ".join(f.name for f in model.features),
            parameter="attribute",
        )
    if feature.kind != "categorical" or not feature.levels:
        raise InvalidInput(
            f"{column[:80]!r} is numeric: the attack infers a categorical feature",
            parameter="attribute",
        )
    if card["task"] != "classification":
        raise InvalidInput("attribute inference here uses the model's class probabilities")
    rng = np.random.default_rng(secrets.randbits(63) if seed is None else seed)
    levels = [str(v) for v in feature.levels]
    truth = np.array([_index(levels, v) for v in target.frame[column].cast(pl.String).to_list()])
    usable = target.valid & (truth >= 0)
    train = target.train[usable[target.train]]
    test = target.test[usable[target.test]]
    size = min(MAX_RECORDS, len(train), len(test))
    if size < 10:
        raise InvalidInput("too few records with a known value of the attribute to audit")
    members = rng.choice(train, size, replace=False)
    non_members = rng.choice(test, size, replace=False)
    pool = np.setdiff1d(np.flatnonzero(usable), np.r_[target.train, target.test])
    if len(pool) < 50:
        # No unused rows: learn the prior from held-out rows that are not audited.
        pool = np.setdiff1d(test, non_members)
    if len(pool) < 50:
        raise InvalidInput("too few population rows to learn the attacker's prior")
    others = _other_columns(model, column)
    with_label = _prior(target, others, truth, pool, levels, rng, with_label=True)
    without_label = _prior(target, others, truth, pool, levels, rng, with_label=False)
    baseline, informed = {}, {}
    hits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for group, rows in (("members", members), ("non_members", non_members)):
        base_guess = with_label(rows).argmax(1)
        likelihood = _label_likelihood(target, rows, column, levels)
        model_guess = (np.log(without_label(rows) + 1e-12) + likelihood).argmax(1)
        b, m = base_guess == truth[rows], model_guess == truth[rows]
        baseline[group], informed[group] = float(b.mean()), float(m.mean())
        hits[group] = (b, m)
    gain = _gain_interval(hits, rng)
    result = AttributeAudit(
        model=name,
        attribute=column,
        candidates=len(levels),
        members=size,
        non_members=size,
        baseline_accuracy=baseline,
        model_accuracy=informed,
        advantage=gain,
        seconds=time.perf_counter() - started,
    )
    record(core, name, actor=actor, kind="attribute", result=result.model_dump())
    return result


def _index(levels: list[str], value: str | None) -> int:
    try:
        return levels.index(value) if value is not None else -1
    except ValueError:
        return -1


def _other_columns(model: Any, column: str) -> np.ndarray:
    """Input positions that do not encode ``column`` (what the attacker knows)."""
    keep: list[bool] = []
    for f in model.features:
        keep += [f.name != column] * f.width
    return np.array(keep, dtype=bool)


def _prior(
    target: _reference.Target,
    others: np.ndarray,
    truth: np.ndarray,
    pool: np.ndarray,
    levels: list[str],
    rng: np.random.Generator,
    *,
    with_label: bool,
) -> Any:
    """A softmax regression of the attribute on what the attacker knows, from pool rows."""
    import torch

    from privet.dp.sgd import few_threads

    def inputs(rows: np.ndarray) -> torch.Tensor:
        x = target.x[rows][:, torch.from_numpy(others)]
        if with_label:
            y = target.y[rows]
            known = (
                y[:, None]
                if y.is_floating_point()
                else torch.nn.functional.one_hot(y, target.card["outputs"])
            )
            x = torch.cat([x, known.float()], 1)
        return x

    x, y = inputs(pool), torch.from_numpy(truth[pool])
    torch.manual_seed(int(rng.integers(2**62)))
    layer = torch.nn.Linear(x.shape[1], len(levels))
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.05, foreach=False)
    with few_threads(layer):
        for _ in range(200):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(layer(x), y).backward()
            optimizer.step()

    def predict(rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(layer(inputs(rows)), 1).double().numpy()

    return predict


def _label_likelihood(
    target: _reference.Target, rows: np.ndarray, column: str, levels: list[str]
) -> np.ndarray:
    """log Pr_θ(known label | record with ``column`` set to each candidate), rows × levels."""
    frame = target.frame[rows]
    out = np.empty((len(rows), len(levels)))
    for j, level in enumerate(levels):
        changed = frame.with_columns(pl.lit(level).alias(column))
        x = target.model.encode(changed)
        phi = _membership.margins(target.model.module, x, target.y[rows], "classification")
        out[:, j] = _membership.log_prob(phi)
    return out


def _gain_interval(
    hits: dict[str, tuple[np.ndarray, np.ndarray]], rng: np.random.Generator, rounds: int = 500
) -> dict[str, float]:
    """The model's gain on members beyond its gain on non-members, with a 95% bootstrap CI."""

    def gain(mb: np.ndarray, mm: np.ndarray, nb: np.ndarray, nm: np.ndarray) -> float:
        return float((mm.mean() - mb.mean()) - (nm.mean() - nb.mean()))

    (mb, mm), (nb, nm) = hits["members"], hits["non_members"]
    draws = []
    for _ in range(rounds):
        i = rng.integers(0, len(mb), len(mb))
        j = rng.integers(0, len(nb), len(nb))
        draws.append(gain(mb[i], mm[i], nb[j], nm[j]))
    low, high = np.percentile(draws, [2.5, 97.5])
    return {"value": gain(mb, mm, nb, nm), "ci_low": float(low), "ci_high": float(high)}
