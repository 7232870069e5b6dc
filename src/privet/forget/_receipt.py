"""Erasure receipts: what an erasure touched, as a C2SP signed note by the workspace's log key.

The note's text is a fixed first line and the receipt as canonical JSON on the second, so it
verifies with the same published verifier key as the log's checkpoints (``privet log
checkpoint`` shows it) and with any C2SP signed-note verifier. The receipt names the subject
only by a commitment each, HMAC-SHA256(nonce, subject id), with a nonce of its own: the nonces
are handed to the requester once, with the receipt, and kept nowhere, so the receipt and the
log reveal nothing about who was erased to anyone without them (nor one subject's nonce about
another subject of the same request).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from privet.auditlog import NoteError, canonical, verified_text
from privet.errors import InvalidInput

HEADER = "privet erasure receipt v1"


def commitment(nonce: bytes, subject_id: str) -> str:
    """What the log and the receipt hold instead of the subject id."""
    return hmac.new(nonce, subject_id.encode(), hashlib.sha256).hexdigest()


def note_body(receipt: dict[str, Any]) -> str:
    return f"{HEADER}\n{canonical(receipt).decode()}\n"


def verify(note: str, verifier_key: str) -> dict[str, Any]:
    """The receipt inside ``note`` once its signature verifies with ``verifier_key``."""
    try:
        text = verified_text(note, verifier_key)
    except NoteError as e:
        raise InvalidInput(f"the receipt does not verify: {e}") from None
    header, _, rest = text.partition("\n")
    if header != HEADER:
        raise InvalidInput("the signed note is not an erasure receipt")
    try:
        receipt = json.loads(rest)
    except ValueError:
        raise InvalidInput("the receipt's content is not JSON") from None
    if not isinstance(receipt, dict):
        raise InvalidInput("the receipt's content is not a JSON object")
    return receipt


def check_subject(receipt: dict[str, Any], subject_id: str, nonce_hex: str) -> bool:
    """Whether the receipt (and so the log entries naming its commitment) is about
    ``subject_id``: what a subject checks with the nonce they were given."""
    try:
        nonce = bytes.fromhex(nonce_hex)
    except ValueError:
        raise InvalidInput("the nonce is not hexadecimal", parameter="nonce") from None
    mine = commitment(nonce, subject_id)
    listed = receipt.get("commitments", [])
    return (
        any(hmac.compare_digest(mine, str(c)) for c in listed)
        if isinstance(listed, list)
        else False
    )
