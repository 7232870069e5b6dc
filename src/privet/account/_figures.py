"""The report's pictures as inline SVG: matplotlib charts, and the lineage graph drawn directly.

Pictures show counts, risks and budgets, and name datasets and models; never a cell value.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

_HEADER = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def _svg(fig: Any) -> str:
    """The figure as an ``<svg>`` element (no XML prolog, so it can sit inside HTML)."""
    plt = _pyplot()
    buffer = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "privet"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    return _METADATA.sub("", _HEADER.sub("", buffer.getvalue(), count=1), count=1)


def risk_histogram(bands: Sequence[dict[str, float]], title: str) -> str:
    """Share of records per prosecutor-risk band, as ARX draws it."""
    plt = _pyplot()
    labels = [f"≤{b['high']:g}" for b in bands]
    shares = [100 * b["records"] for b in bands]
    fig, ax = plt.subplots(figsize=(6.4, 2.8), dpi=100)
    colours = ["#3b7d3b" if b["high"] <= 0.2 else "#c0392b" for b in bands]
    ax.bar(range(len(bands)), shares, color=colours)
    ax.set_xticks(range(len(bands)), labels, fontsize=8)
    ax.set_xlabel("prosecutor risk (1 / class size)")
    ax.set_ylabel("% of records")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _svg(fig)


def ledger(spent: float, limit: float, title: str) -> str:
    """ε spent against the ledger's limit."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 1.4), dpi=100)
    remaining = max(limit - spent, 0.0)
    ax.barh([0], [spent], color="#c0392b", label=f"spent {spent:.3g}")
    ax.barh([0], [remaining], left=[spent], color="#d5e8d4", label=f"remaining {remaining:.3g}")
    ax.set_yticks([])
    ax.set_xlim(0, max(limit, spent) or 1.0)
    ax.set_xlabel("ε")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    return _svg(fig)


def roc_points(points: Sequence[tuple[str, float, float, float]], title: str) -> str:
    """What a card keeps of each membership audit: TPR at 0.1% and 1% FPR, and its AUC."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    floor = 1e-4
    for label, tpr_001, tpr_01, auc in points:
        ax.loglog(
            [0.001, 0.01],
            [max(tpr_001, floor), max(tpr_01, floor)],
            "o-",
            label=f"{label} (AUC {auc:.3f})",
        )
    ax.loglog([floor, 1], [floor, 1], "--", color="grey", label="chance")
    ax.set_xlim(floor, 1)
    ax.set_ylim(floor, 1)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _svg(fig)


def png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


# -- the lineage graph ------------------------------------------------------------------------

_W, _H, _GAP_X, _GAP_Y, _PAD = 190, 30, 70, 18, 12
_FILL = {"file": "#eeeeee", "version": "#dae8fc", "model": "#ffe6cc", "focus": "#fff2a8"}


def lineage(
    nodes: dict[str, tuple[str, str]], edges: Sequence[tuple[str, str, str]], focus: set[str]
) -> str:
    """A left-to-right graph: ``nodes`` maps a reference to (label, kind), ``edges`` are
    (source, target, activity); a node's column is its longest path from a source."""
    depth = {ref: 0 for ref in nodes}
    for _ in range(len(nodes)):  # longest-path layering; the graph is a DAG
        changed = False
        for source, target, _activity in edges:
            if depth[target] < depth[source] + 1:
                depth[target] = depth[source] + 1
                changed = True
        if not changed:
            break
    columns: dict[int, list[str]] = {}
    for ref in nodes:
        columns.setdefault(depth[ref], []).append(ref)
    place: dict[str, tuple[float, float]] = {}
    for column, refs in columns.items():
        for row, ref in enumerate(refs):
            place[ref] = (_PAD + column * (_W + _GAP_X), _PAD + row * (_H + _GAP_Y))
    width = _PAD * 2 + (max(columns) + 1) * (_W + _GAP_X) - _GAP_X if columns else 100
    height = _PAD * 2 + max((len(r) for r in columns.values()), default=1) * (_H + _GAP_Y)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#555"/></marker></defs>',
    ]
    for source, target, activity in edges:
        (x1, y1), (x2, y2) = place[source], place[target]
        ax, ay, bx, by = x1 + _W, y1 + _H / 2, x2, y2 + _H / 2
        parts.append(
            f'<line x1="{ax}" y1="{ay}" x2="{bx}" y2="{by}" stroke="#555" '
            'marker-end="url(#arrow)"/>'
        )
        parts.append(
            f'<text x="{(ax + bx) / 2}" y="{(ay + by) / 2 - 3}" text-anchor="middle" '
            f'fill="#555" font-size="9">{escape(activity)}</text>'
        )
    for ref, (label, kind) in nodes.items():
        x, y = place[ref]
        fill = _FILL["focus"] if ref in focus else _FILL.get(kind, "#ffffff")
        short = label if len(label) <= 30 else label[:29] + "…"
        parts.append(
            f'<rect x="{x}" y="{y}" width="{_W}" height="{_H}" rx="5" fill="{fill}" stroke="#333"/>'
        )
        parts.append(
            f'<text x="{x + _W / 2}" y="{y + _H / 2 + 4}" text-anchor="middle">'
            f"{escape(short)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
