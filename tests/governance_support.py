"""Shared by the attestation tests on SQLite and PostgreSQL: a governed workspace, the edits a
database writer could make behind privet's back, and what each must cause.

Each case edits governance rows with plain SQL (as someone with the database but not the
master key would), then names the command whose read, authentication or DP release relies
on those rows, and the words the refusal (and ``privet log verify``) must contain: the
object and the field.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, DateTime, bindparam, create_engine, text

from privet import Workspace
from privet.dp import Charge, pure
from privet.policy import GrantRequest
from tests.conftest import ingest_people

POLICY = """
approver_roles: [steward]
rules:
  - description: analysts read people data for analytics or training, once a grant is approved
    roles: [analyst]
    views: [raw, masked, pseudonymized]
    purposes: [analytics, training]
"""
# What an attacker would rather have in force: every analyst reads everything at once.
WIDE_POLICY = """
rules:
  - {roles: [analyst], views: [raw], purposes: ['*'], auto_approve: true}
"""
FAR = datetime(2100, 1, 1, tzinfo=UTC)
# A bearer token the attacker makes up and inserts (its hash), for a user who has a grant.
FORGED_TOKEN = "pvt_feedfacefeedface_" + "A" * 43


@dataclass
class Ids:
    """Ids of the governed workspace's objects (none of them is a secret but the tokens)."""

    dataset: str
    version: str
    grant_masked: str  # bob: masked view, analytics, active
    grant_denied: str  # bob: pseudonymized view, analytics, denied
    grant_dave: str  # dave: raw view, analytics, active; dave is disabled
    token_bob: str
    token_carol: str  # revoked
    bob_secret: str
    carol_secret: str


def build(project: Path, people_csv: Path, database_url: str | None = None) -> Ids:
    """alice owns ``people`` (restricted); bob is an analyst with an active masked grant and a
    denied pseudonymized one; carol approves (her token is revoked); dave is a disabled
    analyst with an active grant; one DP release was charged to the ledger."""
    with Workspace.init(project, actor="alice", database_url=database_url) as ws:
        info = ingest_people(ws, people_csv)
        ws.access.set_policy(POLICY, actor="alice")
        for name, roles in {
            "alice": ["owner"],
            "bob": ["analyst"],
            "carol": ["steward"],
            "dave": ["analyst"],
        }.items():
            ws.access.add_user(name, roles=roles, actor="alice")
        carol = ws.access.local_identity("carol")

        def grant(user: str, view: str) -> str:
            return ws.access.request_grant(
                GrantRequest(
                    dataset="people",
                    view=view,
                    purpose="analytics",
                    duration_seconds=86_400,
                    reason="churn features",
                ),
                identity=ws.access.local_identity(user),
            ).id

        masked, denied, dave = (
            grant("bob", "masked"),
            grant("bob", "pseudonymized"),
            grant("dave", "raw"),
        )
        ws.access.approve_grant(masked, identity=carol)
        ws.access.deny_grant(denied, identity=carol)
        ws.access.approve_grant(dave, identity=carol)
        ws.access.set_disabled("dave", disabled=True, actor="alice")
        bob_token = ws.access.issue_token("bob", expires_in=timedelta(hours=1), actor="alice")
        carol_token = ws.access.issue_token("carol", expires_in=timedelta(hours=1), actor="alice")
        ws.access.revoke_token(carol_token.id, actor="alice")
        ws.dp.charge("people", Charge(pure(0.1)), kind="count", purpose="analytics", actor="alice")
        return Ids(
            dataset=ws.dataset("people").id,
            version=info.id,  # type: ignore[attr-defined]
            grant_masked=masked,
            grant_denied=denied,
            grant_dave=dave,
            token_bob=bob_token.id,
            token_carol=carol_token.id,
            bob_secret=bob_token.secret,
            carol_secret=carol_token.secret,
        )


def _time(statement: str) -> Any:
    # Bound as the ORM stores times (SQLite: its text format; PostgreSQL: timestamptz).
    return text(statement).bindparams(bindparam("t", type_=DateTime(timezone=True)))


Tamper = Callable[[Connection, Ids], None]


def fill(template: str, ids: Ids) -> str:
    """``template`` with each ``{ids.NAME}`` replaced by that id."""
    return re.sub(r"\{ids\.(\w+)\}", lambda m: getattr(ids, m.group(1)), template)


def sql(statement: str, **params: Any) -> Tamper:
    """A tampering statement; ``{ids.X}`` in a parameter becomes that id."""

    def run(conn: Connection, ids: Ids) -> None:
        values = {k: fill(v, ids) if isinstance(v, str) else v for k, v in params.items()}
        query = _time(statement) if "t" in values else text(statement)
        conn.execute(query, values)

    return run


