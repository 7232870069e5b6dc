"""Time buckets of the KPI series: their starts, where each one's state is read, which one
holds a moment, and series of counts or states over them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from privet.account._kpis_models import Point, Series
from privet.errors import InvalidInput

BUCKETS: dict[str, timedelta] = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}
MAX_POINTS = 5_000


def buckets(start: datetime, now: datetime, step: timedelta) -> list[datetime]:
    """Bucket starts from the one holding ``start`` to the one holding ``now``."""
    first = _floor(start, step)
    count = int((now - first) / step) + 1
    if count > MAX_POINTS:
        raise InvalidInput(
            f"{count:,} buckets from {start:%Y-%m-%d}: at most {MAX_POINTS:,}; "
            "use a larger bucket or a later since",
            parameter="since",
        )
    return [first + i * step for i in range(count)]


def _floor(at: datetime, step: timedelta) -> datetime:
    at = at.astimezone(UTC)
    if step == BUCKETS["hour"]:
        return at.replace(minute=0, second=0, microsecond=0)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if step == BUCKETS["day"]:
        return day
    return day - timedelta(days=day.weekday())  # weeks start on Monday (ISO 8601)


def ends(edges: list[datetime], step: timedelta, now: datetime) -> list[datetime]:
    """Where each bucket's state is read: its end, or now for the current one."""
    return [min(t + step, now) for t in edges]


def index(edges: list[datetime], at: datetime) -> int | None:
    """The bucket holding ``at`` (None before the first)."""
    if at < edges[0]:
        return None
    step = edges[1] - edges[0] if len(edges) > 1 else None
    if step is None:
        return 0
    return min(int((at - edges[0]) / step), len(edges) - 1)


def count_series(
    name: str, subject: str | None, times: list[datetime], edges: list[datetime]
) -> Series:
    counts = [0] * len(edges)
    for at in times:
        i = index(edges, at)
        if i is not None:
            counts[i] += 1
    return Series(
        name=name,
        subject=subject,
        measure="count",
        points=[Point(t=t, value=float(c)) for t, c in zip(edges, counts, strict=True)],
    )


def state_series(
    name: str, subject: str | None, edges: list[datetime], values: Sequence[float | None]
) -> Series:
    return Series(
        name=name,
        subject=subject,
        measure="state",
        points=[Point(t=t, value=v) for t, v in zip(edges, values, strict=True)],
    )
