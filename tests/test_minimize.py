"""The minimization advisor (issue 21, acceptance 3): on Adult with three planted columns that
identify people and predict nothing, ``privet minimize`` drops them and keeps accuracy within
the floor; its risk figures are reproduced by ``privet risk``, and checked against the test's
own computations; its plan is accepted by ``protect`` and ``train``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from privet import Workspace
from privet.datasets import PLANTED, adult_with_identifiers
from privet.deid import MinimizeRequest, minimize
from privet.deid._columns import file_columns
from privet.errors import InvalidInput
from tests.conftest import invoke


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _unique_share(frame: pl.DataFrame, columns: list[str]) -> float:
    """The test's own count: records whose combination no other record has."""
    if not columns:
        return 0.0
    sizes = frame.group_by(columns).agg(pl.len().alias("n"))
    return float(sizes.filter(pl.col("n") == 1).height / frame.height)


def _matrix(frame: pl.DataFrame, columns: list[str]) -> np.ndarray:
    """Ordinal codes for text, days for dates, numbers as they are (the test's own encoding)."""
    out = []
    for c in columns:
        s = frame.get_column(c)
        if s.dtype == pl.String:
            s = s.rank("dense")
        out.append(s.to_physical().cast(pl.Float64).to_numpy())
    return np.column_stack(out)


def _own_accuracy(frame: pl.DataFrame, columns: list[str], y: np.ndarray) -> float:
    """3-fold accuracy of the test's own model, on folds the advisor never saw."""
    x = _matrix(frame, columns)
    fold = np.random.default_rng(123).permutation(len(y)) % 3
    hits = []
    for k in range(3):
        model = HistGradientBoostingClassifier(random_state=5).fit(x[fold != k], y[fold != k])
        hits.append(model.predict(x[fold == k]) == y[fold == k])
    return float(np.concatenate(hits).mean())


def _own_membership_auc(frame: pl.DataFrame, columns: list[str], y: np.ndarray) -> float:
    """The loss attack on the test's own model: members are its training two thirds (its own
    split, not the advisor's halves)."""
    x = _matrix(frame, columns)
    member = np.random.default_rng(321).random(len(y)) < 2 / 3
    model = HistGradientBoostingClassifier(random_state=9).fit(x[member], y[member])
    score = np.log(model.predict_proba(x)[np.arange(len(y)), y])
    return float(roc_auc_score(member, score))


