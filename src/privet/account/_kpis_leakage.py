"""Membership-inference leakage from model cards: each model's latest audit, and its AUC and
low-FPR true-positive rate over time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from privet.account._kpis_buckets import state_series
from privet.account._kpis_log import ts
from privet.account._kpis_models import Leakage, Series
from privet.schema import DpModel

# Membership audits whose figures are leakage scores (an ε audit or attribute inference is not).
MEMBERSHIP_KINDS = ("membership", "membership-files")
LOW_FPR = "0.01"


def _audits(model: DpModel) -> list[dict[str, Any]]:
    """The model's membership audits with an AUC, oldest first."""
    return [
        a
        for a in model.card.get("audits", [])
        if a.get("kind") in MEMBERSHIP_KINDS and isinstance(a.get("auc"), int | float)
    ]


def latest_leakage(model: DpModel) -> Leakage | None:
    audits = _audits(model)
    if not audits:
        return None
    last = audits[-1]
    return Leakage(
        model=model.name,
        attack=str(last.get("attack", last["kind"])),
        audited_at=ts(last["at"]),
        auc=float(last["auc"]),
        tpr_at_1pct_fpr=_tpr(last),
        log_index=last.get("log"),
    )


def _tpr(audit: dict[str, Any]) -> float | None:
    value = (audit.get("tpr_at_fpr") or {}).get(LOW_FPR)
    return float(value) if isinstance(value, int | float) else None


def leakage_series(
    models: list[DpModel], edges: list[datetime], ends: list[datetime]
) -> list[Series]:
    found = []
    for model in models:
        audits = [(ts(a["at"]), a) for a in _audits(model)]
        if not audits:
            continue

        def latest(at: datetime, audits: list[tuple[datetime, dict[str, Any]]] = audits) -> Any:
            chosen = None
            for when, audit in audits:
                if when <= at:
                    chosen = audit
            return chosen

        chosen = [latest(e) for e in ends]
        found.append(
            state_series(
                "mia_auc", model.name, edges, [float(a["auc"]) if a else None for a in chosen]
            )  # fmt: skip
        )
        found.append(
            state_series(
                "mia_tpr_at_1pct_fpr", model.name, edges, [_tpr(a) if a else None for a in chosen]
            )  # fmt: skip
        )
    return found
