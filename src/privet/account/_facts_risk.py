"""Re-identification risk of a version (``privet risk``) with the catalog's roles: measured on
the spot, or reused while the content, the roles and the code are unchanged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from privet.account import _figures
from privet.account._model import Block, Fact, Figure, Value
from privet.errors import NotFound, PolicyDenied

if TYPE_CHECKING:
    from privet.account._facts_context import Gathering
    from privet.catalog import VersionInfo


def risk_of(ctx: Gathering, version: VersionInfo) -> dict[str, Any] | None:
    """``privet risk NAME@N --json`` of a version with the catalog's roles (reused when
    stored for the same content, roles and code), or None without quasi-identifiers."""
    from privet import deid

    qis = [c.name for c in version.columns if c.role == "quasi_identifier"]
    if not qis:
        return None
    sensitive = [c.name for c in version.columns if c.role == "sensitive"]
    parts = {
        "content": version.content_sha256,
        "rows": version.rows,
        "qis": qis,
        "sensitive": sensitive,
    }

    def measure() -> dict[str, Any]:
        ctx.progress(f"{version.ref}: measuring re-identification risk")
        report = deid.dataset_risk(ctx.core, version.ref, actor=ctx.actor)
        return report.model_dump(mode="json")

    result: dict[str, Any] = ctx.cached("risk", version.id, parts, measure)
    return result


def reidentification(ctx: Gathering, version: VersionInfo) -> Block:
    cmd = f"privet risk {version.ref} --json"
    title = f"Re-identification risk of {version.ref}"
    try:
        risk = risk_of(ctx, version)
    except (PolicyDenied, NotFound) as refused:  # not allowed, or destroyed meanwhile
        return Block(title=title, missing=[f"not measured: {refused}"])
    if risk is None:
        return Block(
            title=title,
            missing=[
                "no column is marked quasi_identifier, so no linkage risk was measured; "
                "mark them (privet datasets annotate) or give --qi to privet risk"
            ],
        )

    def fact(label: str, key: str, value: Value = None) -> Fact:
        return Fact(label=label, value=risk[key] if value is None else value, command=cmd, path=key)

    facts = [
        fact("Records measured", "rows"),
        fact("Quasi-identifiers", "quasi_identifiers"),
        fact("Sensitive attributes", "sensitive"),
        fact("k (smallest equivalence class)", "k"),
        fact("Distinct ℓ-diversity", "l"),
        fact("t-closeness (largest EMD)", "t"),
        fact("Equivalence classes", "classes"),
        fact("Prosecutor risk, highest", "prosecutor_risk_max"),
        fact("Prosecutor risk, mean", "prosecutor_risk_avg"),
        fact(f"Share of records above risk {risk['threshold']:g}", "records_at_risk"),
        fact("Marketer risk", "marketer_risk"),
        fact("Sample uniques (share of records)", "sample_uniques"),
    ]
    missing = []
    if risk.get("journalist_risk_max") is not None:
        facts.append(fact("Journalist risk, highest", "journalist_risk_max"))
    else:
        missing.append(
            f"journalist risk needs a population table: privet risk {version.ref} --population FILE"
        )
    for i, band in enumerate(risk.get("risk_histogram") or []):
        facts.append(
            Fact(
                label=f"Records with prosecutor risk in ({band['low']:g}, {band['high']:g}]",
                value=band["records"],
                command=cmd,
                path=f"risk_histogram[{i}].records",
            )
        )

    def draw() -> str:
        return _figures.risk_histogram(risk["risk_histogram"], title)

    figure = None
    if risk.get("risk_histogram"):
        parts = {"risk": risk["risk_histogram"], "title": title}
        svg = ctx.cached("figure:risk-histogram", version.id, parts, draw)
        figure = Figure(
            title="Risk histogram", svg=svg, caption=f"{cmd} → risk_histogram[*].records"
        )
    return Block(title=title, facts=facts, figure=figure, missing=missing)
