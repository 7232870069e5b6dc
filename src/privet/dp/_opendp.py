"""Building and calibrating OpenDP measurements over a Polars frame.

All noise in DP statistics comes from OpenDP's samplers (discrete Laplace, exponential
mechanism), which draw from the OS's secure randomness and never add floating-point noise
(floating-point Laplace leaks the data through its low bits, Mironov 2012).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import opendp.prelude as dp
import polars as pl
from opendp.accuracy import summarize_polars_measurement
from opendp.extras.polars import DPExpr
from opendp.mod import Measurement, Metric, OpenDPException

from privet.errors import InvalidInput

# OpenDP's Polars front end (make_private_lazyframe and its expression plugins) is in
# "contrib": implemented and tested but not yet through OpenDP's proof review, so OpenDP
# refuses it unless enabled. We rely on it for every DP statistic.
dp.enable_features("contrib")

PlanBuilder = Callable[[pl.LazyFrame], pl.LazyFrame]
_MAX_THRESHOLD = 2**32 - 1


# OpenDP registers its expressions as polars' ``expr.dp`` namespace at import, which polars'
# stubs cannot know; these typed helpers build the same expressions (``expr.dp`` is
# ``DPExpr(expr)``).
def dp_count(expr: pl.Expr) -> pl.Expr:
    """A noisy count of the non-null values of ``expr`` (signed: noise may go below 0)."""
    count: pl.Expr = DPExpr(expr).count(signed=True)
    return count


def dp_sum(expr: pl.Expr, bounds: tuple[float, float]) -> pl.Expr:
    """A noisy sum of ``expr`` clipped to ``bounds``."""
    total: pl.Expr = DPExpr(expr).sum(bounds)
    return total


def dp_quantile(expr: pl.Expr, alpha: float, candidates: list[float]) -> pl.Expr:
    """The candidate nearest the ``alpha`` quantile of ``expr``, picked by the exponential
    mechanism."""
    quantile: pl.Expr = DPExpr(expr).quantile(alpha, candidates)
    return quantile


@dataclass(frozen=True)
class Prepared:
    """A calibrated measurement: its privacy cost is known before it touches the data."""

    measurement: Measurement
    epsilon: float
    delta: float
    threshold: int | None


def max_length(public_rows: int) -> int:
    """The frame length OpenDP may assume: the catalog's (public) row count, with room for
    neighbouring data. Float sums' rounding bound grows with it."""
    return 2 * public_rows + 1000


def unit(subject: str | None) -> tuple[Metric, int]:
    """The input metric: one subject (all their rows) or, without a subject column, one row."""
    if subject is None:
        return dp.symmetric_distance(), 1
    return dp.symmetric_id_distance(pl.col(subject)), 1


def source(frame: pl.DataFrame, subject: str | None, max_rows: int) -> pl.LazyFrame:
    """An empty frame with ``frame``'s schema, with contributions per subject bounded.

    Truncation comes first: each subject keeps at most ``max_rows`` rows (chosen at random)
    before any filter or statistic, so the sensitivity is known.
    """
    empty = pl.LazyFrame(schema=frame.schema)
    if subject is None:
        return empty
    kept = pl.int_range(pl.len()).shuffle().over(subject) < max_rows
    return empty.filter(kept)


