"""Sales performance reports (SPEC §5, issue 7): every figure is an SQL aggregate (GROUP BY,
window functions); Python only arranges the aggregated rows, never the records themselves.

`--as-of T` rebuilds the figures as they stood at T: a lead's stage then is the `from_stage`
of its first stage change after T (else its stage now); its owner, amount and close date then
are the old values of its first audited change of each after T (else today's values); leads
created after T, and events after T, do not count. Undoing only what changed after T keeps
recent as-of queries as cheap as current ones.

New reports register in REPORTS (name -> builder); `crm report NAME` and the HTML page pick
them up. `report cases` joins here once cases are merged.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, text

from crmcli.clock import read_when
from crmcli.errors import BadInput
from crmcli.rules import analytics as calc
from crmcli.services.workspace import Tx
from crmcli.store.types import UTCDateTime

GROUPINGS = {
    "conversion": ("source", "owner"),
    "win-rate": ("owner", "source", "type"),
    "sources": ("source", "campaign"),
}
FIRST_RESPONSE = "lead.first_response"
# an opportunity's type (seed 004: the products and services sold) is `lead.type`; leads
# imported before it existed keep it in `extra` under one of these headers
TYPE_KEYS = ("type", "Type", "opportunity_type", "Opportunity Type")
REP_ROLES = ("editor", "admin")
_PARAM = re.compile(r":(p\d+)\b")


# --- what a report is ------------------------------------------------------------------------


@dataclass
class Section:
    """One table of a report: rows with `columns` (json/csv), what the table view shows, and
    which column to draw as SVG bars on the HTML page.

    Rows carry numbers only; the renderer draws. In `table_columns`, "funnel" and "bar" are
    drawn columns (the chart's value as a centred or a plain bar), and a row's "trend" is
    its list of values per bucket, which the table shows as a sparkline."""

    name: str
    title: str
    rows: list[dict[str, Any]]
    columns: list[str]
    table_columns: list[str] | None = None
    chart: tuple[str, str] | None = None  # (label column, value column)
    flag: str | None = None  # a boolean column that marks rows to highlight
    funnel: bool = False  # draw the chart as a funnel (bars centred)
    spark: str | None = None  # the column whose values the table view draws by the title
    labels: dict[str, str] | None = None  # column -> header of the table view and HTML page

    def header(self, column: str) -> str:
        """What a person reads over `column` (json and csv keep the column's name)."""
        return (self.labels or {}).get(column) or column.replace("_", " ")


@dataclass
class Report:
    name: str
    title: str
    period: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    main: str | None = None  # the section CSV prints (default: the first)

    def main_section(self) -> Section:
        return next((s for s in self.sections if s.name == self.main), self.sections[0])

    def document(self) -> dict[str, Any]:
        """The JSON shape: report, period, summary, then each section's rows by name."""
        out: dict[str, Any] = {"report": self.name, **self.period, "summary": self.summary}
        for section in self.sections:
            out[section.name] = [{c: row.get(c) for c in section.columns} for row in section.rows]
        return out


@dataclass(frozen=True)
class Options:
    """What the user asked for, as typed; resolved against the clock and policy in `window`."""

    start: str | None = None
    end: str | None = None
    as_of: str | None = None
    bucket: str | None = None
    owner: str | None = None
    pipeline: str | None = None
    by: str | None = None
    month: str | None = None
    quarter: str | None = None
    rule: str | None = None  # report sla: only this rule
    breaches: bool = False  # report sla: list each breach too


@dataclass(frozen=True)
class Window:
    """The resolved period [start, end), the instant figures stand at, and the filters."""

    start: datetime
    end: datetime
    as_of: datetime
    historic: bool
    bucket: str
    buckets: list[calc.Bucket]
    owner_id: int | None
    campaign_id: int | None
    explicit_start: bool

    def describe(self, tz: Any) -> dict[str, Any]:
        return {
            "from": self.start.astimezone(tz).isoformat(),
            "to": self.end.astimezone(tz).isoformat(),
            "as_of": self.as_of.astimezone(tz).isoformat(),
            "bucket": self.bucket,
        }


def _instant(tx: Tx, raw: str, field: str, *, end_of_day: bool = False) -> datetime:
    value = read_when(raw, policy=tx.policy, field=field, prefer="past", relative_to=tx.now)
    local = value.astimezone(tx.policy.timezone)
    if end_of_day and ":" not in raw and local.hour == local.minute == local.second == 0:
        # a date alone means the whole day: --to 2026-03-31 includes the 31st
        value = calc.local_midnight(local.date() + timedelta(days=1), tx.policy.timezone)
    return value


def window(
    tx: Tx,
    options: Options,
    *,
    default_start: Callable[[datetime], datetime] | None = None,
    empty_ok: bool = False,
) -> Window:
    """Period, as-of instant, buckets and filters, each checked with a one-line error."""
    tz = tx.policy.timezone
    as_of = _instant(tx, options.as_of, "--as-of") if options.as_of else tx.now
    if options.as_of and as_of > tx.now:
        raise BadInput("--as-of: lies in the future; give a past date (or leave it out for now)")
    end = _instant(tx, options.end, "--to", end_of_day=True) if options.end else as_of
    end = min(end, as_of)
    if options.start:
        start = _instant(tx, options.start, "--from")
    elif default_start is not None:
        start = default_start(end)
    else:
        start = end - calc.DEFAULT_PERIOD
    if start > end or (start == end and not empty_ok):
        raise BadInput("--from: must be before --to (and before --as-of)")
    size = (options.bucket or calc.default_bucket(start, end)).strip().lower()
    if size not in calc.BUCKETS:
        raise BadInput(f"--bucket: {options.bucket!r} is not a bucket; use week or month")
    owner_id = None
    if options.owner:
        from crmcli.services.lookups import user_by_name

        name = tx.actor.name if options.owner == "me" else options.owner
        owner_id = user_by_name(tx, name, field="--owner").id
    campaign_id = None
    if options.pipeline:
        from crmcli.services.lookups import campaign_by_name

        campaign_id = campaign_by_name(tx, options.pipeline).id
    return Window(
        start=start,
        end=end,
        as_of=as_of,
        historic=options.as_of is not None,
        bucket=size,
        buckets=calc.buckets(start, end, size, tz),
        owner_id=owner_id,
        campaign_id=campaign_id,
        explicit_start=options.start is not None,
    )


# --- SQL helpers -----------------------------------------------------------------------------


class Query:
    """Builds one SQL statement with named parameters (datetimes bound as stored)."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.params: dict[str, Any] = {}
        self.dialect = tx.session.get_bind().dialect.name

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def in_list(self, values: Iterable[Any]) -> str:
        items = [self.bind(v) for v in values]
        return f"({', '.join(items)})" if items else "(NULL)"

    def case(self, column: str, mapping: dict[str, Any], default: str = "NULL") -> str:
        """CASE column WHEN key THEN value … (values are numbers the policy gave)."""
        if not mapping:
            return default
        arms = " ".join(f"WHEN {self.bind(k)} THEN {v!r}" for k, v in mapping.items())
        return f"(CASE {column} {arms} ELSE {default} END)"

    def bucket_of(self, column: str, buckets: list[calc.Bucket]) -> str:
        """The index of the trend bucket `column` falls in (NULL outside them): the first
        bucket whose end lies after it, found by halving (a few comparisons per row, not
        one per bucket)."""
        if not buckets:
            return "NULL"
        ends = [self.bind(b.end) for b in buckets]

        def first_after(lo: int, hi: int) -> str:
            if lo == hi:
                return str(lo)
            mid = (lo + hi) // 2
            return (
                f"CASE WHEN {column} < {ends[mid]} THEN {first_after(lo, mid)} "
                f"ELSE {first_after(mid + 1, hi)} END"
            )

        outside = (
            f"{column} IS NULL OR {column} < {self.bind(buckets[0].start)} "
            f"OR {column} >= {ends[-1]}"
        )
        return f"(CASE WHEN {outside} THEN NULL ELSE {first_after(0, len(ends) - 1)} END)"

    def unindexed(self, column: str) -> str:
        """`column` in a form SQLite will not pick an index for (so it takes a covering one
        that leads with other columns)."""
        return f"+{column}" if self.dialect == "sqlite" else column

    def indexed_by(self, index: str | None) -> str:
        """Read the table just named through `index` (SQLite; other planners choose)."""
        return f" INDEXED BY {index}" if index and self.dialect == "sqlite" else ""

    def fence(self) -> str:
        """Ends a subquery so the planner runs it as it is (each of its columns computed once
        per row) instead of merging it into the outer query (which would repeat a correlated
        subquery in every place its column is used)."""
        return " LIMIT -1" if self.dialect == "sqlite" else " OFFSET 0"

    def seconds(self, later: str, earlier: str) -> str:
        if self.dialect == "sqlite":
            return f"((julianday({later}) - julianday({earlier})) * 86400.0)"
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"

    def json_text(self, column: str, *path: str | int) -> str:
        if self.dialect == "sqlite":
            where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f'."{p}"' for p in path)
            return f"json_extract({column}, '{where}')"
        parts = [str(p) if isinstance(p, int) else f"'{p}'" for p in path]
        return f"({column}::jsonb #>> ARRAY[{', '.join(parts)}])"

    def money_text_to_cents(self, expression: str) -> str:
        cast = "REAL" if self.dialect == "sqlite" else "NUMERIC"
        return f"CAST(ROUND(CAST({expression} AS {cast}) * 100) AS BIGINT)"

    def middle(self, values: str, n: int, *, prefix: str = "") -> float | None:
        """The median of the `n` values `values` gives (SQL selecting column v, in order): the
        middle one or two, read with LIMIT/OFFSET (no sort when an index gives the order)."""
        if not n:
            return None
        low, high = self.rows(
            f"{prefix} SELECT min(v), max(v) FROM ({values} "
            f"LIMIT {2 - n % 2} OFFSET {(n - 1) // 2}) m"
        )[0]
        return (low + high) / 2

    def rows(self, sql: str, *, times: tuple[str, ...] = ()) -> list[Any]:
        """Run `sql` with the parameters it names (one Query may build several statements);
        the result columns named in `times` are read as aware UTC datetimes."""
        return list(self.stream(sql, times=times, batch=None))

    def stream(self, sql: str, *, times: tuple[str, ...] = (), batch: int | None = 5000) -> Any:
        """`rows`, fetched `batch` rows at a time (None: all at once)."""
        statement: Any = text(sql)
        used = {name: self.params[name] for name in set(_PARAM.findall(sql))}
        typed = [
            bindparam(name, type_=UTCDateTime())
            for name, value in used.items()
            if isinstance(value, datetime)
        ]
        if typed:
            statement = statement.bindparams(*typed)
        if times:
            statement = statement.columns(**dict.fromkeys(times, UTCDateTime()))
        connection = self.tx.session.connection()
        if batch is not None:
            connection = connection.execution_options(yield_per=batch)
        return connection.execute(statement, used)


def _first_old(q: Query, name: str, as_of: str) -> str:
    """The old value of `name` in the lead's first audited change of it after the as-of
    instant: NULL when none, '' when the old value was empty."""
    return (
        f"(SELECT COALESCE({q.json_text('e.changes', name, 0)}, '') FROM audit_event e "
        "WHERE e.record_type = 'lead' AND e.record_id = l.id "
        f"AND e.at > {as_of} AND {q.json_text('e.changes', name)} IS NOT NULL "
        "ORDER BY e.id LIMIT 1)"
    )


def deals(q: Query, w: Window, *, scan: bool = False) -> str:
    """CTE `deals`: each visible lead as it stood at the as-of instant (see module doc).

    As of a past instant, each field is rebuilt in the row itself: the stage by one look-up
    in a covering index of stage changes, the audited fields only for leads in the (indexed)
    set of leads audited since then. One plain query over `lead`, so the planner can still
    join it by id, push filters into it, and read the columns a report uses from an index.

    `scan`: the report reads every deal (no join by id). The stage of then is looked up
    once per lead in a fenced subquery that reads the covering index by creation time,
    instead of once in each place the query uses the stage and its entry time."""
    as_of = q.bind(w.as_of)
    facts = "l.stage_history_at, l.stage_history_mask, l.stage_history_last"
    columns = (
        "l.id, l.source, l.campaign_id, l.owner_id, l.stage, l.amount, l.close_date, "
        f"l.created_at, l.stage_entered_at AS entered_at, l.type, l.extra, {facts}"
    )
    if not w.historic:
        inner = f"SELECT {columns} FROM lead l WHERE l.created_at <= {as_of}"
    else:
        audited = (
            "l.id IN (SELECT a.record_id FROM audit_event a WHERE a.record_type = 'lead' "
            f"AND a.at > {as_of})"
        )
        # every stage change sets stage_entered_at to its own time (advance, policy
        # re-mapping), so a lead that entered its stage by then has not moved since: only
        # the others need the look-up of their first move after the as-of instant (in time
        # order, as stage_change.previous_at is kept)
        stage_then = (
            f"(CASE WHEN l.stage_entered_at <= {as_of} THEN NULL ELSE (SELECT x.from_stage "
            f"FROM stage_change x WHERE x.lead_id = l.id AND x.at > {as_of} "
            "ORDER BY x.at, x.id LIMIT 1) END)"
        )
        source, rest = "lead l", "l.type, l.extra"
        if scan:
            # (the covering index has every column but type and extra: those are read
            # from the lead only when a report asks for them)
            source = (
                "(SELECT l.id, l.source, l.campaign_id, l.owner_id, l.stage, l.amount, "
                f"l.close_date, l.created_at, l.stage_entered_at, {facts}, {stage_then} "
                f"AS stage_then FROM lead l WHERE l.created_at <= {as_of}{q.fence()}) l"
            )
            stage_then = "l.stage_then"
            rest = (
                "(SELECT x.type FROM lead x WHERE x.id = l.id) AS type, "
                "(SELECT x.extra FROM lead x WHERE x.id = l.id) AS extra"
            )
        o, a, c = (_first_old(q, name, as_of) for name in ("owner", "amount", "close_date"))
        owner = (
            f"CASE WHEN {o} IS NULL THEN l.owner_id WHEN {o} = '' THEN NULL "
            f'ELSE (SELECT u.id FROM "user" u WHERE u.name = {o}) END'
        )
        amount = (
            f"CASE WHEN {a} IS NULL THEN l.amount WHEN {a} = '' THEN NULL "
            f"ELSE {q.money_text_to_cents(a)} END"
        )
        close = f"CASE WHEN {c} IS NULL THEN l.close_date WHEN {c} = '' THEN NULL ELSE {c} END"
        inner = (
            "SELECT l.id, l.source, l.campaign_id, "
            f"CASE WHEN {audited} THEN {owner} ELSE l.owner_id END AS owner_id, "
            f"COALESCE({stage_then}, l.stage) AS stage, "
            f"CASE WHEN {audited} THEN {amount} ELSE l.amount END AS amount, "
            f"CASE WHEN {audited} THEN {close} ELSE l.close_date END AS close_date, "
            f"l.created_at, CASE WHEN {stage_then} IS NULL THEN l.stage_entered_at "
            "ELSE (SELECT max(x.at) FROM stage_change x WHERE x.lead_id = l.id "
            f"AND x.at <= {as_of}) END AS entered_at, {rest}, {facts} "
            f"FROM {source} WHERE l.created_at <= {as_of}"
        )
    filters = []
    if w.owner_id is not None:
        filters.append(f"owner_id = {q.bind(w.owner_id)}")
    if w.campaign_id is not None:
        filters.append(f"campaign_id = {q.bind(w.campaign_id)}")
    from crmcli.services.scope import campaign_scope

    allowed = campaign_scope(q.tx)
    if allowed is not None:  # campaign isolation: a scoped user's reports see only their leads
        filters.append(f"campaign_id IN {q.in_list(sorted(allowed))}")
    where = f" WHERE {' AND '.join(filters)}" if filters else ""
    return f"deals AS (SELECT * FROM ({inner}) d{where})"


# --- the policy's pipeline, as the reports need it -------------------------------------------


@dataclass(frozen=True)
class Funnel:
    """Stages in funnel order: open stages, then won; lost stages sit outside the funnel."""

    open: list[dict[str, Any]]
    won: list[str]
    lost: list[str]
    opportunity_from: str

    @classmethod
    def of(cls, tx: Tx) -> Funnel:
        stages = tx.policy.stages
        return cls(
            open=[s for s in stages if not s.get("outcome")],
            won=[s["key"] for s in stages if s.get("outcome") == "won"],
            lost=[s["key"] for s in stages if s.get("outcome") == "lost"],
            opportunity_from=tx.policy.pipeline.opportunity_from,
        )

    @property
    def won_index(self) -> int:
        return len(self.open)

    def index(self) -> dict[str, int]:
        """Stage key -> funnel position (every won stage is the last position)."""
        out = {s["key"]: i for i, s in enumerate(self.open)}
        out.update(dict.fromkeys(self.won, self.won_index))
        return out

    @property
    def outcomes(self) -> list[str]:
        return [*self.won, *self.lost]


def stale_limits(tx: Tx) -> dict[str, int]:
    """Seconds a deal may stay in each stage (the stage's `stale_after`, opportunity.stale)."""
    from crmcli.rules.durations import parse_duration

    return {
        s["key"]: int(parse_duration(s["stale_after"]).total_seconds())
        for s in tx.policy.stages
        if s.get("stale_after") and not s.get("outcome")
    }


# --- pipeline --------------------------------------------------------------------------------


def pipeline(tx: Tx, options: Options) -> Report:
    """Count, value and weighted value per stage, and each open stage's share of the funnel."""
    w = window(tx, options, default_start=lambda end: datetime(1970, 1, 1, tzinfo=UTC))
    q = Query(tx)
    cte = deals(q, w)
    period = f" AND created_at >= {q.bind(w.start)}" if w.explicit_start else ""
    found = {
        stage: (count, amount)
        for stage, count, amount in q.rows(
            f"WITH {cte} SELECT stage, count(*), sum(amount) FROM deals "
            f"WHERE created_at < {q.bind(w.end)}{period} GROUP BY stage"
        )
    }
    rows = pipeline_rows(tx, found)
    funnel = Funnel.of(tx)
    open_rows = [r for r in rows if r["stage"] in {s["key"] for s in funnel.open}]
    won = [r for r in rows if r["stage"] in funnel.won]
    lost = [r for r in rows if r["stage"] in funnel.lost]
    summary = {
        "open_deals": sum(r["count"] for r in open_rows),
        "open_value": sum((r["value"] for r in open_rows), Decimal("0.00")),
        "weighted_value": sum((r["weighted"] for r in open_rows), Decimal("0.00")),
        "won_deals": sum(r["count"] for r in won),
        "won_value": sum((r["value"] for r in won), Decimal("0.00")),
        "lost_deals": sum(r["count"] for r in lost),
    }
    period = w.describe(tx.policy.timezone)
    if not w.explicit_start:
        period["from"] = None  # a snapshot of every deal, whenever it was created
    return Report(
        "pipeline",
        "Pipeline by stage",
        period,
        summary,
        [
            Section(
                "stages",
                "Stages (funnel: deals per stage; share: of open deals)",
                rows,
                PIPELINE_COLUMNS,
                [
                    "stage",
                    "count",
                    "value",
                    "probability",
                    "weighted",
                    "share",
                    "per_next",
                    "funnel",
                ],
                chart=("stage", "count"),
                funnel=True,
            )
        ],
    )


PIPELINE_COLUMNS = [
    "stage",
    "name",
    "probability",
    "count",
    "value",
    "weighted",
    "share",
    "per_next",
]


def pipeline_rows(tx: Tx, found: dict[str, tuple[int, int | None]]) -> list[dict[str, Any]]:
    """Per policy stage (then any stage the policy no longer has): count, value, weighted
    value, share of open deals, and deals per deal of the next stage."""
    funnel = Funnel.of(tx)
    open_keys = [s["key"] for s in funnel.open]
    open_total = sum(found.get(k, (0, 0))[0] for k in open_keys)
    stages = [*tx.policy.stages]
    stages += [{"key": k, "name": k, "probability": 0} for k in found if tx.policy.stage(k) is None]
    rows = []
    for stage in stages:
        count, amount = found.get(stage["key"], (0, 0))
        rows.append(
            {
                "stage": stage["key"],
                "name": stage.get("name", stage["key"]),
                "probability": stage.get("probability", 0),
                "count": count,
                "value": calc.cents(amount),
                "weighted": calc.weighted_cents(amount, stage.get("probability", 0)),
                "share": calc.percent(count, open_total) if stage["key"] in open_keys else None,
                "per_next": None,
            }
        )
    for i in range(len(open_keys) - 1):
        rows[i]["per_next"] = calc.ratio(rows[i]["count"], rows[i + 1]["count"])
    return rows


# --- cohorts: conversion and sources ---------------------------------------------------------


def _filtered(tx: Tx, w: Window) -> bool:
    """Whether the report sees only some leads (owner, campaign or campaign scope)."""
    from crmcli.services.scope import campaign_scope

    return w.owner_id is not None or w.campaign_id is not None or campaign_scope(tx) is not None


def _group_expression(q: Query, by: str | None) -> str:
    if by in (None, ""):
        return "NULL"
    if by == "source":
        return "d.source"
    if by == "owner":
        return "d.owner_id"
    if by == "campaign":
        return "d.campaign_id"
    if by == "type":
        imported = [q.json_text("d.extra", k) for k in TYPE_KEYS]
        return "COALESCE(" + ", ".join(["d.type", *imported]) + ")"
    raise AssertionError(by)


def _group_label(tx: Tx, by: str | None, key: Any, names: dict[str, dict[Any, str]]) -> str:
    if by == "owner":
        return names["user"].get(key, "(unassigned)") if key is not None else "(unassigned)"
    if by == "campaign":
        return names["campaign"].get(key, "(none)") if key is not None else "(none)"
    return "(none)" if key in (None, "") else str(key)


def _names(tx: Tx) -> dict[str, dict[Any, str]]:
    conn = tx.session.connection()
    return {
        "user": {i: n for i, n in conn.execute(text('SELECT id, name FROM "user"'))},
        "campaign": {i: n for i, n in conn.execute(text("SELECT id, name FROM campaign"))},
    }


def _check_by(report: str, by: str | None) -> str | None:
    if by is None:
        return None
    value = by.strip().lower()
    if value not in GROUPINGS[report]:
        raise BadInput(f"--by: {by!r} is not a grouping; use {' or '.join(GROUPINGS[report])}")
    return value


def cohort_counts(tx: Tx, w: Window, by: str | None) -> list[tuple]:
    """Leads created in the period, aggregated by (group, bucket, furthest funnel position,
    ended lost): count and won value. The furthest position comes from stage history."""
    funnel = Funnel.of(tx)
    q = Query(tx)
    cte = deals(q, w)
    position = q.case("sc.to_stage", funnel.index())
    lost = q.in_list(funnel.lost)
    won_position = funnel.won_index
    as_of = q.bind(w.as_of)
    # both facts of a lead in one number: 2 * the furthest position, plus 1 when its latest
    # change (the greatest id, which 2 * id + flag keeps) went to a lost stage. From the
    # history itself: one indexed look-up of the lead's changes up to the as-of instant.
    from_history = (
        f"(SELECT COALESCE(max({position}), 0) * 2 + COALESCE(max(CAST(sc.id AS BIGINT) * 2 + "
        "CASE WHEN "
        f"sc.to_stage IN {lost} THEN 1 ELSE 0 END) % 2, 0) FROM stage_change sc "
        f"WHERE sc.lead_id = d.id AND sc.at <= {as_of})"
    )
    # the same from the lead's stored facts (services.stage_facts), which hold while its
    # history had ended by the as-of instant: no look-up at all
    from_facts = (
        f"(CASE {_furthest_arms(q, funnel)} ELSE 0 END) * 2 + "
        f"(CASE WHEN d.stage_history_last IN {lost} THEN 1 ELSE 0 END)"
    )
    code = (
        "(CASE WHEN d.stage_history_at IS NULL THEN 0 "
        f"WHEN d.stage_history_at <= {as_of} AND d.stage_history_mask IS NOT NULL "
        f"THEN {from_facts} ELSE {from_history} END)"
    )
    sql = (
        f"WITH {cte} SELECT grp, b, code, count(*), "
        f"sum(CASE WHEN code >= {2 * won_position} THEN amount END) FROM ("
        f"SELECT {_group_expression(q, by)} AS grp, "
        f"{q.bucket_of('d.created_at', w.buckets)} AS b, d.amount, {code} AS code "
        f"FROM deals d WHERE d.created_at >= {q.bind(w.start)} "
        f"AND d.created_at < {q.bind(w.end)}{q.fence()}) per_lead GROUP BY 1, 2, 3"
    )
    return [(grp, b, code // 2, code % 2, n, won) for grp, b, code, n, won in q.rows(sql)]


def _furthest_arms(q: Query, funnel: Funnel) -> str:
    """CASE arms: the furthest funnel position whose stages the stored mask has a bit of
    (positions of stages nobody ever entered have no bit, and no arm)."""
    from crmcli.services.stage_facts import known_bits

    bits = known_bits(q.tx.session.connection())
    arms = []
    for position in range(funnel.won_index, -1, -1):
        keys = funnel.won if position == funnel.won_index else [funnel.open[position]["key"]]
        mask = 0
        for key in keys:
            mask |= bits.get(key, 0)
        if mask:
            arms.append(f"WHEN d.stage_history_mask & {mask} <> 0 THEN {position}")
    return " ".join(arms) or "WHEN 1 = 0 THEN 0"


@dataclass
class Tally:
    """A cohort's funnel: how many leads reached each position, lost, and won value."""

    reached: list[int]
    lost_at: list[int]
    won_cents: int = 0

    @classmethod
    def empty(cls, size: int) -> Tally:
        return cls([0] * size, [0] * size)

    def add(self, furthest: int, ended_lost: int, count: int, won_cents: int | None) -> None:
        for position in range(furthest + 1):
            self.reached[position] += count
        if ended_lost:
            self.lost_at[furthest] += count
        self.won_cents += won_cents or 0

    @property
    def leads(self) -> int:
        return self.reached[0]

    @property
    def customers(self) -> int:
        return self.reached[-1]


def conversion(tx: Tx, options: Options) -> Report:
    """Stage-to-stage conversion of the leads created in the period (a cohort), from stage
    history, and lead -> opportunity -> customer ratios; by source or owner on request."""
    by = _check_by("conversion", options.by)
    w = window(tx, options)
    funnel = Funnel.of(tx)
    size = funnel.won_index + 1
    opp_position = funnel.index()[funnel.opportunity_from]
    total, per_bucket, per_group = _tallies(tx, w, by, size)

    def ratios(t: Tally) -> dict[str, Any]:
        opportunities = t.reached[opp_position]
        return {
            "leads": t.leads,
            "opportunities": opportunities,
            "customers": t.customers,
            "lead_to_opportunity": calc.percent(opportunities, t.leads),
            "opportunity_to_customer": calc.percent(t.customers, opportunities),
            "lead_to_customer": calc.percent(t.customers, t.leads),
        }

    names = [*(s["key"] for s in funnel.open), (funnel.won or ["won"])[0]]
    stage_rows = []
    for i, key in enumerate(names):
        nxt = total.reached[i + 1] if i + 1 < size else None
        stage_rows.append(
            {
                "stage": key,
                "reached": total.reached[i],
                "advanced": nxt,
                "rate": calc.percent(nxt, total.reached[i]) if nxt is not None else None,
                "lost_here": total.lost_at[i],
            }
        )
    trend = _trend_rows(w, per_bucket, lambda t: ratios(t or Tally.empty(size)))
    sections = [
        Section(
            "stages",
            "Stage to stage (leads created in the period)",
            stage_rows,
            ["stage", "reached", "advanced", "rate", "lost_here"],
            ["stage", "reached", "advanced", "rate", "lost_here", "funnel"],
            chart=("stage", "reached"),
            funnel=True,
        )
    ]
    if by:
        group_rows = _group_rows(tx, w, by, per_group, ratios, trend_of="leads")
        sections.insert(
            0,
            Section(
                "groups",
                f"By {by}",
                group_rows,
                [by, *CONVERSION_COLUMNS],
                [by, *CONVERSION_COLUMNS, "trend"],
                chart=(by, "lead_to_customer"),
            ),
        )
    sections.append(_trend_section(trend, CONVERSION_COLUMNS, "lead_to_opportunity"))
    return Report(
        "conversion",
        "Conversion from stage history",
        w.describe(tx.policy.timezone) | {"by": by},
        ratios(total),
        sections,
    )


CONVERSION_COLUMNS = [
    "leads",
    "opportunities",
    "customers",
    "lead_to_opportunity",
    "opportunity_to_customer",
    "lead_to_customer",
]


def _tallies(
    tx: Tx, w: Window, by: str | None, size: int
) -> tuple[Tally, dict[int, Tally], dict[Any, dict[int, Tally]]]:
    total = Tally.empty(size)
    per_bucket: dict[int, Tally] = defaultdict(lambda: Tally.empty(size))
    per_group: dict[Any, dict[int, Tally]] = defaultdict(
        lambda: defaultdict(lambda: Tally.empty(size))
    )
    for grp, bucket, furthest, ended_lost, count, won_cents in cohort_counts(tx, w, by):
        total.add(furthest, ended_lost, count, won_cents)
        per_bucket[bucket].add(furthest, ended_lost, count, won_cents)
        per_group[grp][bucket].add(furthest, ended_lost, count, won_cents)
    return total, per_bucket, per_group


def _merge(tallies: Iterable[Tally], size: int) -> Tally:
    out = Tally.empty(size)
    for t in tallies:
        out.reached = [a + b for a, b in zip(out.reached, t.reached, strict=True)]
        out.lost_at = [a + b for a, b in zip(out.lost_at, t.lost_at, strict=True)]
        out.won_cents += t.won_cents
    return out


def _group_rows(
    tx: Tx,
    w: Window,
    by: str,
    per_group: dict[Any, dict[int, Tally]],
    figures: Callable[[Tally], dict[str, Any]],
    *,
    trend_of: str,
) -> list[dict[str, Any]]:
    """One row per group: its figures, and as "trend" the figure `trend_of` per bucket."""
    names = _names(tx)
    rows = []
    for key, by_bucket in per_group.items():
        size = len(next(iter(by_bucket.values())).reached)
        merged = _merge(by_bucket.values(), size)
        series = [
            figures(by_bucket[i])[trend_of] if i in by_bucket else 0 for i in range(len(w.buckets))
        ]
        rows.append(
            {
                by: _group_label(tx, by, key, names),
                **figures(merged),
                "trend": series,
            }
        )
    rows.sort(key=lambda r: (-r["leads"], r[by]))
    return rows


def _trend_rows(
    w: Window, per_bucket: dict[Any, Any], figures: Callable[[Any], dict[str, Any]]
) -> list[dict[str, Any]]:
    rows = []
    for i, bucket in enumerate(w.buckets):
        if i in per_bucket:
            rows.append({"bucket": bucket.label, **figures(per_bucket[i])})
        else:
            rows.append({"bucket": bucket.label, **figures(None)})
    return rows


def _trend_section(rows: list[dict[str, Any]], columns: list[str], chart: str) -> Section:
    return Section(
        "trend",
        f"Trend: {chart.replace('_', ' ')} per bucket",
        rows,
        ["bucket", *columns],
        chart=("bucket", chart),
        spark=chart,
    )


def sources(tx: Tx, options: Options) -> Report:
    """Channel effectiveness: per acquisition source (or campaign), the leads created in the
    period, how many became opportunities and customers, and the value they won."""
    by = _check_by("sources", options.by) or "source"
    w = window(tx, options)
    funnel = Funnel.of(tx)
    size = funnel.won_index + 1
    opp_position = funnel.index()[funnel.opportunity_from]
    total, _per_bucket, per_group = _tallies(tx, w, by, size)

    def figures(t: Tally) -> dict[str, Any]:
        opportunities = t.reached[opp_position]
        return {
            "leads": t.leads,
            "opportunities": opportunities,
            "customers": t.customers,
            "conversion": calc.percent(t.customers, t.leads),
            "won_value": calc.cents(t.won_cents),
        }

    rows = _group_rows(tx, w, by, per_group, figures, trend_of="leads")
    columns = [by, "leads", "opportunities", "customers", "conversion", "won_value"]
    return Report(
        "sources",
        f"Channel effectiveness by {by}",
        w.describe(tx.policy.timezone) | {"by": by},
        figures(total),
        [
            Section(
                "sources",
                f"By {by} (trend: leads per {w.bucket})",
                rows,
                columns,
                [*columns, "trend"],
                chart=(by, "won_value"),
            )
        ],
    )


# --- velocity --------------------------------------------------------------------------------


def medians(
    q: Query,
    source: str,
    *,
    prefix: str = "",
    extra: str = "",
    counts: list[tuple] | None = None,
) -> dict[Any, tuple]:
    """Per group `k` of `source` (SQL selecting columns k and v): (count, mean, median, max,
    *extra aggregates over v). The median is read in SQL by ORDER BY v with LIMIT/OFFSET at
    the middle (mean of the two middle values for an even count), one query per group: with
    an index on (k, v) no sort at all, and never a row loaded into Python. A caller that has
    (k, count, mean, max) already passes them as `counts`."""
    found: dict[Any, tuple] = {}
    if counts is None:
        counts = q.rows(
            f"{prefix} SELECT k, count(v), avg(v), max(v){extra} FROM ({source}) s GROUP BY k"
        )
    for key, n, mean, top, *more in counts:
        match = "k IS NULL" if key is None else f"k = {q.bind(key)}"
        values = f"SELECT v FROM ({source}) s WHERE {match} AND v IS NOT NULL ORDER BY v"
        found[key] = (n, mean, q.middle(values, n, prefix=prefix), top, *more)
    return found


def velocity(tx: Tx, options: Options) -> Report:
    """Median and mean days in each stage (stage changes in the period), lead-to-close time,
    and stages whose median passes the policy's stagnation limit (stale_after)."""
    w = window(tx, options)
    funnel = Funnel.of(tx)
    limits = stale_limits(tx)
    q = Query(tx)
    cte = deals(q, w)
    start, end = q.bind(w.start), q.bind(w.end)
    # without owner, campaign or scope filters every stage change counts: no join needed
    join = "JOIN deals d ON d.id = sc.lead_id " if _filtered(tx, w) else ""
    spent = (
        f"SELECT sc.from_stage AS k, sc.seconds_in_from AS v FROM stage_change sc {join}"
        "WHERE sc.from_stage IS NOT NULL "
        f"AND sc.seconds_in_from IS NOT NULL AND {q.unindexed('sc.at')} >= {start} "
        f"AND {q.unindexed('sc.at')} < {end}"
    )
    over = f", sum(CASE WHEN v > {q.case('k', limits)} THEN 1 ELSE 0 END)"
    found = medians(q, spent, prefix=f"WITH {cte}", extra=over)
    stuck = _stuck_now(q, w, limits)
    rows = []
    for stage in funnel.open:
        key = stage["key"]
        n, mean, med, longest, exceeded = found.get(key, (0, None, None, None, 0))
        limit = limits.get(key)
        rows.append(
            {
                "stage": key,
                "moves": n or 0,
                "median_days": calc.days(med),
                "mean_days": calc.days(mean),
                "max_days": calc.days(longest),
                "limit_days": calc.days(limit) if limit else None,
                "over_limit": exceeded or 0,
                "stuck_now": stuck.get(key, 0),
                "slow": bool(limit and med is not None and med > limit),
            }
        )
    for row in rows:
        row["flag"] = "over limit" if row["slow"] else ("stuck" if row["stuck_now"] else "")
    close_rows, trend = _lead_to_close(tx, w, funnel)
    summary = {
        "won_median_days": next(
            (r["median_days"] for r in close_rows if r["outcome"] == "won"), None
        ),
        "won_mean_days": next((r["mean_days"] for r in close_rows if r["outcome"] == "won"), None),
        "slow_stages": [r["stage"] for r in rows if r["slow"]],
    }
    return Report(
        "velocity",
        "Velocity: time in stage and lead to close",
        w.describe(tx.policy.timezone),
        summary,
        [
            Section(
                "stages",
                "Time in stage (moves out of it in the period; limit: stale_after)",
                rows,
                VELOCITY_COLUMNS,
                [*VELOCITY_COLUMNS[:-1], "flag"],
                chart=("stage", "median_days"),
                flag="slow",
            ),
            Section(
                "close",
                "Lead to close (created -> outcome)",
                close_rows,
                ["outcome", "deals", "median_days", "mean_days", "max_days"],
            ),
            _trend_section(trend, ["closed", "won", "mean_days_to_close"], "closed"),
        ],
    )


def _stuck_now(q: Query, w: Window, limits: dict[str, int]) -> dict[str, int]:
    """Per stage with a limit: the deals in it at the as-of instant that had been in it longer
    than the limit by then. A deal that has not moved since is read from the lead (its stage
    and entry time; every change sets stage_entered_at); one that has moved since, from its
    first change after the instant, the only one that left a stage entered by then
    (from_stage, previous_at). Two index ranges, no look-up in any deal's history."""
    if not limits:
        return {}
    as_of = q.bind(w.as_of)
    stages = q.in_list(limits)
    cut = " ".join(
        f"WHEN {q.bind(k)} THEN {q.bind(w.as_of - timedelta(seconds=s))}" for k, s in limits.items()
    )
    # without owner, campaign or scope filters every deal counts: no join needed
    prefix, join = (
        (f"WITH {deals(q, w)} ", "JOIN deals d ON d.id = s.id ") if _filtered(q.tx, w) else ("", "")
    )
    found = q.rows(
        f"{prefix}SELECT s.k, count(*) FROM ("
        "SELECT l.id, l.stage AS k, l.stage_entered_at AS since FROM lead l "
        f"WHERE l.stage IN {stages} AND l.stage_entered_at <= {as_of} "
        f"AND l.created_at <= {as_of} "
        "UNION ALL SELECT sc.lead_id, sc.from_stage, sc.previous_at FROM stage_change sc "
        f"WHERE sc.from_stage IN {stages} AND sc.at > {as_of} AND sc.previous_at <= {as_of} "
        "AND EXISTS (SELECT 1 FROM lead l WHERE l.id = sc.lead_id "
        f"AND l.created_at <= {as_of} AND l.stage_entered_at > {as_of})"
        f") s {join}WHERE s.since < (CASE s.k {cut} END) GROUP BY s.k"
    )
    return dict(found)  # type: ignore[arg-type]


VELOCITY_COLUMNS = [
    "stage",
    "moves",
    "median_days",
    "mean_days",
    "max_days",
    "limit_days",
    "over_limit",
    "stuck_now",
    "slow",
]


def _lead_to_close(tx: Tx, w: Window, funnel: Funnel) -> tuple[list[dict], list[dict]]:
    q = Query(tx)
    as_of = q.bind(w.as_of)
    # each change carries its lead's age (services.stage_facts): no lead is read unless the
    # report sees only some leads; without filters every lead created by the as-of instant
    # counts, which a change before its lead's creation (never written) would have to prove
    if _filtered(tx, w):
        prefix, join, guard = f"WITH {deals(q, w)} ", "JOIN deals d ON d.id = sc.lead_id ", ""
    else:
        prefix, join = "", ""
        # (a CASE, not OR: the planner must not turn the test into an index look-up)
        guard = (
            " AND CASE WHEN sc.seconds_since_created >= 0 THEN 1 ELSE EXISTS (SELECT 1 "
            f"FROM lead l WHERE l.id = sc.lead_id AND l.created_at <= {as_of}) END"
        )
    start, end = q.bind(w.start), q.bind(w.end)

    def closes(stages: list[str], at: str = "sc.at") -> str:
        return (
            f"FROM stage_change sc {join}WHERE sc.to_stage IN {q.in_list(stages)} "
            f"AND {at} >= {start} AND {at} < {end}{guard}"
        )

    won = q.in_list(funnel.won)
    # counts, sums and longest per bucket and outcome in one pass over the period's closes
    cells = q.rows(
        f"{prefix}SELECT {q.bucket_of('sc.at', w.buckets)} AS b, "
        f"CASE WHEN sc.to_stage IN {won} THEN 'won' ELSE 'lost' END AS outcome, "
        "count(sc.seconds_since_created), sum(sc.seconds_since_created), "
        f"max(sc.seconds_since_created) {closes(funnel.outcomes)} GROUP BY 1, 2"
    )
    n_of: dict[str, int] = defaultdict(int)
    for _b, outcome, n, _total, _longest in cells:
        n_of[outcome] += n
    # the middle one or two of each outcome, read in the order of the index by stage and
    # lead age (no sort when the outcome has one stage)
    middles = {
        outcome: q.middle(
            f"SELECT sc.seconds_since_created AS v {closes(stages, q.unindexed('sc.at'))} "
            "AND sc.seconds_since_created IS NOT NULL ORDER BY 1",
            n_of.get(outcome, 0),
            prefix=prefix,
        )
        for outcome, stages in (("won", funnel.won), ("lost", funnel.lost))
        if stages
    }
    totals: dict[str, list] = {}
    per_bucket_cells: dict[Any, list] = defaultdict(lambda: [0, 0, 0.0])
    for b, outcome, n, total, longest in cells:
        cell = totals.setdefault(outcome, [0, 0.0, longest])
        cell[0], cell[1] = cell[0] + n, cell[1] + (total or 0.0)
        cell[2] = longest if cell[2] is None else max(cell[2], longest or cell[2])
        bucket = per_bucket_cells[b]
        bucket[0] += n
        bucket[1] += n if outcome == "won" else 0
        bucket[2] += total or 0.0
    found = {
        k: (n, total / n if n else None, middles.get(k), top)
        for k, (n, total, top) in totals.items()
    }
    rows = []
    for outcome in ("won", "lost"):
        n, mean, med, longest = found.get(outcome, (0, None, None, None))
        rows.append(
            {
                "outcome": outcome,
                "deals": n or 0,
                "median_days": calc.days(med),
                "mean_days": calc.days(mean),
                "max_days": calc.days(longest),
            }
        )
    per_bucket = {
        b: (closed, won_count, total / closed)
        for b, (closed, won_count, total) in per_bucket_cells.items()
        if b is not None and closed
    }

    def figures(found_row: tuple | None) -> dict[str, Any]:
        closed, won_count, mean = found_row or (0, 0, None)
        return {"closed": closed, "won": won_count, "mean_days_to_close": calc.days(mean)}

    return rows, _trend_rows(w, per_bucket, figures)


# --- win rate --------------------------------------------------------------------------------


def win_rate(tx: Tx, options: Options) -> Report:
    """Deals closed in the period (their last outcome): won / (won + lost), by owner, source
    or opportunity type on request, with won value and a trend."""
    by = _check_by("win-rate", options.by)
    w = window(tx, options)
    funnel = Funnel.of(tx)
    q = Query(tx)
    cte = deals(q, w)
    won = q.in_list(funnel.won)
    sql = (
        f"WITH {cte}, closed AS (SELECT sc.lead_id, max(sc.id) AS id FROM stage_change sc "
        f"WHERE sc.to_stage IN {q.in_list(funnel.outcomes)} AND sc.at >= {q.bind(w.start)} "
        f"AND sc.at < {q.bind(w.end)} GROUP BY sc.lead_id) "
        f"SELECT {_group_expression(q, by)} AS grp, {q.bucket_of('sc.at', w.buckets)} AS b, "
        f"sum(CASE WHEN sc.to_stage IN {won} THEN 1 ELSE 0 END), "
        f"sum(CASE WHEN sc.to_stage IN {won} THEN 0 ELSE 1 END), "
        f"sum(CASE WHEN sc.to_stage IN {won} THEN d.amount END) "
        "FROM closed c JOIN stage_change sc ON sc.id = c.id JOIN deals d ON d.id = c.lead_id "
        "GROUP BY 1, 2"
    )
    groups: dict[Any, dict[Any, list[int]]] = defaultdict(dict)
    for grp, bucket, won_count, lost_count, won_cents in q.rows(sql):
        groups[grp][bucket] = [won_count, lost_count, won_cents or 0]

    def figures(cells: Iterable[list[int]]) -> dict[str, Any]:
        won_count = lost_count = cents = 0
        for a, b, c in cells:
            won_count, lost_count, cents = won_count + a, lost_count + b, cents + c
        return {
            "won": won_count,
            "lost": lost_count,
            "closed": won_count + lost_count,
            "win_rate": calc.percent(won_count, won_count + lost_count),
            "won_value": calc.cents(cents),
        }

    every = [cell for by_bucket in groups.values() for cell in by_bucket.values()]
    per_bucket: dict[int, list[list[int]]] = defaultdict(list)
    for by_bucket in groups.values():
        for b, cell in by_bucket.items():
            per_bucket[b].append(cell)
    trend = _trend_rows(w, per_bucket, lambda cells: figures(cells or []))
    columns = ["won", "lost", "closed", "win_rate", "won_value"]
    sections = []
    if by:
        names = _names(tx)
        rows = []
        for key, by_bucket in groups.items():
            series = [
                figures([by_bucket[i]])["win_rate"] if i in by_bucket else None
                for i in range(len(w.buckets))
            ]
            rows.append(
                {
                    by: _group_label(tx, by, key, names),
                    **figures(by_bucket.values()),
                    "trend": series,
                }
            )
        rows.sort(key=lambda r: (-r["closed"], r[by]))
        sections.append(
            Section(
                "groups",
                f"By {by} (trend: win rate per {w.bucket})",
                rows,
                [by, *columns],
                [by, *columns, "trend"],
                chart=(by, "win_rate"),
            )
        )
    sections.append(_trend_section(trend, columns, "win_rate"))
    return Report(
        "win-rate",
        "Win rate",
        w.describe(tx.policy.timezone) | {"by": by},
        figures(every),
        sections,
    )


# --- first response --------------------------------------------------------------------------


def response(tx: Tx, options: Options) -> Report:
    """First-response time per rep against the policy's standard (lead.first_response, 1
    business hour by default): median and mean minutes, and the share answered within it."""
    w = window(tx, options)
    q = Query(tx)
    as_of = q.bind(w.as_of)
    met = f"(o.met_at IS NOT NULL AND o.met_at <= {as_of})"
    source = _first_response_rows(q, w)
    taken = f"CASE WHEN {met} THEN {q.seconds('o.met_at', 'o.started_at')} END"
    # one pass for the counts per rep and bucket, and the sums the means come from; each
    # obligation is first reduced to small numbers (a fenced subquery), so the sort the
    # grouping needs moves a few bytes per obligation, not its timestamps
    found = q.rows(
        "SELECT owner_id, b, count(*), sum(answered), sum(within), sum(late_open), sum(v), "
        f"max(v) FROM (SELECT o.owner_id, {q.bucket_of('o.started_at', w.buckets)} AS b, "
        f"CASE WHEN {met} THEN 1 ELSE 0 END AS answered, "
        f"CASE WHEN {met} AND o.met_at <= o.due_at THEN 1 ELSE 0 END AS within, "
        f"CASE WHEN NOT {met} AND o.due_at <= {as_of} THEN 1 ELSE 0 END AS late_open, "
        f"{taken} AS v FROM {source}{q.fence()}) per_obligation GROUP BY 1, 2"
    )
    per = [row[:6] for row in found]
    sums: dict[Any, list] = defaultdict(lambda: [0, 0.0, None])
    for owner_id, _b, _n, answered, _w, _l, total_secs, longest in found:
        for key in (("rep", owner_id), ("all", 1)):
            cell = sums[key]
            cell[0] += answered
            cell[1] += total_secs or 0.0
            cell[2] = longest if cell[2] is None else max(cell[2], longest or cell[2])

    def counts(kind: str) -> list[tuple]:
        return [
            (k[1], n, total / n if n else None, top)
            for k, (n, total, top) in sums.items()
            if k[0] == kind
        ]

    # medians: the middle one or two answered times, read in the order of an index of
    # first-response times (per rep, or over all: migration 0012), so nothing is sorted
    spent = q.seconds("o.met_at", "o.started_at")

    def middle(n: int, index: str, rep: str = "") -> float | None:
        return q.middle(
            f"SELECT {spent} AS v FROM {_first_response_rows(q, w, index)} AND {met}{rep} "
            f"ORDER BY {spent}",
            n,
        )

    times = {
        key: (
            n,
            mean,
            middle(
                n,
                "ix_obligation_response_owner",
                " AND o.owner_id IS NULL" if key is None else f" AND o.owner_id = {q.bind(key)}",
            ),
            top,
        )
        for key, n, mean, top in counts("rep")
    }
    answered = sum(n for _k, n, _mean, _top in counts("all"))
    mean_all = next((mean for _k, _n, mean, _top in counts("all")), None)
    median_all = middle(answered, "ix_obligation_response_time")
    names = _names(tx)["user"]
    groups: dict[Any, dict[Any, list[int]]] = defaultdict(dict)
    for owner_id, bucket, total, responded, within, late_open in per:
        groups[owner_id][bucket] = [total, responded, within, late_open]

    def figures(cells: Iterable[list[int]]) -> dict[str, Any]:
        total = responded = within = late_open = 0
        for a, b, c, d in cells:
            total, responded, within, late_open = (
                total + a,
                responded + b,
                within + c,
                late_open + d,
            )
        decided = responded + late_open
        return {
            "leads": total,
            "responded": responded,
            "within_sla": within,
            "late": decided - within,
            "sla_percent": calc.percent(within, decided),
        }

    rows = []
    for owner_id, by_bucket in groups.items():
        n, mean, med, _longest = times.get(owner_id, (0, None, None, None))
        series = [
            figures([by_bucket[i]])["sla_percent"] if i in by_bucket else None
            for i in range(len(w.buckets))
        ]
        rows.append(
            {
                "rep": names.get(owner_id, "(unassigned)") if owner_id else "(unassigned)",
                **figures(by_bucket.values()),
                "median_minutes": calc.minutes(med),
                "mean_minutes": calc.minutes(mean),
                "trend": series,
            }
        )
    rows.sort(key=lambda r: r["rep"])
    spec = tx.policy.rule(FIRST_RESPONSE)
    every = [cell for by_bucket in groups.values() for cell in by_bucket.values()]
    summary = {
        "standard": f"{spec.settings.get('after')} {spec.clock}",
        **figures(every),
        "median_minutes": calc.minutes(median_all),
        "mean_minutes": calc.minutes(mean_all),
    }
    columns = [
        "rep",
        "leads",
        "responded",
        "within_sla",
        "late",
        "sla_percent",
        "median_minutes",
        "mean_minutes",
    ]
    return Report(
        "response",
        f"First response vs the {summary['standard']} standard",
        w.describe(tx.policy.timezone),
        summary,
        [
            Section(
                "reps",
                f"Per rep (trend: % within SLA per {w.bucket})",
                rows,
                columns,
                [*columns, "trend"],
                chart=("rep", "sla_percent"),
            )
        ],
        notes=["minutes are calendar time; within SLA uses the business-hours due time"],
    )


def _first_response_rows(q: Query, w: Window, index: str | None = None) -> str:
    """FROM and WHERE of the first-response obligations started in the period (cancelled
    ones aside), as `obligation o` (read through `index` when given: the planner does not
    see on its own that an index of first-response times in order saves a sort)."""
    from crmcli.services.scope import campaign_scope

    join, filters = "", ""
    allowed = campaign_scope(q.tx)
    if allowed is not None or w.campaign_id is not None:
        join = " JOIN lead l ON l.id = o.record_id"
        if allowed is not None:
            filters += f" AND l.campaign_id IN {q.in_list(sorted(allowed))}"
        if w.campaign_id is not None:
            filters += f" AND l.campaign_id = {q.bind(w.campaign_id)}"
    if w.owner_id is not None:
        filters += f" AND o.owner_id = {q.bind(w.owner_id)}"
    # the rule is a lead rule: no record_type test, so the covering index answers alone
    # the rule as a literal: the indexes of first-response times hold only its rows
    return (
        f"obligation o{q.indexed_by(index)}{join} WHERE o.rule = '{FIRST_RESPONSE}' "
        "AND o.status IN ('open', 'met') "
        f"AND o.started_at >= {q.bind(w.start)} AND o.started_at < {q.bind(w.end)}{filters}"
    )


def sla_attainment(tx: Tx, w: Window) -> dict[str, Any]:
    """First-response SLA over the window, for the dashboard (case SLAs join after merge)."""
    q = Query(tx)
    as_of = q.bind(w.as_of)
    met = f"(o.met_at IS NOT NULL AND o.met_at <= {as_of})"
    within, decided = q.rows(
        f"SELECT sum(CASE WHEN {met} AND o.met_at <= o.due_at THEN 1 ELSE 0 END), "
        f"sum(CASE WHEN {met} OR o.due_at <= {as_of} THEN 1 ELSE 0 END) "
        f"FROM {_first_response_rows(q, w)}"
    )[0]
    return {
        "sla": FIRST_RESPONSE,
        "within": within or 0,
        "decided": decided or 0,
        "percent": calc.percent(within or 0, decided or 0),
    }


# --- activity and points ---------------------------------------------------------------------

ACTIVITY_KINDS = ("call", "email", "meeting", "chat", "task")


def _month_window(tx: Tx, options: Options) -> tuple[Options, str | None]:
    """--month YYYY-MM as a --from/--to pair (month to date for the current month)."""
    if options.month is None and (options.start or options.end):
        return options, None
    from crmcli.rules.schedule import month_bounds

    as_of = _instant(tx, options.as_of, "--as-of") if options.as_of else tx.now
    try:
        label, start, end = month_bounds(options.month, now=as_of, tz=tx.policy.timezone)
    except ValueError as exc:
        raise BadInput(f"--month: {exc}") from None
    if options.start or options.end:
        raise BadInput("--month: give either --month or --from/--to, not both")
    return (
        Options(**{**options.__dict__, "start": start.isoformat(), "end": end.isoformat()}),
        label,
    )


def reps(tx: Tx, owner_id: int | None = None) -> dict[int, str]:
    """Who sells: active editors and admins (REP_ROLES), or the one --owner."""
    q = Query(tx)
    where = (
        f"id = {q.bind(owner_id)}"
        if owner_id is not None
        else f"active AND role IN {q.in_list(REP_ROLES)}"
    )
    return dict(q.rows(f'SELECT id, name FROM "user" WHERE {where} ORDER BY name'))


def activity(tx: Tx, options: Options) -> Report:
    """Calls, emails, meetings, chats and done tasks per rep, and activity points against the
    monthly quota (seed 004), with points per week as a trend."""
    options, month = _month_window(tx, options)
    w = window(tx, options)
    q = Query(tx)
    when = "CASE WHEN a.status = 'done' THEN a.done_at ELSE a.at END"
    start, end = q.bind(w.start), q.bind(w.end)
    join, filters = "", ""
    from crmcli.services.scope import campaign_scope

    allowed = campaign_scope(tx)
    if allowed is not None or w.campaign_id is not None:
        join = " JOIN lead l ON l.id = a.lead_id"
        if allowed is not None:
            filters += f" AND l.campaign_id IN {q.in_list(sorted(allowed))}"
        if w.campaign_id is not None:
            filters += f" AND l.campaign_id = {q.bind(w.campaign_id)}"
    if w.owner_id is not None:
        filters += f" AND a.user_id = {q.bind(w.owner_id)}"
    found = q.rows(
        f"SELECT a.user_id, a.type, {q.bucket_of(when, w.buckets)} AS b, count(*), "
        f"sum(a.points) FROM activity a{join} WHERE ((a.status = 'logged' AND a.at >= {start} "
        f"AND a.at < {end}) OR (a.status = 'done' AND a.done_at >= {start} "
        f"AND a.done_at < {end})){filters} GROUP BY 1, 2, 3"
    )
    people = reps(tx, w.owner_id)
    people.update(
        {uid: n for uid, n in _names(tx)["user"].items() if any(r[0] == uid for r in found)}
    )
    quota = _prorated_quota(tx.policy.activities.monthly_quota, w, month)
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    points: dict[int, dict[Any, int]] = defaultdict(lambda: defaultdict(int))
    for user_id, kind, bucket, count, earned in found:
        counts[user_id][kind] += count
        points[user_id][bucket] += earned or 0
    rows = []
    for user_id, name in sorted(people.items(), key=lambda item: item[1]):
        total = sum(points[user_id].values())
        rows.append(
            {
                "rep": name,
                **{f"{k}s": counts[user_id].get(k, 0) for k in ACTIVITY_KINDS},
                "points": total,
                "quota": quota,
                "quota_percent": calc.percent(total, quota),
                "trend": [points[user_id].get(i, 0) for i in range(len(w.buckets))],
            }
        )
    columns = ["rep", *(f"{k}s" for k in ACTIVITY_KINDS), "points", "quota", "quota_percent"]
    team = sum(r["points"] for r in rows)
    summary = {
        "month": month,
        "points": team,
        "quota": quota * len(rows),
        "quota_percent": calc.percent(team, quota * len(rows)),
        "reps_at_quota": sum(1 for r in rows if r["points"] >= quota),
    }
    return Report(
        "activity",
        f"Activity and points vs quota{f' ({month})' if month else ''}",
        w.describe(tx.policy.timezone) | {"month": month},
        summary,
        [
            Section(
                "reps",
                f"Per rep (trend: points per {w.bucket})",
                rows,
                columns,
                [*columns, "trend"],
                chart=("rep", "points"),
            )
        ],
    )


def _prorated_quota(monthly: int, w: Window, month: str | None) -> int:
    """The monthly quota, or for a free period its share (days / average month length)."""
    if month is not None:
        return int(monthly)
    length = Decimal((w.end - w.start).total_seconds()) / Decimal(86400)
    return int((Decimal(monthly) * length / Decimal("30.4375")).to_integral_value())


# --- forecast --------------------------------------------------------------------------------


def targets(tx: Tx, name: str) -> tuple[Decimal, Decimal]:
    """A rep's (monthly, quarterly) won-value target: [targets.reps.NAME] over [targets]."""
    settings = tx.policy.targets
    own = settings.reps.get(name, {})
    monthly = Decimal(str(own.get("monthly", settings.monthly)))
    quarterly = own.get("quarterly", settings.quarterly)
    quarterly_value = Decimal(str(quarterly)) if quarterly else monthly * 3
    if "monthly" in own and "quarterly" not in own:
        quarterly_value = monthly * 3
    return monthly, quarterly_value


def won_in(tx: Tx, w: Window, start: datetime, end: datetime) -> dict[Any, tuple[int, int]]:
    """Per owner (as of the window): deals that entered a won stage in [start, end), value."""
    funnel = Funnel.of(tx)
    q = Query(tx)
    cte = deals(q, w)
    return {
        owner_id: (count, cents or 0)
        for owner_id, count, cents in q.rows(
            f"WITH {cte}, won AS (SELECT DISTINCT sc.lead_id FROM stage_change sc "
            f"WHERE sc.to_stage IN {q.in_list(funnel.won)} AND sc.at >= {q.bind(start)} "
            f"AND sc.at < {q.bind(min(end, w.as_of))}) "
            "SELECT d.owner_id, count(*), sum(d.amount) FROM won "
            "JOIN deals d ON d.id = won.lead_id "
            f"GROUP BY {q.unindexed('d.owner_id')}"
        )
    }


def forecast(tx: Tx, options: Options) -> Report:
    """Per rep: open deals expected to close in the quarter (weighted by stage probability),
    what was won in it, and both against the rep's quarterly target (policy [targets])."""
    as_of = _instant(tx, options.as_of, "--as-of") if options.as_of else tx.now
    try:
        label, first, after = calc.quarter_bounds(options.quarter, now=as_of, tz=tx.policy.timezone)
    except ValueError as exc:
        raise BadInput(f"--quarter: {exc}") from None
    if options.start or options.end:
        raise BadInput("--from/--to: the forecast covers a quarter; use --quarter 2026-Q1")
    tz = tx.policy.timezone
    q_start, q_end = calc.local_midnight(first, tz), calc.local_midnight(after, tz)
    w = (
        window(
            tx,
            Options(
                **{
                    **options.__dict__,
                    "start": q_start.isoformat(),
                    "end": q_end.isoformat(),
                    "bucket": "month",
                }
            ),
        )
        if q_start < min(q_end, as_of)
        else None
    )
    if w is None:
        raise BadInput(f"--quarter: {label} has not begun at {as_of.astimezone(tz):%Y-%m-%d}")
    funnel = Funnel.of(tx)
    probability = {s["key"]: s.get("probability", 0) for s in funnel.open}
    q = Query(tx)
    cte = deals(q, w, scan=True)
    # one pass over the open deals: those closing in the quarter, and those with no date
    # (past the first stage, where a close date is expected)
    due = f"close_date >= {q.bind(first.isoformat())} AND close_date < {q.bind(after.isoformat())}"
    undated_sql = f"close_date IS NULL AND stage != {q.bind(funnel.open[0]['key'])}"
    found = q.rows(
        f"WITH {cte} SELECT owner_id, sum(CASE WHEN {due} THEN 1 ELSE 0 END), "
        f"sum(CASE WHEN {due} THEN amount END), "
        f"sum(CASE WHEN {due} THEN amount * {q.case('stage', probability, '0')} END), "
        f"sum(CASE WHEN {undated_sql} THEN 1 ELSE 0 END) FROM deals "
        # (not in owner order: the index by stage holds every column, the one by owner not)
        f"WHERE stage IN {q.in_list(probability)} GROUP BY {q.unindexed('owner_id')}"
    )
    open_rows = [(r[0], r[1], r[2] or 0, r[3] or 0) for r in found if r[1]]
    undated = {r[0]: r[4] for r in found if r[4]}
    won = won_in(tx, w, q_start, q_end)
    people = reps(tx, w.owner_id)
    names = _names(tx)["user"]
    for owner_id in {r[0] for r in open_rows} | set(won) | set(undated):
        if owner_id is not None and (w.owner_id is None or owner_id == w.owner_id):
            people.setdefault(owner_id, names.get(owner_id, str(owner_id)))
    by_owner = {r[0]: r[1:] for r in open_rows}
    rows = []
    for owner_id, name in sorted(people.items(), key=lambda item: item[1]):
        rows.append(
            _forecast_row(
                tx, name, by_owner.get(owner_id), won.get(owner_id), undated.get(owner_id, 0)
            )
        )
    if None in by_owner or None in won:
        rows.append(
            _forecast_row(
                tx,
                "(unassigned)",
                by_owner.get(None),
                won.get(None),
                undated.get(None, 0),
                target=False,
            )
        )
    total = {
        "quarter": label,
        **{
            k: sum((r[k] for r in rows), Decimal("0.00"))
            for k in ("pipeline", "weighted", "won", "forecast", "target")
        },
    }
    total["attainment"] = calc.percent(total["won"], total["target"])
    total["forecast_percent"] = calc.percent(total["forecast"], total["target"])
    columns = [
        "rep",
        "deals",
        "pipeline",
        "weighted",
        "won_deals",
        "won",
        "forecast",
        "target",
        "attainment",
        "forecast_percent",
        "gap",
        "undated",
    ]
    return Report(
        "forecast",
        f"Forecast {label}: weighted pipeline + won vs target",
        w.describe(tz) | {"quarter": label},
        total,
        [
            Section(
                "reps",
                "Per rep (deals closing in the quarter; undated: open deals with no close date)",
                rows,
                columns,
                chart=("rep", "forecast"),
            )
        ],
    )


def _forecast_row(
    tx: Tx,
    name: str,
    open_row: tuple | None,
    won: tuple | None,
    undated: int,
    *,
    target: bool = True,
) -> dict[str, Any]:
    count, cents, weighted_hundredths = open_row or (0, 0, 0)
    won_count, won_cents = won or (0, 0)
    goal = targets(tx, name)[1] if target else Decimal("0.00")
    weighted = calc.weighted_cents(weighted_hundredths, 1)
    forecast_value = calc.cents(won_cents) + weighted
    return {
        "rep": name,
        "deals": count,
        "pipeline": calc.cents(cents),
        "weighted": weighted,
        "won_deals": won_count,
        "won": calc.cents(won_cents),
        "forecast": forecast_value,
        "target": goal.quantize(Decimal("0.01")),
        "attainment": calc.percent(calc.cents(won_cents), goal),
        "forecast_percent": calc.percent(forecast_value, goal),
        "gap": max(goal - forecast_value, Decimal("0.00")).quantize(Decimal("0.01")),
        "undated": undated,
    }


# --- dashboard -------------------------------------------------------------------------------


def overdue_per_rep(tx: Tx, w: Window) -> list[dict[str, Any]]:
    """Open obligations past due at the as-of instant, per owner (the obligation table)."""
    q = Query(tx)
    as_of = q.bind(w.as_of)
    scope = ""
    from crmcli.services.scope import campaign_scope

    allowed = campaign_scope(tx)
    if allowed is not None:
        scope = (
            " AND record_type = 'lead' AND record_id IN (SELECT id FROM lead WHERE campaign_id "
            f"IN {q.in_list(sorted(allowed))})"
        )
    if w.owner_id is not None:
        scope += f" AND owner_id = {q.bind(w.owner_id)}"
    if w.historic:
        # never met, or met after the instant: only one met late can have been due by then
        # (each arm reads its own index; met_at > due_at literally, for the partial one)
        due = f"status != 'cancelled' AND started_at <= {as_of} AND due_at <= {as_of}{scope}"
        overdue = (
            f"SELECT owner_id FROM obligation WHERE met_at IS NULL AND {due} UNION ALL "
            f"SELECT owner_id FROM obligation WHERE met_at > due_at AND met_at > {as_of} AND {due}"
        )
    else:  # a literal, so SQLite can use the partial index of open obligations
        overdue = (
            f"SELECT owner_id FROM obligation WHERE status = 'open' AND due_at <= {as_of}{scope}"
        )
    names = _names(tx)["user"]
    rows = [
        {"rep": names.get(owner_id, "(unassigned)") if owner_id else "(unassigned)", "overdue": n}
        for owner_id, n in q.rows(f"SELECT owner_id, count(*) FROM ({overdue}) o GROUP BY owner_id")
    ]
    rows.sort(key=lambda r: (-r["overdue"], r["rep"]))
    return rows


def dashboard(tx: Tx, options: Options) -> Report:
    """One screen for a manager: the funnel, this month's won value against the team's target,
    overdue obligations per rep, and SLA attainment (first response)."""
    from crmcli.rules.schedule import month_bounds

    as_of = _instant(tx, options.as_of, "--as-of") if options.as_of else tx.now
    label, month_start, month_end = month_bounds(None, now=as_of, tz=tx.policy.timezone)
    month_start = month_start.astimezone(UTC)
    w = window(
        tx,
        Options(
            **{**options.__dict__, "start": month_start.isoformat(), "end": None, "bucket": "week"}
        ),
        empty_ok=True,  # --as-of the first of a month, midnight: nothing of it has passed yet
    )
    pipe = pipeline(
        tx, Options(owner=options.owner, pipeline=options.pipeline, as_of=options.as_of)
    )
    won = won_in(tx, w, month_start, month_end.astimezone(UTC))
    people = reps(tx, w.owner_id)
    target = sum((targets(tx, name)[0] for name in people.values()), Decimal("0.00"))
    won_value = calc.cents(sum(cents for _count, cents in won.values()))
    sla = sla_attainment(tx, w)
    overdue = overdue_per_rep(tx, w)
    summary = {
        "month": label,
        "won_deals": sum(count for count, _cents in won.values()),
        "won_value": won_value,
        "target": target.quantize(Decimal("0.01")),
        "target_percent": calc.percent(won_value, target),
        "open_value": pipe.summary["open_value"],
        "weighted_value": pipe.summary["weighted_value"],
        "overdue": sum(r["overdue"] for r in overdue),
        "first_response_sla_percent": sla["percent"],
        "first_response_within": sla["within"],
        "first_response_decided": sla["decided"],
        **{f"case_sla_{key}": value for key, value in case_sla(tx, w).items()},
    }
    funnel = pipe.sections[0]
    return Report(
        "dashboard",
        f"Sales dashboard, {label}",
        w.describe(tx.policy.timezone),
        summary,
        [
            Section(
                "funnel",
                "Pipeline funnel",
                funnel.rows,
                funnel.columns,
                ["stage", "count", "value", "weighted", "funnel"],
                chart=("stage", "count"),
                funnel=True,
            ),
            Section(
                "overdue",
                "Overdue obligations per rep",
                overdue,
                ["rep", "overdue"],
                ["rep", "overdue", "bar"],
                chart=("rep", "overdue"),
            ),
        ],
        notes=["SLA attainment: first response to new leads; case SLAs of cases opened this month"],
    )


# --- service cases ---------------------------------------------------------------------------

CASE_SEVERITIES = ("urgent", "high", "normal", "low")
CASE_AGES = (
    ("under_1d", 0, 1),
    ("d1_3", 1, 3),
    ("d3_7", 3, 7),
    ("d7_30", 7, 30),
    ("over_30d", 30, None),
)
# (name, low, high) -> the header people read: "< 1 d", "1–3 d", … "≥ 30 d"
CASE_AGE_LABELS = {
    name: f"< {high} d" if low == 0 else f"≥ {low} d" if high is None else f"{low}–{high} d"
    for name, low, high in CASE_AGES
}
CASE_RULES = ("case.ack", "case.resolve")


def _case_sla_rows(tx: Tx, w: Window) -> list[tuple]:
    """(severity, rule, decided, within) for case SLAs that started in the window: decided
    once met or past due by the as-of instant (a paused clock decides nothing yet)."""
    q = Query(tx)
    as_of = q.bind(w.as_of)
    met = f"(o.met_at IS NOT NULL AND o.met_at <= {as_of})"
    owner = f" AND c.owner_id = {q.bind(w.owner_id)}" if w.owner_id is not None else ""
    late = f"(o.due_at <= {as_of} AND o.status <> 'paused')"
    return q.rows(
        f"SELECT c.severity, o.rule, "
        f"sum(CASE WHEN {met} OR {late} THEN 1 ELSE 0 END), "
        f"sum(CASE WHEN {met} AND o.met_at <= o.due_at THEN 1 ELSE 0 END) "
        f"FROM obligation o JOIN service_case c ON c.id = o.record_id "
        f"WHERE o.record_type = 'case' AND o.rule IN {q.in_list(CASE_RULES)} "
        f"AND o.started_at >= {q.bind(w.start)} AND o.started_at < {q.bind(w.end)} "
        f"AND o.started_at <= {as_of} AND o.status <> 'cancelled'{owner} "
        "GROUP BY c.severity, o.rule"
    )


def case_sla(tx: Tx, w: Window) -> dict[str, Any]:
    """Case SLA attainment over the window (acknowledgement and resolution together)."""
    decided = within = 0
    for _severity, _rule, d, n in _case_sla_rows(tx, w):
        decided, within = decided + (d or 0), within + (n or 0)
    return {"within": within, "decided": decided, "percent": calc.percent(within, decided)}


def cases(tx: Tx, options: Options) -> Report:
    """Service cases: what is open by age and severity, and SLA attainment (acknowledged and
    resolved within the policy's time per severity) for cases opened in the period."""
    w = window(tx, options)
    q = Query(tx)
    as_of = q.bind(w.as_of)
    age = f"({q.seconds(as_of, 'c.opened_at')} / 86400.0)"
    arms = [
        f"sum(CASE WHEN {age} >= {low}"
        + (f" AND {age} < {high}" if high else "")
        + " THEN 1 ELSE 0 END)"
        for _name, low, high in CASE_AGES
    ]
    owner = f" AND c.owner_id = {q.bind(w.owner_id)}" if w.owner_id is not None else ""
    found = q.rows(
        f"SELECT c.severity, count(*), {', '.join(arms)} FROM service_case c "
        f"WHERE c.opened_at <= {as_of} AND (c.resolved_at IS NULL OR c.resolved_at > {as_of})"
        f"{owner} GROUP BY c.severity"
    )
    by_severity = {row[0]: row[1:] for row in found}
    open_rows = []
    for severity in CASE_SEVERITIES:
        counts = by_severity.get(severity, (0,) * (len(CASE_AGES) + 1))
        row = {"severity": severity, "open": counts[0]}
        row |= {name: counts[i + 1] for i, (name, _low, _high) in enumerate(CASE_AGES)}
        open_rows.append(row)
    sla: dict[tuple[str, str], tuple[int, int]] = {
        (severity, rule): (d or 0, n or 0) for severity, rule, d, n in _case_sla_rows(tx, w)
    }
    sla_rows = []
    for severity in CASE_SEVERITIES:
        row: dict[str, Any] = {"severity": severity}
        for rule in CASE_RULES:
            decided, within = sla.get((severity, rule), (0, 0))
            kind = rule.split(".")[1]
            row |= {
                f"{kind}_decided": decided,
                f"{kind}_within": within,
                f"{kind}_percent": calc.percent(within, decided),
            }
        sla_rows.append(row)
    overall = case_sla(tx, w)
    summary = {
        "open_cases": sum(r["open"] for r in open_rows),
        "open_over_7d": sum(r["d7_30"] + r["over_30d"] for r in open_rows),
        "sla_within": overall["within"],
        "sla_decided": overall["decided"],
        "sla_percent": overall["percent"],
    }
    age_columns = ["severity", "open", *(name for name, _low, _high in CASE_AGES)]
    kinds = [f"{k}_{m}" for k in ("ack", "resolve") for m in ("decided", "within", "percent")]
    return Report(
        "cases",
        "Service cases: open by age, SLA attainment",
        w.describe(tx.policy.timezone),
        summary,
        [
            Section(
                "open",
                "Open cases by age (days)",
                open_rows,
                age_columns,
                chart=("severity", "open"),
                labels=CASE_AGE_LABELS,
            ),  # fmt: skip
            Section(
                "sla",
                "SLA attainment of cases opened in the period",
                sla_rows,
                ["severity", *kinds],
                chart=("severity", "resolve_percent"),
            ),  # fmt: skip
        ],
    )


def _sla(tx: Tx, options: Options) -> Report:
    from crmcli.services.sla import sla  # its own module; it builds on the helpers here

    return sla(tx, options)


# name -> builder; `crm report NAME` runs REPORTS[NAME].
REPORTS: dict[str, Callable[[Tx, Options], Report]] = {
    "pipeline": pipeline,
    "conversion": conversion,
    "velocity": velocity,
    "win-rate": win_rate,
    "sources": sources,
    "response": response,
    "activity": activity,
    "forecast": forecast,
    "dashboard": dashboard,
    "cases": cases,
    "sla": _sla,
}


MMAP_BYTES = 1 << 31  # SQLite clamps it to what it was built to allow


def build(tx: Tx, name: str, options: Options) -> Report:
    connection = tx.session.connection()
    if connection.dialect.name == "sqlite":
        # reports read large index ranges: mapped pages are read without a copy or a system
        # call per page (this connection only; it closes with the command)
        connection.exec_driver_sql(f"PRAGMA mmap_size = {MMAP_BYTES}")
    return REPORTS[name](tx, options)
