"""Tamper-evident audit log: an append-only Merkle tree (RFC 9162) with signed checkpoints,
and the attestations that make governance metadata provable from it."""

from privet.auditlog import events
from privet.auditlog._access import ACCESS_EVENTS, micros
from privet.auditlog._attest import (
    BASELINE_EVENT,
    SESSION_INFO,
    Attestations,
    attest,
    baseline,
    check,
    check_every,
)
from privet.auditlog._log import AuditLog, Record, VerifyReport, append, canonical
from privet.auditlog._merkle import (
    leaf_hash,
    node_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)
from privet.auditlog._note import (
    Checkpoint,
    NoteError,
    open_note,
    sign_note,
    verified_text,
    verifier_key,
)
from privet.auditlog._publish import CheckpointPublisher, publish, write_note
from privet.auditlog.kinds import Kind, register_kind

__all__ = [
    "ACCESS_EVENTS",
    "micros",
    "BASELINE_EVENT",
    "SESSION_INFO",
    "Attestations",
    "AuditLog",
    "Checkpoint",
    "CheckpointPublisher",
    "Kind",
    "NoteError",
    "Record",
    "VerifyReport",
    "append",
    "attest",
    "baseline",
    "canonical",
    "check",
    "check_every",
    "events",
    "leaf_hash",
    "node_hash",
    "open_note",
    "publish",
    "register_kind",
    "root_from_leaves",
    "sign_note",
    "verified_text",
    "verifier_key",
    "verify_consistency",
    "verify_inclusion",
    "write_note",
]
