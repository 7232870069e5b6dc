"""Differential privacy: the budget ledger, its releases, declared column domains, models.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dp_ledgers",
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("epsilon_limit", sa.Float(), nullable=False),
        sa.Column("delta_limit", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"]),
        sa.PrimaryKeyConstraint("dataset_id"),
    )
    op.create_table(
        "dp_releases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("ledger_id", sa.String(length=32), nullable=False),
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=128), nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("delta", sa.Float(), nullable=False),
        sa.Column("query_sha256", sa.String(length=64), nullable=True),
        sa.Column("model_id", sa.String(length=32), nullable=True),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ledger_id"], ["dp_ledgers.dataset_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dp_releases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dp_releases_ledger_id"), ["ledger_id"], unique=False)
    op.create_table(
        "dp_domains",
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("column", sa.String(length=512), nullable=False),
        sa.Column("lower", sa.Float(), nullable=True),
        sa.Column("upper", sa.Float(), nullable=True),
        sa.Column("keys", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"]),
        sa.PrimaryKeyConstraint("dataset_id", "column"),
    )
    op.create_table(
        "dp_models",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("object_key", sa.String(length=256), nullable=False),
        sa.Column("key_id", sa.BigInteger(), nullable=False),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
        sa.Column("weights_sha256", sa.String(length=64), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("dp_models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dp_models_dataset_id"), ["dataset_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dp_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dp_models_dataset_id"))
    op.drop_table("dp_models")
    op.drop_table("dp_domains")
    with op.batch_alter_table("dp_releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dp_releases_ledger_id"))
    op.drop_table("dp_releases")
    op.drop_table("dp_ledgers")
