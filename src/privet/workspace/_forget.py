"""``ws.forget``: retention, subject erasure with signed receipts, the owner's keep decisions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from privet import policy

if TYPE_CHECKING:
    from privet.core import Core
    from privet.forget import (
        Due,
        EraseRequest,
        ErasureInfo,
        ErasureResult,
        KeepInfo,
        RetentionReport,
    )

Progress = Callable[[str], None]


class Forgetting:
    """What privet destroys, and the proof that it did.

    Retention destroys expired versions (and what was made from them) by crypto-shredding;
    an erasure removes one subject from every version, derived and synthetic dataset and
    model of the workspace and returns a receipt signed with the log's key.
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    def erase(
        self,
        request: EraseRequest,
        *,
        actor: str | None = None,
        identity: policy.Identity | None = None,
        progress: Progress | None = None,
    ) -> ErasureResult:
        """Erase ``request.subjects``; who asks must hold a role of the policy's
        ``erasure_roles`` (``identity``, or the local ``actor`` with their roles). The
        result's ``nonces`` are the subjects' proofs: shown once, kept nowhere."""
        from privet import forget

        who = policy.acting(self._core, actor, identity)
        return forget.request_erasure(self._core, request, identity=who, progress=progress)

    def run_pending(self, *, actor: str, progress: Progress | None = None) -> list[ErasureResult]:
        """Finish erasures left pending (a crash, another process): each step done once."""
        from privet import forget

        return forget.run_pending(self._core, actor=actor, progress=progress)

    def requests(self, *, identity: policy.Identity | None = None) -> list[ErasureInfo]:
        """Every erasure request, oldest first, with its deadline (30 days, Art. 12(3)).
        A remote ``identity`` must hold one of the policy's erasure roles."""
        from privet import forget

        if identity is not None:
            policy.check_may_erase(self._core, identity)
        return forget.list_requests(self._core)

    def receipt(self, request_id: str, *, identity: policy.Identity | None = None) -> str:
        """The signed receipt (a C2SP signed note) of a finished erasure."""
        from privet import forget

        if identity is not None:
            policy.check_may_erase(self._core, identity)
        return forget.receipt_note(self._core, request_id)

    def verify_receipt(self, note: str, *, verifier_key: str | None = None) -> dict[str, Any]:
        """The receipt in ``note`` once its signature verifies (default key: this
        workspace's published log verifier key)."""
        from privet import forget

        return forget.verify_receipt(note, verifier_key or self._core.log.verifier_key)

    def retention(
        self, *, actor: str, dry_run: bool = False, progress: Progress | None = None
    ) -> RetentionReport:
        """Destroy every expired version, what was made from it and the models trained on
        it (unless kept by the owner); ``dry_run`` lists them and changes nothing."""
        from privet import forget

        return forget.run_retention(self._core, actor=actor, dry_run=dry_run, progress=progress)

    def due(
        self, *, within_days: float = 30.0, identity: policy.Identity | None = None
    ) -> list[Due]:
        """Versions that expire within ``within_days`` days (or are overdue). A remote
        ``identity`` must be an approver, an owner or hold an erasure role."""
        from privet import forget

        if identity is not None and not policy.may_oversee(self._core, identity):
            policy.check_may_erase(self._core, identity)

        return forget.due(self._core, within_days=within_days)

    def keep(self, name: str, *, reason: str, actor: str) -> KeepInfo:
        """Record the owner's decision that derived dataset or model ``name`` outlives its
        source and its erased subjects (because it is de-identified, or DP)."""
        from privet import forget

        kept = forget.set_keep(self._core, name, keep=True, reason=reason, actor=actor)
        assert kept is not None
        return kept

    def unkeep(self, name: str, *, actor: str) -> None:
        """Withdraw a keep decision: ``name`` follows its source again."""
        from privet import forget

        forget.set_keep(self._core, name, keep=False, reason=None, actor=actor)
