"""Drop `ix_lead_company_key`: `ix_lead_company_block` (company_key, last_key,
lower(first_name)) starts with the same column, so every lookup by company key uses that
one; the single-column copy only cost a random-order index insert per new lead (a bulk
import writes each index's pages all over).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 09:50:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_lead_company_key", table_name="lead")


def downgrade() -> None:
    op.create_index("ix_lead_company_key", "lead", ["company_key"])
