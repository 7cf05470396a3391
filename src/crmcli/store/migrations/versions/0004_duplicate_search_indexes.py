"""Indexes for duplicate search at import scale: blocks of name+company candidates.

Expression indexes (lower() of names), so a batch of imported rows finds its likely duplicates
by index lookups instead of scanning every lead with the same three-letter last-name key.
SQLAlchemy cannot reflect expression indexes, so the models do not declare them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 02:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # same person, company spelt differently: exact name, case-insensitive
    op.create_index(
        "ix_lead_name_block", "lead", [sa.text("lower(last_name)"), sa.text("lower(first_name)")]
    )
    # same company, a typo in the name: company key with the last-name key or the first name
    op.create_index(
        "ix_lead_company_block",
        "lead",
        ["company_key", "last_key", sa.text("lower(first_name)")],
    )


def downgrade() -> None:
    op.drop_index("ix_lead_company_block", table_name="lead")
    op.drop_index("ix_lead_name_block", table_name="lead")
