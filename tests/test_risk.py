"""Re-identification risk: k, ℓ and t against pycanon, the other measures against hand counts.

pycanon (an independent implementation, used only here and in the benchmarks) groups with
pandas, which drops null keys; both sides therefore get the same table with nulls written
as "?".
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pycanon.anonymity as pycanon
import pytest

from privet import InvalidInput
from privet.datasets import adult
from privet.deid import assess_risk, measure
from privet.deid._assess import zayatz_population_uniques
from tests.conftest import invoke

ADULT_QIS = [
    "age",
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "race",
    "sex",
    "native_country",
]


def filled(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.String).fill_null("?"))


def pycanon_klt(frame: pl.DataFrame, qis: list[str], sensitive: list[str]) -> tuple:
    data = frame.to_pandas()
    k = pycanon.k_anonymity(data, qis)
    if not sensitive:
        return k, None, None
    return k, pycanon.l_diversity(data, qis, sensitive), pycanon.t_closeness(data, qis, sensitive)


# Several quasi-identifier sets and sensitive attributes, categorical and numeric (ordered
# EMD), chosen so that pycanon's per-class Python loops stay fast in the default run.
CASES = [
    (["sex", "race"], ["income"]),  # categorical SA: equal-distance EMD
    (["age", "sex"], ["income"]),  # 146 classes
    (["education", "marital_status", "race"], ["income", "relationship"]),  # two SAs
    (["sex", "race", "relationship"], ["education_num"]),  # numeric SA: ordered EMD
    (["workclass", "sex"], ["hours_per_week"]),  # numeric SA with 96 values; nulls in a QI
]


@pytest.mark.parametrize(("qis", "sensitive"), CASES)
def test_k_l_t_equal_pycanon_on_adult(qis: list[str], sensitive: list[str]):
    table = filled(adult())
    report = assess_risk(table, qis, sensitive)
    k, l_value, t_value = pycanon_klt(table, qis, sensitive)
    assert report.k == k
    assert report.l == l_value
    assert report.t == pytest.approx(t_value, abs=1e-12)
    assert measure(table, qis, sensitive) == (k, l_value, pytest.approx(t_value, abs=1e-12))


def test_k_equals_pycanon_on_adult_with_eight_quasi_identifiers():
    table = filled(adult())
    assert assess_risk(table, ADULT_QIS).k == pycanon.k_anonymity(table.to_pandas(), ADULT_QIS)


def test_l_and_t_equal_pycanon_on_an_adult_slice_with_eight_quasi_identifiers():
    table = filled(adult().head(2500))
    report = assess_risk(table, ADULT_QIS, ["income"])
    assert (report.k, report.l, report.t) == pytest.approx(
        pycanon_klt(table, ADULT_QIS, ["income"]), abs=1e-12
    )


@pytest.mark.slow
def test_l_and_t_equal_pycanon_on_all_of_adult_with_eight_quasi_identifiers():
    table = filled(adult())
    report = assess_risk(table, ADULT_QIS, ["income"])
    assert (report.k, report.l, report.t) == pytest.approx(
        pycanon_klt(table, ADULT_QIS, ["income"]), abs=1e-12
    )


# A table small enough to count by hand. Classes over (zip, age):
#   (1, 30): rows 0-2, size 3, diagnoses {flu, flu, cold}
#   (1, 40): rows 3-4, size 2, {flu, hiv}
#   (2, 30): row 5,   size 1, {cold}
#   (2, 50): rows 6-9, size 4, {flu, cold, hiv, flu}
HAND = pl.DataFrame(
    {
        "zip": [1, 1, 1, 1, 1, 2, 2, 2, 2, 2],
        "age": [30, 30, 30, 40, 40, 30, 50, 50, 50, 50],
        "diagnosis": ["flu", "flu", "cold", "flu", "hiv", "cold", "flu", "cold", "hiv", "flu"],
        "stay": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    }
)


def test_hand_counted_risk_measures():
    r = assess_risk(HAND, ["zip", "age"], ["diagnosis"], threshold=0.3)
    assert (r.rows, r.classes, r.k, r.l) == (10, 4, 1, 1)
    assert r.prosecutor_risk_max == 1.0
    assert r.prosecutor_risk_avg == pytest.approx(4 / 10)  # classes / records
    # Risk above 0.3: classes of size 1 and 2 (1/3 = 0.333 too): 3 + 2 + 1 = all but 4 rows.
    assert r.records_at_risk == pytest.approx(6 / 10)
    assert r.sample_uniques == pytest.approx(1 / 10)
    assert r.marketer_risk == pytest.approx(4 / 10)
    assert r.journalist_risk_max is None and r.population_uniques_estimate is None
    # Table distribution: flu 5/10, cold 3/10, hiv 2/10. Class (2, 30) is all cold:
    # ½(|0 − .5| + |1 − .3| + |0 − .2|) = 0.7, the largest of the four.
    assert r.t == pytest.approx(0.7)
    # Without zip: classes by age = 3 (30, 40, 50); without age: 2. With both: 4.
    assert r.qi_contribution == {"zip": pytest.approx(1 / 3), "age": pytest.approx(2 / 3)}


def test_ordered_emd_by_hand():
    # Stays 1..10, one each: P (cumulative) = .1, .2, …, 1. Class (1, 30) holds stays 1-3:
    # Q = 1/3, 2/3, 1, 1, … so Σ|Q_i − P_i| = .2333 + .4667 + .7 + (.6+.5+.4+.3+.2+.1) = 3.5.
    # Class (2, 30) (stay 6 only) gives 2.5 and (2, 50) 3.0, (1, 40) 2.5: the largest is 3.5,
    # divided by m − 1 = 9.
    r = assess_risk(HAND, ["zip", "age"], ["stay"])
    assert r.t == pytest.approx(3.5 / 9)
    assert r.l == 1


def test_journalist_and_marketer_risk_from_a_population_table():
    population = pl.concat([HAND, HAND.filter(pl.col("age") != 30), HAND.head(1)])
    # Population class sizes: (1,30): 4, (1,40): 4, (2,30): 1, (2,50): 8.
    r = assess_risk(HAND, ["zip", "age"], population=population)
    assert r.journalist_risk_max == pytest.approx(1.0)  # (2,30) is unique in the population
    assert r.marketer_risk == pytest.approx((3 / 4 + 2 / 4 + 1 / 1 + 4 / 8) / 10)
    assert r.population_uniques_estimate == pytest.approx(1 / 10)


def test_population_uniques_estimate_by_hand():
    sizes = np.array([1.0, 1.0, 2.0, 3.0])  # n1 = 2, n2 = 1, n3 = 1; 7 records
    # π = 7/14 = .5: P(F=1 | f=1) = 2 / (1·2 + 2·.5·1 + 3·.25·1) = 2 / 3.75
    expected = 2 * (2 / 3.75) / 7
    assert zayatz_population_uniques(sizes, 14) == pytest.approx(expected)
    # A census (π = 1): every sample unique is a population unique.
    assert zayatz_population_uniques(sizes, 7) == pytest.approx(2 / 7)


@pytest.mark.parametrize(
    ("qis", "sensitive", "message"),
    [
        ([], [], "at least one quasi-identifier"),
        (["zipp"], [], "did you mean 'zip'"),
        (["zip"], ["zip"], "both a quasi-identifier and sensitive"),
    ],
)
def test_bad_risk_requests_are_refused(qis, sensitive, message):
    with pytest.raises(InvalidInput, match=message):
        assess_risk(HAND, qis, sensitive)


def test_nulls_are_a_class_of_their_own():
    table = pl.DataFrame({"a": [None, None, "x"], "s": ["p", "q", "p"]})
    r = assess_risk(table, ["a"], ["s"])
    assert (r.k, r.l, r.classes) == (1, 1, 2)


def test_risk_cli_json_has_the_documented_keys(tmp_path: Path):
    path = tmp_path / "hand.csv"
    HAND.write_csv(path)
    result = invoke("risk", path, "--qi", "zip,age", "--sensitive", "diagnosis", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in (
        "k",
        "l",
        "t",
        "prosecutor_risk_max",
        "prosecutor_risk_avg",
        "records_at_risk",
        "journalist_risk_max",
        "marketer_risk",
        "sample_uniques",
        "population_uniques_estimate",
        "qi_contribution",
        "quasi_identifiers",
    ):
        assert key in data
    assert (data["k"], data["l"]) == (1, 1)
    assert math.isclose(data["t"], 0.7)
    assert data["quasi_identifiers"] == ["zip", "age"]


def test_risk_cli_reads_a_dataset_with_catalog_roles(ws, people_csv):
    from tests.conftest import ingest_people

    ingest_people(ws, people_csv)
    before = ws.log.size()
    result = invoke("risk", "people", "--json", workspace=ws.folder)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert "race" in data["quasi_identifiers"]  # declared user.demographic.race_ethnicity
    entry = ws.log.records(before, 1)[0].event
    assert (entry["event"], entry["purpose"]) == ("read", "privet:assessment")


def test_risk_cli_refuses_an_unknown_column_with_one_sentence(tmp_path: Path):
    path = tmp_path / "hand.csv"
    HAND.write_csv(path)
    result = invoke("risk", path, "--qi", "zip,agee")
    assert result.exit_code == 1
    assert "did you mean 'age'" in result.output and "Traceback" not in result.output
