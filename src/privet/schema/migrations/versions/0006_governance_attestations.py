"""Governance attestations: where the latest audit-log attestation of each object is.

Every log entry that changes a governance object (a dataset, a version's columns, the policy
in force, a user, an API token, a grant, a DP ledger) carries the object's new state, its
SHA-256 and a signature; this table points from the object to that entry. A catalog
upgraded to this revision has no attestations yet: the workspace attests its current state
once, in a ``governance.baseline`` entry, in the same transaction as this migration.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "governance_heads",
        sa.Column("kind", sa.String(length=16), primary_key=True),
        sa.Column("object_id", sa.String(length=200), primary_key=True),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("governance_heads")
