"""``privet federate``: FedAvg of a privet recipe across parties, run by the coordinator."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from privet.dp import blocks as dp
from privet.errors import AlreadyExists, InvalidInput
from privet.federated import _coordinator
from privet.federated._apps import ServerResult, make_client_app, make_server_app
from privet.federated._cards import federation_facts
from privet.federated._extra import require_flower
from privet.federated._parties import Party
from privet.federated._recipe import initial_arrays, recipe_of
from privet.federated._requests import FederateRequest

if TYPE_CHECKING:
    from privet.core import Core

Progress = Callable[[str], None]


class FederatedRound(BaseModel):
    number: int
    seconds: float
    updates: int = Field(description="parties whose update is in the aggregate")
    failures: int


class FederatedModel(BaseModel):
    """A federated training run and the model the coordinator stored."""

    model: dp.ModelInfo
    run: str
    parties: list[str]
    mode: str
    secagg: bool
    epsilon_per_party: float | None
    rounds: list[FederatedRound]
    accuracy: float | None = Field(
        None, description="without DP: the parties' held-out accuracy, weighted by their rows"
    )
    parties_evaluated: int
    refusals: list[str] = Field(
        default_factory=list, description="why parties dropped out (their own sentences)"
    )
    seconds: float
    # The global weights after each round: for callers that check the aggregation themselves
    # (tests); never in JSON output.
    history: list[Any] = Field(default_factory=list, exclude=True, repr=False)


def federate(
    core: Core,
    parties: list[Party],
    request: FederateRequest,
    *,
    actor: str,
    progress: Progress | None = None,
    observe: Callable[[Any], Any] | None = None,
) -> FederatedModel:
    """Train ``request`` across ``parties`` and store the global model in ``core``."""
    require_flower()
    step = progress or (lambda _s: None)
    _check(core, parties, request)
    recipe = recipe_of(request)
    run = uuid.uuid4().hex
    result = ServerResult()
    server = make_server_app(
        request,
        parties=len(parties),
        initial=initial_arrays(request, recipe),
        result=result,
        progress=step,
        observe=observe,
    )
    client = make_client_app(parties, request, run)
    started = time.perf_counter()
    step(f"starting {len(parties)} parties ({request.mode})")
    if request.mode == "simulation":
        from privet.federated import _simulation

        _simulation.simulate(server, client, len(parties))
    else:
        from privet.federated import _deploy

        _deploy.run_deployed(request, parties, run=run, result=result, progress=step)
    seconds = time.perf_counter() - started
    if result.weights is None:
        why = f"; a party said: {result.reasons[0]}" if result.reasons else ""
        raise InvalidInput(
            f"no round of {request.rounds} aggregated an update: too few parties answered (each "
            f"party's log has its refusals){why}"
        )
    rounds = [FederatedRound(**vars(r)) for r in result.rounds]
    step("storing")
    info = _coordinator.store(
        core,
        request,
        recipe,
        result.weights,
        run=run,
        actor=actor,
        federation=federation_facts(
            request,
            run=run,
            parties=[p.name for p in parties],
            epsilons={p.name: request.epsilon for p in parties},
            rounds=[r.model_dump() for r in rounds],
        ),
        accuracy=result.accuracy,
    )
    return FederatedModel(
        model=info,
        run=run,
        parties=[p.name for p in parties],
        mode=request.mode,
        secagg=request.secagg is not None,
        epsilon_per_party=request.epsilon,
        rounds=rounds,
        accuracy=result.accuracy,
        parties_evaluated=result.evaluated,
        refusals=result.reasons,
        seconds=seconds,
        history=result.history,
    )


def _check(core: Core, parties: list[Party], request: FederateRequest) -> None:
    with core.reading() as session:
        if dp.name_taken(session, request.name):
            raise AlreadyExists(f"a model named {request.name!r} already exists", parameter="name")
    if request.secagg is not None and request.secagg.num_shares > len(parties):
        raise InvalidInput(
            f"SecAgg+ shares each party's key among {request.secagg.num_shares} parties, but "
            f"there are {len(parties)}; give num_shares at most {len(parties)}",
            parameter="secagg",
        )
    if request.min_parties is not None and request.min_parties > len(parties):
        raise InvalidInput(
            f"min_parties is {request.min_parties} but there are {len(parties)} parties",
            parameter="min_parties",
        )
