"""DP statistics through OpenDP: answers, their stated noise, refusals that spend nothing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest

from privet import InvalidInput, PolicyDenied, Workspace
from privet.dp import PrivacyUnitWarning, QueryRequest
from privet.errors import BudgetExhausted
from privet.vault import create_local_master_key
from tests.conftest import ingest_people, invoke

PURPOSE = "training"


@pytest.fixture
def dp_ws(ws: Workspace, people_csv: Path) -> Workspace:
    ingest_people(ws, people_csv)
    ws.dp.set_budget("people", actor="alice", epsilon=20, delta=1e-6)
    ws.dp.declare(
        "people",
        actor="alice",
        bounds={"age": (17, 90), "hours_per_week": (0, 100)},
        keys={"sex": ["Female", "Male", "Other"]},
    )
    return ws


def discrete_laplace_tail(scale: float, k: float) -> float:
    """P(|Z| > k) for Z ~ discrete Laplace with scale t: 2·e^{-(⌊k⌋+1)/t} / (1 + e^{-1/t})."""
    m = math.floor(k) + 1
    return 2 * math.exp(-m / scale) / (1 + math.exp(-1 / scale))


def test_a_count_is_near_the_truth_with_the_noise_it_states(
    dp_ws: Workspace, people: pl.DataFrame
) -> None:
    result = dp_ws.dp.query(
        "people",
        QueryRequest(sql="SELECT COUNT(*) AS n FROM people", epsilon=1.0, purpose=PURPOSE),
        actor="bob",
    )
    (row,) = result.rows
    (stat,) = result.statistics
    # One subject changes the count by 1: Laplace scale 1/ε (independent of OpenDP's map).
    assert stat.noise_scale == pytest.approx(1.0, rel=1e-3)
    assert stat.mechanism == "Integer Laplace"
    # The stated 95% half-width really covers 95% of discrete Laplace noise.
    assert discrete_laplace_tail(stat.noise_scale, stat.accuracy) <= 0.05
    assert discrete_laplace_tail(stat.noise_scale, stat.accuracy - 1) > 0.05
    assert row["n_low"] == row["n"] - stat.accuracy and row["n_high"] == row["n"] + stat.accuracy
    # Far outside 10× the interval would happen with probability < 1e-12.
    assert abs(row["n"] - people.height) < 10 * stat.accuracy
    assert result.epsilon <= 1.0 and result.epsilon == pytest.approx(1.0, rel=1e-3)
    assert dp_ws.dp.budget("people").epsilon_spent == pytest.approx(result.epsilon, rel=1e-4)


def test_sum_mean_and_quantiles_with_declared_bounds(
    dp_ws: Workspace, people: pl.DataFrame
) -> None:
    sql = (
        "SELECT SUM(hours_per_week) AS hours, AVG(age) AS mean_age, MEDIAN(age) AS median_age,"
        " QUANTILE(age, 0.9) AS p90 FROM people"
    )
    result = dp_ws.dp.query(
        "people", QueryRequest(sql=sql, epsilon=8.0, purpose=PURPOSE), actor="bob"
    )
    (row,) = result.rows
    ages = people["age"]
    half_width = row["hours_high"] - row["hours"]
    assert abs(row["hours"] - people["hours_per_week"].sum()) < 10 * half_width
    assert row["mean_age_low"] <= row["mean_age"] <= row["mean_age_high"]
    assert row["mean_age_low"] >= 17 and row["mean_age_high"] <= 90
    assert abs(row["mean_age"] - ages.mean()) < 5
    assert abs(row["median_age"] - ages.median()) <= 10
    assert row["median_age"] <= row["p90"] + 5
    kinds = {s.name: s.aggregate for s in result.statistics}
    assert kinds == {
        "hours": "sum",
        "mean_age": "mean",
        "median_age": "quantile",
        "p90": "quantile",
    }


def test_group_by_declared_keys_reports_every_key(dp_ws: Workspace, people: pl.DataFrame) -> None:
    result = dp_ws.dp.query(
        "people",
        QueryRequest(
            sql="SELECT sex, COUNT(*) AS n FROM people WHERE age >= 30 GROUP BY sex",
            epsilon=2.0,
            purpose=PURPOSE,
        ),
        actor="bob",
    )
    got = {r["sex"]: r["n"] for r in result.rows}
    assert set(got) == {"Female", "Male", "Other"}  # "Other" has no rows and is still there
    truth = people.filter(pl.col("age") >= 30).group_by("sex").len()
    for sex, count in truth.iter_rows():
        assert abs(got[sex] - count) < 10 * result.statistics[0].accuracy
    assert result.threshold is None and result.delta == 0


def test_group_by_without_keys_needs_delta_and_then_discovers_them(dp_ws: Workspace) -> None:
    with pytest.raises(InvalidInput, match="the keys of 'race'") as refusal:
        dp_ws.dp.query(
            "people",
            QueryRequest(
                sql="SELECT race, COUNT(*) FROM people GROUP BY race", epsilon=1.0, purpose=PURPOSE
            ),
            actor="bob",
        )
    assert "a delta" in str(refusal.value) and refusal.value.parameter == "keys"
    assert dp_ws.dp.budget("people").releases == []
    result = dp_ws.dp.query(
        "people",
        QueryRequest(
            sql="SELECT race, COUNT(*) AS n FROM people GROUP BY race",
            epsilon=1.0,
            delta=1e-7,
            purpose=PURPOSE,
        ),
        actor="bob",
    )
    assert result.threshold is not None and result.threshold > 1
    assert 0 < result.delta <= 1e-7
    assert all(r["n"] >= result.threshold for r in result.rows)
    assert "White" in {r["race"] for r in result.rows}
    (release,) = dp_ws.dp.budget("people").releases
    assert release.kind == "histogram" and release.delta == pytest.approx(result.delta)


def test_the_audit_log_and_ledger_hold_a_hash_of_the_query_not_its_literals(
    dp_ws: Workspace,
) -> None:
    sql = "SELECT COUNT(*) FROM people WHERE full_name = 'Zebulon Quaxley'"
    size = dp_ws.log.size()
    result = dp_ws.dp.query(
        "people", QueryRequest(sql=sql, epsilon=0.5, purpose=PURPOSE), actor="bob"
    )
    entries = [r.event for r in dp_ws.log.records(size)]
    assert [e["event"] for e in entries] == ["read", "dp.release"]
    text = json.dumps(entries) + json.dumps(
        [r.model_dump(mode="json") for r in dp_ws.dp.budget("people").releases]
    )
    assert "Zebulon" not in text and "full_name" not in text
    assert entries[1]["query_sha256"] == result.query_sha256
    assert entries[1]["purpose"] == PURPOSE and entries[1]["release"] == result.release


def test_a_dataset_without_subject_id_protects_rows_and_warns(
    ws: Workspace, people_csv: Path
) -> None:
    ws.ingest(people_csv, name="rows", owner="alice", purposes=[PURPOSE], actor="alice")
    with pytest.warns(PrivacyUnitWarning, match="one row"):
        result = ws.dp.query(
            "rows",
            QueryRequest(sql="SELECT COUNT(*) FROM rows", epsilon=0.5, purpose=PURPOSE),
            actor="bob",
        )
    assert result.unit == "row" and any("one row" in w for w in result.warnings)
    assert ws.dp.budget("rows").unit == "row"


def test_an_undeclared_purpose_is_refused_and_spends_nothing(dp_ws: Workspace) -> None:
    with pytest.raises(PolicyDenied, match="not one dataset"):
        dp_ws.dp.query(
            "people",
            QueryRequest(sql="SELECT COUNT(*) FROM people", epsilon=0.5, purpose="marketing"),
            actor="bob",
        )
    assert dp_ws.dp.budget("people").releases == []


def test_a_query_over_budget_is_refused_before_reading(dp_ws: Workspace) -> None:
    size = dp_ws.log.size()
    with pytest.raises(BudgetExhausted):
        dp_ws.dp.query(
            "people",
            QueryRequest(sql="SELECT COUNT(*) FROM people", epsilon=25, purpose=PURPOSE),
            actor="bob",
        )
    assert [r.event["event"] for r in dp_ws.log.records(size)] == ["dp.refused"]


# Acceptance 5: bad input is refused with one sentence, and nothing is spent.
BAD_QUERIES = [
    # (sql, epsilon, delta, expected message)
    ("SELECT COUNT(*) FROM people", 0.0, None, "greater than 0"),  # ε = 0
    ("SELECT COUNT(*) FROM people", -0.5, None, "greater than 0"),  # ε < 0
    ("SELECT COUNT(*) FROM people", 1.0, 1 / 300, "not below 1/n"),  # δ = 1/n
    ("SELECT COUNT(*) FROM people", 1.0, 0.5, "not below 1/n"),  # δ ≫ 1/n
    ("SELECT SUM(salary) FROM people", 1.0, None, "unknown column 'salary'"),
    ("SELECT sex, COUNT(*) FROM people GROUP BY nationality", 1.0, None, "unknown column"),
    ("SELECT COUNT(*) FROM people WHERE shoe_size > 3", 1.0, None, "unknown column"),
    ("SELECT SUM(capital_gain) FROM people", 1.0, None, "capital_gain' needs clamping bounds"),
    ("SELECT SUM(sex) FROM people", 1.0, None, "numeric column"),
    ("SELECT MAX(age) FROM people", 1.0, None, "cannot bound"),
    ("SELECT * FROM people", 1.0, None, "cannot bound"),
    ("SELECT age FROM people", 1.0, None, "cannot bound"),
    ("SELECT COUNT(DISTINCT age) FROM people", 1.0, None, "cannot bound"),
    ("SELECT COUNT(*) FROM people p JOIN people q ON p.age = q.age", 1.0, None, "cannot bound"),
    ("SELECT COUNT(*) FROM (SELECT * FROM people)", 1.0, None, "cannot bound"),
    ("SELECT sex, COUNT(*) FROM people GROUP BY sex HAVING COUNT(*) > 5", 1.0, None, "HAVING"),
    ("SELECT COUNT(*) FROM people ORDER BY 1", 1.0, None, "ORDER BY"),
    ("SELECT COUNT(*) FROM people; DROP TABLE people", 1.0, None, "exactly one SELECT"),
    ("SELECT STDDEV(age) FROM people", 1.0, None, "not supported"),
    ("SELECT COUNT(*) FROM other", 1.0, None, "FROM people"),
    ("SELEKT COUNT(*) FROM people", 1.0, None, "not valid SQL"),
    ("SELECT QUANTILE(age, 1.5) FROM people", 1.0, None, "between 0 and 1"),
]


@pytest.fixture(scope="module")
def shared_ws(tmp_path_factory: pytest.TempPathFactory, people: pl.DataFrame) -> Workspace:
    """One workspace for the refusals below: none of them may change it."""
    base = tmp_path_factory.mktemp("refusals")
    kms = create_local_master_key(base / "keys" / "master.json")
    (base / "project").mkdir()
    people.write_csv(base / "people.csv")
    workspace = Workspace.init(base / "project", kms_uri=kms, actor="alice")
    ingest_people(workspace, base / "people.csv")
    workspace.dp.declare("people", actor="alice", bounds={"age": (17, 90)})
    yield workspace
    workspace.close()


@pytest.mark.parametrize(("sql", "epsilon", "delta", "message"), BAD_QUERIES)
def test_bad_input_is_refused_in_one_sentence_and_spends_nothing(
    shared_ws: Workspace, sql: str, epsilon: float, delta: float | None, message: str
) -> None:
    dp_ws = shared_ws
    size = dp_ws.log.size()
    with pytest.raises(InvalidInput) as refusal:
        dp_ws.dp.query(
            "people",
            QueryRequest(sql=sql, epsilon=epsilon, delta=delta, purpose=PURPOSE),
            actor="bob",
        )
    text = str(refusal.value)
    assert message in text
    assert "\n" not in text and len(text) < 300
    assert dp_ws.dp.budget("people").releases == []
    assert dp_ws.log.size() == size  # not even a read happened


def test_the_query_command_answers_in_json_and_refuses_with_exit_1(dp_ws: Workspace) -> None:
    folder = dp_ws.folder
    ok = invoke(
        "query",
        "people",
        "SELECT sex, COUNT(*) AS n FROM people GROUP BY sex",
        "--epsilon",
        "1",
        "--purpose",
        PURPOSE,
        "--json",
        workspace=folder,
    )
    assert ok.exit_code == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert {r["sex"] for r in data["rows"]} == {"Female", "Male", "Other"}
    assert data["statistics"][0]["noise_scale"] > 0 and data["epsilon"] <= 1
    human = invoke(
        "query",
        "people",
        "SELECT AVG(age) FROM people",
        "--epsilon",
        "1",
        "--purpose",
        PURPOSE,
        workspace=folder,
    )
    assert human.exit_code == 0 and "95%" in human.stdout
    bad = invoke(
        "query",
        "people",
        "SELECT MAX(age) FROM people",
        "--epsilon",
        "1",
        "--purpose",
        PURPOSE,
        workspace=folder,
    )
    assert bad.exit_code == 1 and bad.stdout == ""
    assert bad.stderr.startswith("privet: error:") and bad.stderr.count("\n") == 1
    usage = invoke(
        "query", "people", "SELECT COUNT(*) FROM people", "--purpose", PURPOSE, workspace=folder
    )
    assert usage.exit_code == 2  # --epsilon is required
