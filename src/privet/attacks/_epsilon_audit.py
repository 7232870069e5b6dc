"""Empirical ε: a one-run canary audit (Steinke, Nasr and Jagielski 2023, "Privacy auditing
with one (1) training run").

m canaries are each put in the training set with probability 1/2, independently; the model is
trained once by the audited model's recipe; the auditor guesses "in" for the r₊ highest-scored
canaries and "out" for the r₋ lowest, and abstains on the rest. For an (ε, δ)-DP training the
number of correct guesses W among r = r₊ + r₋ satisfies (the paper's main theorem, with
q = e^ε / (1 + e^ε) and f(v) = P[Binomial(r, q) ≥ v]):

    P[W ≥ v] ≤ f(v) + 2·m·δ · max_{1 ≤ i ≤ m} (f(v − i) − f(v)) / i.

The lower bound on ε at confidence 1 − β is the largest ε whose bound on P[W ≥ v] is still
below β: a training claiming less would have produced v correct guesses with probability < β.
"""

from __future__ import annotations

import math
import secrets
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel
from scipy import stats

from privet.attacks import _membership, _reference
from privet.attacks._requests import EpsilonAuditRequest
from privet.errors import InvalidInput

if TYPE_CHECKING:
    from privet.core import Core


def p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """Upper bound on P[W ≥ v] for an (ε, δ)-DP training (the theorem above)."""
    if not 0 <= v <= r <= m:
        raise ValueError("need 0 ≤ v ≤ r ≤ m")
    q = 1.0 / (1.0 + math.exp(-epsilon))
    tail = float(stats.binom.sf(v - 1, r, q))  # f(v) = P[Bin(r, q) ≥ v]
    if delta == 0 or v == 0:
        return min(1.0, tail)
    i = np.arange(1, v + 1)
    # f(v − i) − f(v) = P[v − i ≤ Bin < v]; for i > v it is 1 − f(v) and only shrinks with i.
    between = np.cumsum(stats.binom.pmf(v - i, r, q))
    return min(1.0, tail + 2 * m * delta * float((between / i).max()))


def lower_bound(m: int, r: int, v: int, *, delta: float, confidence: float = 0.95) -> float:
    """The largest ε (to 1e-4) that ``v`` correct of ``r`` guesses rules out at ``confidence``."""
    beta = 1.0 - confidence
    if p_value(m, r, v, 0.0, delta) >= beta:
        return 0.0
    low, high = 0.0, 1.0
    while p_value(m, r, v, high, delta) < beta:
        low, high = high, high * 2
        if high > 200:
            return low
    while high - low > 1e-4:
        middle = (low + high) / 2
        if p_value(m, r, v, middle, delta) < beta:
            low = middle
        else:
            high = middle
    return low


class EpsilonAudit(BaseModel):
    model: str
    claimed_epsilon: float | None
    delta: float
    epsilon_lower_bound: float
    confidence: float
    canaries: int
    guesses: int
    correct: int
    defect: bool
    seconds: float


def audit(
    core: Core,
    name: str,
    request: EpsilonAuditRequest | None = None,
    *,
    actor: str,
    purpose: str | None = None,
) -> EpsilonAudit:
    """Train once with canaries by the model's recipe: a lower bound on its ε, on its card."""
    from privet.attacks._audit import record
    from privet.dp import sgd as _sgd

    started = time.perf_counter()
    request = request or EpsilonAuditRequest()
    canaries, confidence, seed = request.canaries, request.confidence, request.seed
    if not 0.5 <= confidence < 1:
        raise InvalidInput("confidence must be in [0.5, 1)", parameter="confidence")
    target = _reference.load(core, name, actor=actor, purpose=purpose)
    card = target.card
    if card["task"] != "classification":
        raise InvalidInput("the ε audit plants mislabeled canaries: it needs a classifier")
    rng = np.random.default_rng(secrets.randbits(63) if seed is None else seed)
    train = target.scorable_train
    others = np.setdiff1d(np.flatnonzero(target.valid), target.train)
    m = min(1000, len(others)) if canaries is None else canaries
    if canaries is None and m < 20:
        raise InvalidInput(
            "the dataset is too small for the ε audit: it needs at least 20 rows the model did "
            "not train on (as canaries)"
        )
    if m < 20 or m > len(others):
        raise InvalidInput(
            f"canaries must be between 20 and {len(others)} (rows the model did not train on)",
            parameter="canaries",
        )
    chosen = rng.choice(others, m, replace=False)
    y = target.y.clone()
    # Canaries are mislabeled rows: the model can only get them "right" by memorizing them.
    classes = max(card["outputs"], 2)
    shift = rng.integers(1, classes, m)
    if card["outputs"] == 1:
        y[chosen] = 1.0 - y[chosen]
    else:
        y[chosen] = (y[chosen] + torch_long(shift)) % classes
    inside = rng.random(m) < 0.5
    rows = np.r_[train, chosen[inside]]
    generator = _sgd.torch_generator(int(rng.integers(2**62)))
    model = _reference.train_like(card, target.x[rows], y[rows], generator)
    scores = _membership.margins(model, target.x[chosen], y[chosen], card["task"])
    k = max(1, m // 10)
    order = np.argsort(-scores, kind="stable")
    guessed_in, guessed_out = order[:k], order[-k:]
    correct = int(inside[guessed_in].sum() + (~inside[guessed_out]).sum())
    privacy = card["privacy"]
    claimed = privacy.get("epsilon") if privacy.get("differentially_private") else None
    delta = float(privacy.get("delta", 0.0)) if claimed is not None else 0.0
    bound = lower_bound(m, 2 * k, correct, delta=delta, confidence=confidence)
    result = EpsilonAudit(
        model=name,
        claimed_epsilon=claimed,
        delta=delta,
        epsilon_lower_bound=bound,
        confidence=confidence,
        canaries=m,
        guesses=2 * k,
        correct=correct,
        defect=claimed is not None and bound > claimed,
        seconds=time.perf_counter() - started,
    )
    record(core, name, actor=actor, kind="epsilon", result=result.model_dump())
    return result


def torch_long(values: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(values.astype(np.int64))
