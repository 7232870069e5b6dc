"""Forgetting: retention enforced by crypto-shredding, subject erasure with signed receipts,
and the owner's decisions to keep what no longer singles anyone out.

Reach it through the workspace: ``ws.forget.erase(EraseRequest(...), actor=...)``,
``ws.forget.retention(...)``, ``ws.forget.keep(...)``.
"""

from privet.forget._erase import (
    SLA_DAYS,
    ErasureInfo,
    ErasureResult,
    list_requests,
    receipt_note,
    request_erasure,
    run_pending,
)
from privet.forget._keep import KeepInfo, set_keep
from privet.forget._receipt import check_subject, commitment
from privet.forget._receipt import verify as verify_receipt
from privet.forget._requests import EraseRequest
from privet.forget._retention import Due, Expiry, RetentionReport, due
from privet.forget._retention import run as run_retention

__all__ = [
    "SLA_DAYS",
    "Due",
    "EraseRequest",
    "ErasureInfo",
    "ErasureResult",
    "Expiry",
    "KeepInfo",
    "RetentionReport",
    "check_subject",
    "commitment",
    "due",
    "list_requests",
    "receipt_note",
    "request_erasure",
    "run_pending",
    "run_retention",
    "set_keep",
    "verify_receipt",
]
