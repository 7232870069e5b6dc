"""``ws.audit``: membership and attribute inference, empirical ε audits, synthetic-data risk."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from privet import tables

if TYPE_CHECKING:
    from privet.attacks import (
        AttributeAudit,
        AttributeAuditRequest,
        EpsilonAudit,
        EpsilonAuditRequest,
        MembershipAudit,
        MembershipAuditRequest,
        ModelAuditRequest,
        SynthEvaluation,
        SynthEvaluationRequest,
    )
    from privet.core import Core

Progress = Callable[[str], None]


class Audits:
    """Privacy attacks on the models and synthetic data of one workspace.

    Auditing a model reads its training rows and trains models without privacy: its
    dataset's owner may do it, or someone holding an approved grant of the raw rows who names
    that grant's ``purpose``. Each result is stored on the model's card with an audit-log
    entry. PyTorch, scikit-learn and SciPy load on first use.
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    def run(
        self,
        model: str,
        request: ModelAuditRequest,
        *,
        actor: str,
        purpose: str | None = None,
        progress: Progress | None = None,
    ) -> MembershipAudit | AttributeAudit | EpsilonAudit:
        """The audit ``request`` describes, on a workspace model or a model file (what
        ``privet audit`` runs). A membership audit by lineage draws its ROC in the
        workspace's ``audits`` folder unless the request's ``plot`` says where."""
        from privet import attacks

        return attacks.run_audit(
            self._core, model, request, actor=actor, purpose=purpose, progress=progress
        )

    def membership(
        self,
        model: str,
        request: MembershipAuditRequest | None = None,
        *,
        actor: str,
        purpose: str | None = None,
        progress: Progress | None = None,
    ) -> MembershipAudit:
        """Membership inference on ``model``: its own members and held-out rows, or, when
        ``request`` names ``members`` and ``non_members`` files, those records."""
        from privet import attacks

        return attacks.membership(
            self._core, model, request, actor=actor, purpose=purpose, progress=progress
        )

    def attribute(
        self,
        model: str,
        request: AttributeAuditRequest,
        *,
        actor: str,
        purpose: str | None = None,
    ) -> AttributeAudit:
        """How much ``model`` helps infer the categorical feature ``request.attribute`` of its
        members, beyond what it gives on held-out rows."""
        from privet import attacks

        return attacks.attribute_inference(self._core, model, request, actor=actor, purpose=purpose)

    def epsilon(
        self,
        model: str,
        request: EpsilonAuditRequest | None = None,
        *,
        actor: str,
        purpose: str | None = None,
    ) -> EpsilonAudit:
        """An empirical lower bound on ``model``'s ε: one training run by its recipe with
        canaries (Steinke, Nasr and Jagielski 2023)."""
        from privet import attacks

        return attacks.epsilon_audit(self._core, model, request, actor=actor, purpose=purpose)

    def evaluate_synthetic(
        self,
        request: SynthEvaluationRequest,
        *,
        actor: str,
        progress: Progress | None = None,
    ) -> SynthEvaluation:
        """Fidelity, utility and privacy risk of a synthetic table against the real one; each
        named as a dataset (read through the broker by ``actor``, logged) or a file.

        An evaluation of datasets is kept for ``privet report`` with its versions and seed
        (drawn here when the request has none), so the report's figures can be re-derived."""
        import secrets

        from privet import account, attacks

        names = (request.real, request.synthetic, request.holdout)
        if request.seed is None and not any(n and tables.names_file(n) for n in names):
            request = request.model_copy(update={"seed": secrets.randbits(31)})
        result = attacks.evaluate_sources(request, core=self._core, actor=actor, progress=progress)
        account.remember_synthetic(self._core, request, result)
        return result
