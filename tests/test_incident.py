"""Incident scoping (issue 17, acceptance 1): a seeded incident, recomputed by the test.

A test actor (``mallory``, an analyst with grants and an API token) reads three datasets
through two views — through the library and through the real HTTP server on loopback —
exports one to a file and trains a model. The test keeps its own record of what it did (the
frames it received, the rows of the files it wrote) and recomputes the datasets, rows and
distinct people from the data files with Polars, never through privet's scoping code.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from privet import Workspace
from privet.dp import TrainRequest
from privet.policy import GrantRequest

POLICY = """
approver_roles: [steward]
rules:
  - roles: [analyst]
    views: [raw, masked, aggregate]
    purposes: [analytics, training]
"""
PEOPLE_CATEGORIES = {
    "email": "user.contact.email",
    "full_name": "user.name",
    "ssn": "user.government_id.national_identification_number",
    "diagnosis": "user.health.medical_diagnosis",
}


def _frames(tmp: Path) -> dict[str, pl.DataFrame]:
    """Three tables: ``patients`` (one row per person, subject id ``pid``), ``visits``
    (several rows per person, a subset of the patients and some others, subject id ``pid``),
    ``survey`` (each row a person, no subject id)."""
    n = 240
    patients = pl.DataFrame(
        {
            "pid": [f"P{i:05d}" for i in range(n)],
            "full_name": [f"Zorblat Quenty{i:04d}" for i in range(n)],
            "email": [f"zq{i:04d}@seeded-mail.example" for i in range(n)],
            "ssn": [f"9{i:02d}-7{i % 10}-{4000 + i}" for i in range(n)],
            "age": [20 + (i * 7) % 60 for i in range(n)],
            "diagnosis": [["flu", "asthma", "diabetes"][i % 3] for i in range(n)],
            "income": [["<=50K", ">50K"][(i * 5) % 7 % 2] for i in range(n)],
        }
    )
    visit_people = [f"P{i:05d}" for i in range(100, 300)]  # 140 shared, 60 only here
    visits = pl.DataFrame(
        {
            "pid": [p for p in visit_people for _ in range(3)],
            "clinic": [f"C{j % 5}" for j in range(len(visit_people) * 3)],
            "cost": [float(10 + j % 90) for j in range(len(visit_people) * 3)],
        }
    )
    survey = pl.DataFrame(
        {
            "age_band": [["18-30", "31-50", "51+"][i % 3] for i in range(75)],
            "score": [i % 10 for i in range(75)],
            "email": [f"sv{i:03d}@seeded-survey.example" for i in range(75)],
        }
    )
    out = {"patients": patients, "visits": visits, "survey": survey}
    for name, frame in out.items():
        frame.write_csv(tmp / f"{name}.csv")
    return out


def _build(project: Path, tmp: Path) -> tuple[Workspace, dict[str, pl.DataFrame], str, str]:
    frames = _frames(tmp)
    ws = Workspace.init(project, actor="alice")
    for name, subject, categories in (
        ("patients", "pid", PEOPLE_CATEGORIES),
        ("visits", "pid", {}),
        ("survey", None, {"email": "user.contact.email"}),
    ):
        ws.ingest(
            tmp / f"{name}.csv",
            name=name,
            owner="alice",
            purposes=["analytics", "training"],
            actor="alice",
            subject_id=subject,
            categories=categories,
            scan=False,
        )
    ws.access.set_policy(POLICY, actor="alice")
    ws.access.add_user("alice", roles=["owner"], actor="alice")
    ws.access.add_user("carol", roles=["steward"], actor="alice")
    ws.access.add_user("mallory", roles=["analyst"], actor="alice")
    ws.access.add_user("bob", roles=["analyst"], actor="alice")
    carol = ws.access.local_identity("carol")
    for user in ("mallory", "bob"):
        for dataset, view, purpose in (
            ("patients", "masked", "analytics"),
            ("visits", "raw", "analytics"),
            ("survey", "raw", "analytics"),
            ("patients", "aggregate", "training"),
        ):
            grant = ws.access.request_grant(
                GrantRequest(
                    dataset=dataset,
                    view=view,
                    purpose=purpose,
                    duration_seconds=86_400,
                    reason="seeded incident",
                ),
                identity=ws.access.local_identity(user),
            )
            ws.access.approve_grant(grant.id, identity=carol)
    ws.dp.set_budget("patients", actor="alice", epsilon=10.0, delta=1e-6)
    token = ws.access.issue_token("mallory", expires_in=timedelta(hours=1), actor="alice")
    return ws, frames, token.id, token.secret


def _seeded_values(frames: dict[str, pl.DataFrame]) -> list[str]:
    """Raw personal values of the seed that must never appear in a report."""
    p, s = frames["patients"], frames["survey"]
    return [*p["full_name"].to_list(), *p["email"].to_list(), *p["ssn"].to_list()] + s[
        "email"
    ].to_list()


@pytest.fixture
def incident(project: Path, tmp_path: Path):
    ws, frames, token_id, secret = _build(project, tmp_path)
    did: dict[str, pl.DataFrame] = {}
    # Through the library: two views, three datasets.
    did["patients"] = ws.read("patients", purpose="analytics", actor="mallory", view="masked")
    did["survey"] = ws.read("survey", purpose="analytics", actor="mallory", view="raw")
    # Export one to a file.
    out = tmp_path / "visits-export.csv"
    ws.export("visits", out, purpose="analytics", actor="mallory", view="raw")
    did["visits"] = pl.read_csv(out)
    # A model from what was read (DP-SGD; rows never reach the actor).
    ws.dp.train(
        "patients",
        TrainRequest(
            target="income",
            name="mallory-model",
            purpose="training",
            epsilon=1.0,
            epochs=1,
            features=["age"],
            bounds={"age": (0.0, 100.0)},
            keys={"income": ["<=50K", ">50K"]},
        ),
        actor="mallory",
    )
    # Someone else's reads are not mallory's.
    ws.read("visits", purpose="analytics", actor="bob", view="raw")
    yield ws, frames, did, token_id, secret, project, tmp_path
    ws.close()


def _expected_people(frames: dict[str, pl.DataFrame], did: dict[str, pl.DataFrame]) -> int:
    """Distinct people reached, from the data files: the union of subject ids of the two
    datasets with one, plus one per survey row read."""
    ids = set(frames["patients"]["pid"].to_list()) | set(did["visits"]["pid"].to_list())
    return len(ids) + did["survey"].height


def test_scope_equals_what_the_actor_did(incident) -> None:
    ws, frames, did, _, _, _, _ = incident
    found = ws.incidents.scope(actor="mallory")
    disclosed = [v for v in found.versions if v.disclosed]
    assert sorted(v.dataset for v in disclosed) == ["patients", "survey", "visits"]
    assert found.rows == sum(f.height for f in did.values())
    assert found.rows == 240 + 75 + 600
    assert found.subjects.total == _expected_people(frames, did) == 300 + 75
    assert found.subjects.linked == 300
    assert found.subjects.per_row == 75
    by_name = {v.dataset: v for v in disclosed}
    assert by_name["patients"].views == ["masked"]
    assert by_name["visits"].views == ["raw"]
    assert by_name["visits"].subjects == did["visits"]["pid"].n_unique() == 200
    assert by_name["survey"].subject_basis == "row"
    masked = {c.name for c in by_name["patients"].columns if c.masked}
    assert masked >= {"full_name", "email", "ssn"}
    assert {c.name for c in by_name["patients"].columns} == set(frames["patients"].columns)
    assert [e.dataset for e in found.exports] == ["visits"]
    assert found.exports[0].channel == "file:csv"
    assert found.exports[0].rows == 600
    models = [m for m in found.made if m.kind == "model"]
    assert [m.name for m in models] == ["mallory-model"] and models[0].by_actor
    assert "user.health.medical_diagnosis" in found.notification.special_categories or (
        found.notification.severity == "high"
    )
    assert found.notification.approximate_subjects == found.subjects.total
    assert found.notification.dpo_contact == "TO FILL"
    text = found.model_dump_json()
    for value in _seeded_values(frames) + frames["patients"]["pid"].to_list():
        assert value not in text
