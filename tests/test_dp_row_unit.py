"""DP answers are distributed around the truth as stated, when each row is a person and when
rows belong to subjects.

Most tables have no subject-id column. Wave 1 answered ``COUNT(*)`` on such a table with a
count over no rows, and refused GROUP BY with discovered keys. Here every kind of statistic
goes through the whole path (``ws.dp.query``: broker, OpenDP, ledger) many times on a public
table (the first rows of UCI Adult), and the answers are compared with the true values
computed by Polars in the test:

- coverage: the stated 95% interval holds the truth in at least as many runs as a correct
  95% interval does with probability 1 - 1e-4 (binomial lower quantile);
- centring: the mean error is within 4.5 standard errors of 0, the standard error coming from
  the noise scale each answer states (discrete Laplace variance, computed here).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from scipy.stats import binom

from privet import Workspace
from privet.datasets import adult

ROWS = 1500
RUNS = 25
EPSILON = 1.0
BOUNDS = {"age": (17.0, 90.0), "hours_per_week": (0.0, 100.0)}
SEX = ["Female", "Male"]


def coverage_floor(runs: int, level: float = 0.95, alpha: float = 1e-4) -> int:
    """The fewest covering runs a correct `level` interval gives, but with probability alpha."""
    return int(binom.ppf(alpha, runs, level))


def discrete_laplace_sd(scale: float) -> float:
    """Standard deviation of the discrete Laplace with scale t: Var = 2e^{-1/t}/(1-e^{-1/t})²."""
    r = math.exp(-1 / scale)
    return math.sqrt(2 * r) / (1 - r)


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    frame = (
        adult()
        .head(ROWS)
        .select("age", "workclass", "education", "sex", "race", "hours_per_week", "income")
    )
    # Two rows for every fourth person: the subject table's unit then differs from a row.
    ids = [f"s{i // 2}" if i % 4 < 2 else f"t{i}" for i in range(frame.height)]
    return frame.with_columns(pl.Series("person", ids))


@pytest.fixture(scope="module")
def workspaces(
    table: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """One workspace, one dataset per (unit, statistic): each ledger stays short."""
    root = tmp_path_factory.mktemp("rowunit")
    monkey = pytest.MonkeyPatch()
    monkey.setenv("PRIVET_KEY_DIR", str(root / "keys"))
    ws = Workspace.init(root / "ws", actor="alice")
    csv = root / "adult.csv"
    table.write_csv(csv)
    yield {"ws": ws, "csv": csv}
    ws.close()
    monkey.undo()


def dataset(ctx: dict[str, Any], name: str, unit: str) -> str:
    ws: Workspace = ctx["ws"]
    if name not in {d.name for d in ws.datasets()}:
        frame = pl.read_csv(ctx["csv"])
        path = Path(ctx["csv"]).with_name(f"{name}.csv")
        (frame if unit == "subject" else frame.drop("person")).write_csv(path)
        ws.ingest(
            path,
            name=name,
            owner="alice",
            purposes=["research"],
            actor="alice",
            subject_id="person" if unit == "subject" else None,
            scan=False,
        )
        ws.dp.set_budget(name, actor="alice", epsilon=100, delta=1e-5)
    return name


def answers(ctx: dict[str, Any], name: str, sql: str, unit: str, **options: Any) -> list[Any]:
    ws: Workspace = ctx["ws"]
    rows = 2 if unit == "subject" else 1
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the row-unit warning, expected here
        for _ in range(RUNS):
            results.append(
                ws.dp.query(
                    name,
                    sql,
                    epsilon=EPSILON,
                    purpose="research",
                    actor="alice",
                    max_rows_per_subject=rows,
                    **options,
                )
            )
    expected_unit = "subject (person)" if unit == "subject" else "row"
    assert all(r.unit == expected_unit for r in results)
    assert all(r.epsilon <= EPSILON * (1 + 1e-9) for r in results)
    return results


def check_runs(truth: float, runs: list[tuple[float, float, float]], scale: float | None) -> None:
    """Coverage of the stated intervals, and centring (for unbiased statistics)."""
    covered = sum(low <= truth <= high for _, low, high in runs)
    assert covered >= coverage_floor(len(runs)), (covered, len(runs))
    if scale is not None:
        errors = [value - truth for value, _, _ in runs]
        standard_error = discrete_laplace_sd(scale) / math.sqrt(len(runs))
        assert abs(sum(errors) / len(errors)) <= 4.5 * standard_error


UNITS = ["row", "subject"]


@pytest.mark.parametrize("unit", UNITS)
def test_count_star_is_the_row_count(workspaces, table, unit) -> None:
    name = dataset(workspaces, f"count_{unit}", unit)
    results = answers(workspaces, name, f"SELECT COUNT(*) AS n FROM {name}", unit)
    scale = results[0].statistics[0].noise_scale
    # One person changes the count by their rows (1, or at most 2 on the subject table).
    assert scale == pytest.approx((2 if unit == "subject" else 1) / EPSILON, rel=1e-3)
    runs = [(r.rows[0]["n"], r.rows[0]["n_low"], r.rows[0]["n_high"]) for r in results]
    check_runs(table.height, runs, scale)


@pytest.mark.parametrize("unit", UNITS)
def test_count_of_a_column_skips_its_nulls(workspaces, table, unit) -> None:
    name = dataset(workspaces, f"countcol_{unit}", unit)
    results = answers(workspaces, name, f"SELECT COUNT(workclass) AS n FROM {name}", unit)
    truth = table["workclass"].count()
    assert truth < table.height  # the column has nulls: COUNT(col) must not count them
    scale = results[0].statistics[0].noise_scale
    runs = [(r.rows[0]["n"], r.rows[0]["n_low"], r.rows[0]["n_high"]) for r in results]
    check_runs(truth, runs, scale)


@pytest.mark.parametrize("unit", UNITS)
def test_sum_with_bounds_is_centred_on_the_truth(workspaces, table, unit) -> None:
    name = dataset(workspaces, f"sum_{unit}", unit)
    sql = f"SELECT SUM(hours_per_week) AS h FROM {name}"
    results = answers(workspaces, name, sql, unit, bounds=BOUNDS)
    scale = results[0].statistics[0].noise_scale
    runs = [(r.rows[0]["h"], r.rows[0]["h_low"], r.rows[0]["h_high"]) for r in results]
    check_runs(table["hours_per_week"].sum(), runs, scale)


@pytest.mark.parametrize("unit", UNITS)
def test_mean_interval_holds_the_true_mean(workspaces, table, unit) -> None:
    name = dataset(workspaces, f"mean_{unit}", unit)
    results = answers(workspaces, name, f"SELECT AVG(age) AS a FROM {name}", unit, bounds=BOUNDS)
    runs = [(r.rows[0]["a"], r.rows[0]["a_low"], r.rows[0]["a_high"]) for r in results]
    truth = table["age"].mean()
    check_runs(truth, runs, None)
    # A ratio of noisy sums is not unbiased, but on 1,500 rows it is within a year.
    assert abs(sum(v for v, _, _ in runs) / len(runs) - truth) < 1.0


@pytest.mark.parametrize("unit", UNITS)
def test_group_by_public_keys(workspaces, table, unit) -> None:
    name = dataset(workspaces, f"public_{unit}", unit)
    sql = f"SELECT sex, COUNT(*) AS n, SUM(hours_per_week) AS h FROM {name} GROUP BY sex"
    results = answers(workspaces, name, sql, unit, bounds=BOUNDS, keys={"sex": SEX})
    truth = table.group_by("sex").agg(pl.len().alias("n"), pl.col("hours_per_week").sum())
    scales = {s.name: s.noise_scale for s in results[0].statistics}
    for sex, n, hours in truth.iter_rows():
        rows = [next(row for row in r.rows if row["sex"] == sex) for r in results]
        check_runs(n, [(x["n"], x["n_low"], x["n_high"]) for x in rows], scales["n"])
        check_runs(hours, [(x["h"], x["h_low"], x["h_high"]) for x in rows], scales["h"])


@pytest.mark.parametrize("unit", UNITS)
def test_group_by_discovered_keys_with_and_without_a_count(workspaces, table, unit) -> None:
    name = dataset(workspaces, f"discovered_{unit}", unit)
    for sql, stat in (
        (f"SELECT race, COUNT(*) AS n FROM {name} GROUP BY race", "n"),
        # No COUNT(*): discovery needs a noisy group length, added within the same ε.
        (f"SELECT race, SUM(hours_per_week) AS n FROM {name} GROUP BY race", "n"),
    ):
        results = answers(workspaces, name, sql, unit, bounds=BOUNDS, delta=1e-7)
        threshold = results[0].threshold
        assert threshold is not None and 0 < results[0].delta <= 1e-7
        truth = table.group_by("race").agg(
            pl.len().alias("rows"), pl.col("hours_per_week").sum().alias("hours")
        )
        scale = next(s.noise_scale for s in results[0].statistics if s.name == stat)
        for race, rows, hours in truth.iter_rows():
            found = [[x for x in r.rows if x["race"] == race] for r in results]
            if rows > 2 * threshold:
                # Far above the threshold, a group is released in every run.
                assert all(found)
            present = [x[0] for x in found if x]
            if rows > 2 * threshold:
                value = rows if "COUNT" in sql else hours
                check_runs(
                    value, [(x[stat], x[f"{stat}_low"], x[f"{stat}_high"]) for x in present], scale
                )
            # A group with fewer rows than a subject can hold is never released.
            if rows <= 1:
                assert not present
