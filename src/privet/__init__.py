"""privet: privacy engineering for the machine-learning lifecycle."""

import warnings
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from privet.server import Connection


def connect(
    url: str, *, token: str, verify: str | bool | None = None, timeout: float = 60.0
) -> "Connection":
    """A connection to a privet server for governed reads into Polars or Arrow: ``https://``
    reads Arrow IPC streams, ``grpc+tls://`` Arrow Flight (see :func:`privet.server.connect`).

    >>> with privet.connect("https://privet.example:8700", token=t) as server:  # doctest: +SKIP
    ...     people = server.read("people", purpose="analytics")
    """
    from privet.server import connect as server_connect  # the server's client: loaded on use

    return server_connect(url, token=token, verify=verify, timeout=timeout)


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
    "connect",
]
__version__ = "0.1.0"
