"""The Flower apps: a party's ClientApp and the coordinator's ServerApp.

The ClientApp wraps privet's party logic (:mod:`privet.federated._local`) in a NumPyClient,
behind Flower's ``secaggplus_mod`` when SecAgg+ is on; the ServerApp runs FedAvg through
Flower's ``DefaultWorkflow``, with ``SecAggPlusWorkflow`` as its fit stage under SecAgg+, so
the coordinator only ever holds the sum of masked, quantized updates. Nothing here
implements a protocol: Flower does.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from privet.federated import _local
from privet.federated._parties import Party
from privet.federated._recipe import Arrays, recipe_of
from privet.federated._requests import FederateRequest

if TYPE_CHECKING:
    from flwr.app import Context
    from flwr.client import ClientApp
    from flwr.server import ServerApp

Progress = Callable[[str], None]
_STATE = "privet-party"


# -- the party ------------------------------------------------------------------------------------


def make_client_app(
    parties: list[Party] | None,
    request: FederateRequest | None,
    run: str | None,
    *,
    on_stored: Callable[[str, str], None] | None = None,
) -> ClientApp:
    """A party's ClientApp. In a simulation ``parties`` lists them all (by partition id);
    deployed, each SuperNode names its own party in ``node_config["privet-party"]`` and
    the request and run id come in the run config."""
    from flwr.client import ClientApp

    def client_fn(context: Context) -> Any:
        party, index = _party_of(context, parties)
        req = request or FederateRequest.model_validate_json(str(context.run_config["privet-plan"]))
        run_id = run or str(context.run_config["privet-run"])
        return _client_class()(party, index, req, run_id, context).to_client()

    secagg = request is None or request.secagg is not None
    return ClientApp(client_fn=client_fn, mods=[_secagg_mod] if secagg else [])


def _secagg_mod(msg: Any, context: Context, call_next: Any) -> Any:
    """Flower's ``secaggplus_mod`` on the messages of a SecAgg+ round; a deployed party
    built without the request passes plain FedAvg messages straight through."""
    from flwr.client.mod import secaggplus_mod
    from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS

    if RECORD_KEY_CONFIGS in msg.content.config_records:
        return secaggplus_mod(msg, context, call_next)
    return call_next(msg, context)


def _party_of(context: Context, parties: list[Party] | None) -> tuple[Party, int]:
    if "privet-party" in context.node_config:
        party = Party.model_validate_json(str(context.node_config["privet-party"]))
        return party, int(context.node_config.get("privet-index", 0))
    assert parties is not None, "a simulated party needs the parties list"
    index = int(context.node_config["partition-id"])
    return parties[index], index


@functools.cache
def _client_class() -> type:
    """The party as Flower's NumPyClient (made on first use: Flower is an optional extra)."""
    from flwr.client import NumPyClient

    class PartyClient(_PartyClient, NumPyClient):
        pass

    return PartyClient


