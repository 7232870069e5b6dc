"""Privacy accounting: dp-accounting events, their stored form, and their composition.

Every release is a :class:`Charge`: a dp-accounting ``DpEvent`` plus ``delta``, the probability
that the release reveals more than the event describes (OpenDP's thresholded key discovery
is such a release). The ledger composes the events of all its charges with the PLD
accountant and adds their deltas: an (ε, δ)-DP mechanism is dominated by "with probability δ
reveal everything, else randomized response with ε" (Kairouz, Oh & Viswanath 2015), so
``δ_total(ε) ≤ Σ δ_i + δ_PLD(ε)``. The RDP accountant gives an independent, looser total as a
cross-check.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dp_accounting import dp_event as ev
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.rdp import rdp_privacy_accountant

from privet.errors import IntegrityError

# The stored format of an event; bump when the JSON shape changes.
FORMAT = 1
# The PLD accountant's default grid: pessimistic rounding, so totals only err upward.
PLD_DISCRETIZATION = 1e-4


@dataclass(frozen=True)
class Charge:
    """What one release costs: a dp-accounting event, plus ``delta`` not covered by it."""

    event: ev.DpEvent
    delta: float = 0.0


def pure(epsilon: float) -> ev.DpEvent:
    """The tightest event that holds for *any* ε-DP mechanism.

    The discrete Laplace mechanism with sensitivity 1 and parameter ε has the privacy loss
    distribution of randomized response with ε, which dominates every ε-DP mechanism; we use
    it for OpenDP measurements, whose privacy map gives ε.
    """
    return ev.DiscreteLaplaceDpEvent(noise_parameter=float(epsilon), sensitivity=1)


def dp_sgd(noise_multiplier: float, sample_rate: float, steps: int) -> ev.DpEvent:
    """The exact event of DP-SGD: ``steps`` Poisson-subsampled Gaussian steps."""
    step: ev.DpEvent = ev.GaussianDpEvent(noise_multiplier)
    if sample_rate < 1.0:
        step = ev.PoissonSampledDpEvent(sample_rate, step)
    return ev.SelfComposedDpEvent(step, steps)


def split(total: float, weights: Sequence[float]) -> list[float]:
    """``total`` divided in proportion to ``weights``, each part rounded down so that the
    parts never add up to more than the whole, in any order of summation.

    A float split like ``0.9 - 0.1`` can exceed its whole by one unit in the last place, and
    OpenDP then refuses the last part ("insufficient budget"); a budget must only err low.
    """
    if total < 0 or not weights or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("split needs a non-negative total and non-negative weights")
    scale = math.fsum(weights)
    parts = [math.nextafter(total * w / scale, 0.0) if w else 0.0 for w in weights]
    while max(sum(parts), sum(reversed(parts)), math.fsum(parts)) > total:
        largest = max(range(len(parts)), key=parts.__getitem__)
        parts[largest] = math.nextafter(parts[largest], 0.0)
    return parts


def composed(events: Sequence[ev.DpEvent]) -> ev.DpEvent:
    """One event for several mechanisms run on the same data, in order."""
    return events[0] if len(events) == 1 else ev.ComposedDpEvent(list(events))


# -- composition -------------------------------------------------------------------------------


def delta_left(charges: Sequence[Charge], delta: float) -> float:
    """The part of a ledger's δ that no release has charged (what composition works with)."""
    return delta - math.fsum(c.delta for c in charges)


def epsilon_spent(
    charges: Sequence[Charge], delta: float, *, discretization: float = PLD_DISCRETIZATION
) -> float:
    """ε of the composition of ``charges`` at total ``delta`` (PLD accountant)."""
    events = [c.event for c in charges if not isinstance(c.event, ev.NoOpDpEvent)]
    if not events:
        return 0.0
    residual = delta_left(charges, delta)
    if residual <= 0:
        return math.inf
    # The same composition is asked for several times per release (check, record, card);
    # a PLD of many subsampled steps takes up to seconds, so results are remembered.
    key = json.dumps([[_event_to_json(e) for e in events], residual, discretization])
    cached = _SPENT.get(key)
    if cached is None:
        accountant = pld_privacy_accountant.PLDAccountant(
            value_discretization_interval=discretization
        )
        accountant.compose(ev.ComposedDpEvent(events))
        cached = max(0.0, float(accountant.get_epsilon(residual)))
        if len(_SPENT) >= 512:
            _SPENT.pop(next(iter(_SPENT)))
        _SPENT[key] = cached
    return cached


_SPENT: dict[str, float] = {}


