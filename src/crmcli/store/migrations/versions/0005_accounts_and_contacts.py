"""Account management: contract end, won date, key-account start, a normalised name key;
the opportunity type of a lead.

The name key (dedupe.company_key of the name) makes duplicate checks and the account match
on qualification an index lookup instead of a scan of every account.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 03:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crmcli.store.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from crmcli.rules.dedupe import company_key

    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_key", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("contract_end", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("won_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("key_since", UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_account_name_key"), ["name_key"], unique=False)
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.add_column(sa.Column("type", sa.String(), nullable=True))
        # the account's 360° view and obligations read its leads
        batch_op.create_index(batch_op.f("ix_lead_account_id"), ["account_id"], unique=False)
    connection = op.get_bind()
    accounts = sa.table(
        "account",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("name_key", sa.String),
        sa.column("key_account", sa.Boolean),
        sa.column("key_since", UTCDateTime()),
        sa.column("created_at", UTCDateTime()),
    )
    found = connection.execute(
        sa.select(accounts.c.id, accounts.c.name, accounts.c.key_account, accounts.c.created_at)
    ).all()
    if found:  # one executemany: databases with many accounts upgrade in seconds
        connection.execute(
            accounts.update()
            .where(accounts.c.id == sa.bindparam("account_id"))
            .values(name_key=sa.bindparam("key"), key_since=sa.bindparam("since")),
            [
                {
                    "account_id": account_id,
                    "key": company_key(name),
                    "since": created_at if key_account else None,
                }
                for account_id, name, key_account, created_at in found
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_account_id"))
        batch_op.drop_column("type")
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_name_key"))
        batch_op.drop_column("key_since")
        batch_op.drop_column("won_at")
        batch_op.drop_column("contract_end")
        batch_op.drop_column("name_key")