def test_the_advisor_drops_planted_identifying_columns_on_adult(tmp_path: Path) -> None:
    frame = adult_with_identifiers()
    source = tmp_path / "adult.parquet"
    frame.write_parquet(source)
    project = tmp_path / "ws"
    project.mkdir()
    with Workspace.init(project, actor="alice") as ws:
        ws.ingest(source, name="adult", owner="alice", purposes=["research"], actor="alice",
                  roles=dict.fromkeys(PLANTED, "quasi_identifier"))  # fmt: skip

    def cli(*args: str | Path) -> dict:
        return _json(invoke(*args, "--json", "--as", "alice", workspace=project))

    plan, picture = tmp_path / "plan.yaml", tmp_path / "minimize.png"
    report = cli("minimize", "adult", "--target", "income", "--plan", plan, "--plot", picture,
                 "--audit-model", "income-min", "--purpose", "research")  # fmt: skip
    full, chosen = report["full"], report["recommended"]
    assert set(PLANTED) <= set(report["dropped"])
    assert set(PLANTED) <= set(full["columns"])
    assert chosen["utility"] >= 0.99 * full["utility"]
    assert report["utility_required"] == pytest.approx(0.99 * full["utility"])
    assert report["seconds"] < 120

    # Accuracy within the floor, by the test's own model on its own folds.
    y = (frame.get_column("income") == ">50K").cast(pl.Int64).to_numpy()
    own_full = _own_accuracy(frame, full["columns"], y)
    own_chosen = _own_accuracy(frame, chosen["columns"], y)
    assert own_chosen >= 0.985 * own_full, (own_chosen, own_full)

    # Uniqueness: privet risk reports the same sample uniques, and so does the test's count.
    for figures in (full, chosen):
        qis = figures["quasi_identifiers"]
        risk = cli("risk", "adult", "--qi", ",".join(qis))
        assert risk["sample_uniques"] == pytest.approx(figures["sample_uniques"], abs=1e-12)
        assert figures["sample_uniques"] == pytest.approx(_unique_share(frame, qis), abs=1e-12)
    assert full["sample_uniques"] > 0.99 and chosen["sample_uniques"] < 0.05
    costs = {c["column"]: c for c in report["columns"]}
    kept_qis = chosen["quasi_identifiers"]
    for column in PLANTED:
        added = _unique_share(frame, [*kept_qis, column]) - _unique_share(frame, kept_qis)
        assert costs[column]["uniqueness_added"] == pytest.approx(added, abs=1e-12)
        assert costs[column]["unique_alone"] == pytest.approx(_unique_share(frame, [column]))
        assert not costs[column]["kept"]
    assert costs["zip_code"]["uniqueness_added"] > 0.5

    # Attribute inference of each sensitive column the recommendation leaves out: the same
    # figure as privet risk --proxies on those features.
    assert chosen["inference"], "the recommendation leaves no sensitive column out"
    features = ",".join(chosen["columns"])
    for finding in chosen["inference"]:
        found = cli("risk", "adult", "--proxies", "--sensitive", finding["sensitive"],
                    "--features", features)["findings"]  # fmt: skip
        (together,) = [f for f in found if f["features"] == finding["features"]]
        assert together["accuracy"] == pytest.approx(finding["accuracy"], abs=1e-12)

    # Membership exposure: the test's own loss attack on its own model of the same columns;
    # and privet audit gives the same AUC for the privet model of the recommended set.
    for figures in (full, chosen):
        own = _own_membership_auc(frame, figures["columns"], y)
        assert abs(figures["membership_auc"] - own) < 0.02, (figures["membership_auc"], own)
    assert full["audited_model"] is None and chosen["audited_model"] == "income-min"
    audit = cli("audit", "income-min", "--attack", "loss", "--seed", "0")
    assert audit["auc"] == pytest.approx(chosen["audited_auc"], abs=1e-12)
    model = cli("models", "income-min")
    assert [f["name"] for f in model["features"]] == chosen["columns"]

    # The picture and the plan; protect and train accept the plan.
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 20_000
    protected = cli("protect", "adult", "--plan", plan, "--output", "adult-minimal")
    assert protected["rows_out"] == frame.height
    with Workspace.open(project) as ws:
        columns = ws.read("adult-minimal", purpose="research", actor="alice").columns
    assert set(columns) == {*chosen["columns"], "income"}
    trained = cli("train", "adult", "--target", "income", "-o", "minimal", "--purpose", "research",
                  "--plan", plan, "--no-dp", "--epochs", "1", "--seed", "1")  # fmt: skip
    assert [f["name"] for f in trained["card"]["features"]] == chosen["columns"]


