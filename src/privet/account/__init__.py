"""Accountability: what a data-protection lead hands to a regulator.

Incident scoping, breach drills, the privacy impact assessment, privacy KPIs and the
OpenLineage export — each built from what the workspace records (the audit log, lineage,
the catalog, ledgers, attack results), never from a cell value.
"""

from __future__ import annotations

from privet.account._kpis import (
    Alerts,
    Budget,
    Erasures,
    Grants,
    Kpis,
    Leakage,
    Point,
    Retention,
    Series,
    kpis,
)

__all__: list[str] = []
__all__ += ["Alerts", "Budget", "Erasures", "Grants", "Kpis", "Leakage", "Point"]
__all__ += ["Retention", "Series", "kpis"]
