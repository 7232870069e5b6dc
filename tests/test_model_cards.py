"""Model cards are governed like the rows they were made from.

A card's split bitmaps say which rows were trained on and held out (and so which had a usable
label), and its exact counts let two cards be differenced down to one person. Whoever may not
read the dataset's raw rows gets the public card, through every door (library, CLI, HTTP):
no exact count, no bitmap; its DP figures stay. The owner and a grantee of the raw rows get
the full card (logged), and can still audit the model with it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from privet import PolicyDenied, Workspace
from privet.attacks import MembershipAuditRequest
from privet.datasets import raw_people
from privet.dp import NoPrivacyWarning, TrainRequest, unpack_rows
from privet.policy import GrantRequest
from privet.server import create_app
from tests.conftest import invoke

PURPOSE = "training"
POLICY = """
version: 1
approver_roles: [approver]
rules:
  - description: analysts train DP models
    roles: [analyst]
    views: [aggregate]
    purposes: [training]
  - description: privacy engineers audit models with the raw rows
    roles: [privacy-engineer]
    views: [raw]
    purposes: [training]
"""
KEYS = {
    "sex": ["Female", "Male"],
    "race": ["Amer-Indian-Eskimo", "Asian-Pac-Islander", "Black", "Other", "White"],
    "income": ["<=50K", ">50K"],
}
# Exact figures of the rows: never in a public card, at any depth (nor its top-level "split").
EXACT_KEYS = {"test_rows", "train_count", "test_count", "members", "non_members", "train", "test"}
STATE: dict[str, Any] = {}


def grant(ws: Workspace, user: str, view: str) -> str:
    asked = ws.access.request_grant(
        GrantRequest(
            dataset="people",
            view=view,
            purpose=PURPOSE,
            duration_seconds=86_400,
            reason="models",
        ),
        identity=ws.access.local_identity(user),
    )
    return ws.access.approve_grant(asked.id, identity=ws.access.local_identity("alice")).id


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """alice owns people; bob (analyst) trained the DP model "m" under an aggregate grant;
    erin (privacy engineer) holds a raw grant; mallory (analyst) holds none. alice also
    trained "plain" without DP."""
    base = tmp_path_factory.mktemp("cards")
    os.environ["PRIVET_KEY_DIR"] = str(base / "keys")
    STATE["keys"] = base / "keys"
    ws = Workspace.init(base / "project", actor="alice")
    raw_people(600).write_csv(base / "people.csv")
    ws.ingest(base / "people.csv", name="people", owner="alice", purposes=[PURPOSE],
              actor="alice", subject_id="person_id")  # fmt: skip
    ws.dp.set_budget("people", actor="alice", epsilon=20, delta=1e-7)
    ws.dp.declare("people", actor="alice", bounds={"hours_per_week": (1, 99)}, keys=KEYS)
    for user, roles in {"alice": ["steward"], "bob": ["analyst"], "erin": ["privacy-engineer"],
                        "mallory": ["analyst"]}.items():  # fmt: skip
        ws.access.add_user(user, roles=roles, actor="alice")
    ws.access.set_policy(POLICY, actor="alice")
    grant(ws, "bob", "aggregate")
    STATE["erin-grant"] = grant(ws, "erin", "raw")
    STATE["trained"] = ws.dp.train(
        "people",
        TrainRequest(
            target="income",
            name="m",
            purpose=PURPOSE,
            epsilon=2.0,
            epochs=2,
            features=["sex", "race", "hours_per_week"],
        ),
        actor="bob",
    )
    with pytest.warns(NoPrivacyWarning):
        ws.dp.train(
            "people",
            TrainRequest(
                target="income",
                name="plain",
                purpose=PURPOSE,
                no_dp=True,
                epochs=1,
                features=["age", "sex"],
            ),
            actor="alice",
        )
    yield ws
    ws.close()


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


def assert_public(card: dict[str, Any], full: dict[str, Any]) -> None:
    """No exact count or bitmap of ``full`` in ``card``; its DP figures all there."""
    assert "split" not in card and not keys_of(card) & EXACT_KEYS, keys_of(card) & EXACT_KEYS
    shown = json.dumps(card)
    assert full["split"]["train"] not in shown and full["split"]["test"] not in shown
    assert "split" in card["withheld"] and "evaluation.test_rows" in card["withheld"]
    assert card["privacy"] == full["privacy"]
    evaluation, exact = card["evaluation"], full["evaluation"]
    for key in ("accuracy", "accuracy_interval_95", "epsilon", "test_rows_dp"):
        assert evaluation[key] == exact[key]
    assert isinstance(evaluation["test_rows_dp"], int)


def assert_full(card: dict[str, Any]) -> None:
    split = card["split"]
    train = unpack_rows(split["train"], split["rows"])
    test = unpack_rows(split["test"], split["rows"])
    assert len(train) == split["train_count"] and len(test) == split["test_count"]
    assert card["evaluation"]["test_rows"] == split["test_count"]
    assert "withheld" not in card


def test_a_card_read_without_raw_access_has_no_exact_count_and_no_bitmap(models: Workspace):
    ws = models
    full = ws.dp.model("m", actor="alice").card.stored()
    assert_full(full)
    readers = {
        "trainer (aggregate grant)": STATE["trained"].card.stored(),
        "anonymous": ws.dp.model("m").card.stored(),
        "bob": ws.dp.model("m", actor="bob").card.stored(),
        "erin without --purpose": ws.dp.model("m", actor="erin").card.stored(),
        "listing": next(m.card.stored() for m in ws.dp.models() if m.name == "m"),
        "loaded by bob": ws.dp.load_model("m", actor="bob").card.stored(),
    }
    for reader, card in readers.items():
        try:
            assert_public(card, full)
        except AssertionError as failure:
            raise AssertionError(f"{reader}: {failure}") from None
    # The public card still predicts: its preprocessing is public (declared or DP).
    frame = raw_people(20)
    assert ws.dp.load_model("m", actor="bob").predict(frame).len() == 20


def test_the_owner_and_a_raw_grantee_see_the_full_card_and_it_is_logged(models: Workspace):
    ws = models
    before = ws.log.size()
    assert_full(ws.dp.model("m", actor="erin", purpose=PURPOSE).card.stored())
    (entry,) = [r.event for r in ws.log.records(before) if r.event["event"] == "model.card"]
    assert (entry["actor"], entry["basis"], entry["grant"]) == (
        "erin",
        "grant",
        STATE["erin-grant"],
    )
    for user in ("mallory", "bob"):  # no grant, or a grant of the aggregate view only
        with pytest.raises(PolicyDenied, match="raw rows"):
            ws.dp.model("m", actor=user, purpose=PURPOSE)


def test_a_model_without_dp_shows_no_exact_figure_to_others(models: Workspace):
    ws = models
    full = ws.dp.model("plain", actor="alice").card.stored()
    public = ws.dp.model("plain", actor="mallory").card.stored()
    age = next(f for f in full["features"] if f["name"] == "age")
    assert age["source"] == "data" and age["lower"] is not None  # the data's exact range
    shown = next(f for f in public["features"] if f["name"] == "age")
    assert (shown["lower"], shown["upper"], shown["levels"]) == (None, None, None)
    assert full["evaluation"]["accuracy"] is not None and "accuracy" not in public["evaluation"]
    assert {"split", "features.age", "evaluation.accuracy"} <= set(public["withheld"])
    assert not keys_of(public) & EXACT_KEYS


def test_the_owner_and_a_raw_grantee_still_audit_and_the_result_is_public(models: Workspace):
    ws = models
    for actor, purpose in (("alice", None), ("erin", PURPOSE)):
        result = ws.audit.membership(
            "m", MembershipAuditRequest(attack="loss", seed=1), actor=actor, purpose=purpose
        )
        assert result.members >= 10 and 0 <= result.auc <= 1
    with pytest.raises(PolicyDenied):
        ws.audit.membership(
            "m", MembershipAuditRequest(attack="loss"), actor="mallory", purpose=PURPOSE
        )
    audits = ws.dp.model("m", actor="mallory").card.stored()["audits"]
    assert [a["by"] for a in audits][-2:] == ["alice", "erin"]
    assert not keys_of(audits) & EXACT_KEYS
    assert ws.dp.model("m", actor="alice").card.stored()["audits"][-1]["members"] == result.members


def test_the_models_command_shows_the_public_card_unless_the_rows_are_yours(
    models: Workspace, monkeypatch: pytest.MonkeyPatch
):
    ws = models
    monkeypatch.setenv("PRIVET_KEY_DIR", str(STATE["keys"]))
    full = ws.dp.model("m", actor="alice").card.stored()

    def card(*args: str) -> dict[str, Any]:
        result = invoke("models", "m", "--json", *args, workspace=ws.folder)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    assert_public(card("--as", "mallory"), full)
    assert_full(card("--as", "alice"))
    assert_full(card("--as", "erin", "--purpose", PURPOSE))
    refused = invoke("models", "m", "--as", "mallory", "--purpose", PURPOSE, workspace=ws.folder)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    human = invoke("models", "m", "--as", "mallory", workspace=ws.folder)
    assert "withheld" in human.stdout and "a DP count" in human.stdout
    listing = invoke("models", "--json", workspace=ws.folder)
    assert not keys_of(json.loads(listing.stdout)) & EXACT_KEYS


def test_the_http_card_is_public_unless_the_caller_may_read_the_rows(models: Workspace):
    ws = models
    full = ws.dp.model("m", actor="alice").card.stored()
    tokens = {
        user: ws.access.issue_token(user, expires_in=timedelta(hours=1), actor="alice").secret
        for user in ("alice", "erin", "mallory")
    }
    with TestClient(create_app(ws)) as http:

        def get(user: str, path: str, **params: str) -> Any:
            headers = {"Authorization": f"Bearer {tokens[user]}"}
            return http.get(path, params=params, headers=headers)

        assert_public(get("mallory", "/v1/models/m").json()["card"], full)
        assert_public(get("erin", "/v1/models/m").json()["card"], full)
        assert_full(get("alice", "/v1/models/m").json()["card"])
        assert_full(get("erin", "/v1/models/m", purpose=PURPOSE).json()["card"])
        refused = get("mallory", "/v1/models/m", purpose=PURPOSE)
        assert refused.status_code == 403 and "split" not in refused.text
        listing = get("mallory", "/v1/models").json()
        assert {m["name"] for m in listing} == {"m", "plain"}
        assert not keys_of(listing) & EXACT_KEYS
        assert get("mallory", "/v1/models/m", purpose="privet:assessment").status_code == 422
        assert http.get("/v1/models/m").status_code == 401
