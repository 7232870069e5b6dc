"""Anomaly alerts: each user's baseline of rows, datasets and hours; an injected anomalous
read raises an alert at once (acceptance 6: within one second), in the log and the table."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from privet import Workspace
from privet import policy as gov
from privet.policy import GrantRequest
from tests.conftest import ingest_people, invoke

POLICY = """
rules:
  - roles: [analyst]
    views: [raw, masked]
    purposes: [ops, analytics]
    auto_approve: true
alerts:
  min_history: 5
  volume_factor: 10
  bulk_rows: 100
"""


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def aws(project: Path, tmp_path: Path, clock: Clock) -> Workspace:
    """``small`` (20 rows) and ``big`` (400 rows) internal tables; bob may read both."""
    ws = Workspace.init(project, actor="tester", clock=clock)
    for name, rows in (("small", 20), ("big", 400)):
        path = tmp_path / f"{name}.csv"
        pl.DataFrame({"n": list(range(rows)), "city": ["Lyon"] * rows}).write_csv(path)
        ws.ingest(path, name=name, owner="alice", purposes=["ops"], actor="alice")
    ws.access.set_policy(POLICY, actor="tester")
    ws.access.add_user("bob", roles=["analyst"], actor="tester")
    bob = ws.access.local_identity("bob")
    for name in ("small", "big"):
        ws.access.request_grant(
            GrantRequest(
                dataset=name,
                view="raw",
                purpose="ops",
                duration_seconds=86_400,
                reason="ops",
            ),
            identity=bob,
        )
    yield ws
    ws.close()


def read(ws: Workspace, name: str) -> gov.Release:
    return gov.read(ws.hazmat, name, identity=ws.access.local_identity("bob"), purpose="ops")


def test_ordinary_reads_raise_no_alert(aws: Workspace, clock: Clock) -> None:
    for hour in range(8):
        clock.now = clock.now.replace(hour=9 + hour % 3)
        read(aws, "small")
    assert aws.access.list_alerts() == []


def test_a_read_ten_times_the_usual_volume_alerts_within_a_second(aws: Workspace) -> None:
    for _ in range(5):
        read(aws, "small")  # baseline: 20 rows per read
    started = time.monotonic()
    release = read(aws, "big")  # 400 rows: 20× the mean
    (alert,) = aws.access.list_alerts()
    assert time.monotonic() - started < 1.0
    assert (alert.user, alert.dataset, alert.kind, alert.severity) == (
        "bob",
        "big",
        "volume",
        "high",
    )
    assert alert.facts == {"rows": 400, "mean_rows": 20.0, "reads": 5, "read": release.log_index}
    entry = aws.log.records(alert.log_index, 1)[0].event
    assert (entry["event"], entry["kind"], entry["read"]) == ("alert", "volume", release.log_index)
    # The baseline learns: the same read again is 400 vs a mean of 80, under 10×.
    read(aws, "big")
    assert len(aws.access.list_alerts()) == 1
    assert [a.id for a in aws.access.list_alerts(since=alert.id)] == []


def test_an_off_hours_bulk_read_alerts(aws: Workspace, clock: Clock) -> None:
    for _ in range(5):
        read(aws, "big")  # working hours, 400 rows each: no volume anomaly later
    clock.now = clock.now.replace(hour=3)
    read(aws, "big")
    assert [a.kind for a in aws.access.list_alerts()] == ["off_hours_bulk"]
    assert aws.access.list_alerts()[0].facts["hour"] == 3
    # A small read at that hour is not bulk.
    clock.now = clock.now.replace(hour=4)
    read(aws, "small")
    assert len(aws.access.list_alerts()) == 1


def test_a_first_ever_restricted_dataset_alerts_once(
    aws: Workspace, people_csv: Path, project: Path
) -> None:
    ingest_people(aws, people_csv)  # restricted: it holds SSNs
    assert aws.dataset("people").classification == "restricted"
    grant = aws.access.request_grant(
        GrantRequest(
            dataset="people",
            view="masked",
            purpose="analytics",
            duration_seconds=86_400,
            reason="x",
        ),
        identity=aws.access.local_identity("bob"),
    )
    assert grant.status == "pending"  # restricted: never auto-approved
    aws.access.approve_grant(grant.id, identity=aws.access.local_identity("alice"))
    gov.read(aws.hazmat, "people", actor="alice", purpose="analytics")  # the owner: no surprise
    assert aws.access.list_alerts() == []
    bob = aws.access.local_identity("bob")
    gov.read(aws.hazmat, "people", identity=bob, view="masked", purpose="analytics")
    gov.read(aws.hazmat, "people", identity=bob, view="masked", purpose="analytics")
    assert [a.kind for a in aws.access.list_alerts()] == ["first_restricted"]
    out = invoke("alerts", "--json", workspace=project)
    assert out.exit_code == 0
    (shown,) = json.loads(out.output)
    assert (shown["kind"], shown["dataset"], shown["user"]) == ("first_restricted", "people", "bob")
    assert "first_restricted" in invoke("alerts", workspace=project).output
    assert aws.log.verify().size == aws.log.size()


def test_alerts_cli_says_when_there_are_none(ws: Workspace, project: Path) -> None:
    out = invoke("alerts", workspace=project)
    assert out.exit_code == 0 and "No alerts" in out.output
