"""privet: privacy engineering for the machine-learning lifecycle."""

import warnings

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

# The federated extra pins protobuf 6.30 (openmined-psi), one major version above the code
# Tink generated (5.29): protobuf then warns on every import of Tink, though the two are
# compatible (the runtime supports gencode one major version older).
warnings.filterwarnings("ignore", message="Protobuf gencode version", category=UserWarning)

from privet.workspace import Workspace  # noqa: E402 - after the filter

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
