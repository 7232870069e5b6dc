"""Accountability: what a data-protection lead hands to a regulator.

Incident scoping, breach drills, the privacy impact assessment, privacy KPIs and the
OpenLineage export — each built from what the workspace records (the audit log, lineage,
the catalog, ledgers, attack results), never from a cell value.
"""

from __future__ import annotations

from privet.account._drill import run_drill
from privet.account._drill_models import DrillReport, ScenarioResult
from privet.account._drill_models import Scope as DrillScope
from privet.account._drill_report import check_output, write_report
from privet.account._drill_report import render_html as render_drill_html
from privet.account._drill_scenarios import SCENARIOS as DRILL_SCENARIOS
from privet.account._drill_scope import drill_scope
from privet.account._facets import facet_schemas
from privet.account._html import ChromiumMissing, print_pdf
from privet.account._incident import scope, scope_actor
from privet.account._incident_html import render_incident
from privet.account._incident_models import (
    AlertSeen,
    ColumnRead,
    ContainmentDone,
    ExportRead,
    IncidentScope,
    Made,
    Notification,
    SubjectCount,
    VersionRead,
)
from privet.account._incident_seal import Sealed, make_dpo_key, seal, unseal
from privet.account._kpis import kpis
from privet.account._kpis_models import (
    Alerts,
    Budget,
    Erasures,
    Grants,
    Kpis,
    Leakage,
    Point,
    Retention,
    Series,
)
from privet.account._lineage_send import LineageExport
from privet.account._lineage_send import record_export as record_lineage_export
from privet.account._lineage_send import send as send_lineage
from privet.account._lineage_send import write_file as write_lineage
from privet.account._lineage_send import write_stream as stream_lineage
from privet.account._model import Assessment, Block, Fact, Figure, Section, ToFill
from privet.account._new_file import check_new, write_new
from privet.account._openlineage import events as lineage_events
from privet.account._openlineage import lines as lineage_lines
from privet.account._report import assess, assess_all, html, write
from privet.account._synthetic import remember as remember_synthetic

__all__ = [
    # the privacy impact assessment
    "Assessment",
    "Block",
    "ChromiumMissing",
    "Fact",
    "Figure",
    "Section",
    "ToFill",
    "assess",
    "assess_all",
    "html",
    "print_pdf",
    "remember_synthetic",
    "write",
    # breach drills
    "DRILL_SCENARIOS",
    "DrillReport",
    "DrillScope",
    "ScenarioResult",
    "check_output",
    "drill_scope",
    "render_drill_html",
    "run_drill",
    "write_report",
    # incident scoping
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
    # privacy KPIs
    "Alerts",
    "Budget",
    "Erasures",
    "Grants",
    "Kpis",
    "Leakage",
    "Point",
    "Retention",
    "Series",
    "kpis",
    # OpenLineage export
    "LineageExport",
    "facet_schemas",
    "lineage_events",
    "lineage_lines",
    "record_lineage_export",
    "send_lineage",
    "stream_lineage",
    "write_lineage",
]
