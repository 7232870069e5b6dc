"""``ws.access``: users, roles, tokens, grants, approvals, the policy, alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from privet.core import Core


class Access:
    """Facade of users, roles, tokens, grants, approvals, the policy, alerts."""

    def __init__(self, core: Core) -> None:
        self._core = core
