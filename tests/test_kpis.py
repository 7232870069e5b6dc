"""Privacy KPIs (issue 17): every figure, now and in its daily series, equals what the test
computes itself from the events it made happen at known times (grants asked and approved,
reads that raise an alert, DP releases of known ε, erasures, a version past retention);
``privet kpis --json`` and ``GET /v1/kpis`` give the same answer; only overseers may ask.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import pytest
from dp_accounting import dp_event as ev
from dp_accounting.pld import pld_privacy_accountant

from privet import Workspace
from privet.datasets import raw_people
from privet.dp import Charge, pure
from privet.forget import EraseRequest
from privet.policy import GrantRequest
from tests.conftest import invoke
from tests.server_support import ServerProcess, bearer

POLICY = """
version: 1
approver_roles: [approver]
erasure_roles: [dpo]
rules:
  - roles: [analyst]
    views: [raw, masked]
    purposes: [analytics]
alerts:
  min_history: 5
  volume_factor: 10
  bulk_rows: 100
"""
DAYS = 12  # the seeded history: day 0 .. day 12 (today)
PEOPLE_ROWS = 60
DELTA = 1e-6
# ε of each DP release: (day, hour, ledger, ε)
RELEASES = [(1, 15, "people", 0.5), (3, 11, "small", 1.0), (4, 10, "people", 0.25)]


class Clock:
    """The workspace's clock: a set time while the history is seeded, then the real one."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or datetime.now(UTC)


@dataclass
class Seeded:
    root: Path
    project: Path
    day0: datetime  # midnight UTC of day 0
    erased_rows: int
    tokens: dict[str, str] = field(default_factory=dict)

    def at(self, day: int, hour: int) -> datetime:
        return self.day0 + timedelta(days=day, hours=hour)


class Stop(Exception):
    """Stops an erasure after it was queued: it stays open."""


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("kpis")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIVET_KEY_DIR", str(root / "keys"))
        yield _seed(root)


def _seed(root: Path, database_url: str | None = None) -> Seeded:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day0 = today - timedelta(days=DAYS)
    people = raw_people(PEOPLE_ROWS)
    erased = str(people["person_id"][3])
    seeded = Seeded(root, root / "project", day0,
                    erased_rows=int((people["person_id"] == erased).sum()))  # fmt: skip
    seeded.project.mkdir()
    clock = Clock()
    clock.at = seeded.at(0, 9)
    ws = Workspace.init(seeded.project, actor="alice", clock=clock, database_url=database_url)
    people.write_csv(root / "people.csv")
    ws.ingest(root / "people.csv", name="people", owner="alice", purposes=["analytics"],
              actor="alice", subject_id="person_id", retention_days=10)  # fmt: skip
    for name, rows in (("small", 20), ("big", 400)):
        path = root / f"{name}.csv"
        pl.DataFrame({"n": list(range(rows)), "city": ["Lyon"] * rows}).write_csv(path)
        ws.ingest(path, name=name, owner="alice", purposes=["analytics"], actor="alice")
    for name in ("people", "small"):
        ws.dp.set_budget(name, actor="alice", epsilon=5.0, delta=DELTA)
    ws.access.set_policy(POLICY, actor="alice")
    users = {"alice": ["steward"], "bob": ["analyst"], "carol": ["approver"], "dora": ["dpo"]}
    for user, roles in users.items():
        ws.access.add_user(user, roles=roles, actor="alice")
    bob, carol = ws.access.local_identity("bob"), ws.access.local_identity("carol")

    def ask(dataset: str, view: str, seconds: int) -> str:
        request = GrantRequest(dataset=dataset, view=view, purpose="analytics",
                               duration_seconds=seconds, reason="kpi test")  # fmt: skip
        return ws.access.request_grant(request, identity=bob).id

    # Grants: approved after 2 h (day 0) and after 24 h (day 1 → 2); one left pending.
    clock.at = seeded.at(0, 10)
    small = ask("small", "raw", 3 * 86_400)
    clock.at = seeded.at(0, 12)
    ws.access.approve_grant(small, identity=carol)
    clock.at = seeded.at(1, 9)
    big = ask("big", "raw", 30 * 86_400)
    clock.at = seeded.at(2, 9)
    ws.access.approve_grant(big, identity=carol)
    clock.at = seeded.at(2, 10)
    ask("people", "masked", 86_400)
    # Five ordinary reads of 20 rows, then one of 400: a volume alert (high) on day 3.
    for hour in range(10, 15):
        clock.at = seeded.at(1, hour)
        ws.read("small", identity=bob, purpose="analytics")
    clock.at = seeded.at(3, 10)
    ws.read("big", identity=bob, purpose="analytics")
    for day, hour, name, epsilon in RELEASES:
        clock.at = seeded.at(day, hour)
        ws.dp.charge(name, Charge(pure(epsilon)), kind="query", purpose="analytics",
                     actor="alice")  # fmt: skip
    # A second version of people on day 5 (expires day 15: within retention today).
    clock.at = seeded.at(5, 9)
    ws.ingest(root / "people.csv", name="people", owner="alice", purposes=["analytics"],
              actor="alice", subject_id="person_id", new_version=True)  # fmt: skip
    # One erasure done on day 6, one left open on day 7.
    clock.at = seeded.at(6, 10)
    ws.forget.erase(EraseRequest(subjects=[erased], reason="Art. 17"), actor="dora")

    def stop(stage: str) -> None:
        if stage.startswith("rewriting"):
            raise Stop

    clock.at = seeded.at(7, 10)
    with pytest.raises(Stop):
        ws.forget.erase(EraseRequest(subjects=[str(people["person_id"][5])], reason="Art. 17"),
                        actor="dora", progress=stop)  # fmt: skip
    clock.at = None  # from here on: the real time (today, day 12)
    for user in ("carol", "bob", "alice"):
        seeded.tokens[user] = ws.access.issue_token(
            user, expires_in=timedelta(hours=2), actor="alice"
        ).secret
    ws.close()
    return seeded


