"""Lead lifecycle: scores, engagement, stage history, activities, notifications,
out-of-office, obligations; opportunity fields on lead.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 01:23:42.882786
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crmcli.store.types import Money, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "obligation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("record_type", sa.String(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("met_at", UTCDateTime(), nullable=True),
        sa.Column("met_by", sa.String(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rule", "record_type", "record_id", "key", name="uq_obligation"),
    )
    with op.batch_alter_table("obligation", schema=None) as batch_op:
        # the overdue report reads open obligations by owner and due time from this index
        # alone (it covers every column the report prints); only open rows are in it
        batch_op.create_index(
            "ix_obligation_open_owner_due",
            ["owner_id", "due_at", "id", "rule", "record_type", "record_id", "title"],
            unique=False,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )
        batch_op.create_index("ix_obligation_record", ["record_type", "record_id"], unique=False)
        batch_op.create_index("ix_obligation_status_due", ["status", "due_at"], unique=False)

    op.create_table(
        "user_away",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("user_away", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_away_user_id"), ["user_id"], unique=False)

    op.create_table(
        "activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("direction", sa.String(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.Column("subject", sa.String(), nullable=True),
        sa.Column("notes", sa.String(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("done_by", sa.String(), nullable=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["lead.id"],
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["activity.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activity_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(
            "ix_activity_user_status_due", ["user_id", "status", "due_at"], unique=False
        )

    op.create_table(
        "engagement_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["lead.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("engagement_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_engagement_event_lead_id"), ["lead_id"], unique=False)

    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("read_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["lead.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_user_id"), ["user_id"], unique=False)

    op.create_table(
        "score_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(), nullable=False),
        sa.Column("breakdown", sa.JSON(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["lead.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("score_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_score_event_lead_id"), ["lead_id"], unique=False)

    op.create_table(
        "stage_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("from_stage", sa.String(), nullable=True),
        sa.Column("to_stage", sa.String(), nullable=False),
        sa.Column("seconds_in_from", sa.Integer(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["lead.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stage_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stage_change_lead_id"), ["lead_id"], unique=False)

    # added columns only: ALTER TABLE in place, never a copy (keeps AUTOINCREMENT, and fast)
    with op.batch_alter_table("lead", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(), nullable=False, server_default="lead"))
        batch_op.add_column(sa.Column("stage_entered_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("assigned_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("first_response_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("amount", Money(), nullable=True))
        batch_op.add_column(sa.Column("close_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("po_number", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("lost_reason", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("quote_ref", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column("prospect_said_no", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    # leads from before this revision entered their stage when they were created
    op.execute("UPDATE lead SET stage_entered_at = created_at")
    op.execute(
        "INSERT INTO stage_change (lead_id, from_stage, to_stage, at, actor) "
        "SELECT id, NULL, stage, created_at, 'migration 0002' FROM lead"
    )


def downgrade() -> None:
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.drop_column("prospect_said_no")
        batch_op.drop_column("quote_ref")
        batch_op.drop_column("lost_reason")
        batch_op.drop_column("po_number")
        batch_op.drop_column("close_date")
        batch_op.drop_column("amount")
        batch_op.drop_column("first_response_at")
        batch_op.drop_column("assigned_at")
        batch_op.drop_column("stage_entered_at")
        batch_op.drop_column("kind")

    with op.batch_alter_table("stage_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stage_change_lead_id"))

    op.drop_table("stage_change")
    with op.batch_alter_table("score_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_score_event_lead_id"))

    op.drop_table("score_event")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_user_id"))

    op.drop_table("notification")
    with op.batch_alter_table("engagement_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_engagement_event_lead_id"))

    op.drop_table("engagement_event")
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_user_status_due")
        batch_op.drop_index(batch_op.f("ix_activity_lead_id"))

    op.drop_table("activity")
    with op.batch_alter_table("user_away", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_away_user_id"))

    op.drop_table("user_away")
    with op.batch_alter_table("obligation", schema=None) as batch_op:
        batch_op.drop_index("ix_obligation_status_due")
        batch_op.drop_index("ix_obligation_record")
        batch_op.drop_index("ix_obligation_open_owner_due")

    op.drop_table("obligation")
