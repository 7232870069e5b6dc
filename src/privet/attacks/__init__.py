"""Privacy attacks on models: membership inference (loss, LiRA, RMIA), attribute inference,
and an empirical lower bound on ε (one-run canary audit)."""

from privet.attacks._attribute import AttributeAudit
from privet.attacks._attribute import audit as attribute_inference
from privet.attacks._audit import ATTACKS, MembershipAudit, membership
from privet.attacks._epsilon_audit import EpsilonAudit
from privet.attacks._epsilon_audit import audit as epsilon_audit
from privet.attacks._epsilon_audit import lower_bound as epsilon_lower_bound

__all__ = [
    "ATTACKS",
    "AttributeAudit",
    "EpsilonAudit",
    "MembershipAudit",
    "attribute_inference",
    "epsilon_audit",
    "epsilon_lower_bound",
    "membership",
]
