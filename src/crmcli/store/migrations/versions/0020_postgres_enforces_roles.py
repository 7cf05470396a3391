"""PostgreSQL enforces crm's roles in the server (issue 17): the two functions it needs.

- `crm_refuse_change()`: the trigger function that keeps the audit tables append-only, even
  for their owner (store/pg_security.py puts it on every table of `APPEND_ONLY`);
- `crm_leads_reached_at(email, phone)`: the ids of the leads with that email or phone in any
  campaign, for the duplicate check of a campaign-scoped user, whose reads row-level security
  stops at their campaigns. SECURITY DEFINER (it runs as the owner, who sees every row);
  nothing but the id and which of the two matched leaves it.

The grants, group roles and row-level security policies depend on the database's name, so
they are not here: `store.engine.upgrade` brings them up to date after every migration
(store/pg_security.py), which is also how the tables of later migrations get theirs. Nothing
changes on SQLite, where whoever can write the file is trusted.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-27 10:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = bind.exec_driver_sql("SELECT current_schema()").scalar()
    quoted = '"' + schema.replace('"', '""') + '"'
    op.execute(
        """
        CREATE OR REPLACE FUNCTION crm_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: crm never changes or removes its records',
                TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION crm_leads_reached_at(reach_email text, reach_phone text)
        RETURNS TABLE (id integer, same_email boolean, same_phone boolean)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {quoted}, pg_temp AS $$
            SELECT l.id, coalesce(l.email = reach_email, false),
                   coalesce(l.phone = reach_phone, false)
            FROM lead l WHERE l.email = reach_email OR l.phone = reach_phone
        $$
        """
    )
    op.execute("REVOKE EXECUTE ON FUNCTION crm_leads_reached_at(text, text) FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS crm_leads_reached_at(text, text)")
    op.execute("DROP FUNCTION IF EXISTS crm_refuse_change() CASCADE")  # and its triggers
