"""Access governance on PostgreSQL: the 0004 tables, tokens, grants, the broker's SQL
decision path ("user" is a reserved word there), concurrent governed reads, alerts.

Skipped unless ``PRIVET_TEST_PG_URL`` is set (the fixtures are test_postgres.py's).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from privet import PolicyDenied, Workspace
from privet import policy as gov
from privet.policy import GrantRequest
from tests.test_postgres import key_dir, people_csv, ws  # noqa: F401 - fixtures

pytestmark = pytest.mark.postgres

POLICY = """
rules:
  - roles: [analyst]
    views: [masked]
    purposes: [fraud-detection]
    row_filter: "age >= 30"
"""


def test_governed_reads_grants_and_alerts_on_postgres(ws: Workspace, people_csv: Path) -> None:  # noqa: F811
    ws.ingest(
        people_csv, name="people", owner="data-team", purposes=["fraud-detection"], actor="a",
        categories={"ssn": "user.government_id.national_identification_number"},
    )  # fmt: skip
    ws.access.set_policy(POLICY, actor="admin")
    ws.access.add_user("bob", roles=["analyst"], actor="admin")
    token = ws.access.issue_token("bob", expires_in=timedelta(hours=1), actor="admin")
    bob = ws.access.authenticate(token.secret)
    with pytest.raises(PolicyDenied):
        gov.read(ws.hazmat, "people", identity=bob, view="masked", purpose="fraud-detection")
    grant = ws.access.request_grant(
        GrantRequest(
            dataset="people",
            view="masked",
            purpose="fraud-detection",
            duration_seconds=3600,
            reason="pg",
        ),
        identity=bob,
    )
    with pytest.raises(PolicyDenied, match="their own"):
        ws.access.approve_grant(grant.id, identity=bob)
    ws.access.approve_grant(grant.id, identity=ws.access.local_identity("data-team"))
    assert (
        ws.access.check("people", view="masked", purpose="fraud-detection", identity=bob).grant_id
        == grant.id
    )
    start = ws.log.size()
    indexes: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(3):
            release = gov.read(
                ws.hazmat, "people", identity=bob, view="masked", purpose="fraud-detection"
            )
            assert release.frame.get_column("age").min() >= 30
            with lock:
                indexes.append(release.log_index)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reads = [r.index for r in ws.log.records(start) if r.event["event"] == "read"]
    assert sorted(reads) == sorted(indexes) and len(set(indexes)) == 18
    assert [a.kind for a in ws.access.list_alerts()] == ["first_restricted"]
    ws.access.revoke_token(token.id, actor="admin")
    ws.access.revoke_grant(grant.id, identity=ws.access.local_identity("data-team"))
    assert [g.status for g in ws.access.list_grants()] == ["revoked"]
    assert ws.log.verify().size == ws.log.size()
