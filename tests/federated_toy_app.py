"""A toy Flower app for the process tests: shipped inside the app bundle, not imported by them.

Each client adds its party's ``value`` to the weights; a party whose ``gate`` file exists
refuses (as a revoked grant makes a broker refuse) and writes the refusal to its ``log``.
The server runs FedAvg (with SecAgg+ when the plan asks) and writes, per round, how many
parties' updates were aggregated and when the round started and ended.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
from flwr.app import Context
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.common import ndarrays_to_parameters
from flwr.server import Grid, LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow


def _note(party: dict, line: str) -> None:
    with open(party["log"], "a", encoding="utf-8") as out:
        out.write(line + "\n")


class Toy(NumPyClient):
    def __init__(self, party: dict) -> None:
        self.party = party

    def fit(self, parameters, config):  # type: ignore[no-untyped-def]
        return [p + float(self.party["value"]) for p in parameters], 1, {}


def client_fn(context: Context):  # type: ignore[no-untyped-def]
    party = json.loads(str(context.node_config["privet-party"]))
    if Path(party["gate"]).exists():
        _note(party, "refused")
        raise PermissionError(f"party {party['name']}: the grant was revoked")
    _note(party, "read")
    return Toy(party).to_client()


client_app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod])
# secaggplus_mod refuses messages without SecAgg+ configs: plain FedAvg needs its own app.
plain_client_app = ClientApp(client_fn=client_fn)
server_app = ServerApp()


class Counting(FedAvg):
    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.rounds: list[dict] = []

    def configure_fit(self, server_round, parameters, client_manager):  # type: ignore[no-untyped-def]
        self.rounds.append({"round": server_round, "start": time.monotonic()})
        return super().configure_fit(server_round, parameters, client_manager)

    def aggregate_fit(self, server_round, results, failures):  # type: ignore[no-untyped-def]
        self.rounds[-1].update(parties=len(results), end=time.monotonic())
        return super().aggregate_fit(server_round, results, failures)


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    plan = json.loads(str(context.run_config["privet-plan"]))
    strategy = Counting(
        fraction_fit=1.0,
        fraction_evaluate=0.0,
        min_fit_clients=plan["min_parties"],
        min_available_clients=plan["min_parties"],
        initial_parameters=ndarrays_to_parameters([np.zeros(3)]),
    )
    legacy = LegacyContext(
        context=context, config=ServerConfig(num_rounds=plan["rounds"]), strategy=strategy
    )
    if plan["secagg"]:
        fit = SecAggPlusWorkflow(
            num_shares=plan["num_shares"], reconstruction_threshold=plan["threshold"]
        )
        workflow = DefaultWorkflow(fit_workflow=fit)
    else:
        workflow = DefaultWorkflow()
    workflow(grid, legacy)
    record = legacy.state.array_records["parameters"]
    weights = [array.numpy() for array in record.values()]
    document = {"rounds": strategy.rounds, "weights": [w.tolist() for w in weights]}
    target = Path(str(context.run_config["privet-result"]))
    tmp = target.with_name(target.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "w", encoding="utf-8") as out:
        json.dump(document, out)
    os.replace(tmp, target)
