"""Which obligations a record owes under the policy (SPEC §4), as pure functions.

Each rule is a function from a record's facts to the obligations it creates. Rules are
registered per record type; a later rule (cases, quotes, accounts) is added by registering
a function, and every report reads the stored result, never these functions directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from crmcli.rules.calendar import BusinessCalendar, due_after
from crmcli.rules.durations import parse_duration
from crmcli.rules.policy import Policy


@dataclass(frozen=True)
class Due:
    """One obligation: due at `due_at`; met at `met_at` (by `met_by`) or still open."""

    rule: str
    title: str
    started_at: datetime
    due_at: datetime
    key: str = ""
    met_at: datetime | None = None
    met_by: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    paused: bool = False  # the clock stands still (a case waiting on the customer)


@dataclass(frozen=True)
class Task:
    id: int
    title: str
    due_at: datetime
    status: str  # open | done | cancelled
    done_at: datetime | None = None
    done_by: str | None = None
    serves: str | None = None  # the rule a reminder task was created for (by `crm tick`)


@dataclass(frozen=True)
class Touch:
    """An outbound contact with the lead (call, email, chat, meeting)."""

    at: datetime
    by: str
    type: str


@dataclass(frozen=True)
class LeadFacts:
    id: int
    kind: str  # lead | opportunity
    stage: str
    status: str
    acquired_at: datetime
    created_at: datetime
    created_by: str
    assigned_at: datetime | None = None
    stage_entered_at: datetime | None = None
    touches: tuple[Touch, ...] = ()  # outbound, oldest first
    tasks: tuple[Task, ...] = ()
    label: str = ""  # "Ada Lovelace, Analytical Engines": shown in every obligation's title
    inbound: tuple[Touch, ...] = ()  # replies and inbound contacts, oldest first
    is_customer: bool = False  # the lead's account has won business
    updated_at: datetime | None = None
    close_date: date | None = None
    # the opportunity's last weekly update: next step and future close date left in place
    weekly_update_at: datetime | None = None

    def titled(self, text: str) -> str:
        return f"{text}: {self.label}" if self.label else text


Rule = Callable[[Any, Policy, BusinessCalendar], list[Due]]
RULES: dict[str, list[tuple[str, Rule]]] = {}


def rule(record_type: str, rule_id: str) -> Callable[[Rule], Rule]:
    def register(function: Rule) -> Rule:
        RULES.setdefault(record_type, []).append((rule_id, function))
        return function

    return register


def obligations(record_type: str, facts: Any, policy: Policy, calendar: BusinessCalendar):
    """Every obligation the record owes now, from every registered rule."""
    found: list[Due] = []
    for _rule_id, function in RULES.get(record_type, []):
        found += function(facts, policy, calendar)
    return found


def is_closed(lead: LeadFacts, policy: Policy) -> bool:
    stage = policy.stage(lead.stage) or {}
    return "outcome" in stage or lead.status in ("won", "lost")


def _first_touch(lead: LeadFacts, after: datetime) -> Touch | None:
    return min((t for t in lead.touches if t.at >= after), key=lambda t: t.at, default=None)


@rule("lead", "lead.entry")
def lead_entry(lead: LeadFacts, policy: Policy, calendar: BusinessCalendar) -> list[Due]:
    due = due_after(policy, calendar, lead.acquired_at, "lead.entry")
    return [
        Due(
            "lead.entry",
            lead.titled("enter the lead"),
            lead.acquired_at,
            due,
            met_at=lead.created_at,
            met_by=lead.created_by,
        )
    ]


@rule("lead", "lead.first_response")
def lead_first_response(lead: LeadFacts, policy: Policy, calendar: BusinessCalendar) -> list[Due]:
    touch = _first_touch(lead, lead.created_at) or _first_touch(lead, lead.acquired_at)
    if touch is None and (is_closed(lead, policy) or lead.kind != "lead"):
        return []
    due = due_after(policy, calendar, lead.created_at, "lead.first_response")
    return [
        Due(
            "lead.first_response",
            lead.titled("first response"),
            lead.created_at,
            due,
            met_at=touch.at if touch else None,
            met_by=touch.by if touch else None,
        )
    ]


@rule("lead", "lead.follow_up")
def lead_follow_up(lead: LeadFacts, policy: Policy, calendar: BusinessCalendar) -> list[Due]:
    if lead.assigned_at is None:
        return []
    touch = _first_touch(lead, lead.assigned_at)
    if touch is None and is_closed(lead, policy):
        return []
    due = due_after(policy, calendar, lead.assigned_at, "lead.follow_up")
    return [
        Due(
            "lead.follow_up",
            lead.titled("follow up"),
            lead.assigned_at,
            due,
            met_at=touch.at if touch else None,
            met_by=touch.by if touch else None,
        )
    ]


@rule("lead", "task.due")
def scheduled_tasks(lead: LeadFacts, policy: Policy, calendar: BusinessCalendar) -> list[Due]:
    return [
        Due(
            "task.due",
            lead.titled(task.title),
            task.due_at,
            task.due_at,
            key=str(task.id),
            met_at=task.done_at,
            met_by=task.done_by,
            detail={"task": task.id},
        )
        for task in lead.tasks
        # a reminder created for another rule's obligation is watched by that obligation
        if task.status in ("open", "done") and not task.serves
    ]


@rule("lead", "opportunity.next_step")
def opportunity_next_step(lead: LeadFacts, policy: Policy, calendar: BusinessCalendar):
    if lead.kind != "opportunity" or is_closed(lead, policy):
        return []
    if not policy.data["rules"]["opportunity.next_step"].get("required", True):
        return []
    if any(task.status == "open" for task in lead.tasks):
        return []  # an open next step exists; its own task.due obligation watches the date
    last_done = max((t.done_at for t in lead.tasks if t.done_at), default=None)
    started = max(d for d in (lead.stage_entered_at, last_done, lead.created_at) if d)
    return [Due("opportunity.next_step", lead.titled("schedule a next step"), started, started)]


def _first_touch_between(lead: LeadFacts, after: datetime, until: datetime | None):
    return next(
        (t for t in lead.touches if t.at > after and (until is None or t.at <= until)), None
    )


@rule("lead", "lead.cadence")
def lead_cadence(lead: LeadFacts, policy: Policy, calendar: BusinessCalendar) -> list[Due]:
    """Touches on day 1, 3, 7, 14 after a first contact that got no reply, then monthly
    re-engagement. A reply ends the cadence; qualified and closed leads leave it."""
    if lead.kind != "lead" or is_closed(lead, policy) or not lead.touches:
        return []
    settings = policy.data["rules"]["lead.cadence"]
    first = lead.touches[0].at
    replied = next((t.at for t in lead.inbound if t.at >= first), None)
    dues: list[Due] = []
    previous = first
    for day in settings["days"]:
        due = first + timedelta(days=day)
        if replied is not None and replied <= previous:
            return dues
        touch = _first_touch_between(lead, previous, None)
        dues.append(
            Due(
                "lead.cadence",
                lead.titled(f"day {day} touch"),
                previous,
                due,
                key=f"day{day}",
                met_at=touch.at if touch else None,
                met_by=touch.by if touch else None,
            )
        )
        previous = touch.at if touch else due
    # the cadence is exhausted: the lead is inactive; re-engage it every `reengage`
    every = parse_duration(settings["reengage"])
    count = 0
    while replied is None or replied > previous:
        due = previous + every
        touch = _first_touch_between(lead, previous, None)
        dues.append(
            Due(
                "lead.cadence",
                lead.titled("monthly re-engagement"),
                previous,
                due,
                key=f"reengage{count + 1}",
                met_at=touch.at if touch else None,
                met_by=touch.by if touch else None,
                detail={"inactive": True},
            )
        )
        if touch is None:
            break
        previous, count = touch.at, count + 1
    return dues


@rule("lead", "customer.response")
def customer_response(lead: LeadFacts, policy: Policy, calendar: BusinessCalendar) -> list[Due]:
    """Every inbound contact from an existing customer is answered within the policy's time."""
    if not lead.is_customer:
        return []
    dues = []
    for number, message in enumerate(lead.inbound, start=1):
        answer = _first_touch_between(lead, message.at, None)
        due = due_after(policy, calendar, message.at, "customer.response")
        dues.append(
            Due(
                "customer.response",
                lead.titled(f"answer the customer's {message.type}"),
                message.at,
                due,
                key=str(number),
                met_at=answer.at if answer else None,
                met_by=answer.by if answer else None,
            )
        )
    return dues


