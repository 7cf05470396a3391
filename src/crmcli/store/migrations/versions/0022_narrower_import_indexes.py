"""Less written per imported lead (issue 19 item 6): indexes narrowed, made partial or dropped.

What every report and the overdue report read was checked with EXPLAIN QUERY PLAN (their
SQL caught from the services, on an imported database): each index on `obligation` and
`stage_change` is read by some report (or named by one with INDEXED BY), so none is dropped;
these hold entries or columns nothing reads:

- `ix_audit_seal_record` held every column of `audit_seal`, the seal (64 hex digits, most of
  a row) included: a second copy of the table. Without the seal it still finds a record's
  seals in order (the latest by its key: one primary-key look-up for the seal);
- `ix_obligation_met_due` serves the "never met" arm of overdue-as-of (`met_at IS NULL`;
  the "met late" arm has `ix_obligation_met_late`): partial on met_at IS NULL, due time
  first, it leaves out every met obligation (an imported lead's entry, most of a mature
  database) and still covers the query;
- `ix_stage_change_from_seconds` and `ix_stage_change_from_at` are only read for moves out
  of a stage (`from_stage IS NOT NULL`, `from_stage IN (…)`): partial, without the row
  every lead has for its creation;
- `ix_lead_stage` (stage) is the first column of `ix_lead_report_stage` (0011), which
  answers every look-up by stage.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 17:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# name: (table, columns before, columns after, partial WHERE after)
CHANGED = {
    "ix_audit_seal_record": (
        "audit_seal",
        ["record_type", "record_id", "event_id", "seal"],
        ["record_type", "record_id", "event_id"],
        None,
    ),
    "ix_obligation_met_due": (
        "obligation",
        ["met_at", "due_at", "status", "started_at", "owner_id"],
        ["due_at", "status", "started_at", "owner_id", "met_at"],
        "met_at IS NULL",
    ),
    "ix_stage_change_from_seconds": (
        "stage_change",
        ["from_stage", "seconds_in_from", "at"],
        ["from_stage", "seconds_in_from", "at"],
        "from_stage IS NOT NULL",
    ),
    "ix_stage_change_from_at": (
        "stage_change",
        ["from_stage", "at", "previous_at", "lead_id"],
        ["from_stage", "at", "previous_at", "lead_id"],
        "from_stage IS NOT NULL",
    ),
}


def _where(condition: str | None) -> dict[str, object]:
    if condition is None:
        return {}
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def upgrade() -> None:
    for name, (table, _before, after, where) in CHANGED.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, after, **_where(where))
    op.drop_index("ix_lead_stage", table_name="lead")
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    has_stats = bind.execute(
        sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
    ).scalar()
    if has_stats:  # planner statistics for the new indexes, as 0011 keeps them
        for name in CHANGED:
            op.execute(f'ANALYZE "{name}"')


def downgrade() -> None:
    op.create_index("ix_lead_stage", "lead", ["stage"])
    for name, (table, before, _after, _where_after) in reversed(CHANGED.items()):
        op.drop_index(name, table_name=table)
        op.create_index(name, table, before)
