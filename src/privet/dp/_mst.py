"""A workaround for OpenDP 0.16's MST selection split (opendp/opendp#2789).

MST (McKenna, Miklau and Sheldon 2021) picks the n − 1 pairs of columns of a spanning tree
with n − 1 noisy-max steps. OpenDP 0.16's ``_make_mst_select`` gives each of its k = n − 1
steps prior(d / k) of the selection budget d and composes them with a sum rounded up, which
overshoots d by a unit in the last place or two for about three quarters of (ε, n) with 2 to
40 columns: e.g. 9 columns at ε = 0.9 stop with "insufficient budget for query:
0.04499999999999998 > 0.04499999999999997", after the one-way marginals were measured.

No choice of ε avoids it (d − 0.9·d cancels high bits, so d always ends in binary …10, and
for k divisible by 8 the rounded-up sum never fits). So while privet fits MST
(:func:`selection_fitted`), OpenDP's selection is handed a budget lowered just enough that its
own split composes within d, checked with OpenDP's composition map
(:func:`selection_budget`); a lower budget for the selection only spends less. Everything
else is OpenDP's code, run unchanged, and OpenDP still checks every budget.
:func:`check_plan` runs the same check from ε alone when a release is planned, before any
data is read. Drop this module once OpenDP splits safely (the slow test in
tests/test_synth.py shows when).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opendp.extras.mbi import MST
from opendp.extras.mbi import _mst as opendp_mst
from opendp.mod import ExtrinsicDistance, ExtrinsicDomain, Measure, Measurement

from privet.dp._opendp import dp
from privet.errors import InvalidInput

# The unit roundoff of a double: a sum rounded up errs by less than this, relatively.
_U = 2.0**-52
_TRIES = 8


def composed(parts: list[float], measure: Measure) -> float:
    """What OpenDP's adaptive composition charges for steps of ``parts`` (its own arithmetic)."""
    composition = dp.c.make_adaptive_composition(
        dp.vector_domain(dp.atom_domain(T=float)),
        dp.symmetric_distance(),
        measure,
        d_in=1,
        d_mids=parts,
    )
    return float(composition.map(1))


def _prior(value: float) -> float:
    """The next float below ``value``, as OpenDP's MST lowers each budget it hands on."""
    return math.nextafter(value, -math.inf)


def selection_budget(total: float, steps: int, measure: Measure) -> float:
    """The budget to give ``_make_mst_select`` so that its ``steps`` equal parts,
    prior(budget / steps) each, compose within ``total`` by OpenDP's composition map."""
    if steps < 1:
        raise InvalidInput("MST needs at least two columns")
    budget = total
    for _ in range(_TRIES):
        if composed([_prior(budget / steps)] * steps, measure) <= total:
            return budget
        # Recursive summation rounding up overshoots by less than (steps − 1)·u of the sum
        # (Higham 2002, §4.2): lowering the budget by 2·steps·u is enough, once.
        budget *= 1 - 2 * steps * _U
    raise InvalidInput("OpenDP's MST cannot split this budget; ask for a different ε")


def check_plan(epsilon: float, columns: int, measure: Measure | None = None) -> None:
    """Check, from ε alone and before any data is read, that MST's splits will fit.

    Traces OpenDP 0.16's arithmetic: ``make_contingency_table`` keeps half of ε for the
    one-way marginals (its default ``oneway_split``), MST measures with 90% of the rest
    (``measure_split``) and selects with what is left.
    """
    measure = measure or dp.max_divergence()
    multiway = _prior(_prior(epsilon - epsilon * 0.5))
    select = _prior(_prior(multiway - multiway * MST.measure_split))
    selection_budget(select, columns - 1, measure)


_PATCH = threading.Lock()


@contextmanager
def selection_fitted() -> Iterator[None]:
    """While held, OpenDP's MST hands its selection a budget its composition accepts.

    OpenDP calls ``_make_mst_select`` by its module-level name when the fit runs, so the
    name is rebound for the duration (one fit at a time) and restored afterwards.
    """
    original = opendp_mst._make_mst_select

    # OpenDP's own signature; its d_in and model (an mbi MarkovRandomField) are untyped there.
    def select(
        input_domain: ExtrinsicDomain,
        input_metric: ExtrinsicDistance,
        output_measure: Measure,
        d_in: Any,
        d_out: float,
        edges: list[tuple[str, str]],
        model: Any,
        num_selections: int | None = None,
    ) -> Measurement:
        most = len(model.domain.attrs) - 1  # OpenDP's default: a spanning tree's edges
        steps = min(max(0, num_selections or most), most)
        budget = selection_budget(float(d_out), steps, output_measure)
        return original(
            input_domain,
            input_metric,
            output_measure,
            d_in=d_in,
            d_out=budget,
            edges=edges,
            model=model,
            num_selections=num_selections,
        )

    with _PATCH:
        opendp_mst._make_mst_select = select
        try:
            yield
        finally:
            opendp_mst._make_mst_select = original