@rule("lead", "opportunity.weekly_update")
def weekly_update(lead: LeadFacts, policy: Policy, calendar: BusinessCalendar) -> list[Due]:
    if lead.kind != "opportunity" or is_closed(lead, policy):
        return []
    # only an update that left a next step and a future close date restarts the week
    last = lead.weekly_update_at or lead.updated_at or lead.created_at
    missing = [
        what
        for what, ok in (
            ("next step", any(t.status == "open" for t in lead.tasks)),
            ("close date", lead.close_date is not None),
        )
        if not ok
    ]
    title = "weekly update" + (f" (set {' and '.join(missing)})" if missing else "")
    return [
        Due(
            "opportunity.weekly_update",
            lead.titled(title),
            last,
            due_after(policy, calendar, last, "opportunity.weekly_update"),
            detail={"missing": missing},
        )
    ]


@rule("lead", "opportunity.stale")
def stale_in_stage(lead: LeadFacts, policy: Policy, calendar: BusinessCalendar) -> list[Due]:
    stage = policy.stage(lead.stage) or {}
    if is_closed(lead, policy) or not stage.get("stale_after") or lead.status == "nurture":
        return []
    entered = lead.stage_entered_at or lead.created_at
    suggest = policy.data["rules"]["opportunity.stale"]["suggest"]
    return [
        Due(
            "opportunity.stale",
            lead.titled(f"stale in {lead.stage}; move on or to {' or '.join(suggest)}"),
            entered,
            entered + parse_duration(stage["stale_after"]),
            key=lead.stage,
            detail={"suggest": suggest},
        )
    ]


# rules of other record types (accounts, contacts, cases, …) register themselves on import
from crmcli.rules import account_rules as _accounts  # noqa: E402, F401, I001
from crmcli.rules import cases as _cases  # noqa: E402, F401, I001
