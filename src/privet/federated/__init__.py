"""Learning and counting without pooling: parties are workspaces.

Federated training (Flower's FedAvg with SecAgg+, DP-SGD inside each party), joint
statistics through the same SecAgg+ path, private set intersection (openmined-psi).
Flower and openmined-psi come with the ``federated`` extra; they are imported only when used.
"""

from privet.federated._extra import INSTALL, require_flower, require_psi

__all__ = ["INSTALL", "require_flower", "require_psi"]
