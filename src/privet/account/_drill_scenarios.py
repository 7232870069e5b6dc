"""Each drill scenario's script: disposable user and data sized by the policy's thresholds,
the attacker's requests, then the timing (:mod:`._drill_measure`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from privet import policy
from privet.account._drill_client import Truth
from privet.account._drill_measure import finish, last_alert
from privet.account._drill_models import ScenarioResult, Scope
from privet.account._drill_setup import Drill

SCENARIOS: dict[str, str] = {
    "off_hours_bulk": "a stolen analyst token reads a whole dataset at an hour its owner "
    "never works",
    "scraping": "slow scraping: a whole dataset read through many small pages",
    "purpose_hopping": "one dataset read under one declared purpose after another",
    "revoked_token": "a revoked token replayed while its user still holds a live one",
}


def play(drill: Drill, scenario: str) -> ScenarioResult:
    return _SCRIPTS[scenario](drill)


def _result(drill: Drill, scenario: str, user: str, dataset: str, kind: str) -> ScenarioResult:
    return ScenarioResult(
        scenario=scenario,
        description=SCENARIOS[scenario],
        user=user,
        dataset=dataset,
        started_at=drill.core.now(),
        alert_kind=kind,
        ground_truth=Scope(datasets=[], reads=0, rows=0, subjects=0),
    )


def _off_hours_bulk(drill: Drill) -> ScenarioResult:
    t = drill.thresholds
    user = drill.user("off_hours_bulk")
    rows = max(t.bulk_rows, 100)
    result_started = drill.core.now()
    dataset = drill.dataset(user, "off_hours_bulk", rows, ["drill"])
    result = _result(drill, "off_hours_bulk", user, dataset, "off_hours_bulk")
    result.started_at = result_started
    away = (drill.core.now().hour + 12) % 24
    # Same volume as the bulk read: only the hour is unusual, not the size.
    policy.seed_baseline(
        drill.core, user, reads=t.min_history, rows_per_read=rows, hours=[away], actor=drill.actor
    )
    result.notes.append(f"baseline seeded: {t.min_history} reads at {away:02d}h UTC")
    token = drill.token(user).secret
    truth = Truth(dataset)
    since = last_alert(drill)
    start = time.perf_counter()
    response = drill.client.read(truth, token, "drill")
    return finish(drill, result, truth, since, start, token, response)


def _scraping(drill: Drill) -> ScenarioResult:
    t = drill.thresholds
    user = drill.user("scraping")
    page = max(1, min(t.scrape_rows, 20))
    pages = t.scrape_reads
    started = drill.core.now()
    dataset = drill.dataset(user, "scraping", page * pages, ["drill"])
    result = _result(drill, "scraping", user, dataset, "scraping")
    result.started_at = started
    token = drill.token(user).secret
    truth = Truth(dataset)
    for i in range(pages - 1):
        drill.client.read(truth, token, "drill", (i * page, page))
    since = last_alert(drill)
    start = time.perf_counter()
    response = drill.client.read(truth, token, "drill", ((pages - 1) * page, page))
    result.notes.append(f"{pages} pages of {page} rows")
    return finish(drill, result, truth, since, start, token, response)


def _purpose_hopping(drill: Drill) -> ScenarioResult:
    t = drill.thresholds
    user = drill.user("purpose_hopping")
    purposes = [f"drill-purpose-{i + 1}" for i in range(t.hop_purposes)]
    started = drill.core.now()
    dataset = drill.dataset(user, "purpose_hopping", 50, purposes)
    result = _result(drill, "purpose_hopping", user, dataset, "purpose_hopping")
    result.started_at = started
    token = drill.token(user).secret
    truth = Truth(dataset)
    for purpose in purposes[:-1]:
        drill.client.read(truth, token, purpose)
    since = last_alert(drill)
    start = time.perf_counter()
    response = drill.client.read(truth, token, purposes[-1])
    return finish(drill, result, truth, since, start, token, response)


def _revoked_token(drill: Drill) -> ScenarioResult:
    user = drill.user("revoked_token")
    started = drill.core.now()
    dataset = drill.dataset(user, "revoked_token", 50, ["drill"])
    result = _result(drill, "revoked_token", user, dataset, "revoked_token")
    result.started_at = started
    stolen, live = drill.token(user), drill.token(user)
    truth = Truth(dataset)
    drill.client.read(truth, stolen.secret, "drill")  # used before it was reported stolen
    policy.revoke_token(drill.core, stolen.id, actor=drill.actor)
    since = last_alert(drill)
    start = time.perf_counter()
    response = drill.client.get("/v1/me", stolen.secret)
    if response.status_code not in (401, 403):
        result.notes.append(f"the revoked token got HTTP {response.status_code}")
    # Containment must end the user's other, live token too.
    return finish(drill, result, truth, since, start, live.secret, response)


_SCRIPTS: dict[str, Callable[[Drill], ScenarioResult]] = {
    "off_hours_bulk": _off_hours_bulk,
    "scraping": _scraping,
    "purpose_hopping": _purpose_hopping,
    "revoked_token": _revoked_token,
}
