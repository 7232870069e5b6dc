"""Forgetting: shredded versions, blocked models, erasure requests, consent, keep decisions.

A version destroyed by retention keeps its row (number, hashes, who made it) with
``shredded_at`` set: its key is gone from the keyset and its object deleted. A model that
still holds an erased subject's influence is ``blocked`` until retrained.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("versions") as batch:
        batch.add_column(sa.Column("shredded_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("shred_reason", sa.String(length=32), nullable=True))
    with op.batch_alter_table("dp_models") as batch:
        batch.add_column(sa.Column("blocked", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "erasure_requests",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("commitment", sa.String(length=64), nullable=False, index=True),
        sa.Column("dataset_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False, index=True),
        sa.Column("subject_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("nonce_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "consent_records",
        sa.Column("subject_link", sa.String(length=64), primary_key=True),
        sa.Column("purpose", sa.String(length=128), primary_key=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
    )
    op.create_table(
        "keep_decisions",
        sa.Column("kind", sa.String(length=16), primary_key=True),
        sa.Column("object_id", sa.String(length=32), primary_key=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("keep_decisions")
    op.drop_table("consent_records")
    op.drop_table("erasure_requests")
    with op.batch_alter_table("dp_models") as batch:
        batch.drop_column("blocked_at")
        batch.drop_column("blocked")
    with op.batch_alter_table("versions") as batch:
        batch.drop_column("shred_reason")
        batch.drop_column("shredded_at")
