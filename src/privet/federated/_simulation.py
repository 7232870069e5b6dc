"""Run a Flower ServerApp and ClientApp on this machine (Flower's simulation runtime, Ray).

Flower's telemetry is turned off (a privacy tool does not report its runs to a third
party), and its and Ray's console output is kept quiet: privet shows its own progress and
the parties' refusals (each party's log has them too).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_TELEMETRY = "FLWR_TELEMETRY_ENABLED"


def no_telemetry() -> None:
    """Before flwr is imported (it reads the switch then) and after (its module global)."""
    os.environ[_TELEMETRY] = "0"
    import sys

    telemetry = sys.modules.get("flwr.supercore.telemetry")
    if telemetry is not None:
        telemetry.FLWR_TELEMETRY_ENABLED = "0"  # type: ignore[attr-defined]


@contextmanager
def _quiet() -> Iterator[None]:
    logger = logging.getLogger("flwr")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def simulate(server_app: Any, client_app: Any, parties: int, *, cpus_per_party: int = 1) -> None:
    """Run ``server_app`` in this process and ``client_app`` for ``parties`` SuperNodes in Ray
    actor processes (which inherit this process's environment: workspaces, key folder)."""
    no_telemetry()
    # Ray's notice about a future default for GPU-less actors is not the user's concern.
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    from flwr.simulation import run_simulation

    backend: Any = {
        "client_resources": {"num_cpus": cpus_per_party, "num_gpus": 0.0},
        "init_args": {
            "num_cpus": max(1, os.cpu_count() or 1),
            "num_gpus": 0,
            "logging_level": "ERROR",
            "log_to_driver": False,
            "include_dashboard": False,
            # A small object store: only weights and masked vectors travel (Ray's default
            # takes 30% of the RAM).
            "object_store_memory": 200 * 1024 * 1024,
        },
    }
    with _quiet():
        run_simulation(
            server_app=server_app,
            client_app=client_app,
            num_supernodes=parties,
            backend_config=backend,
        )
