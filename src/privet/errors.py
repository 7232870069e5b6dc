"""The exceptions privet raises. The library raises; only the CLI and the server exit.

Messages say what to fix and never carry cell values. Integrity and crypto failures stay
terse on purpose (like Fernet's single ``InvalidToken``): detail helps an attacker more than
an operator.
"""

from __future__ import annotations


class PrivetError(Exception):
    """Base of every error privet raises on purpose; its message is one sentence for a user.

    The message names library parameters by their Python names (``epsilon``), never a CLI
    flag: ``parameter`` says which one was wrong, and the CLI renders it as its flag
    (``--epsilon``), the server as the request field. Subclasses carry their facts as
    attributes (asked, remaining, dataset, purpose…) so a caller need not parse the text.
    """

    def __init__(self, message: str = "", *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


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


class Destroyed(NotFound):
    """What was asked for was destroyed on purpose (retention or erasure): its key is gone."""


class IntegrityError(PrivetError):
    """Stored data or the audit log does not match what was committed."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class GovernanceMismatch(IntegrityError):
    """A governance row (a dataset's purposes or owner, a column's role, a grant, a user's
    roles, a token, the policy, a DP ledger) differs from what the audit log attests: it was
    changed behind privet's back. The message names the object and the field, never a value
    of the data."""


class BudgetExhausted(PolicyDenied):
    """A differentially private release that would take a ledger past its privacy limit.

    Its facts: the ``ledger`` (id of the source dataset whose ledger it is) and that
    ``dataset``'s name, what the release asked (``asked_epsilon``, ``asked_delta``), what the
    ledger has left (``remaining_epsilon``, ``remaining_delta``) and its limits
    (``epsilon_limit``, ``delta_limit``: ε is stated at that δ). None where not known.
    """

    def __init__(
        self,
        message: str = "",
        *,
        parameter: str | None = None,
        ledger: str | None = None,
        dataset: str | None = None,
        asked_epsilon: float | None = None,
        asked_delta: float | None = None,
        remaining_epsilon: float | None = None,
        remaining_delta: float | None = None,
        epsilon_limit: float | None = None,
        delta_limit: float | None = None,
    ) -> None:
        super().__init__(message, parameter=parameter)
        self.ledger, self.dataset = ledger, dataset
        self.asked_epsilon, self.asked_delta = asked_epsilon, asked_delta
        self.remaining_epsilon, self.remaining_delta = remaining_epsilon, remaining_delta
        self.epsilon_limit, self.delta_limit = epsilon_limit, delta_limit

    def facts(self) -> dict[str, str | float | None]:
        """The refusal's facts by name (ids and numbers only, no data)."""
        return {
            "ledger": self.ledger,
            "dataset": self.dataset,
            "asked_epsilon": self.asked_epsilon,
            "asked_delta": self.asked_delta,
            "remaining_epsilon": self.remaining_epsilon,
            "remaining_delta": self.remaining_delta,
            "epsilon_limit": self.epsilon_limit,
            "delta_limit": self.delta_limit,
        }


class StoreUnavailable(PrivetError):
    """The catalog database cannot be reached, opened or read."""


# -- foreign failures, in one sentence --------------------------------------------------------

_SQLITE_REASONS = (
    ("not a database", "is damaged (not a readable SQLite database); restore it from a backup"),
    ("malformed", "is damaged (truncated or corrupted); restore it from a backup"),
    ("no such table", "is not a privet catalog (its tables are missing); restore it from a backup"),
    ("unable to open", "cannot be opened (missing or unreadable)"),
    ("readonly", "is read-only; check its permissions"),
    ("locked", "is busy (locked by another process); try again"),
    ("disk is full", "cannot be written: the disk is full"),
    ("disk i/o", "cannot be read or written (disk I/O error)"),
)


def describe_failure(err: BaseException) -> str:
    """One sentence for an exception privet did not raise on purpose, safe to show a user.

    Foreign messages may quote SQL parameters or cell values, so only known conditions are
    worded and otherwise just the exception's type is named. Used by the CLI and the server
    as their last resort; the library itself raises :class:`PrivetError`.
    """
    kind = type(err).__name__
    module = type(err).__module__
    if kind == "PanicException":  # pyo3_runtime: a Rust panic inside Polars or OpenDP
        return (
            "the data engine crashed on this input (a Rust panic inside it); nothing was "
            "changed: simplify the input (fewer columns, plainer types)"
        )
    if module.startswith("polars"):
        return (
            f"the data engine (Polars) cannot process this data ({kind}); check the columns' "
            "types (lists and structs cannot be generalized or counted)"
        )
    if module.startswith("sqlalchemy"):
        return _database_failure(err)
    if isinstance(err, MemoryError):
        return "out of memory: the table does not fit; try a smaller one or more memory"
    if isinstance(err, OSError):
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        return f"{where}{err.strerror or kind}"
    return f"internal error ({kind}); rerun with PRIVET_DEBUG=1 for details"


def _database_failure(err: BaseException) -> str:
    original = getattr(err, "orig", None)
    text = str(original or "").lower()
    driver = type(original).__module__ if original is not None else ""
    if driver.startswith("sqlite3") or "sqlite" in driver:
        for needle, reason in _SQLITE_REASONS:
            if needle in text:
                return f"the workspace catalog (.privet/catalog.db) {reason}"
        return f"the workspace catalog (.privet/catalog.db) failed ({type(original).__name__})"
    if driver.startswith("psycopg") and type(err).__name__ == "OperationalError":
        # Connection failures name the host and port, never data.
        first = str(original).strip().splitlines()[0] if str(original).strip() else ""
        return f"cannot reach the catalog database (PostgreSQL): {first[:200]}"
    return f"the catalog database refused the operation ({type(original or err).__name__})"
