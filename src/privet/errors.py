"""The exceptions privet raises. The library raises; only the CLI and the server exit.

Messages say what to fix and never carry cell values. Integrity and crypto failures stay
terse on purpose (like Fernet's single ``InvalidToken``): detail helps an attacker more than
an operator.
"""

from __future__ import annotations


class PrivetError(Exception):
    """Base of every error privet raises on purpose; its message is one sentence for a user."""


class NotFound(PrivetError):
    """A workspace, dataset, version, file or log entry that does not exist."""


class InvalidInput(PrivetError):
    """Input that cannot be accepted: a malformed file, an unknown column, a bad name."""


class AlreadyExists(PrivetError):
    """Creating something that is already there."""


class Unauthenticated(PrivetError):
    """Missing, malformed, expired or revoked credentials (HTTP 401). Deliberately terse."""


class PolicyDenied(PrivetError):
    """A read or action the governance rules refuse (purpose limitation, missing grant)."""


class KeyUnavailable(PrivetError):
    """The master key (or a KMS) cannot be reached, so nothing encrypted can be read."""


class IntegrityError(PrivetError):
    """Stored data or the audit log does not match what was committed."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class BudgetExhausted(PolicyDenied):
    """A differentially private release that would take a ledger past its privacy limit."""
