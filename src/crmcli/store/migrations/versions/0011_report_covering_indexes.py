"""Covering indexes for the performance reports (issue 7's 2 s target at a million leads).

Each index holds every column its reports read, so SQLite answers from the index alone
instead of reading a wide `lead` (or `activity`) row per deal:

- lead by stage: the pipeline funnel, the forecast's open deals, deals stuck in a stage;
- lead by creation time: the conversion and sources cohorts, and every `--as-of` rebuild;
- a lead's stage history in id order: the furthest stage a cohort lead reached, its stage
  and stage-entry time as of a past instant (one covering look-up per lead);
- stage changes into given stages by time: deals won or lost in a period (win rate, won
  this month or quarter, lead-to-close time) without reading every other change;
- logged activities by time and done tasks by completion time: activity points per rep;
- audited lead changes by time: which leads `--as-of` must rebuild;
- obligations by met time, then due time: what was overdue at a past instant (never met,
  or met after it) without reading the met-long-ago majority.

On a SQLite database that has planner statistics (ANALYZE was run), the new indexes get
theirs too: without them the planner keeps preferring the older, narrower indexes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_lead_report_stage": (
        "lead",
        ["stage", "created_at", "owner_id", "campaign_id", "amount", "close_date",
         "stage_entered_at"],
    ),
    "ix_lead_report_created": (
        "lead",
        ["created_at", "stage", "owner_id", "campaign_id", "source", "amount", "close_date",
         "stage_entered_at"],
    ),
    "ix_stage_change_lead_history": (
        "stage_change", ["lead_id", "id", "at", "to_stage", "from_stage"]
    ),
    "ix_stage_change_to_at": ("stage_change", ["to_stage", "at", "lead_id"]),
    "ix_activity_logged_at": (
        "activity", ["status", "at", "done_at", "user_id", "type", "points"]
    ),
    "ix_activity_done_at": ("activity", ["status", "done_at", "at", "user_id", "type", "points"]),
    "ix_audit_type_at": ("audit_event", ["record_type", "at", "record_id"]),
    "ix_obligation_met_due": (
        "obligation", ["met_at", "due_at", "status", "started_at", "owner_id"]
    ),
}  # fmt: skip


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    has_stats = bind.execute(
        sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
    ).scalar()
    if not has_stats:
        return
    analysed = {row[0] for row in bind.execute(sa.text("SELECT DISTINCT tbl FROM sqlite_stat1"))}
    for name, (table, _columns) in INDEXES.items():
        if table in analysed:
            op.execute(f'ANALYZE "{name}"')


def downgrade() -> None:
    for name, (table, _columns) in reversed(INDEXES.items()):
        op.drop_index(name, table_name=table)
