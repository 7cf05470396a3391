"""Quotes with lines and approval decisions.

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-26 03:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crmcli.store.types import Fixed, Money, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quote",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("subtotal", Money(), nullable=False),
        sa.Column("discount", Money(), nullable=False),
        sa.Column("total", Money(), nullable=False),
        sa.Column("approval_needed", sa.Boolean(), nullable=False),
        sa.Column("approval_reasons", sa.JSON(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.Column("submitted_by", sa.String(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("sent_by", sa.String(), nullable=True),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("po_number", sa.String(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["lead.id"]),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_quote_lead_status", "quote", ["lead_id", "status"])
    op.create_table(
        "quote_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quote_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(), nullable=True),
        sa.Column("sku", sa.String(), nullable=True),
        sa.Column("quantity", Fixed(3), nullable=False),
        sa.Column("unit_price", Money(), nullable=False),
        sa.Column("discount_pct", Fixed(2), nullable=False),
        sa.ForeignKeyConstraint(["quote_id"], ["quote.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_quote_line_quote_id", "quote_line", ["quote_id"])
    op.create_table(
        "quote_approval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quote_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("decided_by", sa.String(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["quote_id"], ["quote.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_quote_approval_quote_id", "quote_approval", ["quote_id"])


def downgrade() -> None:
    op.drop_index("ix_quote_approval_quote_id", table_name="quote_approval")
    op.drop_table("quote_approval")
    op.drop_index("ix_quote_line_quote_id", table_name="quote_line")
    op.drop_table("quote_line")
    op.drop_index("ix_quote_lead_status", table_name="quote")
    op.drop_table("quote")
