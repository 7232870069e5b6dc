"""The governance state of a DP ledger, attested in the audit log (see ``privet.auditlog``).

A ledger's state is its limits, its privacy unit and the releases it has charged (their
count and a hash of their ids, dp-accounting events and ε/δ): raising a limit or deleting a
release in the database would hand out budget that was never granted. No import of the DP
libraries: ``privet log verify`` checks ledgers without loading them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from privet.auditlog.kinds import Kind, Reader, register_kind

_LEDGER = "SELECT epsilon_limit, delta_limit, unit FROM dp_ledgers WHERE dataset_id = :key"
_RELEASES = "SELECT id, event, epsilon, delta FROM dp_releases WHERE ledger_id = :key"
_KEYS = "SELECT dataset_id FROM dp_ledgers UNION SELECT ledger_id FROM dp_releases"


def ledger_state(rows: Reader, root_id: str) -> dict[str, Any] | None:
    """None while the ledger is its default (no row, nothing released)."""
    ledger = rows(_LEDGER, key=root_id)
    releases = sorted(
        [rid, json.loads(event) if isinstance(event, str | bytes) else event, eps, delta]
        for rid, event, eps, delta in rows(_RELEASES, key=root_id)
    )
    if not ledger and not releases:
        return None
    epsilon_limit, delta_limit, unit = ledger[0] if ledger else (None, None, None)
    canonical = json.dumps(releases, sort_keys=True, separators=(",", ":")).encode()
    return {
        "epsilon_limit": epsilon_limit,
        "delta_limit": delta_limit,
        "unit": unit,
        "releases": len(releases),
        "release_events_sha256": hashlib.sha256(canonical).hexdigest(),
    }


def _label(rows: Reader, root_id: str, _state: Any) -> str:
    found = rows("SELECT name FROM datasets WHERE id = :key", key=root_id)
    return f"the DP ledger of {found[0][0]!r}" if found else f"the DP ledger {root_id}"


register_kind(
    Kind(
        "dp_ledger",
        ledger_state,
        lambda rows: [row[0] for row in rows(_KEYS)],
        _label,
    )
)