def epsilon_spent_rdp(charges: Sequence[Charge], delta: float) -> float | None:
    """The RDP accountant's (looser) total, as a cross-check; None if it cannot say."""
    events = [_for_rdp(c.event) for c in charges if not isinstance(c.event, ev.NoOpDpEvent)]
    if not events:
        return 0.0
    residual = delta_left(charges, delta)
    if residual <= 0:
        return math.inf
    accountant = rdp_privacy_accountant.RdpAccountant()
    event = ev.ComposedDpEvent(events)
    if not accountant.supports(event):
        return None
    with _quiet_absl():
        accountant.compose(event)
        return float(accountant.get_epsilon(residual))


@contextmanager
def _quiet_absl() -> Iterator[None]:
    # The RDP accountant logs, for large sampling rates, each Rényi order it had to skip;
    # the total is still a valid bound, and a user should not see those lines.
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _for_rdp(event: ev.DpEvent) -> ev.DpEvent:
    # RDP has no discrete Laplace: use the zCDP bound every ε-DP mechanism meets, ρ = ε²/2
    # (Bun & Steinke 2016), scaled by the sensitivity.
    if isinstance(event, ev.DiscreteLaplaceDpEvent):
        return ev.ZCDpEvent(rho=(event.noise_parameter * event.sensitivity) ** 2 / 2)
    if isinstance(event, ev.SelfComposedDpEvent):
        return ev.SelfComposedDpEvent(_for_rdp(event.event), event.count)
    if isinstance(event, ev.ComposedDpEvent):
        return ev.ComposedDpEvent([_for_rdp(e) for e in event.events])
    return event


def standalone_epsilon(charge: Charge, delta: float) -> float:
    """ε of one release on its own at ``delta`` (for display; the ledger composes)."""
    return epsilon_spent([charge], delta)


def calibrate(
    make: Callable[[float], Sequence[Charge]],
    target_epsilon: float,
    delta: float,
    *,
    low: float = 0.05,
    high: float = 5000.0,
    rel_tol: float = 4e-3,
) -> float:
    """The smallest noise multiplier σ with ``epsilon_spent(make(σ), delta) ≤ target``.

    The RDP accountant (fast, looser) brackets σ from above; bisection under a coarse PLD
    grid (pessimistic, ten times faster) then finds the tighter value, and the ledger's own
    grid confirms it. The result always satisfies the target under the ledger's PLD.
    """

    def fits(sigma: float) -> bool:
        return epsilon_spent(make(sigma), delta, discretization=10 * PLD_DISCRETIZATION) <= (
            target_epsilon
        )

    sigma = _search(fits, make, target_epsilon, delta, low, high, rel_tol)
    for _ in range(50):
        if epsilon_spent(make(sigma), delta) <= target_epsilon:
            return sigma
        sigma *= 1 + rel_tol
    raise ValueError("no noise level meets the target")


def _search(
    fits: Callable[[float], bool],
    make: Callable[[float], Sequence[Charge]],
    target_epsilon: float,
    delta: float,
    low: float,
    high: float,
    rel_tol: float,
) -> float:

    upper = _rdp_upper(make, target_epsilon, delta, low, high)
    if upper is None or not fits(upper):
        upper = high
        if not fits(upper):
            raise ValueError("no noise level meets the target")
    # PLD needs less noise than RDP, typically 70–95% of it.
    lower = upper * 0.7
    while fits(lower):
        if lower < low:
            return lower
        upper, lower = lower, lower * 0.7
    while upper - lower > rel_tol * upper:
        middle = (lower + upper) / 2
        if fits(middle):
            upper = middle
        else:
            lower = middle
    return upper


def _rdp_upper(
    make: Callable[[float], Sequence[Charge]],
    target: float,
    delta: float,
    low: float,
    high: float,
) -> float | None:
    def rdp(sigma: float) -> float:
        value = epsilon_spent_rdp(make(sigma), delta)
        return math.inf if value is None else value

    if rdp(high) > target:
        return None
    lo, hi = low, high
    for _ in range(60):
        middle = math.sqrt(lo * hi)
        if rdp(middle) <= target:
            hi = middle
        else:
            lo = middle
        if hi / lo < 1.01:
            break
    return hi


# -- the stored form -----------------------------------------------------------------------------


def to_json(charge: Charge) -> dict[str, Any]:
    return {"format": FORMAT, "event": _event_to_json(charge.event), "delta": charge.delta}


