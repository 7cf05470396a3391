"""Indexes for the performance reports (issue 7) at a million leads.

Stage changes by time (win rate, won this month, what changed since an --as-of date), stage
changes by stage and time spent (velocity medians read in index order, no sort), and
first-response obligations by rep (response times per rep without touching the table).

Revision ID: 0009
Revises: 0004
Create Date: 2026-11-26 04:20:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_stage_change_at", "stage_change", ["at", "to_stage", "lead_id"])
    op.create_index(
        "ix_stage_change_from_seconds", "stage_change", ["from_stage", "seconds_in_from", "at"]
    )
    op.create_index(
        "ix_obligation_rule_owner_started",
        "obligation",
        ["rule", "owner_id", "started_at", "due_at", "met_at", "status"],
    )


def downgrade() -> None:
    op.drop_index("ix_obligation_rule_owner_started", table_name="obligation")
    op.drop_index("ix_stage_change_from_seconds", table_name="stage_change")
    op.drop_index("ix_stage_change_at", table_name="stage_change")