class _PartyClient:
    """A party: each fit re-reads through the broker and trains from the global weights."""

    def __init__(
        self, party: Party, index: int, request: FederateRequest, run: str, context: Context
    ) -> None:
        self.party, self.index, self.request, self.run = party, index, request, run
        self.recipe = recipe_of(request)
        self.ctx = context

    def _remembered(self) -> dict[str, Any]:
        from flwr.app import ConfigRecord

        if _STATE not in self.ctx.state:
            self.ctx.state[_STATE] = ConfigRecord({"json": "{}"})
        return dict(json.loads(str(self.ctx.state[_STATE]["json"])))

    def _remember(self, facts: dict[str, Any]) -> None:
        from flwr.app import ConfigRecord

        self.ctx.state[_STATE] = ConfigRecord({"json": json.dumps(facts)})

    def _data(self, core: Any) -> _local.PartyData:
        facts = self._remembered()
        data = _local.read(
            core,
            self.party,
            self.request,
            self.recipe,
            run=self.run,
            ref=facts.get("ref", self.party.dataset),
        )
        if "ref" not in facts:
            self._remember({**facts, "ref": data.ref})
        return data

    def _budget(self, core: Any, data: _local.PartyData) -> _local.Budget | None:
        if self.request.epsilon is None:
            return None
        facts = self._remembered()
        if "sigma" in facts:
            return _local.Budget(
                facts["sigma"],
                facts["rate"],
                facts["steps"],
                facts["epsilon"],
                facts["delta"],
                _local.dp.Charge(_local.dp.dp_sgd(facts["sigma"], facts["rate"], facts["steps"])),
            )
        budget = _local.charge(core, self.party, data, self.request, run=self.run)
        self._remember(
            {
                **facts,
                "sigma": budget.noise_multiplier,
                "rate": budget.sample_rate,
                "steps": budget.steps,
                "epsilon": budget.epsilon,
                "delta": budget.delta,
            }
        )
        return budget

    def fit(self, parameters: Arrays, config: dict[str, Any]) -> tuple[Arrays, int, dict]:
        from privet.core import open_folder

        round_ = int(config.get("round", 1))
        core = open_folder(self.party.workspace)
        try:
            data = self._data(core)
            budget = self._budget(core, data)
            updated = _local.local_update(
                data,
                self.request,
                self.recipe,
                parameters,
                budget=budget,
                round_=round_,
                party_index=self.index,
            )
            return updated, _local.weight(data, self.request), {}
        finally:
            core.close()

    def evaluate(self, parameters: Arrays, config: dict[str, Any]) -> tuple[float, int, dict]:
        """After the last round: keep the global model in the party's own model store (so
        its owner can audit it on its own rows) and score it on the held-out rows."""
        from privet.core import open_folder
        from privet.federated import _party_copy

        core = open_folder(self.party.workspace)
        try:
            data = self._data(core)
            budget = self._budget(core, data) if self.request.epsilon is not None else None
            score = _party_copy.store(
                core,
                self.party,
                data,
                self.request,
                self.recipe,
                parameters,
                budget=budget,
                run=self.run,
                model=str(config.get("model", self.request.name)),
            )
        finally:
            core.close()
        if self.request.epsilon is not None:
            return 0.0, 1, {}  # an exact score of DP-trained rows would not be DP: kept local
        return 1.0 - score, len(data.test), {"accuracy": score}


# -- the coordinator ------------------------------------------------------------------------------


@dataclass
class RoundFacts:
    number: int
    seconds: float
    updates: int  # parties whose update is in the aggregate
    failures: int


@dataclass
class ServerResult:
    weights: Arrays | None = None
    rounds: list[RoundFacts] = field(default_factory=list)
    history: list[Arrays] = field(default_factory=list)  # the global weights after each round
    accuracy: float | None = None  # without DP: the parties' held-out accuracy, weighted
    evaluated: int = 0
    reasons: list[str] = field(default_factory=list)  # why parties failed (privet's messages)


def make_server_app(
    request: FederateRequest,
    *,
    parties: int,
    initial: Arrays,
    result: ServerResult,
    progress: Progress | None = None,
    observe: Callable[[Any], Any] | None = None,
) -> ServerApp:
    """The coordinator's ServerApp (see :func:`fedavg_main`)."""
    from flwr.server import ServerApp

    app = ServerApp()
    app.main()(
        fedavg_main(
            request,
            parties=parties,
            initial=initial,
            result=result,
            progress=progress,
            observe=observe,
        )
    )
    return app


def fedavg_main(
    request: FederateRequest,
    *,
    parties: int,
    initial: Arrays,
    result: ServerResult,
    progress: Progress | None = None,
    observe: Callable[[Any], Any] | None = None,
) -> Callable[[Any, Any], None]:
    """FedAvg over ``parties``, with SecAgg+ when asked; the result lands in ``result``.

    ``observe`` wraps the Grid the workflow talks through (tests record what the
    coordinator receives).
    """

    def main(grid: Any, context: Context) -> None:
        from flwr.server import LegacyContext, ServerConfig
        from flwr.server.workflow import DefaultWorkflow

        strategy = _strategy(request, parties, initial, result, progress)
        legacy = LegacyContext(
            context=context,
            config=ServerConfig(num_rounds=request.rounds),
            strategy=strategy,
        )
        workflow = DefaultWorkflow(fit_workflow=secagg_workflow(request))
        heard: Any = _Refusals(grid, result)
        workflow(observe(heard) if observe else heard, legacy)

    return main


