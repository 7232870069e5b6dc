"""The synthetic-data attacks, each validated on two planted cases.

"copy": the synthetic rows ARE the real rows — every attack must find a risk near its
maximum. "independent": the synthetic rows are a fresh sample from the same population,
drawn without looking at the real rows — every risk must be near zero (the control does as
well as the attack on the real rows).
"""

from __future__ import annotations

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