def from_json(data: Any) -> Charge:
    """Read a stored charge back, refusing anything but the known, well-formed shapes."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise IntegrityError("a ledger entry has an unknown format")
    delta = data.get("delta")
    if not isinstance(delta, int | float) or not 0 <= delta < 1:
        raise IntegrityError("a ledger entry has an invalid delta")
    return Charge(_event_from_json(data.get("event")), float(delta))


def _event_to_json(event: ev.DpEvent) -> dict[str, Any]:
    if isinstance(event, ev.NoOpDpEvent):
        return {"type": "noop"}
    if isinstance(event, ev.LaplaceDpEvent):
        return {"type": "laplace", "noise_multiplier": event.noise_multiplier}
    if isinstance(event, ev.DiscreteLaplaceDpEvent):
        return {
            "type": "discrete_laplace",
            "noise_parameter": event.noise_parameter,
            "sensitivity": event.sensitivity,
        }
    if isinstance(event, ev.GaussianDpEvent):
        return {"type": "gaussian", "noise_multiplier": event.noise_multiplier}
    if isinstance(event, ev.PoissonSampledDpEvent):
        return {
            "type": "poisson_sampled",
            "sampling_probability": event.sampling_probability,
            "event": _event_to_json(event.event),
        }
    if isinstance(event, ev.SelfComposedDpEvent):
        return {"type": "self_composed", "count": event.count, "event": _event_to_json(event.event)}
    if isinstance(event, ev.ComposedDpEvent):
        return {"type": "composed", "events": [_event_to_json(e) for e in event.events]}
    raise ValueError(f"the ledger cannot store a {type(event).__name__}")


def _number(data: dict[str, Any], key: str, *, positive: bool = True) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise IntegrityError("a ledger entry has an invalid parameter")
    if positive and value <= 0:
        raise IntegrityError("a ledger entry has an invalid parameter")
    return float(value)


def _event_from_json(data: Any, depth: int = 0) -> ev.DpEvent:
    if not isinstance(data, dict) or depth > 8:
        raise IntegrityError("a ledger entry holds a malformed event")
    kind = data.get("type")
    if kind == "noop":
        return ev.NoOpDpEvent()
    if kind == "laplace":
        return ev.LaplaceDpEvent(_number(data, "noise_multiplier"))
    if kind == "discrete_laplace":
        sensitivity = data.get("sensitivity")
        if not isinstance(sensitivity, int) or isinstance(sensitivity, bool) or sensitivity < 1:
            raise IntegrityError("a ledger entry has an invalid parameter")
        return ev.DiscreteLaplaceDpEvent(_number(data, "noise_parameter"), sensitivity)
    if kind == "gaussian":
        return ev.GaussianDpEvent(_number(data, "noise_multiplier"))
    if kind == "poisson_sampled":
        rate = _number(data, "sampling_probability")
        if rate > 1:
            raise IntegrityError("a ledger entry has an invalid parameter")
        return ev.PoissonSampledDpEvent(rate, _event_from_json(data.get("event"), depth + 1))
    if kind == "self_composed":
        count = data.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise IntegrityError("a ledger entry has an invalid parameter")
        return ev.SelfComposedDpEvent(_event_from_json(data.get("event"), depth + 1), count)
    if kind == "composed":
        events = data.get("events")
        if not isinstance(events, list):
            raise IntegrityError("a ledger entry holds a malformed event")
        return ev.ComposedDpEvent([_event_from_json(e, depth + 1) for e in events])
    raise IntegrityError("a ledger entry holds an event type privet does not know")


def describe(event: ev.DpEvent) -> str:
    """A short human name for an event: 'discrete Laplace', 'DP-SGD (1,530 steps)', …"""
    if isinstance(event, ev.DiscreteLaplaceDpEvent):
        return "discrete Laplace"
    if isinstance(event, ev.LaplaceDpEvent):
        return "Laplace"
    if isinstance(event, ev.GaussianDpEvent):
        return "Gaussian"
    if isinstance(event, ev.PoissonSampledDpEvent):
        return f"Poisson-subsampled {describe(event.event)}"
    if isinstance(event, ev.SelfComposedDpEvent):
        if isinstance(event.event, ev.PoissonSampledDpEvent):
            return f"DP-SGD ({event.count:,} steps)"
        return f"{event.count} × {describe(event.event)}"
    if isinstance(event, ev.ComposedDpEvent):
        names = [describe(e) for e in event.events]
        parts = [
            name if count == 1 else f"{count} × {name}"
            for name, count in ((n, names.count(n)) for n in dict.fromkeys(names))
        ]
        return " + ".join(parts)
    return type(event).__name__
