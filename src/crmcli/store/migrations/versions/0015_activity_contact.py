"""`activity.contact_id`: an activity with an account's contact who is not a lead (mail from
a customer's contact, issue 18), so `customer.response` can be owed on the account and the
contact's `forget` erases it. Indexed: the account's obligations read its contacts'
activities.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 10:00:00.000000
"""

from __future__ import annotations

import warnings

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # a nullable column with its reference is added in place: no copy of the table
        op.execute("ALTER TABLE activity ADD COLUMN contact_id INTEGER REFERENCES contact (id)")
    else:
        op.add_column("activity", sa.Column("contact_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "activity_contact_id_fkey", "activity", "contact", ["contact_id"], ["id"]
        )
    op.create_index(op.f("ix_activity_contact_id"), "activity", ["contact_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_activity_contact_id"), table_name="activity")
    with warnings.catch_warnings():
        # the copy reflects the tables activity refers to; the lead's expression indexes,
        # made only by migrations, cannot be reflected and are not needed for it
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
        with op.batch_alter_table("activity", schema=None) as batch_op:
            batch_op.drop_column("contact_id")