@pytest.fixture
def opened(seeded: Seeded, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PRIVET_KEY_DIR", str(seeded.root / "keys"))
    with Workspace.open(seeded.project) as ws:
        yield ws


# -- the test's own computations ------------------------------------------------------------------


def independent_epsilon(epsilons: list[float]) -> float:
    """The PLD accountant of dp-accounting over the discrete Laplace events, as composed by
    hand here (not through privet)."""
    if not epsilons:
        return 0.0
    accountant = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-4)
    events = [ev.DiscreteLaplaceDpEvent(noise_parameter=e, sensitivity=1) for e in epsilons]
    accountant.compose(ev.ComposedDpEvent(events))
    return float(accountant.get_epsilon(DELTA))


def series(kpis: dict, name: str, subject: str | None = None) -> list[float | None]:
    (found,) = [s for s in kpis["series"] if s["name"] == name and s["subject"] == subject]
    return [p["value"] for p in found["points"]]


def by_day(values: dict[int, float], default: float | None = 0.0) -> list[float | None]:
    return [values.get(day, default) for day in range(DAYS + 1)]


def state(changes: dict[int, float], start: float = 0.0) -> list[float]:
    """A value that changes on some days and holds between them (read at each day's end)."""
    out, value = [], start
    for day in range(DAYS + 1):
        value = changes.get(day, value)
        out.append(value)
    return out


# -- the figures --------------------------------------------------------------------------------


def test_every_current_kpi_equals_the_tests_own_count(seeded: Seeded, opened: Workspace) -> None:
    k = opened.kpis().model_dump(mode="json")
    now = datetime.fromisoformat(k["now"])
    assert k["since"] == seeded.at(0, 9).isoformat().replace("+00:00", "Z")  # the log's start
    # Grants: 2 h and 24 h from request to approval; one pending; small's 3 days are over.
    assert k["grants"] == {"pending": 1, "active": 1, "approvals": 2,
                           "approval_seconds_median": (7200 + 86_400) / 2,
                           "approval_seconds_max": 86_400.0}  # fmt: skip
    assert k["alerts"] == {"total": 1, "by_kind": {"volume": 1}, "by_severity": {"high": 1}}
    # Erasures: one done, one open since day 7 10:00 (not yet past its 30 days).
    erasures = k["erasures"]
    assert (erasures["open"], erasures["done"], erasures["overdue"]) == (1, 1, 0)
    age = (now - seeded.at(7, 10)).total_seconds() / 86_400
    assert erasures["oldest_open_days"] == pytest.approx(age, abs=1e-6)
    # ε per ledger, composed independently.
    budgets = {b["dataset"]: b for b in k["budgets"]}
    assert set(budgets) == {"people", "small"}
    for name, b in budgets.items():
        mine = [e for _, _, ledger, e in RELEASES if ledger == name]
        assert b["releases"] == len(mine) and b["epsilon_limit"] == 5.0
        assert b["epsilon_spent"] == pytest.approx(independent_epsilon(mine), abs=2e-3)
        assert b["epsilon_spent"] <= sum(mine) + 1e-9
    # Retention: people@1 (day 0, 10 days) is overdue; people@2, small, big are within.
    people_rows = PEOPLE_ROWS - seeded.erased_rows  # the erasure rewrote both versions
    live_rows = 2 * people_rows + 20 + 400
    assert k["retention"] == {
        "versions_live": 4,
        "versions_overdue": 1,
        "rows_live": live_rows,
        "rows_overdue": people_rows,
        "versions_compliance": 0.75,
        "rows_compliance": pytest.approx(1 - people_rows / live_rows),
    }
    # The same overdue version retention's own listing names.
    assert [(d.dataset, d.version) for d in opened.forget.due(within_days=0)] == [("people", 1)]
    assert k["leakage"] == []  # no model here (see the leakage test)


