"""The Flower apps as a deployed run loads them (``module:attribute`` in the app bundle).

A SuperNode names its party in its node config (``privet-party``: a Party as JSON); the run
config carries the request (``privet-plan``), the run id (``privet-run``), the number of
parties (``privet-parties``) and where the ServerApp leaves its result (``privet-result``:
a file written atomically, mode 0600, that the coordinator reads and deletes) and its
progress (``privet-result`` + ``.progress``, one line per round).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from privet.federated._apps import ServerResult, fedavg_main, make_client_app
from privet.federated._recipe import initial_arrays, recipe_of
from privet.federated._requests import FederateRequest
from privet.tables import atomic_file


def _server() -> Any:
    from flwr.server import Grid, ServerApp

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Any) -> None:
        config = context.run_config
        request = FederateRequest.model_validate_json(str(config["privet-plan"]))
        target = Path(str(config["privet-result"]))
        progress = target.with_name(target.name + ".progress")

        def step(line: str) -> None:
            with open(progress, "a", encoding="utf-8") as file:
                file.write(line + "\n")

        result = ServerResult()
        fedavg_main(
            request,
            parties=int(config["privet-parties"]),
            initial=initial_arrays(request, recipe_of(request)),
            result=result,
            progress=step,
        )(grid, context)
        write_result(target, result)

    return app


def write_result(target: Path, result: ServerResult) -> None:
    """The weights and round facts, written atomically and readable by this user only."""
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {f"w{i}": a for i, a in enumerate(result.weights or [])}
    facts = {
        "rounds": [vars(r) for r in result.rounds],
        "accuracy": result.accuracy,
        "evaluated": result.evaluated,
    }
    np.savez(buffer, **{"facts": np.array(json.dumps(facts)), **arrays})
    with atomic_file(target) as file:  # fsynced, renamed into place, mode 0600
        file.write(buffer.getvalue())


def read_result(target: Path) -> ServerResult:
    """What :func:`write_result` wrote (then deleted by the caller)."""
    from privet.federated._apps import RoundFacts

    with np.load(target, allow_pickle=False) as stored:
        facts = json.loads(str(stored["facts"]))
        weights = [stored[f"w{i}"] for i in range(len(stored.files) - 1)]
    return ServerResult(
        weights=weights or None,
        rounds=[RoundFacts(**r) for r in facts["rounds"]],
        accuracy=facts["accuracy"],
        evaluated=facts["evaluated"],
    )


client_app = make_client_app(None, None, None)
server_app = _server()
