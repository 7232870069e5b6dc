"""Privacy attacks on models: membership inference (loss, LiRA, RMIA), attribute inference,
and an empirical lower bound on ε (one-run canary audit)."""

from privet.attacks._audit import ATTACKS, MembershipAudit, membership

__all__ = ["ATTACKS", "MembershipAudit", "membership"]
