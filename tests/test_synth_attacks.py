"""The synthetic-data attacks, each validated on two planted cases.

"copy": the synthetic rows ARE the real rows — every attack must find a risk near its
maximum. "independent": the synthetic rows are a fresh sample from the same population,
drawn without looking at the real rows — every risk must be near zero (the control does as
well as the attack on the real rows).
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from privet.attacks import inference, linkability, singling_out, synthetic_risk


def population(n: int, seed: int) -> pl.DataFrame:
    """People with two measured numbers and three categories that depend on them."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, n)
    income = np.round(rng.lognormal(10 + 0.01 * age, 0.5, n), -1)
    region = rng.choice(["north", "south", "east", "west", "centre"], n)
    smoker = np.where(rng.random(n) < 0.2 + 0.003 * (age - 18), "yes", "no")
    plan = rng.choice(["basic", "plus", "premium"], n, p=[0.6, 0.3, 0.1])
    hours = np.round(rng.normal(38, 8, n), 2)
    return pl.DataFrame(
        {
            "age": age,
            "income": income,
            "region": region,
            "smoker": smoker,
            "plan": plan,
            "hours": hours,
        }
    )


@pytest.fixture(scope="module")
def splits() -> dict[str, pl.DataFrame]:
    return {
        "real": population(1500, 1),
        "control": population(1500, 2),
        "independent": population(1500, 3),
    }


def _copy_and_fresh(splits: dict[str, pl.DataFrame]):
    return [("copy", splits["real"]), ("independent", splits["independent"])]


def test_singling_out_planted(splits: dict[str, pl.DataFrame]) -> None:
    real, control = splits["real"], splits["control"]
    rng = np.random.default_rng(0)
    copy = singling_out(real, real, control, n_attacks=300, rng=rng)
    fresh = singling_out(real, splits["independent"], control, n_attacks=300, rng=rng)
    assert copy.success_rate > 0.95 and copy.risk > 0.9
    assert fresh.risk_interval[0] <= 0.0 <= fresh.risk_interval[1] or abs(fresh.risk) < 0.05


@pytest.mark.parametrize(
    ("real_rows", "holdout_rows"),
    [
        (2000, 1000),  # REAL twice the holdout: REAL is compared on its 1000-row subsets
        (1000, 2000),  # the holdout twice REAL: the holdout is
    ],
)
def test_singling_out_compares_real_and_holdout_at_equal_size(
    real_rows: int, holdout_rows: int
) -> None:
    """A predicate isolates one record more easily in a smaller set: with sets of unequal
    size the control rate is not what the population alone gives on REAL."""
    real, control = population(real_rows, 1), population(holdout_rows, 2)
    fresh = population(real_rows, 3)  # the same population, nothing of REAL's rows
    for seed in range(3):
        rng = np.random.default_rng(seed)
        result = singling_out(real, fresh, control, n_attacks=500, rng=rng)
        assert result.detail["compared_at_rows"] == 1000
        assert result.risk_interval[0] <= 0.0 <= result.risk_interval[1], seed
    copy = singling_out(real, real, control, n_attacks=500, rng=np.random.default_rng(0))
    # A predicate unique among the copied rows matches one real record, which a random
    # 1000-row subset of REAL holds with probability 1000 / len(REAL).
    assert copy.success_rate == pytest.approx(min(1.0, holdout_rows / real_rows))
    assert copy.risk > (0.4 if real_rows > holdout_rows else 0.9)
    assert copy.risk_interval[0] > 0.3


@pytest.mark.parametrize(
    ("rows", "size", "matches"),
    [(6, 3, 2), (6, 3, 0), (6, 3, 1), (7, 4, 3), (5, 5, 1), (8, 2, 5)],
)
def test_isolation_probability_is_the_share_of_subsets_holding_one_match(
    rows: int, size: int, matches: int
) -> None:
    """Counted over every subset of ``size`` of ``rows`` records, ``matches`` of which match."""
    from privet.attacks._synthetic import _isolates

    subsets = list(itertools.combinations(range(rows), size))
    expected = sum(sum(i < matches for i in s) == 1 for s in subsets) / len(subsets)
    got = _isolates(np.array([matches]), rows, size)[0]
    assert got == pytest.approx(expected)


def test_linkability_planted(splits: dict[str, pl.DataFrame]) -> None:
    real, control = splits["real"], splits["control"]
    rng = np.random.default_rng(0)
    aux = (["age", "income", "region"], ["smoker", "plan", "hours"])
    copy = linkability(real, real, control, n_attacks=300, aux=aux, rng=rng)
    fresh = linkability(real, splits["independent"], control, n_attacks=300, aux=aux, rng=rng)
    # Below 1 only where a few people tie on one side's columns (the nearest is then a draw).
    assert copy.success_rate > 0.85 and copy.risk > 0.85
    assert abs(fresh.risk) < 0.05


@pytest.mark.parametrize("secret", ["smoker", "income", "plan"])
def test_inference_planted(splits: dict[str, pl.DataFrame], secret: str) -> None:
    real, control = splits["real"], splits["control"]
    rng = np.random.default_rng(0)
    copy = inference(real, real, control, secret=secret, n_attacks=300, rng=rng)
    fresh = inference(real, splits["independent"], control, secret=secret, n_attacks=300, rng=rng)
    # On a copy the nearest synthetic row is the person: the guess is right every time.
    assert copy.success_rate > 0.98 and copy.risk > 0.9
    assert fresh.risk_interval[0] <= 0.0 <= fresh.risk_interval[1]
    assert abs(fresh.risk) < 0.2


def test_distances_exact_matches_and_membership_planted(splits: dict[str, pl.DataFrame]) -> None:
    real, control = splits["real"], splits["control"]
    copy = synthetic_risk(real, real, control, n_attacks=300, secrets=["plan"], seed=0)
    fresh = synthetic_risk(
        real, splits["independent"], control, n_attacks=300, secrets=["plan"], seed=0
    )
    assert copy.dcr_closer_to_real > 0.95 and copy.exact_match_real > 0.95
    assert copy.membership_auc > 0.95 and copy.membership_advantage > 0.9
    assert fresh.dcr_interval[0] <= 0.5 <= fresh.dcr_interval[1]
    assert fresh.membership_interval[0] <= 0.5 <= fresh.membership_interval[1]
    # Exact copies, counted here independently with a join on every column.
    independent_copies = splits["independent"].join(real.unique(), on=real.columns, how="semi")
    assert fresh.exact_match_real <= independent_copies.height / real.height + 0.02
    assert fresh.exact_match_real < 0.02


def test_attacks_need_matching_columns(splits: dict[str, pl.DataFrame]) -> None:
    from privet.errors import InvalidInput

    with pytest.raises(InvalidInput):
        synthetic_risk(splits["real"], splits["real"].drop("plan"), splits["control"])
