"""``ws.audit``: membership and attribute inference, empirical ε audits."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from privet.core import Core


class Audits:
    """Facade of membership and attribute inference, empirical ε audits."""

    def __init__(self, core: Core) -> None:
        self._core = core