def test_each_series_holds_the_days_the_test_made_happen(seeded: Seeded, opened: Workspace) -> None:
    k = opened.kpis(bucket="day").model_dump(mode="json")
    days = [datetime.fromisoformat(p["t"]) for p in k["series"][0]["points"]]
    assert days == [seeded.day0 + timedelta(days=d) for d in range(DAYS + 1)]
    assert series(k, "grants_requested") == by_day({0: 1, 1: 1, 2: 1})
    assert series(k, "grants_approved") == by_day({0: 1, 2: 1})
    assert series(k, "grants_pending") == state({0: 0, 1: 1, 2: 1})
    # small: active from day 0 12:00 to day 3 12:00; big from day 2 on (30 days).
    assert series(k, "grants_active") == state({0: 1, 2: 2, 3: 1})
    assert series(k, "approval_seconds") == by_day({0: 7200, 2: 86_400}, default=None)
    assert series(k, "alerts") == by_day({3: 1})
    for name in ("people", "small"):
        changes: dict[int, float] = {}
        for day, _, ledger, _ in RELEASES:
            if ledger == name:
                upto = [e for d, _, lg, e in RELEASES if lg == name and d <= day]
                changes[day] = independent_epsilon(upto)
        assert series(k, "epsilon_spent", name) == pytest.approx(state(changes), abs=2e-3)
    assert series(k, "erasures_requested") == by_day({6: 1, 7: 1})
    assert series(k, "erasures_open") == state({7: 1})
    # people@1 passes its 10 days on day 10; people@2 is live from day 5.
    assert series(k, "retention_versions_overdue") == state({10: 1})
    live = state({0: 3, 5: 4})
    overdue = state({10: 1})
    assert series(k, "retention_versions_compliance") == [
        1 - o / n for o, n in zip(overdue, live, strict=True)
    ]
    # The last point of each state series is the current figure.
    assert series(k, "grants_pending")[-1] == k["grants"]["pending"]
    assert series(k, "retention_rows_compliance")[-1] == k["retention"]["rows_compliance"]


def test_since_and_bucket_narrow_the_window(seeded: Seeded, opened: Workspace) -> None:
    k = opened.kpis(since=seeded.at(2, 0), bucket="week")
    # Only the day-2 approval and the day-3 alert fall after since.
    assert (k.grants.approvals, k.grants.approval_seconds_median) == (1, 86_400.0)
    assert k.alerts.total == 1
    later = opened.kpis(since=seeded.at(4, 0))
    assert later.alerts.total == 0 and later.grants.approvals == 0
    assert later.grants.pending == 1  # a state: not windowed
    weeks = [p.t for p in k.series[0].points]
    assert all(t.weekday() == 0 and t.hour == 0 for t in weeks)  # ISO weeks, from Monday
    assert weeks[0] <= seeded.at(2, 0) < weeks[0] + timedelta(weeks=1)
    # Counts go by whole buckets: the week holding since counts its earlier days too.
    asked = [seeded.at(0, 10), seeded.at(1, 9), seeded.at(2, 10)]
    assert k.series[0].name == "grants_requested"
    assert sum(p.value or 0 for p in k.series[0].points) == sum(t >= weeks[0] for t in asked)


