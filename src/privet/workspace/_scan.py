"""``ws.scan``: PII discovery in datasets, files and text; annotations."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from privet.core import Core


class Scanning:
    """Facade of PII discovery in datasets, files and text; annotations."""

    def __init__(self, core: Core) -> None:
        self._core = core
