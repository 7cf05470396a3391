"""Less written per imported lead (issue 19 item 6): two indexes narrowed or dropped.

What every report and the overdue report read was checked with EXPLAIN QUERY PLAN (their
SQL caught from the services, on an imported database): each index on `obligation` and
`stage_change` is read by some report (or named by one with INDEXED BY), so they stay.
Two are not needed as they are:

- `ix_audit_seal_record` held every column of `audit_seal`, the seal (64 hex digits, most of
  a row) included: a second copy of the table. Without the seal it still finds a record's
  seals in order (the latest by its key: one primary-key look-up for the seal); `audit
  verify` reads the seals through it, the seal from the table;
- `ix_lead_stage` (stage) is the first column of `ix_lead_report_stage` (0011), which
  answers every look-up by stage.

Revision ID: 0022
Revises: 0020
Create Date: 2026-12-03 17:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_audit_seal_record", table_name="audit_seal")
    op.create_index("ix_audit_seal_record", "audit_seal", ["record_type", "record_id", "event_id"])
    op.drop_index("ix_lead_stage", table_name="lead")
    bind = op.get_bind()
    if (
        bind.dialect.name == "sqlite"
        and bind.execute(
            sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
        ).scalar()
    ):
        op.execute('ANALYZE "ix_audit_seal_record"')  # planner statistics, as 0011 keeps them


def downgrade() -> None:
    op.create_index("ix_lead_stage", "lead", ["stage"])
    op.drop_index("ix_audit_seal_record", table_name="audit_seal")
    op.create_index(
        "ix_audit_seal_record", "audit_seal", ["record_type", "record_id", "event_id", "seal"]
    )
