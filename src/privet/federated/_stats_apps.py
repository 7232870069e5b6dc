"""The Flower apps of a joint statistic: a party's ClientApp and the coordinator's ServerApp.

Imported only when a query runs (it imports Flower). The ClientApp is pickled into Ray's
actor processes: it carries the parties (by closure) and picks its own by the SuperNode's
``partition-id``; the query itself comes from the coordinator in the fit instructions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from privet.federated._simulation import no_telemetry

no_telemetry()

from flwr.app import Context  # noqa: E402 - after telemetry is off
from flwr.client import Client, ClientApp, NumPyClient  # noqa: E402
from flwr.client.mod import secaggplus_mod  # noqa: E402
from flwr.common import (  # noqa: E402
    FitRes,
    NDArrays,
    Parameters,
    Scalar,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server import Grid, LegacyContext, ServerApp, ServerConfig  # noqa: E402
from flwr.server.client_proxy import ClientProxy  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow  # noqa: E402
from flwr.server.workflow.secure_aggregation.secaggplus_workflow import (  # noqa: E402
    WorkflowState,
)

from privet.federated._parties import Party  # noqa: E402
from privet.federated._stats import MODULUS, JointQuery, contribute  # noqa: E402

QUERY_KEY = "privet-joint-query"


class PartyClient(NumPyClient):
    """One party: its contribution is computed, charged and noised in its own workspace."""

    def __init__(self, party: Party, partition: int) -> None:
        self.party = party
        self.partition = partition

    def fit(
        self, parameters: NDArrays, config: dict[str, Scalar]
    ) -> tuple[NDArrays, int, dict[str, Scalar]]:
        query = JointQuery.model_validate_json(str(config[QUERY_KEY]))
        noise = None
        if query.seed is not None:
            from privet.dp.randomness import SecureRandom

            noise = SecureRandom(seed_of(query.seed, self.partition))
        share = contribute(self.party, query, noise=noise)
        # Weight 1 of max_weight 1: SecAgg+'s weighted average is then the plain mean.
        return [share.vector], 1, {"party": self.party.name, "epsilon": share.epsilon}


def seed_of(seed: int, partition: int) -> int:
    """The reproducible noise seed of one party (tests only)."""
    return seed * 1_000_003 + partition


def client_app(parties: list[Party]) -> ClientApp:
    def client_fn(context: Context) -> Client:
        index = int(context.node_config["partition-id"])
        return PartyClient(parties[index], index).to_client()

    return ClientApp(client_fn=client_fn, mods=[secaggplus_mod])


@dataclass
class Outcome:
    """What the coordinator learns: the mean of the noisy vectors, who took part."""

    average: np.ndarray | None = None
    parties: list[tuple[str, float]] = field(default_factory=list)


class _JointStrategy(FedAvg):
    def __init__(self, query: JointQuery, outcome: Outcome) -> None:
        super().__init__(
            fraction_fit=1.0,
            fraction_evaluate=0.0,
            min_fit_clients=query.parties,
            min_available_clients=query.parties,
            initial_parameters=ndarrays_to_parameters([np.zeros(query.size)]),
            on_fit_config_fn=lambda _round: {QUERY_KEY: query.model_dump_json()},
            accept_failures=True,
        )
        self.outcome = outcome

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[tuple[ClientProxy, FitRes] | BaseException],
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        if not results:
            return None, {}
        # SecAgg+ gave every result the same unmasked parameters: the weighted mean.
        (mean,) = parameters_to_ndarrays(results[0][1].parameters)
        self.outcome.average = mean
        self.outcome.parties = [
            (str(r.metrics["party"]), float(r.metrics["epsilon"])) for _, r in results
        ]
        return results[0][1].parameters, {}


class _Stages(SecAggPlusWorkflow):
    """SecAgg+ with a progress line per stage."""

    def __init__(self, progress: Callable[[str], None], **settings: Any) -> None:
        super().__init__(**settings)
        self._progress = progress

    def setup_stage(self, grid: Grid, context: LegacyContext, state: WorkflowState) -> bool:
        self._progress("SecAgg+ setup: parties send public keys")
        return super().setup_stage(grid, context, state)

    def share_keys_stage(self, grid: Grid, context: LegacyContext, state: WorkflowState) -> bool:
        self._progress("SecAgg+ share keys: encrypted key shares")
        return super().share_keys_stage(grid, context, state)

    def collect_masked_vectors_stage(
        self, grid: Grid, context: LegacyContext, state: WorkflowState
    ) -> bool:
        self._progress("SecAgg+ collect: parties read, charge their ledgers, send masked vectors")
        return super().collect_masked_vectors_stage(grid, context, state)

    def unmask_stage(self, grid: Grid, context: LegacyContext, state: WorkflowState) -> bool:
        self._progress("SecAgg+ unmask: key shares remove the masks from the sum")
        return super().unmask_stage(grid, context, state)


def server_app(
    query: JointQuery,
    outcome: Outcome,
    *,
    num_shares: int,
    threshold: int,
    progress: Callable[[str], None],
    grid_wrapper: Callable[[Any], Any] | None = None,
) -> ServerApp:
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        strategy = _JointStrategy(query, outcome)
        legacy = LegacyContext(
            context=context, config=ServerConfig(num_rounds=1), strategy=strategy
        )
        workflow = DefaultWorkflow(
            fit_workflow=_Stages(
                progress,
                num_shares=num_shares,
                reconstruction_threshold=threshold,
                max_weight=1.0,
                clipping_range=query.clipping_range,
                quantization_range=query.quantization_range,
                modulus_range=MODULUS,
            )
        )
        workflow(grid_wrapper(grid) if grid_wrapper is not None else grid, legacy)

    return app
