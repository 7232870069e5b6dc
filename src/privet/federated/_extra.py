"""The federated extra: Flower and openmined-psi are heavy, so the core install goes without."""

from __future__ import annotations

import importlib.util

from privet.errors import InvalidInput

INSTALL = "pip install 'privet[federated]'"


def require(module: str, what: str) -> None:
    """Stop with one sentence naming the install command when ``module`` is missing."""
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):  # a broken or half-removed install counts as missing
        found = None
    if found is None:
        raise InvalidInput(f"{what} needs the federated extra: {INSTALL}")


def require_flower() -> None:
    require("flwr", "Flower (federated learning, joint statistics)")


def require_psi() -> None:
    require("private_set_intersection", "openmined-psi (private set intersection)")