def test_cli_and_http_agree_and_only_overseers_may_ask(
    seeded: Seeded, opened: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = opened.kpis().model_dump(mode="json")
    out = invoke("kpis", "--json", workspace=seeded.project)
    assert out.exit_code == 0, out.output
    cli = json.loads(out.output)
    with ServerProcess(seeded.project, "--retention-every", "0") as server:
        answer = httpx.get(f"{server.url}/v1/kpis", headers=bearer(seeded.tokens["carol"]))
        assert answer.status_code == 200, answer.text
        served = answer.json()
        refused = httpx.get(f"{server.url}/v1/kpis", headers=bearer(seeded.tokens["bob"]))
        owner = httpx.get(f"{server.url}/v1/kpis?bucket=week",
                          headers=bearer(seeded.tokens["alice"]))  # fmt: skip
        bad = httpx.get(f"{server.url}/v1/kpis?since=2999-01-01T00:00:00Z",
                        headers=bearer(seeded.tokens["carol"]))  # fmt: skip
        # Client mode: the same command against the server, with carol's token.
        monkeypatch.setenv("PRIVET_TOKEN", seeded.tokens["carol"])
        remote = invoke("kpis", "--json", "--server", server.url)
        assert remote.exit_code == 0, remote.output
    assert refused.status_code == 403 and "approvers" in refused.json()["message"]
    assert owner.status_code == 200 and owner.json()["bucket"] == "week"  # alice owns datasets
    assert bad.status_code == 400 and bad.json()["parameter"] == "since"

    def comparable(k: dict) -> dict:
        # Asked a few seconds apart: only the clock's reading and the open request's age move.
        k = {**k, "now": None, "erasures": {**k["erasures"], "oldest_open_days": None}}
        return k

    assert comparable(cli) == comparable(mine) == comparable(served)
    assert comparable(json.loads(remote.stdout)) == comparable(served)
    assert served["erasures"]["oldest_open_days"] == pytest.approx(
        mine["erasures"]["oldest_open_days"], abs=600 / 86_400
    )
    human = invoke("kpis", workspace=seeded.project)
    assert human.exit_code == 0 and "75.0%" in human.output and "people" in human.output


def test_bad_arguments_are_one_sentence(seeded: Seeded, opened: Workspace) -> None:
    for args, words in (
        (["--since", "yesterday"], "ISO 8601"),
        (["--since", "1900-01-01", "--bucket", "hour"], "buckets"),
        (["--since", "2999-01-01"], "future"),
    ):
        out = invoke("kpis", *args, workspace=seeded.project)
        assert out.exit_code == 1 and words in out.output, out.output
        assert "Traceback" not in out.output and len(out.output.strip().splitlines()) == 1


# -- the dashboard's KPI page in Chromium (acceptance 5) -------------------------------------------


def test_the_dashboards_kpi_page_draws_the_series_as_charts(seeded: Seeded, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.browser_support import console_errors

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIVET_KEY_DIR", str(seeded.root / "keys"))
        server = ServerProcess(seeded.project, "--retention-every", "0").start()
    try:
        browser.get(f"{server.url}/dashboard/")
        wait = WebDriverWait(browser, 20)
        wait.until(ec.visibility_of_element_located((By.ID, "token"))).send_keys(
            seeded.tokens["carol"]
        )
        browser.find_element(By.ID, "signin-button").click()
        wait.until(ec.element_to_be_clickable((By.ID, "nav-kpis"))).click()
        wait.until(lambda b: b.find_element(By.ID, "kpi-charts").get_attribute("data-loaded"))
        assert not browser.find_element(By.ID, "page-kpis").get_attribute("hidden")
        assert browser.find_element(By.ID, "page-overview").get_attribute("hidden")

        def points(name: str, subject: str | None = None) -> list[float | None]:
            selector = f'figure.chart[data-series="{name}"]'
            if subject:
                selector += f'[data-subject="{subject}"]'
            (figure,) = browser.find_elements(By.CSS_SELECTOR, selector)
            assert figure.find_element(By.TAG_NAME, "svg").is_displayed()
            marks = figure.find_elements(By.CSS_SELECTOR, "svg .point")
            return [float(m.get_attribute("data-value")) for m in marks]

        # One mark per day, holding the values the test made happen (see the series test).
        assert points("grants_active") == state({0: 1, 2: 2, 3: 1})
        assert points("alerts") == by_day({3: 1})
        assert points("approval_seconds") == [7200.0, 86_400.0]  # only days with an approval
        assert points("retention_versions_overdue") == state({10: 1})
        assert points("epsilon_spent", "people")[-1] == pytest.approx(
            independent_epsilon([0.5, 0.25]), abs=2e-3
        )
        lines = browser.find_elements(By.CSS_SELECTOR, 'figure[data-series="grants_active"] path')
        assert len(lines) == 1 and lines[0].get_attribute("d").count("L") == DAYS
        tiles = browser.find_element(By.ID, "kpi-tiles").text
        assert "75.0%" in tiles and "1 / 1" in tiles  # compliance; grants pending / active
        ledger = browser.find_element(By.CSS_SELECTOR, '#kpi-budgets tr[data-name="small"]')
        assert f"{independent_epsilon([1.0]):.3f}" in ledger.text
        # A week step redraws the charts from the same endpoint.
        browser.find_element(By.CSS_SELECTOR, '#kpi-bucket option[value="week"]').click()
        redrawn = 'figure[data-series="grants_active"] svg .point'
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, redrawn)) < DAYS)
        assert points("grants_active")[-1] == 1
        assert console_errors(browser) == []  # no CSP violation, no script error
        # Someone who may not oversee access sees why, not a broken page.
        browser.find_element(By.ID, "logout").click()
        browser.find_element(By.ID, "token").send_keys(seeded.tokens["bob"])
        browser.find_element(By.ID, "signin-button").click()
        wait.until(ec.element_to_be_clickable((By.ID, "nav-kpis"))).click()
        note = wait.until(ec.visibility_of_element_located((By.ID, "kpi-note")))
        assert "approvers and dataset owners" in note.text
        assert browser.find_elements(By.CSS_SELECTOR, "#kpi-charts svg") == []
    finally:
        server.stop()