def _toy(n: int = 3_000, seed: int = 3) -> pl.DataFrame:
    """A person per row: y follows x1 and x2; code singles people out; noise is noise."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.integers(0, 5, n), rng.normal(size=n)
    y = np.where(x1 + x2 + rng.normal(scale=0.3, size=n) > 2, "yes", "no")
    return pl.DataFrame(
        {
            "person_id": np.arange(n),
            "x1": [f"level-{v}" for v in x1],
            "x2": x2,
            "noise": rng.integers(0, 3, n),
            "code": [f"C{v:06d}" for v in rng.permutation(n)],
            "y": y,
            "amount": 10 * x2 + rng.normal(size=n),
        }
    )


def test_a_subject_id_is_never_weighed_and_useful_columns_stay() -> None:
    frame = _toy()
    columns = [
        c if c.name != "code" else type(c)(c.name, c.dtype, "quasi_identifier")
        for c in file_columns(frame)
    ]
    report = minimize(
        frame.drop("amount"), columns[:-1], MinimizeRequest(target="y"), source="toy",
        subject="person_id",
    )  # fmt: skip
    assert "person_id" not in report.full.columns
    assert {"x1", "x2"} <= set(report.recommended.columns)
    assert "code" in report.dropped
    assert report.task == "classification" and report.metric == "accuracy"
    (code,) = [c for c in report.columns if c.column == "code"]
    assert code.unique_alone == 1.0


def test_a_numeric_target_is_a_regression_scored_by_r2() -> None:
    frame = _toy().drop("y")
    report = minimize(frame, file_columns(frame), MinimizeRequest(target="amount"), source="toy")
    assert report.task == "regression" and report.metric == "r2"
    assert report.full.utility > 0.9
    assert "x2" in report.recommended.columns
    assert report.recommended.utility >= 0.99 * report.full.utility


def test_bad_input_is_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "toy.csv"
    _toy(400).write_csv(path)
    missing = invoke("minimize", path, "--target", "salary")
    assert missing.exit_code == 1 and "no column 'salary'" in missing.output
    assert "Traceback" not in missing.output
    bad = invoke("minimize", path, "--target", "y", "--candidates", "x1,x9")
    assert bad.exit_code == 1 and "x9" in bad.output
    plan = tmp_path / "plan.yaml"
    done = invoke("minimize", path, "--target", "y", "--plan", plan, "--json")
    assert done.exit_code == 0, done.output
    assert "features:" in plan.read_text()


def test_train_refuses_a_plan_without_features_or_for_another_target(
    tmp_path: Path, ws: Workspace
) -> None:
    from privet.dp import TrainRequest

    path = tmp_path / "toy.parquet"
    _toy(400).write_parquet(path)
    ws.ingest(path, name="toy", owner="tester", purposes=["research"], actor="tester")
    asked = MinimizeRequest(target="y")
    with pytest.raises(InvalidInput, match="purpose"):
        ws.deid.minimize("toy", asked, actor="tester", audit_model="m")
    with pytest.raises(InvalidInput, match="ingest the file first"):
        ws.deid.minimize(str(path), asked, actor="tester", audit_model="m", purpose="research")
    request = TrainRequest(target="y", name="m", purpose="research", no_dp=True, epochs=1)
    bare = tmp_path / "bare.yaml"
    bare.write_text("columns: {code: drop}\n")
    with pytest.raises(InvalidInput, match="names no features"):
        ws.dp.train("toy", request, actor="tester", plan=bare)
    other = tmp_path / "other.yaml"
    other.write_text("target: amount\nfeatures: [x1]\n")
    with pytest.raises(InvalidInput, match="is for target 'amount'"):
        ws.dp.train("toy", request, actor="tester", plan=other)
    dropped = tmp_path / "dropped.yaml"
    dropped.write_text("target: y\nfeatures: [x1]\ncolumns: {x1: drop}\n")
    result = invoke("protect", "toy", "--plan", dropped, "--output", "t2",
                    workspace=ws.folder.parent)  # fmt: skip
    assert result.exit_code == 1 and "dropped by it" in result.output


@st.composite
def _tables(draw: st.DrawFn) -> pl.DataFrame:
    """Small tables of mixed columns with nulls, constants and duplicates, and a target."""
    rows = draw(st.integers(50, 160))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    columns: dict[str, pl.Series] = {}
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["int", "float", "text", "date", "constant", "bool"]))
        values = {
            "int": lambda: pl.Series(rng.integers(-5, 5, rows)),
            "float": lambda: pl.Series(rng.normal(size=rows)),
            "text": lambda: pl.Series([f"v{v}" for v in rng.integers(0, 300, rows)]),
            "date": lambda: pl.Series(
                np.datetime64("2000-01-01", "D") + rng.integers(0, 9_000, rows)
            ).cast(pl.Date),  # fmt: skip
            "constant": lambda: pl.Series(["same"] * rows),
            "bool": lambda: pl.Series(rng.random(rows) < 0.5),
        }[kind]()
        nulls = rng.random(rows) < draw(st.sampled_from([0.0, 0.2]))
        columns[f"c{i}"] = values.scatter(np.flatnonzero(nulls), None)
    target = draw(st.sampled_from(["classes", "numbers"]))
    columns["y"] = pl.Series(
        rng.choice(["a", "b", "c"], rows) if target == "classes" else rng.normal(size=rows)
    )
    return pl.DataFrame(columns)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=_tables(), floor=st.sampled_from([0.5, 0.9, 1.0]))
def test_any_table_gives_figures_in_range_or_one_sentence(frame: pl.DataFrame, floor: float):
    columns = file_columns(frame)
    try:
        r = minimize(frame, columns, MinimizeRequest(target="y", utility_floor=floor), source="t")
    except InvalidInput as refused:
        assert "\n" not in str(refused)
        return
    assert sorted([*r.recommended.columns, *r.dropped]) == sorted(r.full.columns)
    assert r.recommended.columns and set(r.recommended.columns) <= set(r.full.columns)
    assert r.recommended.utility >= r.utility_required
    for figures in (r.full, r.recommended):
        assert 0 <= figures.sample_uniques <= 1 and 0 <= figures.membership_auc <= 1
        assert figures.sample_uniques == pytest.approx(
            _unique_share(frame, figures.quasi_identifiers), abs=1e-12
        )
    if r.task == "classification":
        assert 0 <= r.full.utility <= 1
