"""The governance state of users, API tokens, grants and the policy in force, attested in the
audit log (see ``privet.auditlog``).

Only fields that decide access are in a state: a user's roles and disabled flag; a token's
user, secret hash, expiry and revocation; a grant's user, dataset, view, purpose, status,
duration, expiry and approver (its free-text reason only as a hash); the policy in force's
number and hashes. These are checked on every decision, so they are read with the DBAPI
cursor (see ``privet.auditlog.kinds.Reader``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from privet.auditlog.kinds import Kind, Reader, register_kind, stored_bool, stored_time

# "user" and "view" are reserved words in PostgreSQL.
_USER = (
    'SELECT u.disabled, r.role FROM users u LEFT JOIN user_roles r ON r."user" = u.name '
    "WHERE u.name = :key"
)
_TOKEN = 'SELECT "user", secret_sha256, expires_at, revoked_at FROM api_tokens WHERE id = :key'
_GRANT = (
    'SELECT "user", dataset_id, "view", purpose, reason, status, duration_seconds, '
    "expires_at, decided_by FROM grants WHERE id = :key"
)
_POLICY = "SELECT number, sha256, text FROM policies ORDER BY number DESC LIMIT 1"
# The one policy object: whichever document is in force (the highest number).
IN_FORCE = "in_force"


def _sha256(value: str | None) -> str | None:
    return None if value is None else hashlib.sha256(value.encode()).hexdigest()


def user_state(rows: Reader, name: str) -> dict[str, Any] | None:
    found = rows(_USER, key=name)
    if not found:
        return None
    roles = sorted(role for _, role in found if role is not None)
    return {"roles": roles, "disabled": stored_bool(found[0][0])}


def token_state(rows: Reader, token_id: str) -> dict[str, Any] | None:
    found = rows(_TOKEN, key=token_id)
    if not found:
        return None
    user, secret_sha256, expires, revoked = found[0]
    return {
        "user": user,
        "secret_sha256": secret_sha256,
        "expires_at": stored_time(expires),
        "revoked_at": stored_time(revoked),
    }


def grant_state(rows: Reader, grant_id: str) -> dict[str, Any] | None:
    found = rows(_GRANT, key=grant_id)
    if not found:
        return None
    user, dataset, view, purpose, reason, status, seconds, expires, decided_by = found[0]
    return {
        "user": user,
        "dataset": dataset,
        "view": view,
        "purpose": purpose,
        "status": status,
        "duration_seconds": seconds,
        "expires_at": stored_time(expires),
        "approved_by": decided_by,
        "reason_sha256": _sha256(reason),
    }


def policy_state(rows: Reader, key: str) -> dict[str, Any] | None:
    """The policy in force: its number, the hash stored beside it (the parsed-policy cache
    is keyed by it) and the hash of its text."""
    found = rows(_POLICY)
    if not found:
        return None
    number, recorded, text = found[0]
    return {"number": number, "recorded_hash": recorded, "text_sha256": _sha256(text)}


def _keys(query: str) -> Any:
    return lambda rows: [row[0] for row in rows(query)]


def _named(what: str, quote: bool = False) -> Any:
    return lambda _rows, key, _state: f"{what} {key!r}" if quote else f"{what} {key}"


register_kind(Kind("user", user_state, _keys("SELECT name FROM users"), _named("user", True)))
register_kind(Kind("token", token_state, _keys("SELECT id FROM api_tokens"), _named("API token")))
register_kind(Kind("grant", grant_state, _keys("SELECT id FROM grants"), _named("grant")))
register_kind(
    Kind(
        "policy",
        policy_state,
        lambda rows: [IN_FORCE] if rows("SELECT 1 FROM policies LIMIT 1") else [],
        lambda _rows, _key, _state: "the policy in force",
    )
)
