"""Reports read stored obligations and records with indexed queries; they never print."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import literal_column, select

from crmcli.errors import BadInput
from crmcli.services.lookups import user_by_name
from crmcli.services.scope import campaign_scope
from crmcli.services.workspace import Tx
from crmcli.store.models import Lead, Obligation, User

OVERDUE_FIELDS = (
    "rule",
    "record_type",
    "record_id",
    "title",
    "owner",
    "due_at",
    "overdue_by_seconds",
)
# rules whose obligations carry their own dates rather than a policy duration
SCHEDULED_RULES = ("task.due",)


def overdue_rows(
    tx: Tx,
    *,
    owner: str | None = None,
    rule: str | None = None,
    due_within: timedelta | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Open obligations due by now (+ `due_within`), by owner then due time, streamed as
    tuples in OVERDUE_FIELDS order (millions of rows: no dict per row)."""
    horizon = tx.now + (due_within or timedelta(0))
    query = (
        select(
            Obligation.rule,
            Obligation.record_type,
            Obligation.record_id,
            Obligation.title,
            User.name.label("owner"),
            Obligation.due_at,
        )
        .outerjoin(User, User.id == Obligation.owner_id)
        # a literal, so SQLite can use the partial index of open obligations
        .where(Obligation.status == literal_column("'open'"), Obligation.due_at <= horizon)
        # unassigned first on every backend (SQLite sorts NULL first, PostgreSQL last)
        .order_by(Obligation.owner_id.asc().nulls_first(), Obligation.due_at, Obligation.id)
    )
    if owner:
        if owner == "none":
            query = query.where(Obligation.owner_id.is_(None))
        else:
            name = tx.actor.name if owner == "me" else owner
            query = query.where(Obligation.owner_id == user_by_name(tx, name, field="--owner").id)
    if rule:
        known = [*tx.policy.data["rules"], *SCHEDULED_RULES]
        if rule not in known:
            raise BadInput(f"--rule: {rule!r} is not a rule; use one of {', '.join(known)}")
        query = query.where(Obligation.rule == rule)
    allowed = campaign_scope(tx)
    if allowed is not None:  # campaign isolation: only obligations of the user's leads
        query = query.join(
            Lead, (Obligation.record_type == "lead") & (Obligation.record_id == Lead.id)
        ).where(Lead.campaign_id.in_(sorted(allowed)))
    result = tx.session.connection().execution_options(yield_per=5000).execute(query)
    now = tx.now
    for rule_id, record_type, record_id, title, owner_name, due_at in result:
        yield (
            rule_id,
            record_type,
            record_id,
            title,
            owner_name,
            due_at,
            int((now - due_at).total_seconds()),
        )


def overdue(tx: Tx, **filters: Any) -> Iterator[dict[str, Any]]:
    """overdue_rows as dicts, for tables and my day."""
    for row in overdue_rows(tx, **filters):
        yield dict(zip(OVERDUE_FIELDS, row, strict=True))


def my_day(tx: Tx) -> dict[str, list[dict[str, Any]]]:
    """The acting user's overdue items, what falls due today, and today's agenda."""
    from crmcli.rules.schedule import agenda_window
    from crmcli.services.activities import agenda

    end_of_today = agenda_window(tx.now, 1, tx.policy.timezone)
    mine = list(overdue(tx, owner="me", due_within=end_of_today - tx.now))
    return {
        "overdue": [r for r in mine if r["overdue_by_seconds"] > 0],
        "due_today": [r for r in mine if r["overdue_by_seconds"] <= 0],
        "agenda": agenda(tx, None, 1),
    }
