"""Recent reads: each user's governed reads of the last alert window.

The alerts for patterns that span several reads — slow scraping (many small reads) and
purpose hopping (one dataset read under several purposes) — look back over a sliding window;
this table holds that window (ids, purposes, counts), pruned on every read.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recent_reads",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_recent_reads_user_at", "recent_reads", ["user", "at"])


def downgrade() -> None:
    op.drop_index("ix_recent_reads_user_at", table_name="recent_reads")
    op.drop_table("recent_reads")
