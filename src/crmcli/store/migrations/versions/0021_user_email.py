"""A user's email (issue 19): an import's owner column names reps by name, login or email
(HubSpot writes the owner's email). Unique, NULL for none; nothing else reads it yet.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 17:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("user", sa.Column("email", sa.String(), nullable=True))
    op.create_index("ix_user_email", "user", ["email"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_user_email", table_name="user")
    op.drop_column("user", "email")
