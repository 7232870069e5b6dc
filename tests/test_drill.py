"""Containment (``ws.access.contain``), the drill patterns' alerts, and breach drills against
a real ``privet serve`` on loopback (acceptance 2 of the accountability issue)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest

from privet import Workspace
from privet.errors import InvalidInput, PolicyDenied, Unauthenticated
from privet.policy import AlertInfo, GrantRequest
from tests.conftest import ingest_people, run_privet
from tests.server_support import ServerProcess, bearer

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


# -- alerts for the drill patterns, in the library ---------------------------------------------

PATTERNS = """
rules:
  - roles: [analyst]
    views: [raw]
    purposes: [analytics, training]
    auto_approve: true
alerts:
  scrape_reads: 5
  scrape_rows: 10
  hop_purposes: 2
"""


def _paged(ws: Workspace, user: str, purpose: str, offset: int, limit: int | None) -> bytes:
    chunks = ws.access.stream(
        "people",
        identity=ws.access.local_identity(user),
        purpose=purpose,
        offset=offset,
        limit=limit,
    )
    return b"".join(chunks)


def test_small_pages_raise_one_scraping_alert_and_pages_are_logged_as_their_rows(
    ws: Workspace, people_csv: Path, people: pl.DataFrame
) -> None:
    ingest_people(ws, people_csv)
    ws.access.add_user("eve", roles=["analyst"], actor="tester")
    ws.access.set_policy(PATTERNS, actor="tester")
    ws.access.approve_grant(_grant(ws, "eve", "analytics"), actor="alice")
    received = []
    for page in range(7):
        received.append(pl.read_parquet(io.BytesIO(_paged(ws, "eve", "analytics", page * 10, 10))))
    # The pages are the stored rows in order (checked against the generated table itself).
    together = pl.concat(received)
    assert together["person_id"].to_list() == people["person_id"].head(70).to_list()
    alerts = [a for a in ws.access.list_alerts() if a.kind == "scraping"]
    assert len(alerts) == 1  # one per window, not one per page past the threshold
    assert alerts[0].facts["reads"] == 5
    reads = [r.event for r in ws.log.records() if r.event["event"] == "read"]
    assert [(r["offset"], r["limit"], r["rows"]) for r in reads[-7:]] == [
        (i * 10, 10, 10) for i in range(7)
    ]


def test_one_dataset_read_under_several_purposes_raises_purpose_hopping(
    ws: Workspace, people_csv: Path
) -> None:
    ingest_people(ws, people_csv)
    ws.access.add_user("eve", roles=["analyst"], actor="tester")
    ws.access.set_policy(PATTERNS, actor="tester")
    ws.access.approve_grant(_grant(ws, "eve", "analytics"), actor="alice")
    ws.access.approve_grant(_grant(ws, "eve", "training"), actor="alice")

    def hops() -> list[AlertInfo]:
        return [a for a in ws.access.list_alerts() if a.kind == "purpose_hopping"]

    _paged(ws, "eve", "analytics", 0, 200)
    _paged(ws, "eve", "analytics", 0, 200)
    assert hops() == []  # the same purpose again is no hop
    _paged(ws, "eve", "training", 0, 200)
    (alert,) = hops()
    assert alert.facts["purposes"] == 2


def test_a_revoked_token_presented_again_raises_an_alert_without_its_secret(
    ws: Workspace, people_csv: Path
) -> None:
    ingest_people(ws, people_csv)
    ws.access.add_user("eve", roles=["analyst"], actor="tester")
    issued = ws.access.issue_token("eve", expires_in=timedelta(hours=1), actor="tester")
    ws.access.revoke_token(issued.id, actor="tester")
    for _ in range(3):
        with pytest.raises(PolicyDenied):
            ws.access.authenticate(issued.secret)
    (alert,) = ws.access.list_alerts()  # one per token per replay window
    assert alert.kind == "revoked_token" and alert.facts["token"] == issued.id
    secret = issued.secret[len(f"pvt_{issued.id}_") :]  # the 43 characters of the secret
    assert len(secret) == 43
    assert all(secret not in json.dumps(r.event) for r in ws.log.records())


# -- breach drills against a real server --------------------------------------------------------

DRILL_POLICY = """
rules: []
alerts:
  min_history: 3
  bulk_rows: 150
  scrape_reads: 8
  scrape_rows: 10
  hop_purposes: 3
  contain: [off_hours_bulk, scraping, purpose_hopping, revoked_token]
