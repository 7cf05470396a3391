"""Opportunity fields a rep keeps right, and notifications about any record (issue 18).

- `lead.probability`: the rep's own win probability (0-100) for an opportunity, set with
  `crm lead edit ID --probability`; NULL means the stage's probability.
- `lead.weekly_update_at`: when the opportunity last had its weekly update (an activity or
  edit that left a scheduled next step and a future close date), or became an opportunity;
  `opportunity.weekly_update` counts from it. Backfilled from `updated_at` for open
  opportunities, so every clock stands where it stood before.
- `notification.record_type`, `record_id`: what a notice is about (a lead, a quote waiting
  for approval, a case past its SLA), for `crm inbox`. Backfilled for the lead notices.
- `ix_obligation_rule_owner_started` holds the same columns with status before the start
  time: `crm report sla` counts the obligations of each rule, owner and status that started
  in a period as one range of it (stepping through a range costs a fraction of evaluating
  conditions on every row); the response report reads it as it did.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crmcli.store.types import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


RULE_OWNER_STARTED = ["rule", "owner_id", "started_at", "due_at", "met_at", "status"]
RULE_OWNER_STATUS = ["rule", "owner_id", "status", "started_at", "due_at", "met_at"]


def upgrade() -> None:
    bind = op.get_bind()
    # in place (no table copy): lead ids are AUTOINCREMENT and must stay so
    with op.batch_alter_table("lead", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("probability", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("weekly_update_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("notification", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("record_type", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("record_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE lead SET weekly_update_at = updated_at "
        "WHERE kind = 'opportunity' AND status NOT IN ('won', 'lost')"
    )
    op.execute(
        "UPDATE notification SET record_type = 'lead', record_id = lead_id "
        "WHERE lead_id IS NOT NULL"
    )
    op.drop_index("ix_obligation_rule_owner_started", table_name="obligation")
    op.create_index("ix_obligation_rule_owner_started", "obligation", RULE_OWNER_STATUS)
    if (
        bind.dialect.name == "sqlite"
        and bind.execute(
            sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
        ).scalar()
    ):
        op.execute('ANALYZE "ix_obligation_rule_owner_started"')  # the planner's statistics


def downgrade() -> None:
    op.drop_index("ix_obligation_rule_owner_started", table_name="obligation")
    op.create_index("ix_obligation_rule_owner_started", "obligation", RULE_OWNER_STARTED)
    with op.batch_alter_table("notification", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("record_id")
        batch_op.drop_column("record_type")
    with op.batch_alter_table("lead", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("weekly_update_at")
        batch_op.drop_column("probability")
