"""Learning and counting without pooling: parties are workspaces.

Federated training (Flower's FedAvg with SecAgg+, DP-SGD inside each party), joint
statistics through the same SecAgg+ path, private set intersection (openmined-psi).
Flower and openmined-psi come with the ``federated`` extra; they are imported only when used.
"""

from privet.federated._extra import INSTALL, require_flower, require_psi
from privet.federated._parties import Party, load_parties, parse_parties
from privet.federated._psi import Peer, PsiResult
from privet.federated._psi import answer as psi_answer
from privet.federated._psi import link as psi_link

__all__ = [
    "INSTALL",
    "Party",
    "Peer",
    "PsiResult",
    "load_parties",
    "parse_parties",
    "psi_answer",
    "psi_link",
    "require_flower",
    "require_psi",
]
