"""Reports read stored obligations and records with indexed queries; they never print."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, func, literal_column, or_, select

from crmcli.errors import BadInput
from crmcli.services.lookups import user_by_name
from crmcli.services.scope import campaign_scope
from crmcli.services.workspace import Tx
from crmcli.store.engine import sqlite_path
from crmcli.store.models import Lead, Obligation, User

if TYPE_CHECKING:
    from crmcli.services.analytics import Report
    from crmcli.store.parallel import Segment

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


def _overdue_query(tx: Tx, **filters: Any) -> Select:
    """Open obligations due by now (+ `due_within`) in OVERDUE_FIELDS order (the last one,
    overdue_by_seconds, is computed by the caller), by owner then due time."""
    query = select(
        Obligation.rule,
        Obligation.record_type,
        Obligation.record_id,
        Obligation.title,
        User.name.label("owner"),
        Obligation.due_at,
    ).outerjoin(User, User.id == Obligation.owner_id)
    query = _open_and_due(tx, query, **filters)
    # unassigned first on every backend (SQLite sorts NULL first, PostgreSQL last)
    return query.order_by(Obligation.owner_id.asc().nulls_first(), Obligation.due_at, Obligation.id)


def _open_and_due(
    tx: Tx,
    query: Select,
    *,
    owner: str | None = None,
    rule: str | None = None,
    due_within: timedelta | None = None,
) -> Select:
    """`query` narrowed to open obligations due by now (+ `due_within`) and the filters."""
    horizon = tx.now + (due_within or timedelta(0))
    # a literal, so SQLite can use the partial index of open obligations
    query = query.where(Obligation.status == literal_column("'open'"), Obligation.due_at <= horizon)
    if owner:
        if owner == "none":
            query = query.where(Obligation.owner_id.is_(None))
        else:
            name = tx.actor.name if owner == "me" else owner
            query = query.where(Obligation.owner_id == user_by_name(tx, name, field="--owner").id)
    if rule:
        known = [*tx.policy.rule_ids, *SCHEDULED_RULES]
        if rule not in known:
            raise BadInput(f"--rule: {rule!r} is not a rule; use one of {', '.join(known)}")
        query = query.where(Obligation.rule == rule)
    allowed = campaign_scope(tx)
    if allowed is not None:  # campaign isolation: only obligations of the user's leads
        query = query.where(_in_campaigns(sorted(allowed)))
    return query


def _in_campaigns(campaigns: list[int]) -> Any:
    """Obligations of leads in `campaigns` and of those leads' quotes (cases, accounts and
    contacts belong to no campaign, so a user scoped to campaigns sees none of theirs)."""
    from crmcli.store.models import Quote

    leads = select(Lead.id).where(Lead.campaign_id.in_(campaigns))
    quotes = select(Quote.id).where(Quote.lead_id.in_(leads))
    return or_(
        and_(Obligation.record_type == "lead", Obligation.record_id.in_(leads)),
        and_(Obligation.record_type == "quote", Obligation.record_id.in_(quotes)),
    )


def overdue_rows(tx: Tx, **filters: Any) -> Iterator[tuple[Any, ...]]:
    """The overdue report streamed as tuples in OVERDUE_FIELDS order (millions of rows: no
    dict per row). Filters: owner, rule, due_within."""
    query = _overdue_query(tx, **filters)
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


def overdue_lines(
    tx: Tx, fmt: str, separator: bytes, **filters: Any
) -> tuple[Iterator[Segment], Callable[[], int]] | None:
    """The overdue report as finished JSON-object or CSV lines written by SQLite itself, and
    how many of them are overdue (asked once the lines are written): the same bytes as
    render.emit_stream makes of overdue_rows, without Python's cost per row. Segments of
    lines joined by `separator`; a big report is read in parts by owner, one per core.
    None on other databases."""
    bind = tx.session.get_bind()
    if bind.dialect.name != "sqlite" or fmt not in ("json", "csv"):
        return None
    from crmcli.store import sqlite_text as sql
    from crmcli.store.parallel import cursor_segments, driver_sql, read_in_parts

    # the zone's offsets are needed from the oldest row the report prints to its horizon
    oldest = tx.session.execute(
        _open_and_due(tx, select(func.min(Obligation.due_at)), **filters)
    ).scalar()
    if oldest is None:
        return iter(()), lambda: 0
    horizon = tx.now + (filters.get("due_within") or timedelta(0))

    def column(expression: Any) -> str:
        return str(expression.compile(dialect=bind.dialect))

    due = column(Obligation.due_at)
    cells = [
        (column(Obligation.rule), "word"),  # rule ids and record types are the program's
        (column(Obligation.record_type), "word"),
        (column(Obligation.record_id), "int"),
        (column(Obligation.title), "text"),
        (column(User.name), "text"),
        (sql.iso_local(due, sql.offset_periods(tx.policy.timezone, oldest, horizon)), "time"),
        (sql.whole_seconds_since(tx.now, due), "int"),
    ]
    line = sql.json_line(OVERDUE_FIELDS, cells) if fmt == "json" else sql.csv_line(cells)
    # as a blob: the UTF-8 bytes go to stdout as they are, never decoded and re-encoded
    query = _overdue_query(tx, **filters).with_only_columns(literal_column(f"CAST({line} AS BLOB)"))
    path = sqlite_path(str(bind.url))
    ranges = _owner_ranges(tx, _cores(), **filters) if path else []
    if len(ranges) > 1:
        made = read_in_parts(
            path,
            [driver_sql(query.where(owners), bind.dialect) for owners in ranges],
            separator=separator,
            count=driver_sql(_count_query(tx, **filters), bind.dialect),
        )
        if made is not None:
            return made
    cursor = tx.session.connection().execute(query).cursor  # rows of one value: no result
    return cursor_segments(cursor, separator), lambda: _count_overdue(tx, **filters)


PARALLEL_FROM = 50_000  # rows: below this, starting a worker costs more than it saves


def _cores() -> int:
    return min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1, 4)


def _owner_ranges(tx: Tx, parts: int, **filters: Any) -> list[Any]:
    """Conditions splitting the report into up to `parts` consecutive runs of owners with
    about as many rows each (the report is sorted by owner first); [] when it is small."""
    if parts < 2:
        return []  # one core: no need to count rows per owner
    per_owner = select(Obligation.owner_id, func.count()).group_by(Obligation.owner_id)
    counts = tx.session.execute(
        _open_and_due(tx, per_owner, **filters).order_by(Obligation.owner_id.asc().nulls_first())
    ).all()
    total = sum(rows for _, rows in counts)
    if len(counts) < 2 or total < PARALLEL_FROM:
        return []
    cuts: list[int | None] = []  # the last owner of every part but the last (None: no owner)
    seen = 0
    for (owner_id, rows), (_, next_rows) in pairwise(counts):
        seen += rows
        ideal = total * (len(cuts) + 1) / parts
        if seen - ideal >= ideal - (seen + next_rows):  # cut where it is nearest the ideal
            cuts.append(owner_id)
            if len(cuts) == parts - 1:
                break
    if not cuts:
        return []
    owner = Obligation.owner_id
    ranges = []
    for low, high in pairwise([_FIRST, *cuts, _LAST]):
        # the unassigned sort first: the first part has them, and only it
        bounds = [] if low is _FIRST else [owner.is_not(None) if low is None else owner > low]
        if high is None:
            bounds.append(owner.is_(None))
        elif high is not _LAST:
            bounds.append(or_(owner.is_(None), owner <= high))
        ranges.append(and_(*bounds))
    return ranges


_FIRST, _LAST = object(), object()  # the open ends of the owner ranges


def _count_query(tx: Tx, **filters: Any) -> Select:
    """How many rows of the report are overdue (overdue_by_seconds > 0: due a second or
    more before now), counted on the index rather than row by row."""
    counting = select(func.count()).select_from(Obligation)
    return _open_and_due(tx, counting, **{**filters, "due_within": timedelta(seconds=-1)})


def _count_overdue(tx: Tx, **filters: Any) -> int:
    return tx.session.execute(_count_query(tx, **filters)).scalar_one()  # no user join


def overdue(tx: Tx, **filters: Any) -> Iterator[dict[str, Any]]:
    """overdue_rows as dicts, for tables and my day."""
    for row in overdue_rows(tx, **filters):
        yield dict(zip(OVERDUE_FIELDS, row, strict=True))


def my_day(tx: Tx) -> dict[str, list[dict[str, Any]]]:
    """The acting user's overdue items, what falls due today, today's agenda, and how many
    notifications wait unread in their inbox."""
    from crmcli.rules.schedule import agenda_window
    from crmcli.services.activities import agenda
    from crmcli.services.inbox import unread

    end_of_today = agenda_window(tx.now, 1, tx.policy.timezone)
    mine = list(overdue(tx, owner="me", due_within=end_of_today - tx.now))
    return {
        "overdue": [r for r in mine if r["overdue_by_seconds"] > 0],
        "due_today": [r for r in mine if r["overdue_by_seconds"] <= 0],
        "agenda": agenda(tx, None, 1),
        "inbox_unread": unread(tx),
    }


def overdue_report(tx: Tx, **filters: Any) -> Report:
    """The overdue report as one Report (the HTML page): a count per person and every item,
    oldest first per person. Filters: owner, rule, due_within."""
    from crmcli.services.analytics import Report, Section

    items = [dict(zip(OVERDUE_FIELDS, row, strict=True)) for row in overdue_rows(tx, **filters)]
    people: dict[str, dict[str, Any]] = {}
    for item in items:
        item["record"] = f"{item['record_type']} {item['record_id']}"
        item["owner"] = item["owner"] or "(unassigned)"
        item["late"] = item["overdue_by_seconds"] > 0
        person = people.setdefault(item["owner"], {"owner": item["owner"], "overdue": 0})
        person["overdue"] += item["late"]
        if filters.get("due_within"):
            person["due_soon"] = person.get("due_soon", 0) + (not item["late"])
    per_person = sorted(people.values(), key=lambda p: (-p["overdue"], p["owner"]))
    overdue = sum(p["overdue"] for p in per_person)
    summary: dict[str, Any] = {"overdue": overdue}
    if filters.get("due_within"):
        summary["due_soon"] = len(items) - overdue
    summary["owners"] = sum(1 for p in per_person if p["overdue"])
    person_columns = ["owner", "overdue", *(["due_soon"] if filters.get("due_within") else [])]
    return Report(
        "overdue",
        "Overdue obligations",
        {"from": None, "to": None, "as_of": tx.now.astimezone(tx.policy.timezone).isoformat()},
        summary,
        [
            Section(
                "people",
                "Overdue per person",
                per_person,
                person_columns,
                chart=("owner", "overdue"),
                labels={"owner": "person", "due_soon": "due soon"},
            ),
            Section(
                "items",
                "Every item, per person, oldest first",
                items,
                [*OVERDUE_FIELDS],
                ["owner", "rule", "record", "title", "due_at", "overdue_by_seconds"],
                # a list with items not yet due marks the overdue ones
                flag="late" if filters.get("due_within") else None,
                labels={"owner": "person", "due_at": "due", "overdue_by_seconds": "overdue by"},
            ),
        ],
    )
