"""privet: privacy engineering for the machine-learning lifecycle."""

from privet.errors import (
    AlreadyExists,
    BudgetExhausted,
    IntegrityError,
    InvalidInput,
    KeyUnavailable,
    NotFound,
    PolicyDenied,
    PrivetError,
    Unauthenticated,
)
from privet.workspace import Workspace

__all__ = [
    "AlreadyExists",
    "BudgetExhausted",
    "IntegrityError",
    "InvalidInput",
    "KeyUnavailable",
    "NotFound",
    "PolicyDenied",
    "PrivetError",
    "Unauthenticated",
    "Workspace",
]
__version__ = "0.1.0"
