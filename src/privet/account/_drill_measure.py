"""Timing a scenario: time to alert (from just before the request that completes the pattern
to the alert in the workspace's alerts) and time to containment (from the alert to the
attacker's token being refused); the drill contains the user itself when the policy does not."""

from __future__ import annotations

import time

import httpx

from privet import policy
from privet.account._drill_client import Truth
from privet.account._drill_models import ScenarioResult
from privet.account._drill_setup import Drill

_POLL = 0.005  # seconds between two looks at the alerts or the attacker's token


def last_alert(drill: Drill) -> int | None:
    """The newest alert's id: alerts after it are the scenario's."""
    found = policy.list_alerts(drill.core)
    return found[0].id if found else None


def finish(
    drill: Drill,
    result: ScenarioResult,
    truth: Truth,
    since: int | None,
    start: float,
    attacker: str,
    response: httpx.Response,
) -> ScenarioResult:
    """Time the alert after the anomalous ``response`` (sent at ``start``) and the refusal of
    the ``attacker``'s token after it; record the ground truth."""
    if response.status_code not in (200, 401, 403):
        result.notes.append(f"the anomalous request got HTTP {response.status_code}")
    alerted = _await_alert(drill, result, since, start)
    if alerted is not None:
        _await_refusal(drill, result, attacker, alerted)
    result.ground_truth = truth.scope()
    return result


def _await_alert(
    drill: Drill, result: ScenarioResult, since: int | None, start: float
) -> float | None:
    deadline = start + drill.timeout
    while True:
        for alert in policy.list_alerts(drill.core, since=since):
            if alert.user == result.user and alert.kind == result.alert_kind:
                seen = time.perf_counter()
                result.alert_id, result.alert_log_index = alert.id, alert.log_index
                result.time_to_alert_seconds = round(seen - start, 4)
                return seen
        if time.perf_counter() > deadline:
            result.notes.append(f"no {result.alert_kind} alert within {drill.timeout:g} s")
            return None
        time.sleep(_POLL)


def _await_refusal(drill: Drill, result: ScenarioResult, token: str, alerted: float) -> None:
    if result.alert_kind in drill.thresholds.contain:
        result.contained_by = "policy"
    else:
        result.contained_by = "drill"
        result.notes.append(
            f"the policy does not contain {result.alert_kind} (alerts.contain): the drill "
            "contained the user when it saw the alert"
        )
        policy.contain(drill.core, result.user, actor=drill.actor, reason="drill")
    deadline = alerted + drill.timeout
    while True:
        status = drill.client.get("/v1/me", token).status_code
        if status in (401, 403):
            result.refused_with = status
            result.time_to_containment_seconds = round(time.perf_counter() - alerted, 4)
            return
        if time.perf_counter() > deadline:
            result.notes.append(f"the token still worked {drill.timeout:g} s after the alert")
            return
        time.sleep(_POLL)
