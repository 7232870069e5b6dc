"""The dashboard in headless Chromium (acceptance 5): it loads, shows a pending grant, and
approving it in the page activates the grant (checked through the library). The browser
fixture is in tests/browser_support.py (registered by conftest)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from privet import Workspace
from privet.policy import GrantRequest
from tests.browser_support import console_errors
from tests.server_support import POLICY, ServerProcess, governed_root


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, people):
    with (
        governed_root(tmp_path_factory, "dashboard", people) as (root, governed),
        ServerProcess(root / "project") as server,
    ):
        yield governed, server


def test_dashboard_shows_a_pending_grant_and_approving_it_activates_it(browser, served):
    governed, server = served
    project = governed.path
    with Workspace.open(project) as ws:
        pending = ws.access.request_grant(
            GrantRequest(
                dataset="people",
                view="masked",
                purpose="analytics",
                duration_seconds=2 * 86_400,
                reason="churn features",
            ),
            identity=ws.access.local_identity("bob"),
        )
        other = ws.access.request_grant(
            GrantRequest(
                dataset="people",
                view="raw",
                purpose="analytics",
                duration_seconds=30 * 86_400,
                reason="everything, for a month",
            ),
            identity=ws.access.local_identity("bob"),
        )
        checkpoint = ws.log.checkpoint()
    assert pending.status == other.status == "pending"
    browser.get(f"{server.url}/dashboard/")
    assert browser.title == "privet dashboard"
    wait = WebDriverWait(browser, 20)
    token = wait.until(ec.visibility_of_element_located((By.ID, "token")))
    token.send_keys(governed.tokens["carol"])
    browser.find_element(By.ID, "signin-button").click()
    row = wait.until(
        ec.visibility_of_element_located(
            (By.CSS_SELECTOR, f'#pending tr[data-grant="{pending.id}"]')
        )
    )
    assert "bob" in row.text and "people" in row.text and "churn features" in row.text
    # The other panels loaded too: datasets with classification, the token kept in the tab.
    people_row = wait.until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, '#datasets tr[data-name="people"]'))
    )
    assert "restricted" in people_row.text and "/ 1" in people_row.text  # ε spent / limit
    shown = browser.find_element(By.ID, "checkpoint").text
    assert f"\n{checkpoint.size}\n" in shown and "verifier key" in shown
    wait.until(lambda b: b.find_element(By.ID, "alerts-note").text == "No alerts.")
    assert (
        browser.execute_script("return sessionStorage.getItem('privet.token')")
        == governed.tokens["carol"]
    )
    assert governed.tokens["carol"] not in browser.current_url
    row.find_element(By.CSS_SELECTOR, "button.approve").click()
    wait.until(
        ec.invisibility_of_element_located(
            (By.CSS_SELECTOR, f'#pending tr[data-grant="{pending.id}"]')
        )
    )
    assert browser.find_element(By.ID, "status").text == ""
    denied_row = browser.find_element(By.CSS_SELECTOR, f'#pending tr[data-grant="{other.id}"]')
    denied_row.find_element(By.CSS_SELECTOR, "button.deny").click()
    wait.until(lambda b: b.find_element(By.ID, "pending-empty").is_displayed())
    assert console_errors(browser) == []  # no CSP violation, no script error
    with Workspace.open(project) as ws:
        grant = ws.access.get_grant(pending.id)
        refused = ws.access.get_grant(other.id)
    assert grant.status == "active" and grant.approved_by == "carol"
    assert refused.status == "denied"


def test_dashboard_is_served_with_a_strict_content_security_policy(served):
    import httpx

    _, server = served
    page = httpx.get(f"{server.url}/dashboard/")
    script = httpx.get(f"{server.url}/dashboard/app.js")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp  # no CDN, no inline script
    assert "<script>" not in page.text and 'src="http' not in page.text
    assert script.status_code == 200 and "innerHTML" not in script.text
    assert "sessionStorage" in script.text and "Authorization" in script.text


@pytest.fixture(scope="module")
def served_forget(tmp_path_factory: pytest.TempPathFactory, people):
    """The governed workspace with an erasure role (dora, a DPO) and a dataset kept 10 days."""
    with governed_root(tmp_path_factory, "forget", people) as (root, governed):
        with Workspace.open(root / "project") as ws:
            ws.access.set_policy(POLICY + "erasure_roles: [dpo]\n", actor="alice")
            ws.access.add_user("dora", roles=["dpo"], actor="alice")
            issued = ws.access.issue_token("dora", expires_in=timedelta(days=1), actor="alice")
            governed.tokens["dora"] = issued.secret
            short = root / "short.csv"
            people.head(20).write_csv(short)
            ws.ingest(short, name="short-lived", owner="alice", purposes=["analytics"],
                      actor="alice", subject_id="person_id", retention_days=10)  # fmt: skip
        with ServerProcess(root / "project") as server:
            yield governed, server


def test_dashboard_shows_erasures_and_retention_due(browser, served_forget):
    governed, server = served_forget
    headers = {"Authorization": f"Bearer {governed.tokens['dora']}"}
    body = {"subjects": ["P000003"], "reason": "Art. 17 request by email"}
    # Over HTTP: a role the policy does not name is refused; the DPO's erasure runs.
    refused = httpx.post(f"{server.url}/v1/erasures", json=body, timeout=60,
                         headers={"Authorization": f"Bearer {governed.tokens['bob']}"})  # fmt: skip
    assert refused.status_code == 403 and "may not request erasure" in refused.json()["message"]
    done = httpx.post(f"{server.url}/v1/erasures", json=body, headers=headers, timeout=120)
    assert done.status_code == 201, done.text
    result = done.json()
    assert set(result["nonces"]) == {"P000003"} and result["status"] == "done"
    note = httpx.get(f"{server.url}/v1/erasures/{result['id']}/receipt", headers=headers)
    assert note.status_code == 200 and note.json()["note"] == result["note"]
    browser.get(f"{server.url}/dashboard/")
    wait = WebDriverWait(browser, 20)
    wait.until(ec.visibility_of_element_located((By.ID, "token"))).send_keys(
        governed.tokens["dora"]
    )
    browser.find_element(By.ID, "signin-button").click()
    wait.until(lambda b: "0 pending, 1 done" in b.find_element(By.ID, "erasures-note").text)
    row = browser.find_element(By.CSS_SELECTOR, "#erasures tbody tr")
    assert "dora" in row.text and "done" in row.text
    due = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#retention tbody tr")))
    assert "short-lived" in due.text
    assert console_errors(browser) == []
