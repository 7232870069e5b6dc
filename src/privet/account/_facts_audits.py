"""Attacks on a model in its assessment: every audit stored on its card (membership and
attribute inference, ε audits) as a table, and the ROC of the latest membership audit."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from privet.account import _figures
from privet.account._model import Block, Fact, Figure, Table

if TYPE_CHECKING:
    from privet.account._facts_context import Gathering

AUDITS = "audits"  # where `privet audit` draws ROC curves (privet.attacks._run.AUDITS)


def audits(ctx: Gathering, name: str, card: dict[str, Any], cmd: str) -> Block:
    stored = card.get("audits") or []
    rows = []
    points = []
    columns = [  # (header, JMESPath with {a} for audits[i])
        ("kind", "{a}.kind"),
        ("attack or attribute", "{a}.attack || {a}.attribute"),
        ("at", "{a}.at"),
        ("AUC", "{a}.auc"),
        ("TPR at 1% FPR", '{a}.tpr_at_fpr."0.01"'),
        ("TPR at 0.1% FPR", '{a}.tpr_at_fpr."0.001"'),
        ("advantage", "{a}.advantage.value"),
        ("ε lower bound", "{a}.epsilon_lower_bound"),
    ]
    for i, audit in enumerate(stored):
        tpr, adv = audit.get("tpr_at_fpr") or {}, audit.get("advantage") or {}
        values = [
            audit.get("kind"),
            audit.get("attack") or audit.get("attribute"),
            audit.get("at"),
            audit.get("auc"),
            tpr.get("0.01"),
            tpr.get("0.001"),
            adv.get("value") if isinstance(adv, dict) else None,
            audit.get("epsilon_lower_bound"),
        ]
        row = [
            Fact(label=header, value=value, command=cmd, path=path.format(a=f"audits[{i}]"))
            for (header, path), value in zip(columns, values, strict=True)
        ]
        if audit.get("kind") == "membership":
            points.append(
                (
                    f"#{i} {audit.get('attack')}",
                    float(tpr.get("0.001") or 0.0),
                    float(tpr.get("0.01") or 0.0),
                    float(audit.get("auc") or 0.0),
                )
            )
        rows.append(row)
    missing = []
    figure = None
    if not any(a.get("kind") == "membership" for a in stored):
        missing.append(f"no membership-inference audit is stored: privet audit {name}")
    else:
        last = next(a for a in reversed(stored) if a.get("kind") == "membership")
        drawn = ctx.core.folder / AUDITS / f"{name}-{last.get('attack')}.png"
        if _drawn_by(drawn, last):
            figure = Figure(
                title="ROC of the latest membership audit",
                png_data_uri=_figures.png_data_uri(drawn),
                caption=f"drawn by privet audit {name} --attack {last.get('attack')}; "
                f"its AUC is audits[{stored.index(last)}].auc of {cmd}",
            )
        else:
            svg = ctx.cached(
                "figure:roc-points",
                name,
                {"points": points},
                lambda: _figures.roc_points(points, f"membership audits of {name}"),
            )
            figure = Figure(
                title="ROC points kept on the card (TPR at 0.1% and 1% FPR)",
                svg=svg,
                caption=f"{cmd} → audits[*].tpr_at_fpr",
            )
    header = [h for h, _ in columns]
    return Block(
        title="Attacks on the model (membership and attribute inference, ε audits)",
        table=Table(header=header, rows=rows) if rows else None,
        figure=figure,
        missing=missing,
    )


def _drawn_by(picture: Path, audit: dict[str, Any]) -> bool:
    """Was ``picture`` drawn by ``audit`` (written while it ran), not by an earlier one?"""
    if not picture.is_file():
        return False
    try:
        finished = datetime.fromisoformat(str(audit.get("at"))).timestamp()
    except ValueError:
        return False
    took = float(audit.get("seconds") or 0.0)
    drawn = picture.stat().st_mtime
    return finished - took - 60.0 <= drawn <= finished + 5.0