def prepare(
    frame: pl.DataFrame,
    build: PlanBuilder,
    *,
    subject: str | None,
    max_rows: int,
    epsilon: float,
    delta: float,
    public_rows: int,
    discover_keys: bool,
) -> Prepared:
    """Calibrate the plan so that its privacy map gives at most (ε, δ)."""
    domain = dp.domain_of(frame.lazy(), infer=True)
    # Public: the catalog's row count bounds the length (with room for neighbouring data).
    domain = dp.with_margin(domain, dp.polars.Margin(by=[], max_length=max_length(public_rows)))
    metric, d_in = unit(subject)
    plan = build(source(frame, subject, max_rows))
    measure = dp.approximate(dp.max_divergence()) if discover_keys else dp.max_divergence()

    def make(scale: float, threshold: int | None = None) -> Measurement:
        return dp.m.make_private_lazyframe(
            domain, metric, measure, plan, global_scale=scale, threshold=threshold
        )

    def cost(m: Measurement) -> tuple[float, float]:
        loss = m.map(d_in)
        return (float(loss[0]), float(loss[1])) if discover_keys else (float(loss), 0.0)

    ceiling = _MAX_THRESHOLD if discover_keys else None
    try:
        probe = make(1.0, ceiling)
    except OpenDPException as err:
        # OpenDP's message may quote the plan, literals of the WHERE clause included: it is
        # shown only to someone debugging with PRIVET_DEBUG set.
        detail = f" ({_reason(err)})" if os.environ.get("PRIVET_DEBUG") else ""
        raise InvalidInput(
            f"OpenDP cannot bound this query as written; simplify it{detail}"
        ) from None
    unit_epsilon = cost(probe)[0]
    if unit_epsilon <= 0:
        return Prepared(probe, 0.0, 0.0, None)
    # Every mechanism here has ε proportional to 1/scale: solve, then nudge up until it fits.
    scale = unit_epsilon / epsilon
    for _ in range(100):
        measurement = make(scale, ceiling)
        if cost(measurement)[0] <= epsilon:
            break
        scale *= 1.0005
    else:  # pragma: no cover - OpenDP's maps are monotone in the scale
        raise InvalidInput("OpenDP could not calibrate the noise for this query")
    if not discover_keys:
        eps, _ = cost(measurement)
        return Prepared(measurement, eps, 0.0, None)
    threshold = _threshold(lambda t: cost(make(scale, t))[1], delta, guess=scale)
    measurement = make(scale, threshold)
    eps, used_delta = cost(measurement)
    return Prepared(measurement, eps, used_delta, threshold)


def _threshold(delta_at: Callable[[int], float], target: float, guess: float = 1.0) -> int:
    """The smallest count threshold that keeps the chance of releasing a rare key ≤ target.

    The chance falls geometrically with the threshold (a Laplace tail), so two probes give
    its slope and a third lands next to the answer; bisection is the fallback.
    """
    cache: dict[int, float] = {}

    def at(t: int) -> float:
        if t not in cache:
            cache[t] = delta_at(t)
        return cache[t]

    first = max(2, math.ceil(guess * math.log(1 / target)))
    second = first + max(1, math.ceil(guess))
    d1, d2 = at(first), at(second)
    if 0 < d2 < d1 and second <= _MAX_THRESHOLD:
        slope = (math.log(d1) - math.log(d2)) / (second - first)
        t = max(2, math.ceil(first + (math.log(d1) - math.log(target)) / slope))
        for _ in range(8):
            if at(t) > target:
                t += 1
            elif t > 2 and at(t - 1) <= target:
                t -= 1
            else:
                return t
    high = 2  # OpenDP's smallest threshold
    while at(high) > target:
        high *= 2
        if high > _MAX_THRESHOLD:
            raise InvalidInput(
                "delta is too small for private key discovery; give the keys instead",
                parameter="delta",
            )
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        if at(middle) <= target:
            high = middle
        else:
            low = middle
    return high


def _reason(err: OpenDPException) -> str:
    text = (getattr(err, "message", None) or str(err)).strip().splitlines()
    return (text[0] if text else "no reason given")[:200]


def summary(prepared: Prepared, alpha: float) -> pl.DataFrame:
    """OpenDP's per-statistic noise distribution, scale and (1-alpha) accuracy."""
    return summarize_polars_measurement(prepared.measurement, alpha)


def release(prepared: Prepared, frame: pl.DataFrame) -> pl.DataFrame:
    return prepared.measurement(frame.lazy()).collect()
