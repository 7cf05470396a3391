"""The overdue report's index covers `status` too, so SQLite answers from the index alone.

The partial index of open obligations held every column the report prints but not `status`,
the column of its own WHERE; SQLite then read each result's table row as well (a million
random reads on a large database). With `status` in it the plan is a covering index scan.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 04:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = ["owner_id", "due_at", "id", "rule", "record_type", "record_id", "title"]
OPEN = sa.text("status = 'open'")


def _index(columns: list[str]) -> None:
    op.drop_index("ix_obligation_open_owner_due", table_name="obligation")
    op.create_index(
        "ix_obligation_open_owner_due",
        "obligation",
        columns,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def upgrade() -> None:
    _index([*COLUMNS, "status"])


def downgrade() -> None:
    _index(COLUMNS)
