"""Derived datasets (the hook protect and synth build on) and schema upgrades."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from alembic import command

from privet import AlreadyExists, Workspace
from privet.catalog import derive
from privet.dp import SynthRequest
from privet.schema import SCHEMA_REVISION, migrating
from tests.conftest import ingest_people


def test_derived_dataset_inherits_governance_and_links_to_its_source(
    ws: Workspace, people_csv: Path
):
    source = ingest_people(ws, people_csv)
    frame = ws.read("people", purpose="training", actor="a").drop("email", "ssn", "full_name")
    version = derive(ws.hazmat, "people@1", frame, name="people-protected", kind="protected",
                     actor="dpo", facts={"k": 5})  # fmt: skip
    info = ws.dataset("people-protected")
    original = ws.dataset("people")
    assert (info.owner, info.purposes, info.subject_id_column) == (
        original.owner, original.purposes, "person_id",
    )  # fmt: skip
    assert info.derived_from == original.id
    assert info.classification == "restricted"  # race is still there
    assert {c.name: c.role for c in version.columns}["race"] == "quasi_identifier"
    (edge,) = ws.lineage("people-protected")
    assert (edge.source, edge.activity, edge.facts) == (
        f"version:{source.id}", "protected", {"k": 5, "rows": 300},
    )  # fmt: skip
    entry = ws.log.records(edge.log_index, 1)[0].event
    assert (entry["event"], entry["kind"]) == ("dataset.derive", "protected")
    # Purpose limitation carries over to the derived data.
    assert ws.read("people-protected", purpose="training", actor="a").height == 300


def test_a_derivative_of_a_derivative_points_at_the_root(ws: Workspace, people_csv: Path):
    ingest_people(ws, people_csv)
    frame = ws.read("people", purpose="training", actor="a")
    derive(ws.hazmat, "people", frame.head(100), name="step1", kind="filtered", actor="a")
    derive(ws.hazmat, "step1", frame.head(50), name="step2", kind="filtered", actor="a")
    assert ws.dataset("step2").derived_from == ws.dataset("people").id
    derive(ws.hazmat, "step1", frame.head(10), name="step2", kind="filtered", actor="a")
    assert [v.rows for v in ws.dataset("step2").versions] == [50, 10]


def test_deriving_into_an_unrelated_dataset_is_refused(ws: Workspace, people_csv: Path):
    ingest_people(ws, people_csv)
    ingest_people(ws, people_csv, name="other")
    frame = ws.read("people", purpose="training", actor="a")
    with pytest.raises(AlreadyExists, match="not derived"):
        derive(ws.hazmat, "people", frame, name="other", kind="protected", actor="a")


def test_an_older_catalog_is_upgraded_when_opened(ws: Workspace, people_csv: Path):
    ingest_people(ws, people_csv)
    with migrating(ws.hazmat.engine) as cfg:
        command.downgrade(cfg, "0001")
    ws.close()
    reopened = Workspace.open(ws.folder)
    with reopened.hazmat.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == (
            SCHEMA_REVISION
        )
    assert reopened.read("people", purpose="training", actor="a").height == 300
    assert reopened.dataset("people").versions[0].columns[0].source == "declared"
    reopened.log.verify()
    assert isinstance(reopened.read("people", purpose="training", actor="a"), pl.DataFrame)


@pytest.mark.parametrize(
    "activity",
    [
        "synthetic",  # the lineage the code before 0005 wrote for a baseline
        "baseline",  # the lineage after a downgrade from 0005 (a round trip)
    ],
)
def test_a_baseline_stored_before_0005_is_relabelled_when_opened(
    ws: Workspace, people_csv: Path, activity: str
):
    """Before schema 0005 the independent baseline was stored as kind "synthetic" (and the
    broker served it as the synthetic view); opening such a catalog relabels it."""
    from sqlalchemy import text

    ingest_people(ws, people_csv)
    columns = ["sex", "race", "income"]
    ws.dp.synthesize(
        "people",
        SynthRequest(name="people-ind", method="independent", columns=columns),
        actor="alice",
    )
    baseline_id = ws.dataset("people-ind").versions[0].id
    frame = ws.read("people", purpose="training", actor="a").select(columns)
    # A DP release as the 0004 code stored it (its lineage facts are what 0005 reads).
    dp_like = derive(ws.hazmat, "people", frame, name="people-dp", kind="synthetic", actor="a",
                     facts={"synthetic": True, "differentially_private": True})  # fmt: skip
    assert ws.dataset("people-ind").versions[0].kind == "baseline"
    with migrating(ws.hazmat.engine) as cfg:
        command.downgrade(cfg, "0004")
    with ws.hazmat.engine.begin() as conn:
        conn.execute(
            text("UPDATE lineage_edges SET activity = :a WHERE activity = 'baseline'"),
            {"a": activity},
        )
        kinds = dict(conn.execute(text("SELECT id, kind FROM versions")).all())
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0004"
    # The 0004 catalog: both versions are "synthetic", as the old code left them.
    assert kinds[baseline_id] == "synthetic"
    assert kinds[dp_like.id] == "synthetic"
    ws.close()

    reopened = Workspace.open(ws.folder)
    with reopened.hazmat.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            SCHEMA_REVISION
        )
    assert reopened.dataset("people-ind").versions[0].kind == "baseline"
    assert reopened.dataset("people-dp").versions[0].kind == "synthetic"
    assert reopened.dataset("people").versions[0].kind == "ingest"
    reopened.log.verify()
    reopened.close()
