"""Accountability: what a data-protection lead hands to a regulator.

Incident scoping, breach drills, the privacy impact assessment, privacy KPIs and the
OpenLineage export — each built from what the workspace records (the audit log, lineage,
the catalog, ledgers, attack results), never from a cell value.
"""

from __future__ import annotations

from privet.account._incident import (
    AlertSeen,
    ColumnRead,
    ContainmentDone,
    ExportRead,
    IncidentScope,
    Made,
    Notification,
    Sealed,
    SubjectCount,
    VersionRead,
    check_new,
    make_dpo_key,
    scope,
    scope_actor,
    seal,
    unseal,
    write_new,
)
from privet.account._incident_html import render_incident

__all__: list[str] = []
__all__ += [
    "AlertSeen",
    "ColumnRead",
    "ContainmentDone",
    "ExportRead",
    "IncidentScope",
    "Made",
    "Notification",
    "Sealed",
    "SubjectCount",
    "VersionRead",
    "check_new",
    "make_dpo_key",
    "render_incident",
    "scope",
    "scope_actor",
    "seal",
    "unseal",
    "write_new",
]
