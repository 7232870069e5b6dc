"""Privacy attacks, measured rather than promised.

On models: membership inference (loss, LiRA, RMIA), attribute inference, and an empirical
lower bound on ε (one-run canary audit). On synthetic data: singling out, linkability,
inference, distance to closest record, exact matches, and membership inference against the
synthesizer.
"""

from privet.attacks._attribute import AttributeAudit
from privet.attacks._attribute import audit as attribute_inference
from privet.attacks._audit import ATTACKS, MembershipAudit, membership
from privet.attacks._epsilon_audit import EpsilonAudit
from privet.attacks._epsilon_audit import audit as epsilon_audit
from privet.attacks._epsilon_audit import lower_bound as epsilon_lower_bound
from privet.attacks._synth_eval import SynthEvaluation
from privet.attacks._synth_eval import evaluate as evaluate_synthetic
from privet.attacks._synthetic import (
    AttackResult,
    SyntheticRisk,
    inference,
    linkability,
    singling_out,
    synthetic_risk,
)

__all__ = [
    "ATTACKS",
    "AttackResult",
    "AttributeAudit",
    "EpsilonAudit",
    "MembershipAudit",
    "SynthEvaluation",
    "SyntheticRisk",
    "attribute_inference",
    "epsilon_audit",
    "epsilon_lower_bound",
    "evaluate_synthetic",
    "inference",
    "linkability",
    "membership",
    "singling_out",
    "synthetic_risk",
]
