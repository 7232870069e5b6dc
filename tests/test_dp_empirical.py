"""Acceptance 3: the privacy loss of a DP count, measured, stays within the claimed ε.

The mechanism is privet's own: the SQL is parsed and compiled to a calibrated OpenDP
measurement by the code ``privet query`` runs, then released many times on two neighbouring
datasets, D and D' = D plus one subject. For every output set S tested, ε-DP requires
P[M(D) ∈ S] ≤ e^ε · P[M(D') ∈ S] and the same with D, D' swapped. We estimate both
probabilities and bound their ratio from below with one-sided Clopper-Pearson intervals;
the test fails only if that lower bound exceeds e^ε.

False-alarm rate: each of the K sets × 2 directions uses two bounds, each at level
α / (4K), so a correct mechanism fails with probability at most α = 1e-3 (Bonferroni).
The same procedure is shown to catch a mechanism whose noise is half what its claim needs.
"""

from __future__ import annotations

import math

import polars as pl
import pytest
from scipy.stats import beta

from privet.dp._query import compile_query
from privet.dp._sql import parse

ALPHA = 1e-3  # the stated false-alarm rate
CLAIMED_EPSILON = 1.0
N = 100  # subjects in D


def neighbours() -> tuple[pl.DataFrame, pl.DataFrame]:
    base = pl.DataFrame({"person_id": [f"p{i}" for i in range(N)], "age": list(range(N))})
    extra = pl.DataFrame({"person_id": ["newcomer"], "age": [40]})
    return base, pl.concat([base, extra])


def mechanism(epsilon: float):
    """The calibrated measurement ``privet query ... --epsilon E`` builds for this SQL."""
    d, _ = neighbours()
    parsed = parse(
        "SELECT COUNT(*) AS n FROM t", table="t", schema={"person_id": "String", "age": "Int64"}
    )
    prepared = compile_query(
        d,
        parsed,
        bounds={},
        keys={},
        discover=False,
        subject="person_id",
        max_rows_per_subject=1,
        epsilon=epsilon,
        delta=0.0,
        public_rows=N,
    )
    assert prepared.epsilon <= epsilon
    return prepared.measurement


def sample(measurement, frame: pl.DataFrame, trials: int) -> list[int]:
    lazy = frame.lazy()
    return [measurement(lazy).collect().item() for _ in range(trials)]


def clopper_pearson_lower(successes: int, trials: int, level: float) -> float:
    return 0.0 if successes == 0 else float(beta.ppf(level, successes, trials - successes + 1))


def clopper_pearson_upper(successes: int, trials: int, level: float) -> float:
    if successes == trials:
        return 1.0
    return float(beta.ppf(1 - level, successes + 1, trials - successes))


def epsilon_lower_bound(outputs_d: list[int], outputs_d2: list[int]) -> float:
    """The largest ε the samples prove, over sets {Y ≥ t} and {Y ≤ t}, both directions."""
    sets = [("ge", t) for t in range(N - 2, N + 5)] + [("le", t) for t in range(N - 4, N + 3)]
    level = ALPHA / (4 * len(sets))
    best = 0.0
    for kind, t in sets:

        def hits(outputs: list[int], kind: str = kind, t: int = t) -> int:
            return sum(1 for y in outputs if (y >= t if kind == "ge" else y <= t))

        a, b = hits(outputs_d), hits(outputs_d2)
        for (x, nx), (y, ny) in (
            ((a, len(outputs_d)), (b, len(outputs_d2))),
            ((b, len(outputs_d2)), (a, len(outputs_d))),
        ):
            low = clopper_pearson_lower(x, nx, level)
            high = clopper_pearson_upper(y, ny, level)
            if low > 0 and high > 0:
                best = max(best, math.log(low / high))
    return best


def run(trials: int, true_epsilon: float) -> float:
    measurement = mechanism(true_epsilon)
    d, d2 = neighbours()
    return epsilon_lower_bound(sample(measurement, d, trials), sample(measurement, d2, trials))


def test_a_dp_count_loses_no_more_than_its_epsilon() -> None:
    measured = run(trials=2000, true_epsilon=CLAIMED_EPSILON)
    assert measured <= CLAIMED_EPSILON, f"measured ε ≥ {measured:.3f} > claimed"
    # Not vacuous: the bound is informative (the tight sets give ε ≈ 1 in the limit).
    assert measured > 0.3


def test_the_check_catches_a_mechanism_with_half_the_noise() -> None:
    # Calibrated for ε = 2 but claimed as ε = 1: the check must notice.
    assert run(trials=2000, true_epsilon=2 * CLAIMED_EPSILON) > CLAIMED_EPSILON


@pytest.mark.slow
def test_a_dp_count_loses_no_more_than_its_epsilon_many_releases() -> None:
    measured = run(trials=40_000, true_epsilon=CLAIMED_EPSILON)
    assert CLAIMED_EPSILON * 0.8 < measured <= CLAIMED_EPSILON
