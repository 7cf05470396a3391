"""`crm report sla`: what became of every obligation the policy set, per rule and per rep
(rules/attainment.py names the outcomes), and each breach on its own line.

The obligations counted are those that started in the period (`--from/--to`, default the
13 weeks up to now), as the response report counts first responses. Counts are one pass of
SQL over the obligations' index of rule, owner and start time: a range of that index per
rule and owner (the rules and owners found by stepping through the index, not a scan), so
each obligation in the period is read once from the index and never from its row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from crmcli.errors import BadInput
from crmcli.rules.attainment import BREACHES, OUTCOMES, Tally, lateness, outcome
from crmcli.services.analytics import Options, Query, Report, Section, Window, _names, window
from crmcli.services.workspace import Tx

BREACH_FIELDS = (
    "rule",
    "record_type",
    "record_id",
    "title",
    "owner",
    "started_at",
    "due_at",
    "met_at",
    "outcome",
    "lateness_seconds",
)
LABELS = {
    "met_on_time": "on time",
    "met_late": "late",
    "open_overdue": "overdue",
    "open_not_due": "not due",
    "attainment_percent": "attainment %",
}
# the obligations' covering index of rule, owner and start time (migration 0009)
RULE_OWNER_INDEX = "ix_obligation_rule_owner_started"


def known_rules(tx: Tx) -> list[str]:
    """Rule ids a report may name: the policy's and the scheduled tasks'."""
    from crmcli.services.reports import SCHEDULED_RULES

    return [*tx.policy.rule_ids, *SCHEDULED_RULES]


def check_rule(tx: Tx, rule: str | None) -> str | None:
    if rule is not None and rule not in known_rules(tx):
        raise BadInput(f"--rule: {rule!r} is not a rule; use one of {', '.join(known_rules(tx))}")
    return rule


def _filters(q: Query, w: Window, rule: str | None) -> str:
    """The period, --rule, --owner and the user's campaign scope, as SQL on `obligation o`."""
    from crmcli.services.scope import campaign_scope

    sql = f" AND o.started_at >= {q.bind(w.start)} AND o.started_at < {q.bind(w.end)}"
    if rule is not None:
        sql += f" AND o.rule = {q.bind(rule)}"
    if w.owner_id is not None:
        sql += f" AND o.owner_id = {q.bind(w.owner_id)}"
    allowed = campaign_scope(q.tx)
    if allowed is not None:
        # leads of the user's campaigns and their quotes; cases, accounts and contacts belong
        # to no campaign (as in the overdue report)
        leads = f"SELECT id FROM lead WHERE campaign_id IN {q.in_list(sorted(allowed))}"
        quotes = f"SELECT id FROM quote WHERE lead_id IN ({leads})"
        sql += (
            f" AND ((o.record_type = 'lead' AND o.record_id IN ({leads})) "
            f"OR (o.record_type = 'quote' AND o.record_id IN ({quotes})))"
        )
    return sql


def _groups(q: Query, w: Window, rule: str | None) -> list[tuple]:
    """(rule, owner_id, status, count, met on time, met late, past due) per group."""
    as_of = q.bind(w.as_of)
    where = _filters(q, w, rule)
    if q.dialect != "sqlite":
        return q.rows(
            "SELECT o.rule, o.owner_id, o.status, count(*), "
            "sum(CASE WHEN o.met_at IS NOT NULL AND o.met_at <= o.due_at THEN 1 ELSE 0 END), "
            "sum(CASE WHEN o.met_at IS NOT NULL AND o.met_at > o.due_at THEN 1 ELSE 0 END), "
            f"sum(CASE WHEN o.due_at <= {as_of} THEN 1 ELSE 0 END) "
            f"FROM obligation o WHERE 1 = 1{where} GROUP BY o.rule, o.owner_id, o.status"
        )
    # SQLite: one range of the index of rule, owner, status and start time per group, read
    # in index order with no GROUP BY (which would sort every obligation): counting a range
    # steps through it, and only met and open ones compare a time. The rules and statuses
    # present are found by stepping through indexes (a seek each); owners are the users.
    steps = "WITH RECURSIVE " + ", ".join(
        f"{name}(v) AS (SELECT min({column}) FROM obligation UNION ALL SELECT (SELECT "
        f"min(x.{column}) FROM obligation x WHERE x.{column} > {name}.v) FROM {name} "
        f"WHERE {name}.v IS NOT NULL)"
        for name, column in (("rules", "rule"), ("statuses", "status"))
    )
    owners = 'owners(v) AS (SELECT id FROM "user" UNION ALL SELECT NULL)'
    pairs = "pairs AS (SELECT r.v AS rule, w.v AS owner FROM rules r CROSS JOIN owners w "
    pairs += "WHERE r.v IS NOT NULL)"

    def ranges(status: str, also: str) -> str:
        return (
            f"(SELECT count(*) || ' ' || {also} FROM obligation o"
            f"{q.indexed_by(RULE_OWNER_INDEX)} WHERE o.rule = p.rule AND o.owner_id IS p.owner "
            f"AND o.status = {status}{where})"
        )

    met = ranges("'met'", "coalesce(sum(o.met_at > o.due_at), 0)")
    opened = ranges("'open'", f"coalesce(sum(o.due_at <= {as_of}), 0)")
    found = q.rows(
        f"{steps}, {owners}, {pairs} "
        f"SELECT p.rule, p.owner, 'met', {met} FROM pairs p UNION ALL "
        f"SELECT p.rule, p.owner, 'open', {opened} FROM pairs p UNION ALL "
        f"SELECT p.rule, p.owner, s.v, {ranges('s.v', '0')} FROM pairs p CROSS JOIN statuses s "
        "WHERE s.v NOT IN ('met', 'open')"
    )
    groups = []
    for rule_id, owner_id, status, text in found:
        total, marked = map(int, text.split())
        if not total:
            continue
        if status == "met":
            groups.append((rule_id, owner_id, status, total, total - marked, marked, 0))
        else:
            groups.append((rule_id, owner_id, status, total, 0, 0, marked))
    return groups


