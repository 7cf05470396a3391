"""Stored stage-history facts, so reports over a million leads need not read every lead's
stage history (issue 7's 2 s target for conversion, sources and velocity).

- `stage_key`: a number for every stage key ever entered;
- `lead.stage_history_at`, `.stage_history_mask`, `.stage_history_last`: when the lead's
  history last changed, the stages it ever entered (bit per stage_key id), the stage of its
  latest change; in the covering index by creation time, so conversion and sources read
  them with the cohort;
- `stage_change.seconds_since_created`: whole seconds from the lead's creation to the
  change, in the index of changes by stage and time (lead to close without reading leads)
  and in a new one by stage and that age (lead-to-close medians without a sort);
- first-response times (an expression of `obligation`, nothing stored) indexed per rep and
  over all, so the response report reads its medians from an index instead of sorting;
- a lead's stage changes by time (in place of the index by lead alone, whose every use it
  serves): when a deal entered the stage it was in at a past instant, in one step.

All are backfilled from the stage history here; services.stage_facts keeps them since.
The SQL repeats services.stage_facts on purpose: a migration must not change when the
application code does.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MASK_BITS = 63
LEAD_REPORT_CREATED = [
    *("created_at", "stage", "owner_id", "campaign_id", "source", "amount", "close_date"),
    "stage_entered_at",
]
FACTS = ["stage_history_at", "stage_history_mask", "stage_history_last"]
TO_AT = ["to_stage", "at", "lead_id"]


FIRST_RESPONSE = "lead.first_response"
# first-response times in order, per rep and over all (the response report's medians): the
# time is an expression, spelled exactly as the report's SQL spells it (services.analytics
# Query.seconds), so the planner matches the two
RESPONSE_INDEXES = {
    "ix_obligation_response_owner": "owner_id, ({v}), started_at, met_at, due_at, status",
    "ix_obligation_response_time": "({v}), started_at, met_at, due_at, status, owner_id",
}


def _response(dialect: str) -> str:
    if dialect == "sqlite":
        return "((julianday(met_at) - julianday(started_at)) * 86400.0)"
    return "EXTRACT(EPOCH FROM (met_at - started_at))"


def _seconds(dialect: str, later: str, earlier: str) -> str:
    if dialect == "sqlite":
        return (
            f"(CAST(strftime('%s', {later}) AS INTEGER) - CAST(strftime('%s', {earlier}) "
            "AS INTEGER))"
        )
    return (
        f"(CAST(EXTRACT(EPOCH FROM date_trunc('second', {later})) AS BIGINT) - "
        f"CAST(EXTRACT(EPOCH FROM date_trunc('second', {earlier})) AS BIGINT))"
    )


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    op.create_table(
        "stage_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    # new columns are NULL everywhere: no table is rewritten by adding them
    op.add_column("lead", sa.Column("stage_history_at", sa.DateTime(timezone=True)))
    op.add_column("lead", sa.Column("stage_history_mask", sa.BigInteger()))
    op.add_column("lead", sa.Column("stage_history_last", sa.String()))
    op.add_column("stage_change", sa.Column("seconds_since_created", sa.Integer()))
    # the indexes that will hold the new columns go first, so the backfill does not keep
    # them up to date row by row; they are built once at the end
    op.drop_index("ix_lead_report_created", table_name="lead")
    op.drop_index("ix_stage_change_to_at", table_name="stage_change")

    op.execute("INSERT INTO stage_key (key) SELECT DISTINCT to_stage FROM stage_change ORDER BY 1")
    age = _seconds(dialect, "stage_change.at", "l.created_at")
    op.execute(
        f"UPDATE stage_change SET seconds_since_created = (SELECT {age} FROM lead l "
        "WHERE l.id = stage_change.lead_id)"
    )
    # one pass over the history in lead order, then one write per lead that has history
    op.execute(
        "CREATE TEMPORARY TABLE history_fact AS SELECT sc.lead_id AS lead_id, "
        "max(sc.at) AS at, max(sc.id) AS last_id, "
        f"CASE WHEN count(k.id) = count(*) AND max(k.id) < {MASK_BITS} "
        "THEN sum(DISTINCT CAST(1 AS BIGINT) << k.id) END AS mask "
        "FROM stage_change sc LEFT JOIN stage_key k ON k.key = sc.to_stage GROUP BY sc.lead_id"
    )
    op.execute("CREATE UNIQUE INDEX history_fact_lead ON history_fact (lead_id)")
    op.execute(
        "UPDATE lead SET "
        "stage_history_at = (SELECT f.at FROM history_fact f WHERE f.lead_id = lead.id), "
        "stage_history_mask = (SELECT f.mask FROM history_fact f WHERE f.lead_id = lead.id), "
        "stage_history_last = (SELECT sc.to_stage FROM history_fact f JOIN stage_change sc "
        "ON sc.id = f.last_id WHERE f.lead_id = lead.id) "
        "WHERE id IN (SELECT lead_id FROM history_fact)"
    )
    op.execute("DROP TABLE history_fact")

    op.create_index("ix_lead_report_created", "lead", [*LEAD_REPORT_CREATED, *FACTS])
    op.create_index("ix_stage_change_to_at", "stage_change", [*TO_AT, "seconds_since_created"])
    op.create_index(
        "ix_stage_change_to_age",
        "stage_change",
        ["to_stage", "seconds_since_created", "at", "lead_id"],
    )
    op.drop_index("ix_stage_change_lead_id", table_name="stage_change")
    op.create_index("ix_stage_change_lead_at", "stage_change", ["lead_id", "at"])
    for name, columns in RESPONSE_INDEXES.items():
        op.execute(
            f"CREATE INDEX {name} ON obligation ({columns.format(v=_response(dialect))}) "
            f"WHERE rule = '{FIRST_RESPONSE}'"
        )
    if dialect != "sqlite":
        return
    has_stats = bind.execute(
        sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
    ).scalar()
    if has_stats:
        # the planner needs statistics for the rebuilt indexes too (see 0011)
        rebuilt = (
            *("ix_lead_report_created", "ix_stage_change_to_at", "ix_stage_change_to_age"),
            "ix_stage_change_lead_at",
        )
        for name in (*rebuilt, *RESPONSE_INDEXES):
            op.execute(f'ANALYZE "{name}"')


def downgrade() -> None:
    op.drop_index("ix_stage_change_lead_at", table_name="stage_change")
    op.create_index("ix_stage_change_lead_id", "stage_change", ["lead_id"])
    for name in reversed(RESPONSE_INDEXES):
        op.drop_index(name, table_name="obligation")
    op.drop_index("ix_stage_change_to_age", table_name="stage_change")
    op.drop_index("ix_stage_change_to_at", table_name="stage_change")
    op.create_index("ix_stage_change_to_at", "stage_change", TO_AT)
    op.drop_index("ix_lead_report_created", table_name="lead")
    op.create_index("ix_lead_report_created", "lead", LEAD_REPORT_CREATED)
    # plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): no table is copied
    op.drop_column("stage_change", "seconds_since_created")
    for name in reversed(FACTS):
        op.drop_column("lead", name)
    op.drop_table("stage_key")
