"""Privacy attacks, measured rather than promised.

On models: membership inference (loss, LiRA, RMIA), attribute inference, and an empirical
lower bound on ε (one-run canary audit). On synthetic data: singling out, linkability,
inference, distance to closest record, exact matches, and membership inference against the
synthesizer. Each audit is asked for with a request model (``MembershipAuditRequest``, …)
shared by the library, the CLI and the server.
"""

from privet.attacks._attribute import AttributeAudit
from privet.attacks._attribute import audit as attribute_inference
from privet.attacks._audit import ATTACKS, MembershipAudit, membership
from privet.attacks._epsilon_audit import EpsilonAudit
from privet.attacks._epsilon_audit import audit as epsilon_audit
from privet.attacks._epsilon_audit import lower_bound as epsilon_lower_bound
from privet.attacks._external import audit_model_file, membership_from_files
from privet.attacks._requests import (
    AttributeAuditRequest,
    EpsilonAuditRequest,
    MembershipAuditRequest,
    ModelAuditRequest,
    SynthEvaluationRequest,
)
from privet.attacks._run import run_audit
from privet.attacks._synth_eval import SynthEvaluation
from privet.attacks._synth_eval import evaluate as evaluate_synthetic
from privet.attacks._synth_sources import evaluate_sources
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
    "AttributeAuditRequest",
    "EpsilonAudit",
    "EpsilonAuditRequest",
    "MembershipAudit",
    "MembershipAuditRequest",
    "ModelAuditRequest",
    "SynthEvaluation",
    "SynthEvaluationRequest",
    "SyntheticRisk",
    "attribute_inference",
    "audit_model_file",
    "epsilon_audit",
    "epsilon_lower_bound",
    "evaluate_sources",
    "evaluate_synthetic",
    "inference",
    "linkability",
    "membership",
    "membership_from_files",
    "run_audit",
    "singling_out",
    "synthetic_risk",
]
