"""OpenLineage RunEvents from the audit log and the lineage graph: the export's entry point.

Each entry of the audit log that made or moved data becomes one run (which ones, and their
inputs and outputs: :mod:`._lineage_activities`), a START and a COMPLETE or FAIL event
(:mod:`._lineage_run`). Forgetting is lineage too: retention and erasure DROP or OVERWRITE
what they destroyed or rewrote (the lifecycleStateChange facet).

Identifiers are stable: the namespace is ``privet://<workspace id>``; a version is the
dataset ``NAME@N``, a model ``model:NAME``, an ingested file ``file:sha256:HEX``, an export
``export:INDEX``, a DP statistic ``release:ID``. So raw → protected → model → synthetic is
one graph joined by shared dataset names, and the same log gives the same events.

Facts come from the log itself (each ingest and derive entry attests the dataset's and the
version's governance state as they were) and from lineage facts (operators, k, ε). Only
names, ids, counts, parameters and categories go out: never a cell value, and never the
parts of lineage facts that could hold one (a synthetic column's domain, a model's levels).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from openlineage.client.event_v2 import RunEvent
from openlineage.client.serde import Serde

from privet import lineage
from privet.account._lineage_activities import Runs
from privet.account._lineage_catalog import read_catalog
from privet.account._lineage_run import Origin

if TYPE_CHECKING:
    from privet.core import Core

# Log entries read per page.
_PAGE = 5000


def events(core: Core) -> list[RunEvent]:
    """The workspace's runs as OpenLineage RunEvents (a START and a COMPLETE each), in log
    order; the same log gives the same events."""
    with core.reading() as session:
        edges: dict[int, list[lineage.Edge]] = defaultdict(list)
        for edge in lineage.all_edges(session):
            edges[edge.log_index].append(edge)
    runs = Runs(
        origin=Origin(workspace=core.config.id, log=core.log.origin),
        catalog=read_catalog(core),
        edges=edges,
    )
    start = 0
    while True:
        size, page = core.log.page(start, _PAGE)
        for record in page:
            runs.add(record)
        start += len(page)
        if not page or start >= size:
            return runs.events


def to_json(event: RunEvent) -> str:
    """One event as the client serializes it (what a transport sends; keys sorted)."""
    return Serde.to_json(event)


def lines(runs: Sequence[RunEvent]) -> Iterator[str]:
    """Each event as one JSON line (without its newline)."""
    return (to_json(event) for event in runs)