def secagg_workflow(request: FederateRequest) -> Any:
    """Flower's SecAggPlusWorkflow with the request's settings (None without SecAgg+)."""
    if request.secagg is None:
        return None
    from flwr.server.workflow import SecAggPlusWorkflow

    s = request.secagg
    return SecAggPlusWorkflow(
        num_shares=s.num_shares,
        reconstruction_threshold=s.threshold,
        max_weight=s.max_weight,
        clipping_range=s.clipping_range,
        quantization_range=s.quantization_range,
        timeout=s.timeout,
    )


class _Refusals:
    """The Grid the workflow talks through, keeping why a party's reply is an error (SecAgg+
    halts a round without handing its failures to the strategy)."""

    def __init__(self, grid: Any, result: ServerResult) -> None:
        self._grid, self._result = grid, result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)

    def send_and_receive(self, messages: Any, *, timeout: float | None = None) -> Any:
        replies = list(self._grid.send_and_receive(messages, timeout=timeout))
        for reply in replies:
            if reply.has_error():
                reason = _reason(reply.error.reason)
                if reason and reason not in self._result.reasons:
                    self._result.reasons.append(reason)
        return replies


def _reason(text: str) -> str:
    """A failed party's sentence (privet's own: never a value), without Flower's wrapping:
    "...Exception ClientAppException occurred. Message: <ours>'>')"."""
    inner = text.rsplit("Message: ", 1)[-1].strip().rstrip("\\'\">) ")
    return inner.replace("\\'", "'")[:300]


def min_parties(request: FederateRequest, parties: int) -> int:
    if request.min_parties is not None:
        return min(request.min_parties, parties)
    return parties


def _strategy(
    request: FederateRequest,
    parties: int,
    initial: Arrays,
    result: ServerResult,
    progress: Progress | None,
) -> Any:
    from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
    from flwr.server.strategy import FedAvg

    step = progress or (lambda _s: None)
    needed = min_parties(request, parties)

    class Strategy(FedAvg):
        started = 0.0

        def configure_fit(self, server_round: int, parameters: Any, client_manager: Any) -> Any:
            self.started = time.perf_counter()
            return super().configure_fit(server_round, parameters, client_manager)

        def aggregate_fit(self, server_round: int, results: Any, failures: Any) -> Any:
            aggregated, metrics = super().aggregate_fit(server_round, results, failures)
            seconds = time.perf_counter() - self.started
            if aggregated is None:
                step(f"round {server_round}/{request.rounds}: no update ({len(failures)} failed)")
                return aggregated, metrics
            result.weights = parameters_to_ndarrays(aggregated)
            result.history.append(result.weights)
            result.rounds.append(RoundFacts(server_round, seconds, len(results), len(failures)))
            step(
                f"round {server_round}/{request.rounds}: {seconds:.2f} s"
                + (f", {len(failures)} failed" if failures else "")
            )
            return aggregated, metrics

        def configure_evaluate(
            self, server_round: int, parameters: Any, client_manager: Any
        ) -> Any:
            if server_round < request.rounds:
                return []
            return super().configure_evaluate(server_round, parameters, client_manager)

        def aggregate_evaluate(self, server_round: int, results: Any, failures: Any) -> Any:
            scored = [r for _, r in results if "accuracy" in r.metrics]
            total = sum(r.num_examples for r in scored)
            if total:
                result.accuracy = (
                    sum(r.metrics["accuracy"] * r.num_examples for r in scored) / total
                )
            result.evaluated = len(results)
            return None, {}

    return Strategy(
        fraction_fit=1.0,
        fraction_evaluate=1.0,
        min_fit_clients=needed,
        min_evaluate_clients=1,
        min_available_clients=parties,
        accept_failures=True,
        initial_parameters=ndarrays_to_parameters(initial),
        on_fit_config_fn=lambda r: {"round": r},
        fit_metrics_aggregation_fn=lambda _metrics: {},
        on_evaluate_config_fn=lambda r: {"round": r, "model": request.name},
    )
