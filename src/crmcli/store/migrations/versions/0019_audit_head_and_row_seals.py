"""The audit log proves completeness (issue 17): the chain's head kept outside it, and the
seals of audited rows.

- `audit_head`: one row, the number of events and the last one's hash, advanced by a
  trigger on every insert into audit_event (row by row on SQLite; once per statement with
  its transition table on PostgreSQL, so a bulk import's executemany costs one update per
  statement). No code path can forget it; a chain that was emptied or shortened no longer
  reaches it. On PostgreSQL the trigger function is SECURITY DEFINER, owned by the role
  that migrates (the database owner): it updates the head for logins that may only insert
  events.
- `audit_seal`: the seals of the rows each transaction wrote (services.seals), in the
  chain through their seal event's digest.

The head starts at the chain as it stands. The rows already stored are sealed once, right
after the upgrade in the same transaction, by `services.seals.baseline` (a labelled
"baseline" seal event): sealing needs the application's list of audited tables and
columns at the newest schema, which this migration cannot know.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute(
        "INSERT INTO audit_head (id, events, hash) SELECT 1, count(*), "
        f"coalesce((SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1), '{GENESIS}') "
        "FROM audit_event"
    )
    op.create_table(
        "audit_seal",
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("record_type", sa.String(), nullable=False),
        sa.Column("record_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seal", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["audit_event.id"]),
        sa.PrimaryKeyConstraint("event_id", "record_type", "record_id"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_audit_seal_record",
        "audit_seal",
        ["record_type", "record_id", "event_id", "seal"],
    )
    if bind.dialect.name == "postgresql":
        schema = bind.execute(sa.text("SELECT current_schema()")).scalar()
        quoted = bind.dialect.identifier_preparer.quote(schema)
        op.execute(
            f"CREATE FUNCTION {quoted}.audit_head_advance() RETURNS trigger LANGUAGE plpgsql "
            "SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$\n"
            "DECLARE added bigint; last_hash text;\n"
            "BEGIN\n"
            "  SELECT count(*), (array_agg(hash ORDER BY id DESC))[1] INTO added, last_hash\n"
            "    FROM new_events;\n"
            "  IF added > 0 THEN\n"
            f"    UPDATE {quoted}.audit_head SET events = events + added, hash = last_hash\n"
            "      WHERE id = 1;\n"
            "  END IF;\n"
            "  RETURN NULL;\n"
            "END $$"
        )
        op.execute(f"REVOKE ALL ON FUNCTION {quoted}.audit_head_advance() FROM PUBLIC")
        op.execute(
            "CREATE TRIGGER audit_head_advance AFTER INSERT ON audit_event "
            "REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {quoted}.audit_head_advance()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_head_advance AFTER INSERT ON audit_event BEGIN "
            "UPDATE audit_head SET events = events + 1, hash = NEW.hash WHERE id = 1; END"
        )


def downgrade() -> None:
    bind = op.get_bind()
    op.execute(
        "DROP TRIGGER IF EXISTS audit_head_advance"
        + (" ON audit_event" if bind.dialect.name == "postgresql" else "")
    )
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_head_advance()")
    op.drop_index("ix_audit_seal_record", table_name="audit_seal")
    op.drop_table("audit_seal")
    op.drop_table("audit_head")
