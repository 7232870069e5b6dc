"""Learning and counting without pooling: parties are workspaces.

Federated training (Flower's FedAvg with SecAgg+, DP-SGD inside each party), joint
statistics through the same SecAgg+ path, private set intersection (openmined-psi).
Flower and openmined-psi come with the ``federated`` extra; they are imported only when used.


Importing this package is cheap (a deployed party's process imports its apps for every
message): each name below loads its module on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from privet.federated._extra import INSTALL, require_flower, require_psi
    from privet.federated._parties import Party, load_parties, parse_parties
    from privet.federated._requests import (
        FederateRequest,
        SecAgg,
        federate_request,
        load_schema,
        secagg_settings,
    )
    from privet.federated._stats import DEFAULT_MAX_ROWS, STATISTICS, JointResult, PartyShare, joint
    from privet.federated._train import FederatedModel, FederatedRound, federate

_WHERE = {
    "INSTALL": "_extra",
    "require_flower": "_extra",
    "require_psi": "_extra",
    "Party": "_parties",
    "load_parties": "_parties",
    "parse_parties": "_parties",
    "FederateRequest": "_requests",
    "SecAgg": "_requests",
    "federate_request": "_requests",
    "load_schema": "_requests",
    "secagg_settings": "_requests",
    "DEFAULT_MAX_ROWS": "_stats",
    "STATISTICS": "_stats",
    "JointResult": "_stats",
    "PartyShare": "_stats",
    "joint": "_stats",
    "FederatedModel": "_train",
    "FederatedRound": "_train",
    "federate": "_train",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"privet.federated.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_MAX_ROWS",
    "federate",
    "federate_request",
    "FederatedModel",
    "FederatedRound",
    "FederateRequest",
    "INSTALL",
    "joint",
    "JointResult",
    "load_parties",
    "load_schema",
    "parse_parties",
    "Party",
    "PartyShare",
    "require_flower",
    "require_psi",
    "SecAgg",
    "secagg_settings",
    "STATISTICS",
]
