"""Derived datasets point at their source; column classifications record who made them.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("derived_from", sa.String(length=32), nullable=True))
    with op.batch_alter_table("version_columns") as batch:
        batch.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="declared")
        )
        batch.add_column(sa.Column("confidence", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("version_columns") as batch:
        batch.drop_column("confidence")
        batch.drop_column("source")
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("derived_from")
