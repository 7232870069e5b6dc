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
from tests.test_postgres import database_url, key_dir, people_csv, ws  # noqa: F401 - fixtures

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
    gov.set_policy(ws, POLICY, actor="admin")
    gov.add_user(ws, "bob", roles=["analyst"], actor="admin")
    token = gov.issue_token(ws, "bob", expires_in=timedelta(hours=1), actor="admin")
    bob = gov.authenticate(ws, token.secret)
    with pytest.raises(PolicyDenied):
        gov.read(ws, "people", identity=bob, view="masked", purpose="fraud-detection")
    grant = gov.request_grant(
        ws, bob, dataset="people", view="masked", purpose="fraud-detection",
        duration=timedelta(hours=1), reason="pg",
    )  # fmt: skip
    with pytest.raises(PolicyDenied, match="their own"):
        gov.approve_grant(ws, grant.id, identity=bob)
    gov.approve_grant(ws, grant.id, identity=gov.local_identity(ws, "data-team"))
    assert gov.decide(ws, bob, "people", "masked", "fraud-detection").grant_id == grant.id
    start = ws.log.size()
    indexes: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(3):
            release = gov.read(ws, "people", identity=bob, view="masked", purpose="fraud-detection")
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
    assert [a.kind for a in gov.list_alerts(ws)] == ["first_restricted"]
    gov.revoke_token(ws, token.id, actor="admin")
    gov.revoke_grant(ws, grant.id, identity=gov.local_identity(ws, "data-team"))
    assert [g.status for g in gov.list_grants(ws)] == ["revoked"]
    assert ws.log.verify().size == ws.log.size()
