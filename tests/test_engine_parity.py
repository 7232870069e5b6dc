"""The engines agree: the same rows give the same risk figures and the same protected rows.

Each engine's rows are compared with the in-memory path, whose figures the deid tests check
against pycanon; here pycanon checks the engine path's output again, independently.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pycanon.anonymity as pycanon
import pytest

from privet.datasets import adult
from privet.deid import ProtectRequest, assess_risk, check_plan, check_values, run_plan
from privet.deid._columns import file_columns
from privet.deid._protect_rows import distinct_values, run_plan_rows
from privet.engine import FrameRows
from privet.operators import Context

QIS = ["age", "workclass", "education", "marital_status", "occupation", "race", "sex"]
# The models both engine parity files run (the Spark one imports them).
MODELS = [
    # (k, l, t, sensitive, max_suppression)
    (5, None, None, [], 0.05),
    (4, 2, None, ["income"], 0.05),
    (3, None, 0.2, ["education_num"], 0.1),
]


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    return adult().head(6000)


def pandas(frame: pl.DataFrame):
    return frame.with_columns(pl.col(pl.String).fill_null("?")).to_pandas()


def _no_links(values: pl.Series) -> pl.Series:
    raise AssertionError("a table without a subject id has no links to make")


def in_order(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


def test_risk_figures_are_the_same_from_counts(table: pl.DataFrame) -> None:
    expected = assess_risk(table, QIS, ["income", "education_num"], population_size=10**6)
    got = assess_risk(FrameRows(table), QIS, ["income", "education_num"], population_size=10**6)
    assert got == expected


@pytest.mark.parametrize(("k", "l_value", "t_value", "sensitive", "suppression"), MODELS)
def test_a_plan_on_rows_releases_what_it_releases_in_memory(
    table: pl.DataFrame, k, l_value, t_value, sensitive, suppression, tmp_path: Path
) -> None:
    request = ProtectRequest(k=k, l=l_value, t=t_value, quasi_identifiers=QIS,
                             sensitive=sensitive, max_suppression=suppression)  # fmt: skip
    columns = file_columns(table)
    checked = check_values(check_plan(request.to_plan(), columns, table.height), table)
    memory = run_plan(table, checked, Context(hierarchies=checked.hierarchies), source="t",
                      output="o")  # fmt: skip
    rows = FrameRows(table)
    again = check_values(check_plan(request.to_plan(), columns, table.height),
                         distinct_values(rows, checked))  # fmt: skip
    out = tmp_path / "out.parquet"
    engine = run_plan_rows(rows, again, Context(hierarchies=again.hierarchies), source="t",
                           output="o", subject=None, destination=out, links=_no_links)  # fmt: skip
    written = pl.read_parquet(out)
    assert engine.file.rows == written.height == engine.report.rows_out
    assert in_order(written).equals(in_order(memory.frame))
    assert engine.report.levels == memory.report.levels
    assert engine.report.suppressed == memory.report.suppressed
    assert engine.report.risk_after == memory.report.risk_after
    utility, expected = engine.report.utility, memory.report.utility
    assert utility.generalization_loss == pytest.approx(expected.generalization_loss, abs=1e-12)
    assert utility.discernibility == pytest.approx(expected.discernibility, abs=1e-6)
    assert utility.non_uniform_entropy == pytest.approx(expected.non_uniform_entropy, abs=1e-12)
    data = pandas(written)
    assert pycanon.k_anonymity(data, QIS) >= k
    if l_value is not None:
        assert pycanon.l_diversity(data, QIS, sensitive) >= l_value
    if t_value is not None:
        assert pycanon.t_closeness(data, QIS, sensitive) <= t_value + 1e-9
