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
    from privet.federated._psi import Peer, PsiResult
    from privet.federated._psi import answer as psi_answer
    from privet.federated._psi import link as psi_link
    from privet.federated._requests import (
        FederateRequest,
        SecAgg,
        federate_request,
        load_schema,
        secagg_settings,
    )
    from privet.federated._stats import DEFAULT_MAX_ROWS, STATISTICS, JointResult, PartyShare, joint
    from privet.federated._train import FederatedModel, FederatedRound, federate

# name: (module, attribute)
_WHERE = {
    "INSTALL": ("_extra", "INSTALL"),
    "require_flower": ("_extra", "require_flower"),
    "require_psi": ("_extra", "require_psi"),
    "Party": ("_parties", "Party"),
    "load_parties": ("_parties", "load_parties"),
    "parse_parties": ("_parties", "parse_parties"),
    "Peer": ("_psi", "Peer"),
    "PsiResult": ("_psi", "PsiResult"),
    "psi_answer": ("_psi", "answer"),
    "psi_link": ("_psi", "link"),
    "FederateRequest": ("_requests", "FederateRequest"),
    "SecAgg": ("_requests", "SecAgg"),
    "federate_request": ("_requests", "federate_request"),
    "load_schema": ("_requests", "load_schema"),
    "secagg_settings": ("_requests", "secagg_settings"),
    "DEFAULT_MAX_ROWS": ("_stats", "DEFAULT_MAX_ROWS"),
    "STATISTICS": ("_stats", "STATISTICS"),
    "JointResult": ("_stats", "JointResult"),
    "PartyShare": ("_stats", "PartyShare"),
    "joint": ("_stats", "joint"),
    "FederatedModel": ("_train", "FederatedModel"),
    "FederatedRound": ("_train", "FederatedRound"),
    "federate": ("_train", "federate"),
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _WHERE[name]
    value = getattr(import_module(f"privet.federated.{module}"), attribute)
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
    "Peer",
    "psi_answer",
    "psi_link",
    "PsiResult",
    "require_flower",
    "require_psi",
    "SecAgg",
    "secagg_settings",
    "STATISTICS",
]
