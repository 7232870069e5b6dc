"""Grants and decisions: least privilege, four eyes, purpose- and time-bound access.

Every workspace here is governed: a policy is set and users are registered. ``alice`` owns
``people`` (restricted: it holds SSNs), ``bob`` is an analyst, ``carol`` a steward (an
approver role), ``dave`` an intern the policy gives nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from privet import InvalidInput, NotFound, PolicyDenied, Workspace
from privet import policy as gov
from privet.policy import Identity
from tests.conftest import ingest_people, invoke

POLICY = """
approver_roles: [steward]
rules:
  - description: analysts work on de-identified views for analytics
    roles: [analyst]
    views: [masked, pseudonymized, aggregate]
    purposes: [analytics]
    max_days: 30
  - description: public datasets are open to analysts at once
    roles: [analyst]
    views: [raw]
    classifications: [public, internal]
    auto_approve: true
"""


class Clock:
    """A settable clock: grants expire exactly when the test says."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gws(project: Path, people_csv: Path, clock: Clock) -> Workspace:
    ws = Workspace.init(project, actor="tester", clock=clock)
    ingest_people(ws, people_csv)
    ws.access.set_policy(POLICY, actor="tester")
    ws.access.add_user("alice", roles=["owner"], actor="tester")
    ws.access.add_user("bob", roles=["analyst"], actor="tester")
    ws.access.add_user("carol", roles=["steward"], actor="tester")
    ws.access.add_user("dave", roles=["intern"], actor="tester")
    yield ws
    ws.close()


def who(ws: Workspace, name: str) -> Identity:
    return ws.access.local_identity(name)


def ask(ws: Workspace, name: str = "bob", **kw: object) -> gov.GrantInfo:
    args = {
        "dataset": "people",
        "view": "masked",
        "purpose": "analytics",
        "duration_seconds": 86_400,
        "reason": "churn features",
    }
    args.update(kw)
    request = gov.GrantRequest(**args)  # type: ignore[arg-type]
    return ws.access.request_grant(request, identity=who(ws, name))


def last_event(ws: Workspace) -> dict:
    return ws.log.records(ws.log.size() - 1, 1)[0].event


# -- decisions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "view", "purpose", "reason"),
    [
        ("bob", "masked", "analytics", "no_active_grant"),  # right role, no grant yet
        ("dave", "masked", "analytics", "no_policy_rule"),  # wrong role
        ("bob", "raw", "analytics", "no_policy_rule"),  # a view the role may not have
        ("bob", "masked", "training", "no_policy_rule"),  # wrong purpose for the rule
        ("bob", "masked", "marketing", "purpose_not_declared"),  # not a declared purpose
        ("mallory", "masked", "analytics", "no_policy_rule"),  # unknown person: no roles
    ],
)
def test_nobody_reads_without_rule_and_grant(
    gws: Workspace, user: str, view: str, purpose: str, reason: str
) -> None:
    decision = gws.access.check("people", view=view, purpose=purpose, identity=who(gws, user))
    assert (decision.allowed, decision.reason) == (False, reason)
    size = gws.log.size()
    with pytest.raises(PolicyDenied):
        gov.read(gws.hazmat, "people", identity=who(gws, user), view=view, purpose=purpose)
    assert gws.log.size() == size + 1
    event = last_event(gws)
    assert (event["event"], event["reason"], event["actor"]) == ("read.refused", reason, user)


def test_owner_and_internal_processing_need_no_grant(gws: Workspace) -> None:
    assert (
        gws.access.check("people", view="raw", purpose="training", identity=who(gws, "alice")).basis
        == "owner"
    )
    internal = gws.access.check(
        "people", view="raw", purpose="privet:assessment", identity=who(gws, "dave")
    )
    assert internal.basis == "internal"
    # ... but never for a remote caller naming the internal purpose.
    remote = Identity("dave", frozenset(), token_id="x", via="token")
    assert not gws.access.check(
        "people", view="raw", purpose="privet:assessment", identity=remote
    ).allowed


