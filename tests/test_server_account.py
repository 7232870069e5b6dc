"""Account over HTTP against the real server on loopback: containing a user (the route and the
dashboard's Contain button) and the impact assessment as HTML or JSON. What containment did
is checked through the library and by the contained user's next request; the report's text
against the seeded data itself."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx
import polars as pl
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from privet import Workspace
from privet.policy import GrantRequest
from tests.browser_support import console_errors
from tests.server_support import ServerProcess, bearer, governed_root

SECTIONS = (
    "(a) Systematic description of the processing and its purposes",
    "(b) Necessity and proportionality of the processing",
    "(c) Risks to the rights and freedoms of data subjects",
    "(d) Measures envisaged to address the risks",
)
IDENTIFYING = ("person_id", "full_name", "email", "phone", "ssn", "street_address")


def _analyst(ws: Workspace, name: str) -> tuple[str, str, str]:
    """A new analyst with a token and an approved raw grant: (secret, token id, grant id)."""
    ws.access.add_user(name, roles=["analyst"], actor="alice")
    issued = ws.access.issue_token(name, expires_in=timedelta(days=1), actor="alice")
    grant = ws.access.request_grant(
        GrantRequest(
            dataset="people",
            view="raw",
            purpose="analytics",
            duration_seconds=3600,
            reason="churn model",
        ),
        identity=ws.access.local_identity(name),
    )
    ws.access.approve_grant(grant.id, identity=ws.access.local_identity("carol"))
    return issued.secret, issued.id, grant.id


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, people: pl.DataFrame):
    with governed_root(tmp_path_factory, "account", people) as (root, governed):
        with Workspace.open(governed.path) as ws:
            extra = {name: _analyst(ws, name) for name in ("dave", "erin")}
        with ServerProcess(root / "project") as server:
            yield governed, server, extra


def _status(ws: Workspace, user: str) -> tuple[dict[str, str], dict[str, str]]:
    tokens = {t.id: t.status for t in ws.access.list_tokens(user=user)}
    grants = {g.id: g.status for g in ws.access.list_grants(user=user)}
    return tokens, grants


def test_an_overseer_contains_a_user_over_http(served) -> None:
    governed, server, extra = served
    secret, token_id, grant_id = extra["dave"]
    url = f"{server.url}/v1/users/dave/contain"
    # dave reads before: his token and grant work.
    before = httpx.get(f"{server.url}/v1/me", headers=bearer(secret))
    assert before.status_code == 200

    answer = httpx.post(url, json={"reason": "incident"}, headers=bearer(governed.tokens["carol"]))

    assert answer.status_code == 200, answer.text
    done = answer.json()
    assert done["user"] == "dave" and done["tokens"] == [token_id]
    assert done["grants"] == [grant_id]
    with Workspace.open(governed.path) as ws:
        tokens, grants = _status(ws, "dave")
        assert tokens == {token_id: "revoked"} and grants == {grant_id: "revoked"}
        entry = ws.log.records(done["log_index"], 1)[0].event
        assert entry["event"] == "incident.contain" and entry["actor"] == "carol"
        assert entry["user"] == "dave" and entry["reason"] == "incident"
        assert entry["tokens"] == [token_id] and entry["grants"] == [grant_id]
        # Nobody else was touched.
        assert set(_status(ws, "bob")[0].values()) == {"active"}
    after = httpx.get(f"{server.url}/v1/me", headers=bearer(secret))
    assert after.status_code in (401, 403), after.text
    read = httpx.get(
        f"{server.url}/v1/datasets/people/rows",
        params={"purpose": "analytics", "view": "raw"},
        headers=bearer(secret),
    )
    assert read.status_code in (401, 403)


def test_only_an_overseer_may_contain_and_bad_input_is_refused(served) -> None:
    governed, server, extra = served
    erin_token = extra["erin"][1]
    for who in ("bob", "mallory"):
        refused = httpx.post(
            f"{server.url}/v1/users/erin/contain",
            json={"reason": "incident"},
            headers=bearer(governed.tokens[who]),
        )
        assert refused.status_code == 403, refused.text
    carol = bearer(governed.tokens["carol"])
    unknown = httpx.post(
        f"{server.url}/v1/users/nobody/contain", json={"reason": "incident"}, headers=carol
    )
    assert unknown.status_code == 404, unknown.text
    for body in ({"reason": "Jane Doe called"}, {"reason": ""}, {}, {"reason": "x" * 65}):
        bad = httpx.post(f"{server.url}/v1/users/erin/contain", json=body, headers=carol)
        assert bad.status_code in (400, 422), (body, bad.text)
        assert "Jane" not in bad.text
    with Workspace.open(governed.path) as ws:
        assert _status(ws, "erin")[0] == {erin_token: "active"}


def _seeded_values(people: pl.DataFrame) -> set[str]:
    frame = people.select(pl.col(c).cast(pl.Utf8) for c in IDENTIFYING if c in people.columns)
    return {v for column in frame.columns for v in frame[column].drop_nulls() if len(v) >= 6}


def test_the_report_route_serves_the_assessment_as_html_and_json(served, people) -> None:
    governed, server, _ = served
    url = f"{server.url}/v1/reports/people"
    page = httpx.get(url, headers=bearer(governed.tokens["carol"]), timeout=120)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src" not in page.headers["content-security-policy"]
    text = page.text
    flat = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text)))
    for heading in SECTIONS:
        assert heading in flat, heading
    assert "<script" not in text.lower()
    values = _seeded_values(people)
    assert len(values) > 500
    assert [v for v in values if v in text] == []

    as_json = httpx.get(
        url, params={"format": "json"}, headers=bearer(governed.tokens["alice"]), timeout=120
    )
    assert as_json.status_code == 200, as_json.text
    found = as_json.json()
    assert found["kind"] == "dataset" and found["subject"] == "people"
    by_accept = httpx.get(
        url,
        headers={**bearer(governed.tokens["carol"]), "Accept": "application/json"},
        timeout=120,
    )
    assert by_accept.status_code == 200 and by_accept.json()["subject"] == "people"
    assert [v for v in values if v in as_json.text] == []

    for who in ("bob", "mallory"):
        refused = httpx.get(url, headers=bearer(governed.tokens[who]))
        assert refused.status_code == 403, refused.text
    missing = httpx.get(
        f"{server.url}/v1/reports/nothing", headers=bearer(governed.tokens["carol"])
    )
    assert missing.status_code == 404, missing.text


def test_the_dashboard_contain_button_revokes_the_alerted_user(browser, served) -> None:
    governed, server, extra = served
    secret, token_id, grant_id = extra["erin"]
    # An alert on erin: a second token of hers, revoked, presented again.
    with Workspace.open(governed.path) as ws:
        spare = ws.access.issue_token("erin", expires_in=timedelta(hours=1), actor="alice")
        ws.access.revoke_token(spare.id, actor="alice")
    replay = httpx.get(f"{server.url}/v1/me", headers=bearer(spare.secret))
    assert replay.status_code in (401, 403)
    assert httpx.get(f"{server.url}/v1/me", headers=bearer(secret)).status_code == 200

    browser.get(f"{server.url}/dashboard/")
    wait = WebDriverWait(browser, 20)
    wait.until(ec.visibility_of_element_located((By.ID, "token"))).send_keys(
        governed.tokens["carol"]
    )
    browser.find_element(By.ID, "signin-button").click()
    button = wait.until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, '#alerts button.contain[data-user="erin"]'))
    )
    button.click()
    # The first click only arms it: nothing is revoked yet.
    assert button.text == "Confirm containment"
    with Workspace.open(governed.path) as ws:
        assert _status(ws, "erin")[0][token_id] == "active"
    button.click()
    shown = wait.until(lambda b: b.find_element(By.ID, "contained").text or None)
    assert "erin" in shown and token_id in shown and grant_id in shown, shown
    with Workspace.open(governed.path) as ws:
        tokens, grants = _status(ws, "erin")
        assert tokens[token_id] == "revoked" and grants[grant_id] == "revoked"
    refused = httpx.get(f"{server.url}/v1/me", headers=bearer(secret))
    assert refused.status_code in (401, 403)
    assert console_errors(browser) == []
