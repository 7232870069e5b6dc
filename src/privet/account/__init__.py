"""Accountability: what a data-protection lead hands to a regulator.

Incident scoping, breach drills, the privacy impact assessment, privacy KPIs and the
OpenLineage export — each built from what the workspace records (the audit log, lineage,
the catalog, ledgers, attack results), never from a cell value.
"""

from __future__ import annotations

from privet.account._html import ChromiumMissing, print_pdf
from privet.account._model import Assessment, Block, Fact, Figure, Section, ToFill
from privet.account._report import assess, assess_all, html, write
from privet.account._synthetic import remember as remember_synthetic

__all__: list[str] = []
__all__ += [  # the privacy impact assessment
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
]