def test_an_ungoverned_workspace_keeps_purpose_limitation_only(
    ws: Workspace, people_csv: Path
) -> None:
    ingest_people(ws, people_csv)
    assert (
        ws.access.check("people", view="raw", purpose="training", identity=who(ws, "anyone")).basis
        == "ungoverned"
    )
    ws.access.add_user("bob", roles=["analyst"], actor="tester")  # now governed
    assert not ws.access.check(
        "people", view="raw", purpose="training", identity=who(ws, "anyone")
    ).allowed


# -- the grant lifecycle -------------------------------------------------------------------


def test_request_approve_read_masked_then_expire(gws: Workspace, clock: Clock) -> None:
    grant = ask(gws)
    assert grant.status == "pending"
    clock.advance(hours=5)  # the clock starts at approval, not at the request
    approved = gws.access.approve_grant(grant.id, identity=who(gws, "alice"))
    assert approved.status == "active"
    assert approved.expires_at == clock.now + timedelta(days=1)
    release = gov.read(
        gws.hazmat, "people", identity=who(gws, "bob"), view="masked", purpose="analytics"
    )
    assert release.grant_id == grant.id
    assert set(release.frame.get_column("ssn").str.replace_all(r"\*", "").to_list()) == {""}
    clock.advance(days=1)  # exactly at expiry: no longer active
    assert (
        gws.access.check(
            "people", view="masked", purpose="analytics", identity=who(gws, "bob")
        ).reason
        == "no_active_grant"
    )
    with pytest.raises(PolicyDenied):
        gov.read(gws.hazmat, "people", identity=who(gws, "bob"), view="masked", purpose="analytics")
    assert [g.status for g in gws.access.list_grants(user="bob")] == ["expired"]


def test_self_approval_is_refused_and_logged(gws: Workspace) -> None:
    gws.access.set_roles("bob", add=["steward"], actor="tester")  # even an approver
    grant = ask(gws)
    with pytest.raises(PolicyDenied, match="their own"):
        gws.access.approve_grant(grant.id, identity=who(gws, "bob"))
    event = last_event(gws)
    assert (event["event"], event["reason"]) == ("grant.approve.refused", "self_approval")
    assert gws.access.get_grant(grant.id).status == "pending"


def test_only_owner_or_approver_decides(gws: Workspace) -> None:
    grant = ask(gws)
    with pytest.raises(PolicyDenied, match="owner"):
        gws.access.approve_grant(grant.id, identity=who(gws, "dave"))
    assert gws.access.approve_grant(grant.id, identity=who(gws, "carol")).approved_by == "carol"
    denied = ask(gws, view="pseudonymized")
    assert gws.access.deny_grant(denied.id, identity=who(gws, "alice")).status == "denied"
    with pytest.raises(PolicyDenied, match="not pending"):
        gws.access.approve_grant(denied.id, identity=who(gws, "alice"))


def test_request_outside_policy_is_refused(gws: Workspace) -> None:
    with pytest.raises(PolicyDenied, match="no policy rule"):
        ask(gws, "dave")
    with pytest.raises(PolicyDenied, match="at most 30 days"):
        ask(gws, duration_seconds=31 * 86_400)
    with pytest.raises(InvalidInput, match="reason"):
        ask(gws, reason="  ")
    with pytest.raises(InvalidInput, match="unknown view"):
        ask(gws, view="everything")
    with pytest.raises(NotFound):
        ask(gws, dataset="nope")


def test_restricted_datasets_always_need_approval(gws: Workspace, tmp_path: Path) -> None:
    # The second rule auto-approves raw reads of internal data: a small internal table...
    (tmp_path / "t.csv").write_text("city,visits\nParis,3\nLyon,5\n")
    gws.ingest(tmp_path / "t.csv", name="visits", owner="alice", purposes=["ops"], actor="alice")
    auto = ask(gws, dataset="visits", view="raw", purpose="ops")
    assert (auto.status, auto.approved_by) == ("active", "policy")
    # ...while the same kind of rule never auto-approves anything restricted.
    gws.access.set_policy(POLICY.replace("[public, internal]", "[restricted]"), actor="tester")
    assert ask(gws, view="raw", purpose="training").status == "pending"


