"""``ws.federated``: learning and counting with other workspaces without pooling their rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from privet.core import Core

Progress = Callable[[str], None]


class Federation:
    """This workspace as a party or a coordinator of a federation.

    Each party reads its own dataset through its own broker (purpose, grant, log entry);
    the coordinator sees only what SecAgg+ lets through (the sum of masked updates), and
    private set intersection reveals the intersection and nothing else. Flower and
    openmined-psi come with the ``federated`` extra.
    """

    def __init__(self, core: Core) -> None:
        self._core = core
