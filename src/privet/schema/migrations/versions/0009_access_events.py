"""The access index: who acted in which audit-log entry, and when.

An incident scope (``privet incident``) reads every entry one actor (or one API token) made
in a time window. This table, written with each append, makes that an index range instead
of a parse of the whole log. Existing entries of the indexed kinds are backfilled here.

Revision ID: 0009
Revises: 0008
"""

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Frozen copy of privet.auditlog._access.ACCESS_EVENTS as of this migration.
_KINDS = frozenset(
    {
        "read",
        "read.refused",
        "read.stopped",
        "dp.release",
        "dp.refused",
        "model.train",
        "model.read",
        "model.card",
        "model.audit",
        "dataset.derive",
        "deid.detokenize",
        "deid.protect_file",
    }
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BATCH = 20_000


def _micros(value: str) -> int:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def upgrade() -> None:
    table = op.create_table(
        "access_events",
        sa.Column("log_index", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=True),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
    )
    op.create_index("ix_access_events_actor", "access_events", ["actor", "ts"])
    op.create_index("ix_access_events_token", "access_events", ["token", "ts"])
    conn = op.get_bind()
    last = -1
    while True:
        batch = conn.execute(
            sa.text("SELECT idx, data FROM log_entries WHERE idx > :last ORDER BY idx LIMIT :n"),
            {"last": last, "n": _BATCH},
        ).all()
        if not batch:
            break
        rows = []
        for index, data in batch:
            entry = json.loads(bytes(data))
            kind, actor, ts = entry.get("event"), entry.get("actor"), entry.get("ts")
            if kind in _KINDS and isinstance(actor, str) and isinstance(ts, str):
                token = entry.get("token")
                rows.append(
                    {
                        "log_index": index,
                        "actor": actor,
                        "token": token if isinstance(token, str) else None,
                        "ts": _micros(ts),
                        "event": kind,
                    }
                )
        if rows:
            op.bulk_insert(table, rows)
        last = batch[-1][0]


def downgrade() -> None:
    op.drop_index("ix_access_events_token", table_name="access_events")
    op.drop_index("ix_access_events_actor", table_name="access_events")
    op.drop_table("access_events")