"""
# What each scenario reads, from the thresholds above and the drill's script (README):
# a whole dataset of max(bulk_rows, 100) rows; scrape_reads pages of min(scrape_rows, 20) rows;
# a 50-row dataset once per purpose; a 50-row dataset once before its token was revoked.
EXPECTED = {
    "off_hours_bulk": (1, 150, 150),
    "scraping": (8, 80, 80),
    "purpose_hopping": (3, 150, 50),
    "revoked_token": (1, 50, 50),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ServerProcess]]:
    root = tmp_path_factory.mktemp("drill")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIVET_KEY_DIR", str(root / "keys"))
        (root / "project").mkdir()
        with Workspace.init(root / "project", actor="tester") as ws:
            ws.access.add_user("operator", roles=["security"], actor="tester")
            ws.access.set_policy(DRILL_POLICY, actor="tester")
        with ServerProcess(root / "project") as server:
            yield root / "project", server


@pytest.fixture
def drill_ws(served: tuple[Path, ServerProcess], monkeypatch: pytest.MonkeyPatch) -> Workspace:
    path, _ = served
    monkeypatch.setenv("PRIVET_KEY_DIR", str(path.parent / "keys"))
    with Workspace.open(path) as ws:
        yield ws


def _log_reads(ws: Workspace, user: str) -> list[dict]:
    return [
        r.event for r in ws.log.records() if r.event["event"] == "read" and r.event["actor"] == user
    ]


@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_drill_alerts_and_contains_within_a_second_and_knows_what_was_read(
    served: tuple[Path, ServerProcess], drill_ws: Workspace, scenario: str
) -> None:
    _, server = served
    report = drill_ws.drills.run(server.url, actor="operator", scenarios=[scenario])
    (result,) = report.scenarios
    assert result.alert_id is not None, result.notes
    assert result.time_to_alert_seconds is not None and result.time_to_alert_seconds <= 1.0
    assert result.contained_by == "policy"
    assert result.time_to_containment_seconds is not None
    assert result.time_to_containment_seconds <= 1.0
    # The alert and the containment, seen independently in the workspace and on the server.
    # The first alert is the scenario's; then only the contained token presented again.
    alerts = [a for a in drill_ws.access.list_alerts() if a.user == result.user][::-1]
    assert alerts[0].kind == scenario
    assert {a.kind for a in alerts[1:]} <= {"revoked_token"}
    alert = alerts[0]
    contained = [
        r.event
        for r in drill_ws.log.records()
        if r.event["event"] == "incident.contain" and r.event["user"] == result.user
    ]
    assert contained and contained[0]["reason"] == f"alert:{scenario}"
    assert contained[0]["alert"] == alert.log_index
    tokens = drill_ws.access.list_tokens(user=result.user)
    assert tokens and all(t.status == "revoked" for t in tokens)
    assert result.user in report.disabled_users
    # The ground truth: the script's sizes, and the reads the log holds for that user.
    reads, rows, subjects = EXPECTED[scenario]
    logged = _log_reads(drill_ws, result.user)
    assert len(logged) == reads and sum(e["rows"] for e in logged) == rows
    truth = result.ground_truth
    assert (truth.reads, truth.rows, truth.subjects) == (reads, rows, subjects)
    assert truth.datasets == [result.dataset]
    assert result.privet_scope is not None, "privet's incident scope is missing"
    assert result.privet_scope.datasets == [result.dataset]
    assert (result.privet_scope.rows, result.privet_scope.subjects) == (rows, subjects)
    assert result.scope_matches and result.passed and report.passed


def test_contain_stops_the_next_request_on_the_server(
    served: tuple[Path, ServerProcess], drill_ws: Workspace
) -> None:
    _, server = served
    ws = drill_ws
    ws.access.add_user("mallory", roles=["analyst"], actor="tester")
    first = ws.access.issue_token("mallory", expires_in=timedelta(hours=1), actor="tester")
    second = ws.access.issue_token("mallory", expires_in=timedelta(hours=1), actor="tester")
    for issued in (first, second):
        me = httpx.get(f"{server.url}/v1/me", headers=bearer(issued.secret), timeout=10)
        assert me.status_code == 200 and me.json()["name"] == "mallory"
    done = ws.access.contain("mallory", actor="operator", reason="stolen-token")
    assert sorted(done.tokens) == sorted([first.id, second.id])
    for issued in (first, second):
        me = httpx.get(f"{server.url}/v1/me", headers=bearer(issued.secret), timeout=10)
        assert me.status_code in (401, 403)


def test_an_expired_token_presented_raises_a_low_alert(project: Path, people_csv: Path) -> None:
    now = [datetime(2026, 3, 2, 10, 0, tzinfo=UTC)]
    with Workspace.init(project, actor="tester", clock=lambda: now[0]) as ws:
        ws.access.add_user("eve", roles=["analyst"], actor="tester")
        issued = ws.access.issue_token("eve", expires_in=timedelta(hours=1), actor="tester")
        assert ws.access.authenticate(issued.secret).name == "eve"
        assert ws.access.list_alerts() == []
        now[0] += timedelta(hours=2)
        with pytest.raises(Unauthenticated):
            ws.access.authenticate(issued.secret)
        (alert,) = ws.access.list_alerts()
        assert (alert.kind, alert.severity, alert.facts["token"]) == (
            "expired_token",
            "low",
            issued.id,
        )


def test_privet_drill_command_writes_the_after_action_report(
    served: tuple[Path, ServerProcess], tmp_path: Path
) -> None:
    path, server = served
    out = tmp_path / "after-action.html"
    result = run_privet(
        "drill", "--scenario", "revoked_token", "--server", server.url, "--json",
        "-o", out, "-w", path, "--as", "operator",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (scenario,) = report["scenarios"]
    assert scenario["scenario"] == "revoked_token" and scenario["passed"]
    html = out.read_text()
    assert "revoked_token" in html and scenario["user"] in html and "passed" in html
    # Bad input: one sentence, exit 1, nothing played.
    bad = run_privet("drill", "--server", server.url, "-o", tmp_path / "r.txt", "-w", path)
    assert bad.returncode == 1 and bad.stderr.startswith("privet: error:")
    assert "Traceback" not in bad.stderr and ".html or .json" in bad.stderr
    down = run_privet("drill", "--server", "http://127.0.0.1:9", "-w", path)
    assert down.returncode == 1 and "no privet service answers" in down.stderr
