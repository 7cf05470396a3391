"""Identity and policy overrides (issue 17).

`user.login`: the OS login a user is bound to (unique; NULL = not bound). Nobody is bound
after this migration: until an admin binds themselves (`crm user bind NAME --login LOGIN`),
`--as` works as before and every write warns (README: Security model).

`audit_event.login`: the OS login (on PostgreSQL the database login) that ran the command;
`audit_event.policy`: the sha256 of the policy file an admin wrote under instead of the
stored policy. Both are part of an event's hashed content when set, so the events written
before them still verify.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("user", sa.Column("login", sa.String(), nullable=True))
    op.create_index("ix_user_login", "user", ["login"], unique=True)
    op.add_column("audit_event", sa.Column("login", sa.String(), nullable=True))
    op.add_column("audit_event", sa.Column("policy", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_event", "policy")
    op.drop_column("audit_event", "login")
    op.drop_index("ix_user_login", table_name="user")
    op.drop_column("user", "login")
