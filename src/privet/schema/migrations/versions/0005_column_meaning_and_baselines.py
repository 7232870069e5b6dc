"""Columns record what their text means; the non-DP synthetic baseline gets its own kind.

A CSV column is stored typed only where the typed values render back to the same text;
otherwise it stays text and ``meaning`` records what it holds (an integer, a number, a
boolean, a date) for risk, DP and training. Versions made by the independent baseline were
stored as kind ``synthetic``, which let the broker serve them as the ``synthetic`` view;
they become kind ``baseline``.

Revision ID: 0005
Revises: 0004
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("version_columns") as batch:
        batch.add_column(sa.Column("meaning", sa.String(length=16), nullable=True))
    conn = op.get_bind()
    # 'synthetic' as the code before 0005 recorded it; 'baseline' after a downgrade from 0005.
    edges = conn.execute(
        sa.text(
            "SELECT target, facts FROM lineage_edges WHERE activity IN ('synthetic', 'baseline')"
        )
    )
    baselines = []
    for target, facts in edges:
        data = json.loads(facts) if isinstance(facts, str) else facts
        if isinstance(data, dict) and data.get("differentially_private") is False:
            baselines.append(str(target).removeprefix("version:"))
    for version_id in baselines:
        conn.execute(
            sa.text("UPDATE versions SET kind = 'baseline' WHERE id = :id AND kind = 'synthetic'"),
            {"id": version_id},
        )


def downgrade() -> None:
    op.get_bind().execute(sa.text("UPDATE versions SET kind = 'synthetic' WHERE kind = 'baseline'"))
    with op.batch_alter_table("version_columns") as batch:
        batch.drop_column("meaning")
