"""privet: privacy engineering for the machine-learning lifecycle."""

from privet.errors import (
    AlreadyExists,
    BudgetExhausted,
    GovernanceMismatch,
    IntegrityError,
    InvalidInput,
    KeyUnavailable,
    NotFound,
    PolicyDenied,
    PrivetError,
    StoreUnavailable,
    Unauthenticated,
)
from privet.workspace import Workspace

__all__ = [
    "AlreadyExists",
    "BudgetExhausted",
    "GovernanceMismatch",
    "IntegrityError",
    "InvalidInput",
    "KeyUnavailable",
    "NotFound",
    "PolicyDenied",
    "PrivetError",
    "StoreUnavailable",
    "Unauthenticated",
    "Workspace",
]
__version__ = "0.1.0"
