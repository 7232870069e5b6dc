"""Lineage in an assessment: the part of the lineage graph around a dataset (its sources one
step up, and everything made from it), drawn, with counts of what was derived from it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from privet import lineage
from privet.account import _figures
from privet.account._model import Block, Fact, Figure, quote

if TYPE_CHECKING:
    from privet.account._facts_context import Gathering
    from privet.catalog import DatasetInfo
    from privet.dp import ModelInfo


def lineage_block(ctx: Gathering, info: DatasetInfo) -> Block:
    ctx.progress(f"{info.name}: lineage")
    version_refs = {lineage.version_ref(v.id) for v in info.versions}
    nodes, edges = component(ctx, version_refs)
    figure = Figure(
        title=f"Lineage of {info.name}",
        svg=_figures.lineage(nodes, edges, version_refs) if edges else None,
        caption=f"privet datasets NAME --json → lineage (for each dataset shown); "
        f"{len(nodes)} nodes, {len(edges)} edges",
    )
    derived = [d.name for d in ctx.datasets if d.derived_from == info.id]
    models = [m for m in ctx.models if m.card.dataset_id == info.id]
    facts = [
        Fact(
            label="Datasets derived from it",
            value=len(derived),
            command="privet datasets --json",
            path=f"length([?derived_from=={quote(info.id)}])",
        ),
        Fact(
            label="Models trained on it",
            value=len(models),
            command="privet models --json",
            path=f"length([?card.dataset_id=={quote(info.id)}])",
        ),
    ]
    missing = [] if edges else ["no lineage edge is recorded for this dataset"]
    return Block(title="Lineage", facts=facts, figure=figure, missing=missing)


def model_lineage(ctx: Gathering, info: ModelInfo, source: DatasetInfo) -> Block:
    model_ref = f"model:{info.id}"
    nodes, edges = component(ctx, {lineage.version_ref(v.id) for v in source.versions})
    return Block(
        title="Lineage",
        figure=Figure(
            title=f"Lineage of {info.name}",
            svg=_figures.lineage(nodes, edges, {model_ref}) if edges else None,
            caption=f"privet datasets {source.name} --json → lineage",
        ),
    )


def component(
    ctx: Gathering, start: set[str]
) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str, str]]]:
    """Sources of ``start`` one step up, and everything made from it, transitively."""
    all_edges, labels = ctx.graph
    keep: set[str] = set(start)
    frontier = list(start)
    while frontier:
        ref = frontier.pop()
        for source, target, _a in all_edges:
            if source == ref and target not in keep:
                keep.add(target)
                frontier.append(target)
    upstream = {s for s, t, _a in all_edges if t in start}
    keep |= upstream
    edges = [(s, t, a) for s, t, a in all_edges if s in keep and t in keep]
    nodes: dict[str, tuple[str, str]] = {}
    for ref in sorted(keep, key=lambda r: (r not in upstream, labels.get(r, (r,))[0])):
        if ref in labels:
            nodes[ref] = labels[ref]
        elif ref.startswith("file:sha256:"):
            nodes[ref] = (f"file sha256:{ref.removeprefix('file:sha256:')[:12]}…", "file")
        else:
            nodes[ref] = (ref.split(":", 1)[0], "file")
    return nodes, edges