# -- leakage: a model audited twice ---------------------------------------------------------------


def test_leakage_is_the_latest_membership_audit_of_each_model(
    project: Path, tmp_path: Path
) -> None:
    import warnings

    from privet.attacks import MembershipAuditRequest
    from privet.datasets import adult
    from privet.dp import TrainRequest
    from tests.test_audit import rank_auc, tpr_at_fpr
    from tests.test_train import BOUNDS, FEATURES, keys_of

    clock = Clock()
    day0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(3)
    clock.at = day0 + timedelta(hours=9)
    ws = Workspace.init(project, actor="alice", clock=clock)
    raw_people(600).write_csv(tmp_path / "people.csv")
    ws.ingest(tmp_path / "people.csv", name="people", owner="alice", purposes=["training"],
              actor="alice", subject_id="person_id")  # fmt: skip
    ws.dp.set_budget("people", actor="alice", epsilon=50, delta=1e-7)
    ws.dp.declare("people", actor="alice", bounds=BOUNDS, keys=keys_of(adult()))
    request = TrainRequest(name="churn", target="income", purpose="training", model="logreg",
                           features=FEATURES, epochs=2, batch_size=64)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ws.dp.train("people", request, actor="alice")
    audits = {}
    for day in (1, 2):
        clock.at = day0 + timedelta(days=day, hours=10)
        audits[day] = ws.audit.membership(
            "churn", MembershipAuditRequest(attack="loss"), actor="alice"
        )
    clock.at = None
    k = ws.kpis()
    ws.close()
    (leak,) = k.leakage
    last = audits[2]
    members = np.asarray(last.is_member, dtype=bool)
    scores = np.asarray(last.scores, dtype=np.float64)
    assert (leak.model, leak.attack) == ("churn", "loss")
    assert leak.audited_at == day0 + timedelta(days=2, hours=10)
    assert leak.auc == pytest.approx(rank_auc(scores, members), abs=1e-9)
    # privet takes the best threshold with FPR ≤ 1%; counting gives the same figure, or a
    # lower one when scores tie at the cut.
    counted = tpr_at_fpr(scores, members, 0.01)
    assert counted - 1e-9 <= leak.tpr_at_1pct_fpr <= counted + 1 / members.sum() + 1e-9
    first = rank_auc(np.asarray(audits[1].scores), np.asarray(audits[1].is_member, dtype=bool))
    (auc_series,) = [s for s in k.series if s.name == "mia_auc"]
    assert auc_series.subject == "churn"
    values = [p.value for p in auc_series.points]
    assert values[0] is None and values[1] == pytest.approx(first, abs=1e-9)
    assert values[2:] == [pytest.approx(leak.auc, abs=1e-9)] * 2


# -- PostgreSQL: the log is searched by the database there ---------------------------------------


@pytest.mark.postgres
def test_postgresql_gives_the_same_figures(
    seeded: Seeded,
    opened: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    monkeypatch.setenv("PRIVET_KEY_DIR", str(tmp_path / "keys"))
    on_pg = _seed(tmp_path, database_url=database_url)
    assert on_pg.day0 == seeded.day0
    with Workspace.open(on_pg.project) as ws:
        assert ws.hazmat.engine.dialect.name == "postgresql"
        theirs = ws.kpis().model_dump(mode="json")
    mine = opened.kpis().model_dump(mode="json")
    for k in (mine, theirs):
        k["now"] = k["erasures"]["oldest_open_days"] = None
    assert theirs == mine
