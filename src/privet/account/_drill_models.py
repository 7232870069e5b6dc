"""A breach drill's answer: pydantic models of each scenario's result and the after-action
report, and of an incident scope in the drill's terms."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from privet.timestamps import UtcDatetime


class Scope(BaseModel):
    """What one user read: datasets, rows and distinct subjects."""

    datasets: list[str]
    reads: int
    rows: int
    subjects: int


class ScenarioResult(BaseModel):
    scenario: str
    description: str
    user: str = Field(description="The disposable user whose token the attacker holds.")
    dataset: str
    started_at: UtcDatetime
    alert_kind: str = Field(description="The alert the scenario must raise.")
    alert_id: int | None = None
    alert_log_index: int | None = None
    time_to_alert_seconds: float | None = None
    contained_by: Literal["policy", "drill"] | None = Field(
        None, description="policy: alerts.contain; drill: the drill contained when alerted."
    )
    time_to_containment_seconds: float | None = None
    refused_with: int | None = Field(None, description="The HTTP status that refused the token.")
    ground_truth: Scope
    privet_scope: Scope | None = Field(None, description="What privet's incident scope says.")
    scope_matches: bool | None = None
    passed: bool = False
    notes: list[str] = []


class DrillReport(BaseModel):
    """An after-action report: one result per scenario."""

    run: str
    server: str
    started_at: UtcDatetime
    finished_at: UtcDatetime
    goal_seconds: float
    scenarios: list[ScenarioResult]
    disabled_users: list[str]
    passed: bool


ScopeFn = Callable[[str, datetime], Scope | None]
