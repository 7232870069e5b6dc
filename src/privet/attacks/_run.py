"""One audit of a model, whichever the request asks for: what ``privet audit`` runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from privet import tables
from privet.attacks import _attribute, _audit, _epsilon_audit, _external
from privet.attacks._requests import (
    AttributeAuditRequest,
    EpsilonAuditRequest,
    ModelAuditRequest,
)

if TYPE_CHECKING:
    from privet.core import Core

AUDITS = "audits"  # the workspace folder of ROC plots nobody asked to put elsewhere


def run_audit(
    core: Core,
    model: str,
    request: ModelAuditRequest,
    *,
    actor: str,
    purpose: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> _audit.MembershipAudit | _attribute.AttributeAudit | _epsilon_audit.EpsilonAudit:
    """Run on ``model`` (a workspace model, or a model file) the audit ``request`` describes.

    A workspace model's result is stored on its card with an audit-log entry; a membership
    audit by lineage draws its ROC in the workspace's audits folder unless ``plot`` says
    where. A model file (``tables.names_file``) is audited with ``audit_model_file``.
    """
    if tables.names_file(model):
        return _external.audit_model_file(Path(model), request)
    if isinstance(request, AttributeAuditRequest):
        return _attribute.audit(core, model, request, actor=actor, purpose=purpose)
    if isinstance(request, EpsilonAuditRequest):
        return _epsilon_audit.audit(core, model, request, actor=actor, purpose=purpose)
    if not request.from_files and request.plot is None:
        plot = core.folder / AUDITS / f"{model}-{request.attack}.png"
        request = request.model_copy(update={"plot": plot})
    return _audit.membership(core, model, request, actor=actor, purpose=purpose, progress=progress)
