"""``ws.deid``: protect, re-identification risk, detokenize."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from privet.core import Core


class Deidentification:
    """Facade of protect, re-identification risk, detokenize."""

    def __init__(self, core: Core) -> None:
        self._core = core
