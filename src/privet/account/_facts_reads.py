"""Per-dataset read counts over a prefix of the audit log, extended by the entries after the
last stored prefix and stored again for the next report."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from privet.schema import ReportFact

if TYPE_CHECKING:
    from privet.account._facts_cache import Measurements
    from privet.core import Core

ACCESS_INDEX = "access-index"  # per-dataset read counts over a prefix of the audit log


def read_counts(
    core: Core, measurements: Measurements, progress: Callable[[str], None]
) -> tuple[int, dict[str, dict[str, Any]]]:
    """Per dataset id, over the log's first ``size`` entries: reads, records released,
    refusals and reads per purpose. The log is append-only, so counts over a prefix
    never change: the longest stored prefix whose last leaf hash still matches is
    extended by the entries after it, and the result stored for the next report."""
    size, latest = core.log.size(), None
    with core.reading() as session:
        for row in session.scalars(
            select(ReportFact)
            .where(ReportFact.kind == ACCESS_INDEX)
            .order_by(ReportFact.subject.desc())
        ):
            if row.value["size"] <= size:
                latest = row.value
                break
    start, counts = 0, {}
    if latest is not None and latest["size"] > 0:
        (check,) = core.log.records(latest["size"] - 1, 1)
        if check.leaf_hash.hex() == latest["leaf"]:
            start, counts = latest["size"], latest["counts"]
    if start == size:
        return size, counts
    progress("reading the audit log")
    _, records = core.log.page(start, size - start)
    for record in records:
        event = record.event
        kind = event.get("event")
        if kind not in ("read", "read.refused") or not isinstance(event.get("dataset"), str):
            continue
        empty = {"reads": 0, "rows": 0, "refused": 0, "purposes": {}}
        mine = counts.setdefault(event["dataset"], empty)
        if kind == "read.refused":
            mine["refused"] += 1
            continue
        purpose = str(event.get("purpose"))
        mine["reads"] += 1
        mine["rows"] += int(event.get("rows") or 0)
        mine["purposes"][purpose] = mine["purposes"].get(purpose, 0) + 1
    if records:
        value = {"size": size, "leaf": records[-1].leaf_hash.hex(), "counts": counts}
        measurements.store(ACCESS_INDEX, f"log:{size:015d}", value)
    return size, counts
