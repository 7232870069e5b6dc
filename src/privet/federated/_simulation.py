"""Flower's simulation runtime on this machine: every party a virtual SuperNode (Ray actors).

Flower's and Ray's console output is kept out of privet's: progress is privet's own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def quiet() -> Iterator[None]:
    """Flower logs every stage at INFO; privet reports rounds itself."""
    logger = logging.getLogger("flwr")
    before = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(before)


def run(server_app: Any, client_app: Any, parties: int) -> None:
    """Run the apps until the ServerApp returns (Ray is started and stopped here)."""
    from flwr.simulation import run_simulation

    cpus = max(1, os.cpu_count() or 1)
    backend: Any = {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {
            "num_cpus": cpus,
            "num_gpus": 0,
            "log_to_driver": False,
            "include_dashboard": False,
            "configure_logging": False,
            # A small object store: only model weights travel (the default takes 30% of RAM).
            "object_store_memory": 200 * 1024 * 1024,
        },
    }
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    with quiet():
        run_simulation(
            server_app=server_app,
            client_app=client_app,
            num_supernodes=parties,
            backend_config=backend,
        )
