"""`outbox.meeting_id`: the meeting a confirmation, reminder or cancellation notice is about
(issue 18, seed 001 §7.1), so moving or cancelling the meeting finds its queued messages.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # in place: SQLite adds a column that may be NULL, with its reference, without a copy
        op.execute("ALTER TABLE outbox ADD COLUMN meeting_id INTEGER REFERENCES activity (id)")
    else:
        op.add_column("outbox", sa.Column("meeting_id", sa.Integer(), nullable=True))
        op.create_foreign_key(None, "outbox", "activity", ["meeting_id"], ["id"])
    op.create_index("ix_outbox_meeting_id", "outbox", ["meeting_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_meeting_id", table_name="outbox")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("meeting_id")
