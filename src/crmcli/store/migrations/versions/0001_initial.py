"""Initial schema: users, campaigns, accounts, contacts, leads, audit log, policy versions.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crmcli.store.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _stamps(*names: str) -> list[sa.Column]:
    return [sa.Column(name, UTCDateTime(), nullable=False) for name in names]


def upgrade() -> None:
    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("territories", sa.JSON(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_stamps("created_at"),
    )
    op.create_index("ix_user_name", "user", ["name"], unique=True)

    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        *_stamps("created_at"),
    )
    op.create_index("ix_campaign_name", "campaign", ["name"], unique=True)

    op.create_table(
        "user_campaign",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user.id"), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaign.id"), primary_key=True),
    )

    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("industry", sa.String(), nullable=True),
        sa.Column("country", sa.String(), nullable=True),
        sa.Column("region", sa.String(), nullable=True),
        sa.Column("key_account", sa.Boolean(), nullable=False),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        *_stamps("created_at", "updated_at"),
    )
    op.create_index("ix_account_name", "account", ["name"])

    op.create_table(
        "contact",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=True),
        sa.Column("first_name", sa.String(), nullable=False),
        sa.Column("last_name", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=True),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("verified_at", UTCDateTime(), nullable=True),
        *_stamps("created_at", "updated_at"),
    )
    op.create_index("ix_contact_account_id", "contact", ["account_id"])
    op.create_index("ix_contact_email", "contact", ["email"])
    op.create_index("ix_contact_phone", "contact", ["phone"])

    op.create_table(
        "lead",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("first_name", sa.String(), nullable=False),
        sa.Column("last_name", sa.String(), nullable=False),
        sa.Column("company", sa.String(), nullable=True),
        sa.Column("title", sa.String(), nullable=True),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("industry", sa.String(), nullable=True),
        sa.Column("employees", sa.Integer(), nullable=True),
        sa.Column("country", sa.String(), nullable=True),
        sa.Column("region", sa.String(), nullable=True),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("band", sa.String(), nullable=True),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaign.id"), nullable=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=True),
        sa.Column("contact_id", sa.Integer(), sa.ForeignKey("contact.id"), nullable=True),
        sa.Column("company_key", sa.String(), nullable=False),
        sa.Column("last_key", sa.String(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        *_stamps("acquired_at", "created_at", "updated_at"),
        sqlite_autoincrement=True,  # ids are never reused (audit history)
    )
    op.create_index("ix_lead_email", "lead", ["email"])
    op.create_index("ix_lead_phone", "lead", ["phone"])
    op.create_index("ix_lead_stage", "lead", ["stage"])
    op.create_index("ix_lead_campaign_id", "lead", ["campaign_id"])
    op.create_index("ix_lead_owner_status", "lead", ["owner_id", "status"])
    op.create_index("ix_lead_company_key", "lead", ["company_key"])
    op.create_index("ix_lead_last_key", "lead", ["last_key"])

    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("command", sa.String(), nullable=False),
        sa.Column("record_type", sa.String(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False, unique=True),
    )
    op.create_index("ix_audit_record", "audit_event", ["record_type", "record_id"])

    op.create_table(
        "policy_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("content", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("installed_at", UTCDateTime(), nullable=False),
        sa.Column("installed_by", sa.String(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "policy_version",
        "audit_event",
        "lead",
        "contact",
        "account",
        "user_campaign",
        "campaign",
        "user",
    ):
        op.drop_table(table)