def tamper(url: str, ids: Ids, edits: list[Tamper]) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for edit in edits:
                edit(conn, ids)
    finally:
        engine.dispose()


def export(user: str, view: str = "masked", purpose: str = "analytics") -> list[str]:
    return ["export", "people", "-o", "{out}", "--purpose", purpose, "--view", view, "--as", user]


DP_QUERY = [
    "query", "people", "SELECT COUNT(*) AS n FROM people", "--epsilon", "0.1",
    "--purpose", "analytics", "--as", "alice", "--json",
]  # fmt: skip


@dataclass(frozen=True)
class Case:
    id: str
    edits: list[Tamper]
    command: list[str]
    words: list[str]


_NOW = datetime(2000, 1, 1, tzinfo=UTC)
DATASET = "{ids.dataset}"
# One per kind of governance row (the acceptance list of issue 14, item 6).
READ_CASES = [
    Case(
        "dataset-owner",
        [sql("UPDATE datasets SET owner = 'bob' WHERE id = :d", d="{ids.dataset}")],
        export("bob", "raw"),  # an owner reads without a grant
        ["dataset 'people'", "owner changed outside privet", "was 'alice', now 'bob'"],
    ),
    Case(
        "dataset-purposes",
        [
            sql(
                "INSERT INTO dataset_purposes (dataset_id, purpose) VALUES (:d, 'marketing')",
                d="{ids.dataset}",
            )
        ],
        export("alice", "raw", "marketing"),
        ["dataset 'people': purposes changed outside privet (added 'marketing')"],
    ),
    Case(
        "dataset-legal-basis",
        [sql("UPDATE datasets SET legal_basis = 'consent' WHERE id = :d", d="{ids.dataset}")],
        export("bob"),
        ["dataset 'people'", "legal basis changed outside privet", "now 'consent'"],
    ),
    Case(
        "dataset-retention",
        [sql("UPDATE datasets SET retention_days = 36500 WHERE id = :d", d="{ids.dataset}")],
        export("bob"),
        ["dataset 'people'", "retention days changed outside privet", "now 36500"],
    ),
    Case(
        "dataset-subject-id",
        [sql("UPDATE datasets SET subject_id_column = NULL WHERE id = :d", d="{ids.dataset}")],
        export("bob"),
        ["dataset 'people'", "subject id changed outside privet", "was 'person_id', now None"],
    ),
    Case(
        "dataset-classification",
        [sql("UPDATE datasets SET classification = 'public' WHERE id = :d", d="{ids.dataset}")],
        export("bob"),
        ["dataset 'people'", "classification changed outside privet", "now 'public'"],
    ),
    Case(
        "version-column-role",
        [
            sql(
                "UPDATE version_columns SET role = 'other' "
                "WHERE version_id = :v AND name = 'email'",
                v="{ids.version}",
            )
        ],
        export("bob"),  # the masked view masks direct identifiers by their role
        [
            "version people@1: column 'email' role changed outside privet "
            "(was 'direct_identifier', now 'other')"
        ],
    ),
    Case(
        "version-column-category",
        [
            sql(
                "UPDATE version_columns SET category = NULL WHERE version_id = :v AND name = 'ssn'",
                v="{ids.version}",
            )
        ],
        export("bob"),
        ["version people@1: column 'ssn' category changed outside privet"],
    ),
    Case(
        "policy-text",
        [sql("UPDATE policies SET text = :p", p=WIDE_POLICY)],
        export("bob"),
        ["the policy in force: text changed outside privet"],
    ),
    Case(
        "policy-inserted",
        [
            sql(
                "INSERT INTO policies (number, text, sha256, created_at, created_by) "
                "VALUES (2, :p, :h, :t, 'alice')",
                p=WIDE_POLICY,
                h=hashlib.sha256(WIDE_POLICY.encode()).hexdigest(),
                t=_NOW,
            )
        ],
        export("bob", "raw"),
        ["the policy in force: number changed outside privet (was 1, now 2)"],
    ),
    Case(
        "grant-status",
        [
            sql(
                "UPDATE grants SET status = 'active', expires_at = :t WHERE id = :g",
                g="{ids.grant_denied}",
                t=FAR,
            )
        ],
        export("bob", "pseudonymized"),
        ["grant {ids.grant_denied}", "status changed outside privet (was 'denied', now 'active')"],
    ),
    Case(
        "grant-expiry",
        [sql("UPDATE grants SET expires_at = :t WHERE id = :g", g="{ids.grant_masked}", t=FAR)],
        export("bob"),
        ["grant {ids.grant_masked}", "expires at changed outside privet"],
    ),
    Case(
        "grant-view",
        [sql("UPDATE grants SET \"view\" = 'raw' WHERE id = :g", g="{ids.grant_masked}")],
        export("bob", "raw"),
        ["grant {ids.grant_masked}", "view changed outside privet (was 'masked', now 'raw')"],
    ),
    Case(
        "grant-purpose",
        [sql("UPDATE grants SET purpose = 'training' WHERE id = :g", g="{ids.grant_masked}")],
        export("bob", "masked", "training"),
        ["grant {ids.grant_masked}", "purpose changed outside privet", "now 'training'"],
    ),
    Case(
        "grant-inserted",
        [
            sql(
                'INSERT INTO grants (id, "user", dataset_id, "view", purpose, reason, status, '
                "duration_seconds, requested_at, decided_by, decided_at, expires_at) VALUES "
                "('feedfacefeedface', 'bob', :d, 'raw', 'analytics', 'x', 'active', 60, :t, "
                "'carol', :t, :t)",
                d="{ids.dataset}",
                t=FAR,
            )
        ],
        export("bob", "raw"),
        ["grant feedfacefeedface: added outside privet"],
    ),
    Case(
        "user-roles",
        [sql("INSERT INTO user_roles (\"user\", role) VALUES ('bob', 'steward')")],
        export("bob"),
        ["user 'bob': roles changed outside privet (added 'steward')"],
    ),
    Case(
        "user-disabled",
        [sql("UPDATE users SET disabled = :f WHERE name = 'dave'", f=False)],
        export("dave", "raw"),
        ["user 'dave': disabled changed outside privet (was True, now False)"],
    ),
    Case(
        "user-inserted",
        [
            sql(
                "INSERT INTO users (name, created_at, created_by, disabled) "
                "VALUES ('eve', :t, 'alice', :f)",
                t=_NOW,
                f=False,
            ),
            sql("INSERT INTO user_roles (\"user\", role) VALUES ('eve', 'analyst')"),
        ],
        export("eve"),
        ["user 'eve': added outside privet"],
    ),
]
DP_CASES = [
    Case(
        "dp-ledger-limit",
        [sql("UPDATE dp_ledgers SET epsilon_limit = 100.0 WHERE dataset_id = :d", d=DATASET)],
        DP_QUERY,
        ["the DP ledger of 'people'", "epsilon limit changed outside privet (was 1.0, now 100.0)"],
    ),
    Case(
        "dp-release-deleted",
        [sql("DELETE FROM dp_releases WHERE ledger_id = :d", d="{ids.dataset}")],
        DP_QUERY,
        ["the DP ledger of 'people'", "releases changed outside privet (was 1, now 0)"],
    ),
]
TOKEN_CASES = [
    Case(
        "token-expiry",
        [sql("UPDATE api_tokens SET expires_at = :t WHERE id = :k", k="{ids.token_bob}", t=FAR)],
        ["bob"],
        ["API token {ids.token_bob}", "expires at changed outside privet"],
    ),
    Case(
        "token-revocation",
        [
            sql(
                "UPDATE api_tokens SET revoked_at = NULL, revoked_by = NULL WHERE id = :k",
                k="{ids.token_carol}",
            )
        ],
        ["carol"],
        ["API token {ids.token_carol}", "revoked at changed outside privet", "now None"],
    ),
    Case(
        "token-inserted",
        [
            sql(
                'INSERT INTO api_tokens (id, "user", secret_sha256, created_at, created_by, '
                "expires_at) VALUES ('feedfacefeedface', 'bob', :h, :t, 'alice', :t)",
                h=hashlib.sha256(FORGED_TOKEN.encode()).hexdigest(),
                t=FAR,
            )
        ],
        ["forged"],
        ["API token feedfacefeedface: added outside privet"],
    ),
]


def bearer_of(case: Case, ids: Ids) -> str:
    return {"bob": ids.bob_secret, "carol": ids.carol_secret, "forged": FORGED_TOKEN}[
        case.command[0]
    ]


def words(case: Case, ids: Ids) -> list[str]:
    return [fill(w, ids) for w in case.words]


def command(case: Case, out: Path) -> list[str]:
    return [part.replace("{out}", str(out)) for part in case.command]


def last_event(ws: Workspace) -> dict[str, Any]:
    return ws.log.records(ws.log.size() - 1, 1)[0].event


def released(ws: Workspace) -> list[dict[str, Any]]:
    """Every read and DP release in the log."""
    return [r.event for r in ws.log.records() if r.event["event"] in ("read", "dp.release")]


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
