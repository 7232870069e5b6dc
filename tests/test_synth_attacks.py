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


# -- the blocked search against the pair-by-pair definition ----------


def _gower_one(target: dict, candidates: pl.DataFrame, ranges: dict[str, float]) -> np.ndarray:
    """Gower distance of one record to every candidate, column by column (the definition)."""
    total = np.zeros(candidates.height)
    for column in candidates.columns:
        values = candidates[column].to_list()
        mine = target[column]
        for i, other in enumerate(values):
            if mine is None or other is None:
                total[i] += 0.0 if mine is None and other is None else 1.0
            elif column in ranges:
                total[i] += min(abs(mine - other) / ranges[column], 1.0)
            else:
                total[i] += mine != other
    return total / len(candidates.columns)


@pytest.mark.parametrize("k", [1, 3])
def test_nearest_is_the_pair_by_pair_search(k: int) -> None:
    """Each target's k nearest candidates, ties broken by one uniform draw per pair in
    row-major order (the definition's jitter), found here one target at a time with a full
    sort; the search under test works in blocks of targets and never sorts a whole row."""
    from privet.attacks import _synthetic_stats as st

    real = population(400, 1).with_columns(
        # Nulls in a number and in a category; few distinct values, so ties are common.
        pl.when(pl.col("age") < 30).then(None).otherwise(pl.col("age") // 10).alias("age"),
        pl.when(pl.col("hours") > 45).then(None).otherwise(pl.col("plan")).alias("plan"),
        pl.col("income").clip(0, 60_000) // 20_000,
        (pl.col("hours") / 10).round() * 10,
    )
    targets, candidates = real.head(60), real.slice(60)
    ranges = {}
    for c in ("age", "income", "hours"):
        ranges[c] = float(real[c].max() - real[c].min())  # type: ignore[operator]
    encoded_targets, encoded_candidates = st.encode([targets, candidates], real)
    # Blocks of 7 targets, so the search under test crosses many blocks.
    index, dist = st.nearest(
        encoded_targets,
        encoded_candidates,
        np.random.default_rng(5),
        k,
        block_cells=7 * candidates.height,
    )
    draws = np.random.default_rng(5)
    ties = 0
    for i, target in enumerate(targets.iter_rows(named=True)):
        d = _gower_one(target, candidates, ranges)
        order = np.argsort(d + draws.random(candidates.height) * 1e-9, kind="stable")[:k]
        assert index[i].tolist() == order.tolist(), i
        assert dist[i] == pytest.approx(d[order], abs=1e-12)
        ties += int((d == d[order[0]]).sum() > 1)
    assert ties > 10  # the tie-breaking was exercised


def test_singling_out_predicates_are_the_rows_no_other_row_shares() -> None:
    """Every (column set, values) that exactly one row holds, in the order the draws index:
    column sets as given, values in ascending lexicographic order (counted here by a dict)."""
    from privet.attacks import _synthetic_stats as st
    from privet.attacks._synthetic import _exact, _unique_predicates

    frame = population(300, 7).with_columns(
        pl.col("age") // 7 - 5,  # negative numbers too
        pl.when(pl.col("age") > 70).then(None).otherwise(pl.col("region")).alias("region"),
    )
    values = _exact(st.encode([frame], frame)[0])
    sets = list(itertools.combinations(range(values.shape[1]), 3))
    expected = []
    for chosen in sets:
        counts: dict[tuple[float, ...], int] = {}
        for row in values[:, list(chosen)]:
            key = tuple(float(v) for v in row)
            counts[key] = counts.get(key, 0) + 1
        expected += [(chosen, key) for key in sorted(k for k, n in counts.items() if n == 1)]
    got = [
        (tuple(int(c) for c in cols), tuple(float(v) for v in row))
        for cols, row in _unique_predicates(values, sets)
    ]
    assert got == expected
    assert 100 < len(expected) < len(sets) * 300
