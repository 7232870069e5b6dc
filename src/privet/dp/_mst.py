"""OpenDP 0.16's MST with one change: the budget its selection steps are given.

MST (McKenna, Miklau and Sheldon 2021) picks the n − 1 pairs of columns of a spanning tree
with n − 1 noisy-max steps. OpenDP 0.16 hands the selection d = prior(prior(d_out − 0.9·d_out))
to ``_make_mst_select``, which gives each of its k = n − 1 steps prior(d / k) and composes
them with a sum rounded up, then checks that sum against d. The sum overshoots d by a unit
in the last place or two for about three quarters of (ε, n) with 2 to 40 columns: e.g. 9
columns at ε = 0.9 stop with "insufficient budget for query: 0.04499999999999998 >
0.04499999999999997", after the one-way marginals were measured (opendp/opendp#2789).

No choice of ε avoids it: d − 0.9·d cancels high bits, so d always ends in binary …10, and
for k divisible by 8 each step's budget then has an odd last bit and the rounded-up sum
never fits (none of 2,500 values of ε fits for 9, 17, 25 or 33 columns). So :class:`MST`
gives the selection a budget lowered just enough that OpenDP's own split composes within
d, checked with OpenDP's composition map (:func:`selection_budget`), and :func:`check_plan`
runs that check from ε alone when the release is planned, before any data is read.
Everything else is OpenDP's code, unchanged, and OpenDP still checks every budget.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from opendp._internal import _new_pure_function
from opendp.combinators import then_adaptive_composition
from opendp.extras.mbi import MST as OpenDPMST
from opendp.extras.mbi._mst import _make_mst_select
from opendp.extras.mbi._utilities import (
    get_associated_metric,
    make_noise_marginals,
    make_stable_marginals,
    prior,
)
from opendp.mod import Measure, Measurement, Queryable, binary_search_chain

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


def selection_budget(total: float, steps: int, measure: Measure) -> float:
    """The budget to give ``_make_mst_select`` so that its ``steps`` equal parts,
    prior(budget / steps) each, compose within ``total`` by OpenDP's composition map."""
    if steps < 1:
        raise InvalidInput("MST needs at least two columns")
    budget = total
    for _ in range(_TRIES):
        if composed([float(prior(budget / steps))] * steps, measure) <= total:
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
    multiway = float(prior(prior(epsilon - epsilon * 0.5)))
    select = float(prior(prior(multiway - multiway * MST.measure_split)))
    selection_budget(select, columns - 1, measure)


@dataclass(kw_only=True, frozen=True)
class MST(OpenDPMST):
    """OpenDP's MST whose selection budget always composes (see the module docstring)."""

    def make_marginals(
        self,
        input_domain: Any,
        input_metric: Any,
        output_measure: Measure,
        d_in: Any,
        d_out: float,
        *,
        marginals: Any,
        model: Any,
    ) -> Measurement:
        """OpenDP 0.16's ``MST.make_marginals``; only ``selection_budget`` is new."""
        from mbi import MarkovRandomField  # type: ignore[import-untyped]

        if not isinstance(model, MarkovRandomField):
            raise ValueError("model must be a MarkovRandomField")
        d_measure = d_out * self.measure_split
        d_select = prior(prior(d_out - d_measure))
        steps = len(model.domain.attrs) - 1
        if self.num_selections is not None:
            steps = min(max(0, self.num_selections), steps)
        inner = selection_budget(float(d_select), steps, output_measure)
        edges = list(itertools.combinations(input_domain.columns, 2))
        t_marginals = make_stable_marginals(
            input_domain, input_metric, get_associated_metric(output_measure), edges
        )
        d_marginals = t_marginals.map(d_in)

        def function(qbl: Queryable) -> tuple[Any, Any]:
            m_select = _make_mst_select(
                *t_marginals.output_space,
                output_measure,
                d_in=d_marginals,
                d_out=inner,
                edges=edges,
                model=model,
                num_selections=self.num_selections,
            )
            selected = qbl(m_select)
            m_measure = binary_search_chain(
                lambda s: make_noise_marginals(
                    *t_marginals.output_space, output_measure, selected, scale=s
                ),
                d_in=d_marginals,
                d_out=d_measure,
                T=float,
            )
            all_marginals = marginals.add(*qbl(m_measure))
            fitted = self.estimator(
                model.domain, all_marginals.flatten(), potentials=model.potentials
            )
            return all_marginals, fitted

        return (
            t_marginals
            >> then_adaptive_composition(
                output_measure=output_measure, d_in=d_marginals, d_mids=[d_select, d_measure]
            )
            >> _new_pure_function(function)
        )
