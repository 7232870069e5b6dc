"""Consent lookup: the withdrawals for one purpose in one index range.

The broker asks, on every read of a dataset that rests on consent, which subject links
withdrew consent for the read's purpose. The primary key (subject_link, purpose) cannot
answer that without scanning every record; this index (covering the link) can.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_consent_records_purpose", "consent_records", ["purpose", "status", "subject_link"]
    )


def downgrade() -> None:
    op.drop_index("ix_consent_records_purpose", table_name="consent_records")
