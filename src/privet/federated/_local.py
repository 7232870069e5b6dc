"""One party's side of a round: read through its own broker, train locally, charge its ledger.

The party re-reads its dataset every round (policy, grant and purpose checked, one log entry
in its own workspace), so a grant revoked between rounds keeps it out of the next one. With
DP, the whole run's DP-SGD (every local step of every round, Poisson-sampled and noised at
the party) is one release on the party's own ledger, recorded before the first update leaves;
each party's guarantee covers its own rows whatever the others do. Only weights leave.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from privet import policy
from privet.catalog import for_analysis, is_reserved, resolve
from privet.dp import blocks as dp
from privet.errors import InvalidInput
from privet.federated._parties import Party
from privet.federated._recipe import Arrays, Recipe, arrays_of, build, load_arrays
from privet.federated._requests import FederateRequest

if TYPE_CHECKING:
    import torch

    from privet.core import Core

CHANNEL = "federated:train"
MOMENTUM = 0.9
DP_CHANNEL = "dp:federated"
_ROW = "__privet_row__"


@dataclass
class PartyData:
    """What a party trains and scores on this round, and where it came from."""

    ref: str  # NAME@N, pinned at the first round
    dataset_id: str
    version_id: str
    rows: int  # the catalog's row count (public)
    subject: str | None
    x: torch.Tensor
    y: torch.Tensor
    train: torch.Tensor
    test: torch.Tensor
    split: dp.Split


@dataclass(frozen=True)
class Budget:
    """A party's DP-SGD for the whole run: one release on its ledger."""

    noise_multiplier: float
    sample_rate: float
    steps: int
    epsilon: float
    delta: float
    charge: dp.Charge


def read(
    core: Core, party: Party, request: FederateRequest, recipe: Recipe, *, run: str, ref: str
) -> PartyData:
    """The party's rows through its broker, encoded with the federation's recipe."""
    private = request.epsilon is not None
    with core.reading() as session:
        dataset, version = resolve(session, ref)
        columns = {c.name: c for c in version.columns if not is_reserved(c.name)}
        missing = [n for n in [*request.feature_names, request.target] if n not in columns]
        if missing:
            raise InvalidInput(
                f"party {party.name!r}: {dataset.name} has no column {missing[0][:80]!r}"
            )
        ledger = dp.ledger_row(session, dp.root_of(session, dataset), core.now())
        subject = dp.unit_for(dataset, version, ledger) if private else None
        fixed = f"{dataset.name}@{version.number}"
        ids = (dataset.id, version.id, version.row_count)
    released = policy.read(
        core,
        fixed,
        purpose=party.purpose,
        actor=party.actor,
        view="aggregate" if private else "raw",
        channel=DP_CHANNEL if private else CHANNEL,
    )
    keep = [_ROW, *request.feature_names, request.target, *([subject] if subject else [])]
    frame = released.frame.with_row_index(_ROW).select(keep)
    frame = for_analysis(frame, [columns[n] for n in keep if n in columns])
    if subject:
        # One row per subject, as in central DP-SGD: each person is then one example.
        frame = frame.unique(subject, keep="first", maintain_order=True)
    frame = frame.filter(pl.col(request.target).is_not_null())
    x = dp.encode(frame, recipe.features)
    y, _ = dp.target_tensor(frame, recipe.target, recipe.task)
    train, test = dp.split_rows(
        len(x),
        rows=ids[2],
        test_fraction=request.test_fraction,
        train_rows=None,
        random=_split_random(run, party.name),
    )
    if recipe.task == "classification":
        train = train[y[train] >= 0]
    split = dp.split_record(frame[_ROW], train, test, released.frame.height)
    return PartyData(fixed, ids[0], ids[1], ids[2], subject, x, y, train, test, split)


def _split_random(run: str, party: str) -> Any:
    """The same held-out rows every round of a run (positions only; not a DP mechanism)."""
    from privet.dp.randomness import SecureRandom

    seed = int.from_bytes(hashlib.sha256(f"{run}\x00{party}".encode()).digest()[:8], "big")
    return SecureRandom(seed)


