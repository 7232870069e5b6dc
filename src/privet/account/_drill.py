"""Breach drills: scripted breaches played against a running ``privet serve``, measured.

A drill runs beside the server, on the same workspace: it registers disposable users
(``drill-<run>-<scenario>``), gives each a disposable dataset of generated rows (no real
person: ids ``DRILL-<run>-<n>``, a region and a score) that the user owns, issues them API
tokens, and then, over HTTP only, plays the attacker:

- ``off_hours_bulk``: a stolen analyst token reads a whole dataset at an hour its owner never
  works. The drill gives the fresh user a reading history (``seed_baseline``: a few reads, all
  twelve hours away from now), logged as ``baseline.seed``, so that *now* is off-hours for them.
- ``scraping``: the whole dataset read through many small pages (``offset``/``limit``).
- ``purpose_hopping``: the same dataset read under one declared purpose after another.
- ``revoked_token``: a token revoked by the operator (reported stolen) replayed; its user also
  holds a live token, which containment must end too.

For each it measures the **time to alert** (from just before the request that completes the
pattern to the alert being visible in the workspace's alerts) and the **time to containment**
(from the alert to the attacker's token being refused, 401/403, by the server). Containment is
the policy's (``alerts.contain`` lists the kind); when the policy does not contain that kind,
the drill acts as the responder and contains the user itself when it sees the alert, and the
report says so. The scenario sizes follow the thresholds of the policy in force.

The ground truth is what the drill itself received (rows, and the distinct subject ids in
them); the report sets it beside the incident scope privet computes from its log for the same
user and window. Afterwards the drill disables its users; their datasets stay (named
``drill-…``), and the log, append-only, keeps every step.

This module runs the chosen scenarios and judges each; the parts are the scenarios' scripts
(:mod:`._drill_scenarios`), the run's disposables (:mod:`._drill_setup`), the attacker's HTTP
requests (:mod:`._drill_client`), the timing (:mod:`._drill_measure`), privet's scope in the
drill's terms (:mod:`._drill_scope`) and the after-action report (:mod:`._drill_report`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from privet.account._drill_models import DrillReport, ScenarioResult, ScopeFn
from privet.account._drill_scenarios import SCENARIOS, play
from privet.account._drill_scope import same
from privet.account._drill_setup import Drill
from privet.errors import InvalidInput

if TYPE_CHECKING:
    from privet.core import Core

GOAL_SECONDS = 1.0  # acceptance: alert, and containment after it, each within a second
Progress = Callable[[str], None]


def run_drill(
    core: Core,
    server: str,
    *,
    actor: str,
    scenarios: Sequence[str] | None = None,
    scope: ScopeFn | None = None,
    timeout: float = 5.0,
    verify: bool | str = True,
    progress: Progress | None = None,
) -> DrillReport:
    """Play ``scenarios`` (default: all) against the server at ``server`` (serving this
    workspace) and measure them; ``scope(user, since)`` is privet's incident scope."""
    chosen = list(scenarios or SCENARIOS)
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        raise InvalidInput(
            f"unknown drill scenario {unknown[0][:40]!r}; one of {', '.join(SCENARIOS)}",
            parameter="scenario",
        )
    step = progress or (lambda _stage: None)
    run = secrets.token_hex(3)
    started = core.now()
    drill = Drill(core, server, actor=actor, run=run, timeout=timeout, verify=verify)
    results = []
    try:
        drill.client.check()
        for name in chosen:
            step(name)
            result = play(drill, name)
            if scope is not None:
                result.privet_scope = scope(result.user, result.started_at)
                if result.privet_scope is not None:
                    result.scope_matches = same(result.privet_scope, result.ground_truth)
                    if not result.scope_matches:
                        result.notes.append("privet's scope differs from the ground truth")
            else:
                result.notes.append("no incident scope available to compare")
            result.passed = _passed(result)
            results.append(result)
    finally:
        disabled = drill.clean_up()
        drill.close()
    return DrillReport(
        run=run,
        server=server,
        started_at=started,
        finished_at=core.now(),
        goal_seconds=GOAL_SECONDS,
        scenarios=results,
        disabled_users=disabled,
        passed=bool(results) and all(r.passed for r in results),
    )


def _passed(result: ScenarioResult) -> bool:
    return (
        result.time_to_alert_seconds is not None
        and result.time_to_alert_seconds <= GOAL_SECONDS
        and result.time_to_containment_seconds is not None
        and result.time_to_containment_seconds <= GOAL_SECONDS
        and result.scope_matches is not False
    )
