"""Acceptance 1 of the scale issue: on the same data, Spark and Polars give identical k, ℓ, t
and risk figures, the same protected rows for the same plan, and the same scan roles.

Both engines read the same stored versions through the broker; the Polars figures are the
ones the deid tests check against pycanon, and pycanon checks the Spark output here again.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pycanon.anonymity as pycanon
import pytest

from privet import Workspace
from privet.datasets import adult
from privet.deid import ProtectRequest, RiskRequest
from privet.engine import COUNT, open_rows
from tests.test_engine_parity import MODELS, QIS

pytest.importorskip("pyspark")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("spark-parity")
    keys = root / "keys"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIVET_KEY_DIR", str(keys))
        ws = Workspace.init(root / "project", actor="alice")
        table = adult().head(6000).with_row_index("person_id")
        # People with several rows: the protected copy must carry each row's link.
        table = table.with_columns((pl.col("person_id") // 3).alias("person_id"))
        path = root / "adult.parquet"
        table.write_parquet(path)
        roles = {c: "quasi_identifier" for c in QIS} | {"income": "sensitive"}
        ws.ingest(path, name="adult", owner="alice", purposes=["analytics"], actor="alice",
                  subject_id="person_id", roles=roles, scan=False)  # fmt: skip
        yield ws
        ws.close()


def pandas(frame: pl.DataFrame):
    return frame.with_columns(pl.col(pl.String).fill_null("?")).to_pandas()


def in_order(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


def reads(ws: Workspace) -> int:
    return sum(1 for r in ws.log.records() if r.event["event"] == "read")


def test_group_counts_are_the_test_s_own(workspace: Workspace) -> None:
    core = workspace.hazmat
    table = adult().head(6000)
    expected = table.group_by(["race", "sex", "native_country"]).len()
    with open_rows(core, "adult", purpose="privet:assessment", actor="alice",
                   engine="spark") as rows:  # fmt: skip
        got = rows.counts(["race", "sex", "native_country"])
        assert rows.height == table.height
    joined = expected.join(got, on=["race", "sex", "native_country"], how="full",
                           nulls_equal=True)  # fmt: skip
    assert joined.height == expected.height == got.height
    assert (joined.get_column("len") == joined.get_column(COUNT + "_right")).all()


def test_risk_figures_are_identical(workspace: Workspace) -> None:
    request = RiskRequest(quasi_identifiers=QIS, sensitive=["income", "education_num"],
                          population_size=1_000_000)  # fmt: skip
    before = reads(workspace)
    polars = workspace.deid.risk("adult", request, actor="alice", engine="polars")
    spark = workspace.deid.risk("adult", request, actor="alice", engine="spark")
    assert spark == polars
    assert reads(workspace) == before + 2  # one logged read each


@pytest.mark.parametrize(("k", "l_value", "t_value", "sensitive", "suppression"), MODELS)
def test_the_same_plan_releases_the_same_rows(
    workspace: Workspace, k, l_value, t_value, sensitive, suppression
) -> None:
    request = ProtectRequest(k=k, l=l_value, t=t_value, quasi_identifiers=QIS,
                             sensitive=sensitive, max_suppression=suppression)  # fmt: skip
    name = f"adult-k{k}-{'-'.join(sensitive) or 'none'}"
    polars = workspace.deid.protect("adult", request, output=f"{name}-p", actor="alice",
                                    engine="polars")  # fmt: skip
    spark = workspace.deid.protect("adult", request, output=f"{name}-s", actor="alice",
                                   engine="spark")  # fmt: skip
    assert spark.levels == polars.levels
    assert spark.suppressed == polars.suppressed
    assert spark.risk_after == polars.risk_after
    assert spark.risk_before == polars.risk_before
    # The stored copies, links included: the same rows, each tied to the same person.
    core = workspace.hazmat
    with open_rows(core, f"{name}-p", purpose="privet:assessment", actor="alice",
                   channel="deid:derive") as rows:  # fmt: skip
        stored_polars = rows.collect()
    with open_rows(core, f"{name}-s", purpose="privet:assessment", actor="alice",
                   channel="deid:derive") as rows:  # fmt: skip
        stored_spark = rows.collect()
    assert in_order(stored_spark).equals(in_order(stored_polars))
    data = pandas(stored_spark.drop([c for c in stored_spark.columns if c.startswith("_")]))
    assert pycanon.k_anonymity(data, QIS) >= k
    if l_value is not None:
        assert pycanon.l_diversity(data, QIS, sensitive) >= l_value
    if t_value is not None:
        assert pycanon.t_closeness(data, QIS, sensitive) <= t_value + 1e-9


def test_scan_roles_are_identical(workspace: Workspace) -> None:
    polars = workspace.scan.dataset("adult", actor="alice", sample=2000, engine="polars")
    spark = workspace.scan.dataset("adult", actor="alice", sample=2000, engine="spark")
    assert [(c.name, c.role, c.category) for c in spark.columns] == [
        (c.name, c.role, c.category) for c in polars.columns
    ]
    assert spark.quasi_identifier_sets == polars.quasi_identifier_sets


def test_spark_refuses_a_file_and_an_unknown_engine(workspace: Workspace, tmp_path: Path) -> None:
    from privet import InvalidInput

    path = tmp_path / "t.csv"
    adult().head(50).write_csv(path)
    with pytest.raises(InvalidInput, match="ingest the file first"):
        workspace.deid.risk(str(path), RiskRequest(quasi_identifiers=QIS), actor="alice",
                            engine="spark")  # fmt: skip
    with pytest.raises(InvalidInput, match="unknown engine"):
        workspace.deid.risk("adult", RiskRequest(quasi_identifiers=QIS), actor="alice",
                            engine="duckdb")  # fmt: skip


def test_the_command_line_gives_the_same_answer_on_both_engines(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from tests.conftest import invoke

    folder = workspace.folder.parent
    monkeypatch.setenv("PRIVET_KEY_DIR", str(folder.parent / "keys"))
    answers = {}
    for engine in ("polars", "spark"):
        result = invoke("risk", "adult", "--qi", ",".join(QIS), "--sensitive", "income",
                        "--engine", engine, "--json", "--as", "alice",
                        workspace=folder)  # fmt: skip
        assert result.exit_code == 0, result.output
        answers[engine] = json.loads(result.output)
    assert answers["spark"] == answers["polars"]
    result = invoke("query", "adult", "SELECT COUNT(*) AS n FROM adult", "--epsilon", "1",
                    "--purpose", "analytics", "--engine", "spark", "--json", "--as", "alice",
                    workspace=folder)  # fmt: skip
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["unit"] == "subject (person_id)"
    # Each of the 2,000 people counts once (one row per subject by default); Laplace at the
    # stated scale is 10 scales off with probability < 5e-5.
    scale = answer["statistics"][0]["noise_scale"]
    assert abs(answer["rows"][0]["n"] - 2000) < 10 * scale


def test_a_plan_spark_cannot_run_is_refused_before_any_read(workspace: Workspace) -> None:
    from privet import InvalidInput
    from privet.deid import parse_plan

    plan = parse_plan("columns: {native_country: pseudonym}")
    before = reads(workspace)
    with pytest.raises(InvalidInput, match="pseudonym needs the whole table or the workspace"):
        workspace.deid.protect("adult", ProtectRequest(plan=plan), output="adult-pseudo",
                               actor="alice", engine="spark")  # fmt: skip
    assert reads(workspace) == before