def plan_budget(request: FederateRequest, rows: int, train_rows: int, delta: float) -> Budget:
    """σ such that every local step of every round composes to the party's ε at δ."""
    assert request.epsilon is not None
    expected = max(1, int(rows * (1 - request.test_fraction)))  # public, like central DP-SGD
    rate = min(1.0, request.batch_size / expected)
    steps = request.rounds * request.local_epochs * max(1, math.ceil(expected / request.batch_size))

    def make(sigma: float) -> list[dp.Charge]:
        return [dp.Charge(dp.dp_sgd(sigma, rate, steps))]

    try:
        sigma = dp.calibrate(make, request.epsilon, delta)
    except ValueError:
        raise InvalidInput(
            f"ε = {request.epsilon:g} is too small for {request.rounds} rounds of "
            f"{request.local_epochs} local epoch(s); give a larger epsilon or fewer rounds",
            parameter="epsilon",
        ) from None
    return Budget(sigma, rate, steps, request.epsilon, delta, make(sigma)[0])


def charge(
    core: Core, party: Party, data: PartyData, request: FederateRequest, *, run: str
) -> Budget:
    """Record the whole run's DP-SGD on the party's ledger (refused if it does not fit)."""
    with core.reading() as session:
        dataset, _ = resolve(session, data.ref)
        ledger = dp.ledger_row(session, dp.root_of(session, dataset), core.now())
        delta = dp.check_delta(request.delta, data.rows) or ledger.delta_limit
    budget = plan_budget(request, data.rows, len(data.train), delta)
    dp.record(
        core,
        data.ref,
        budget.charge,
        kind="federated",
        actor=party.actor,
        purpose=party.purpose,
        facts={"run": run, "rounds": request.rounds, "secagg": request.secagg is not None},
        requested_delta=budget.delta,
    )
    return budget


def local_update(
    data: PartyData,
    request: FederateRequest,
    recipe: Recipe,
    weights: Arrays,
    *,
    budget: Budget | None,
    round_: int,
    party_index: int,
) -> Arrays:
    """``request.local_epochs`` of (DP-)SGD from the global ``weights``; the new weights."""
    import torch

    from privet.dp import sgd
    from privet.dp.randomness import SecureRandom

    module = build(request, recipe)
    load_arrays(module, weights)
    schedule = sgd.Schedule(request.local_epochs, request.batch_size, learning_rate(request))

    def momentum_sgd(params: Any) -> torch.optim.Optimizer:
        # FedAvg's local SGD: each round starts afresh from the global weights. Adam here
        # drifted towards each party's own labels under a non-IID split (BENCHMARKS §15).
        return torch.optim.SGD(params, lr=schedule.learning_rate, momentum=MOMENTUM)

    seed = None if request.seed is None else request.seed * 1_000_003 + round_ * 1009 + party_index
    x, y = data.x[data.train], data.y[data.train]
    if budget is None:
        sgd.train_plain(
            module,
            x,
            y,
            task=recipe.task,
            outputs=recipe.outputs,
            schedule=schedule,
            generator=sgd.torch_generator(seed),
            optimizer=momentum_sgd(module.parameters()),
        )
    else:
        sgd.train_dp(
            module,
            x,
            y,
            task=recipe.task,
            outputs=recipe.outputs,
            schedule=schedule,
            sample_rate=budget.sample_rate,
            steps=budget.steps // request.rounds,
            noise_multiplier=budget.noise_multiplier,
            clip=request.clip,
            random=SecureRandom(seed),
            optimizer=momentum_sgd,
        )
    return arrays_of(module)


def learning_rate(request: FederateRequest) -> float:
    """Local SGD's rate (momentum 0.9): the request's, else 0.3 (logreg) or 0.05 (mlp)."""
    return request.learning_rate or (0.3 if request.model == "logreg" else 0.05)


def weight(data: PartyData, request: FederateRequest) -> int:
    """The party's FedAvg weight: its training rows, capped by SecAgg+'s ``max_weight``."""
    cap = int(request.secagg.max_weight) if request.secagg else None
    n = len(data.train)
    return min(n, cap) if cap else n


def accuracy(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, task: str) -> float:
    """Held-out accuracy (classification) or mean absolute error on the scaled target."""
    import torch

    if len(x) == 0:
        return math.nan
    with torch.no_grad():
        out = module(x)
    if task == "regression":
        return float((out.squeeze(1) - y).abs().mean())
    predicted = (out.squeeze(1) > 0).float() if out.shape[1] == 1 else out.argmax(1)
    return float((predicted == y).float().mean())
