"""Learning and counting without pooling: parties are workspaces.

Federated training (Flower's FedAvg with SecAgg+, DP-SGD inside each party), joint
statistics through the same SecAgg+ path, private set intersection (openmined-psi).
Flower and openmined-psi come with the ``federated`` extra; they are imported only when used.
"""

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
