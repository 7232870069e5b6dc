"""Tamper-evident audit log: an append-only Merkle tree (RFC 9162) with signed checkpoints."""

from privet.auditlog._log import AuditLog, Record, VerifyReport, append, canonical
from privet.auditlog._merkle import (
    leaf_hash,
    node_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)
from privet.auditlog._note import Checkpoint, NoteError, open_note, verifier_key
from privet.auditlog._publish import CheckpointPublisher, publish, write_note

__all__ = [
    "AuditLog",
    "Checkpoint",
    "CheckpointPublisher",
    "NoteError",
    "Record",
    "VerifyReport",
    "append",
    "canonical",
    "leaf_hash",
    "node_hash",
    "open_note",
    "publish",
    "root_from_leaves",
    "verifier_key",
    "verify_consistency",
    "verify_inclusion",
    "write_note",
]
