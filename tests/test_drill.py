"""Containment (``ws.access.contain``), the drill patterns' alerts, and breach drills against
a real ``privet serve`` on loopback (acceptance 2 of the accountability issue)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from privet import Workspace
from privet.errors import InvalidInput, PolicyDenied
from privet.policy import GrantRequest
from tests.conftest import ingest_people

POLICY = """
rules:
  - roles: [analyst]
    views: [raw, masked]
    purposes: [analytics, training]
"""


def _grant(ws: Workspace, user: str, purpose: str) -> str:
    ask = GrantRequest(
        dataset="people", view="raw", purpose=purpose, duration_seconds=3600, reason="t"
    )
    return ws.access.request_grant(ask, identity=ws.access.local_identity(user)).id


@pytest.fixture
def governed(ws: Workspace, people_csv: Path) -> Workspace:
    ingest_people(ws, people_csv)
    ws.access.add_user("owner", roles=["steward"], actor="tester")
    ws.access.add_user("eve", roles=["analyst"], actor="tester")
    ws.access.add_user("bob", roles=["analyst"], actor="tester")
    ws.access.set_policy(POLICY, actor="tester")
    return ws


def test_contain_revokes_every_active_token_and_grant_in_one_logged_step(
    governed: Workspace,
) -> None:
    ws = governed
    tokens = [
        ws.access.issue_token("eve", expires_in=timedelta(hours=1), actor="tester").id
        for _ in range(2)
    ]
    already = ws.access.issue_token("eve", expires_in=timedelta(hours=1), actor="tester").id
    ws.access.revoke_token(already, actor="tester")
    bobs = ws.access.issue_token("bob", expires_in=timedelta(hours=1), actor="tester").id
    pending = _grant(ws, "eve", "analytics")
    active = _grant(ws, "eve", "training")
    ws.access.approve_grant(active, actor="alice")
    bob_grant = _grant(ws, "bob", "analytics")

    done = ws.access.contain("eve", actor="tester", reason="incident")

    assert sorted(done.tokens) == sorted(tokens)
    assert sorted(done.grants) == sorted([pending, active])
    status = {t.id: t.status for t in ws.access.list_tokens()}
    assert [status[t] for t in tokens] == ["revoked", "revoked"]
    assert status[bobs] == "active"  # nobody else is touched
    grants = {g.id: g.status for g in ws.access.list_grants()}
    assert grants[pending] == grants[active] == "revoked"
    assert grants[bob_grant] == "pending"
    records = ws.log.records(done.log_index - 4, 5)
    entry = records[-1].event
    assert entry["event"] == "incident.contain"
    assert entry["user"] == "eve" and entry["reason"] == "incident"
    assert sorted(entry["tokens"]) == sorted(tokens)
    assert sorted(entry["grants"]) == sorted([pending, active])
    # One revocation entry each, just before it, attested like one made by hand.
    revoked = sorted(r.event["event"] for r in records[:-1])
    assert revoked == ["grant.revoke"] * 2 + ["token.revoke"] * 2
    with pytest.raises(PolicyDenied):
        ws.read("people", actor="eve", purpose="training")
    # Containing again finds nothing left, and is logged again.
    again = ws.access.contain("eve", actor="tester", reason="incident")
    assert again.tokens == [] and again.grants == []


@pytest.mark.parametrize("reason", ["", "Jane Doe called", "x" * 65, "a\nb"])
def test_contain_reason_is_a_short_word_not_free_text(governed: Workspace, reason: str) -> None:
    with pytest.raises(InvalidInput):
        governed.access.contain("eve", actor="tester", reason=reason)