def sla(tx: Tx, options: Options) -> Report:
    """Per rule and per rep: obligations met on time, met late, open and overdue, open and
    not yet due, paused, lapsed, cancelled, and attainment (on time of those decided)."""
    rule = check_rule(tx, options.rule)
    w = window(tx, options)
    q = Query(tx)
    names = _names(tx)["user"]
    by_rule: dict[str, Tally] = {}
    by_rep: dict[str, Tally] = {}
    detail: dict[tuple[str, str], Tally] = {}
    everything = Tally()
    for rule_id, owner_id, status, total, on_time, late, past_due in _groups(q, w, rule):
        rep = names.get(owner_id, "(unassigned)") if owner_id is not None else "(unassigned)"
        for tally in (
            by_rule.setdefault(rule_id, Tally()),
            by_rep.setdefault(rep, Tally()),
            detail.setdefault((rule_id, rep), Tally()),
            everything,
        ):
            tally.group(status, total or 0, on_time or 0, late or 0, past_due or 0)
    # statuses beyond the known outcomes (a later rule's) get their own column
    seen = [name for name in everything.counts if name not in OUTCOMES]
    counted = [*OUTCOMES, *seen]
    columns = [*counted, "total", "attainment_percent"]

    def row(tally: Tally, **keys: str) -> dict[str, Any]:
        counts = {name: tally.counts.get(name, 0) for name in counted}
        return {**keys, **counts, "total": tally.total, "attainment_percent": tally.attainment}

    rule_rows = [row(by_rule[r], rule=r) for r in sorted(by_rule)]
    rep_rows = [row(by_rep[r], rep=r) for r in sorted(by_rep)]
    detail_rows = [row(detail[k], rule=k[0], rep=k[1]) for k in sorted(detail)]
    summary: dict[str, Any] = {
        "rule": rule or "all",
        **{name: everything.counts.get(name, 0) for name in counted},
        "total": everything.total,
        "breaches": everything.breaches,
        "attainment_percent": everything.attainment,
    }
    sections = [
        Section(
            "rules",
            "Per rule",
            rule_rows,
            ["rule", *columns],
            chart=("rule", "attainment_percent"),
            labels=LABELS,
        ),
        Section(
            "reps",
            "Per rep",
            rep_rows,
            ["rep", *columns],
            chart=("rep", "attainment_percent"),
            labels=LABELS,
        ),
        Section(
            "rules_by_rep",
            "Per rule and rep",
            detail_rows,
            ["rule", "rep", *columns],
            labels=LABELS,
        ),
    ]
    if options.breaches:
        sections.append(
            Section(
                "breaches",
                "Breaches: met late, overdue, lapsed",
                [for_people(found) for found in breaches(tx, options)],
                list(BREACH_FIELDS),
                list(BREACH_TABLE),
            )
        )
    return Report(
        "sla",
        "SLA attainment: what became of every obligation",
        w.describe(tx.policy.timezone),
        summary,
        sections,
        notes=[
            "obligations that started in the period; attainment = on time ÷ (on time + late "
            "+ overdue + lapsed)"
        ],
        main="breaches" if options.breaches else "rules_by_rep",
    )


def breaches(tx: Tx, options: Options) -> Iterator[tuple[Any, ...]]:
    """Each breach (met late, open and overdue, lapsed) of the obligations that started in
    the period, in BREACH_FIELDS order, by owner then due time: streamed (there may be
    millions)."""
    rule = check_rule(tx, options.rule)
    w = window(tx, options)
    q = Query(tx)
    as_of = q.bind(w.as_of)
    late = (
        f"((o.status = 'met' AND o.met_at > o.due_at) "
        f"OR (o.status = 'open' AND o.due_at <= {as_of}) OR o.status = 'lapsed')"
    )
    sql = (
        "SELECT o.rule, o.record_type, o.record_id, o.title, u.name, o.started_at, o.due_at, "
        'o.met_at, o.status FROM obligation o LEFT JOIN "user" u ON u.id = o.owner_id '
        f"WHERE {late}{_filters(q, w, rule)} "
        "ORDER BY u.name IS NOT NULL, u.name, o.due_at, o.id"
    )
    found = q.stream(sql, times=("started_at", "due_at", "met_at"))
    for rule_id, record_type, record_id, title, owner, started, due, met, status in found:
        kind = outcome(status, met, due, w.as_of)
        if kind not in BREACHES:
            continue
        late_by = lateness(status, met, due, w.as_of)
        yield (
            rule_id,
            record_type,
            record_id,
            title,
            owner,
            started,
            due,
            met,
            kind,
            None if late_by is None else int(late_by.total_seconds()),
        )


BREACH_TABLE = ("rule", "record", "title", "owner", "due_at", "met_at", "outcome", "late_by")


def for_people(found: tuple[Any, ...]) -> dict[str, Any]:
    """A breach as the table and the HTML page show it: with its record and how late."""
    from datetime import timedelta

    from crmcli.rules.durations import format_duration

    item = dict(zip(BREACH_FIELDS, found, strict=True))
    seconds = item["lateness_seconds"]
    item["record"] = f"{item['record_type']} {item['record_id']}"
    item["late_by"] = "lapsed" if seconds is None else format_duration(timedelta(seconds=seconds))
    return item