def test_revoked_grant_stops_access_and_the_grantee_may_give_it_up(gws: Workspace) -> None:
    grant = ask(gws)
    gws.access.approve_grant(grant.id, identity=who(gws, "alice"))
    assert gws.access.check(
        "people", view="masked", purpose="analytics", identity=who(gws, "bob")
    ).allowed
    gws.access.revoke_grant(grant.id, identity=who(gws, "bob"))
    assert not gws.access.check(
        "people", view="masked", purpose="analytics", identity=who(gws, "bob")
    ).allowed
    with pytest.raises(InvalidInput, match="already revoked"):
        gws.access.revoke_grant(grant.id, identity=who(gws, "alice"))


def test_grant_events_hold_ids_not_the_reason_text(gws: Workspace) -> None:
    grant = ask(gws, reason="call Jane Roe at 555-0100 about churn")
    gws.access.approve_grant(grant.id, identity=who(gws, "alice"))
    text = "".join(str(r.event) for r in gws.log.records())
    assert "Jane" not in text and "555-0100" not in text
    assert gws.log.verify().size == gws.log.size()


# -- the CLI ------------------------------------------------------------------------------


def test_grant_cli_round_trip(gws: Workspace, project: Path) -> None:
    import json

    out = invoke(
        "grant", "request", "people", "--view", "masked", "--purpose", "analytics",
        "--duration", "2d", "--reason", "dashboards", "--as", "bob", "--json",
        workspace=project,
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    grant_id = json.loads(out.output)["id"]
    refused = invoke("grant", "approve", grant_id, "--as", "bob", workspace=project)
    assert refused.exit_code == 1 and "their own" in refused.output
    ok = invoke("grant", "approve", grant_id, "--as", "alice", workspace=project)
    assert ok.exit_code == 0 and "active" in ok.output
    listed = json.loads(
        invoke("grant", "list", "--status", "active", "--json", workspace=project).output
    )
    assert [g["id"] for g in listed] == [grant_id]
    check = invoke(
        "policy", "check", "people", "--user", "bob", "--view", "masked",
        "--purpose", "analytics", workspace=project,
    )  # fmt: skip
    assert "allowed (grant)" in check.output
    export = invoke(
        "export", "people", "-o", project / "m.csv", "--purpose", "analytics", "--view",
        "masked", "--as", "bob", workspace=project,
    )  # fmt: skip
    assert export.exit_code == 0, export.output
    assert invoke("grant", "revoke", grant_id, "--as", "carol", workspace=project).exit_code == 0
    again = invoke(
        "export", "people", "-o", project / "m2.csv", "--purpose", "analytics", "--view",
        "masked", "--as", "bob", workspace=project,
    )  # fmt: skip
    assert again.exit_code == 1 and "no active grant" in again.output
    assert not (project / "m2.csv").exists()


def test_who_sees_which_grants_and_alerts(gws: Workspace) -> None:
    mine = ask(gws)
    other = ask(gws, "bob", view="pseudonymized")
    visible = {
        name: {g.id for g in gws.access.grants_visible_to(who(gws, name))}
        for name in ("alice", "bob", "carol", "dave")
    }
    assert visible == {
        "alice": {mine.id, other.id},  # owner of the dataset
        "bob": {mine.id, other.id},  # his own requests
        "carol": {mine.id, other.id},  # an approver role
        "dave": set(),
    }
    assert [g.id for g in gws.access.grants_visible_to(who(gws, "carol"), status="denied")] == []
    oversee = {n: gws.access.may_oversee(who(gws, n)) for n in ("alice", "bob", "carol", "dave")}
    assert oversee == {"alice": True, "bob": False, "carol": True, "dave": False}


def test_readme_access_governance_example_runs(
    tmp_path: Path, people_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's policy and library example, as written."""
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Access governance", 1)[1].split("\n## ", 1)[0]
    policy_yaml = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    ws = Workspace.init(tmp_path / "p", actor="tester")
    ws.ingest(
        people_csv, name="people", owner="dpo@example.org", purposes=["fraud-analytics"],
        actor="dpo@example.org", categories={"age": "user.demographic.age_range"},
    )  # fmt: skip
    ws.access.set_policy(policy_yaml, actor="tester")
    ws.access.add_user("bob", roles=["analyst"], actor="tester")
    ws.close()
    monkeypatch.chdir(tmp_path / "p")
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    frame = namespace["frame"]
    assert frame.height > 0 and frame.get_column("age").min() >= 18
