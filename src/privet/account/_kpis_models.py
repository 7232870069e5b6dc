"""The privacy KPIs' answer: pydantic models of the current figures and the series."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from privet.timestamps import UtcDatetime

Bucket = Literal["hour", "day", "week"]


class Leakage(BaseModel):
    """The latest membership-inference audit of one model."""

    model: str
    attack: str = Field(description="the membership attack (loss, lira, rmia, files)")
    audited_at: UtcDatetime
    auc: float = Field(description="area under the attack's ROC curve (0.5 = chance)")
    tpr_at_1pct_fpr: float | None = Field(
        description="true-positive rate at 1% false positives (Carlini et al. 2022)"
    )
    log_index: int | None = Field(description="the audit's log entry")


class Retention(BaseModel):
    """Storage limitation: live versions (and their rows) past their retention period."""

    versions_live: int
    versions_overdue: int = Field(description="past retention, not destroyed yet")
    rows_live: int
    rows_overdue: int
    versions_compliance: float = Field(description="share of live versions within retention")
    rows_compliance: float = Field(description="share of live rows within retention")


class Budget(BaseModel):
    """ε spent from one ledger (a source dataset and everything derived from it)."""

    dataset: str
    epsilon_spent: float
    epsilon_limit: float
    delta: float
    releases: int


class Grants(BaseModel):
    pending: int = Field(description="requests awaiting a decision")
    active: int = Field(description="approved and not expired or revoked")
    approvals: int = Field(description="approvals counted in the approval times (since)")
    approval_seconds_median: float | None
    approval_seconds_max: float | None


class Alerts(BaseModel):
    total: int = Field(description="alerts raised (since)")
    by_kind: dict[str, int]
    by_severity: dict[str, int]


class Erasures(BaseModel):
    open: int = Field(description="requests not finished")
    done: int
    overdue: int = Field(description="open past their 30-day deadline (Art. 12(3))")
    oldest_open_days: float | None = Field(description="age of the oldest open request")


class Point(BaseModel):
    t: UtcDatetime = Field(description="the bucket's start")
    value: float | None = Field(description="None: nothing to measure yet in this bucket")


class Series(BaseModel):
    name: str = Field(description="what is measured, e.g. 'epsilon_spent' or 'alerts'")
    subject: str | None = Field(description="the dataset or model it is about, if one")
    measure: Literal["count", "state", "median"] = Field(
        description="count: events in the bucket; state: the value at the bucket's end; "
        "median: of the bucket's events"
    )
    points: list[Point]


class Kpis(BaseModel):
    """Privacy KPIs of a workspace: current values and series over time."""

    now: UtcDatetime
    since: UtcDatetime = Field(description="start of the series and of the event counts")
    bucket: Bucket
    leakage: list[Leakage]
    retention: Retention
    budgets: list[Budget]
    grants: Grants
    alerts: Alerts
    erasures: Erasures
    series: list[Series]
