"""Which obligations a record owes under the policy (SPEC §4), as pure functions.

Each rule is a function from a record's facts to the obligations it creates. Rules are
registered per record type; a later rule (cases, quotes, accounts) is added by registering
a function, and every report reads the stored result, never these functions directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from crmcli.rules import closing, touches
from crmcli.rules.calendar import BusinessCalendar, Schedule, due_after, person_due, schedule_of
from crmcli.rules.durations import parse_duration
from crmcli.rules.policy import Policy

ATTEMPT = frozenset({"attempt"})
REPLY = frozenset({"reply"})


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
    ended: str = ""  # "cancelled" or "lapsed": the record closed before it was met
    met_with: int | None = None  # the activity that met it
    arose_at: datetime | None = None  # when it came to exist, if not when it started

    @property
    def status(self) -> str:
        """met, paused, cancelled, lapsed or open (rules/closing.py names them)."""
        if self.met_at is not None:
            return closing.MET
        if self.paused:
            return closing.PAUSED
        return self.ended or closing.OPEN


@dataclass(frozen=True)
class Task:
    id: int
    title: str
    due_at: datetime
    status: str  # open | done | cancelled
    done_at: datetime | None = None
    done_by: str | None = None
    serves: str | None = None  # the rule a reminder task was created for (by `crm tick`)
    created_at: datetime | None = None
    # the kinds of touch that meet it (a score band's contact or follow-up task); else only
    # marking it done does
    meets: frozenset[str] = frozenset()
    met_with: int | None = None  # the touch that met it (it was then marked done)


@dataclass(frozen=True)
class Touch:
    """A logged call, email, chat or held meeting, and what it counts as (rules/touches.py:
    attempt, contact, reply)."""

    at: datetime
    by: str
    type: str
    kinds: frozenset[str] = ATTEMPT
    id: int | None = None
    direction: str | None = "outbound"


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
    touches: tuple[Touch, ...] = ()  # every attempt, contact and reply, oldest first
    tasks: tuple[Task, ...] = ()
    label: str = ""  # "Ada Lovelace, Analytical Engines": shown in every obligation's title
    customer_since: datetime | None = None  # when the lead (or its account) first won
    updated_at: datetime | None = None
    close_date: date | None = None
    closed_at: datetime | None = None  # when it was won, lost, nurtured or went inactive
    # the opportunity's last weekly update: next step and future close date left in place
    weekly_update_at: datetime | None = None

    def titled(self, text: str) -> str:
        return f"{text}: {self.label}" if self.label else text

    def closure(self, policy: Policy) -> closing.Closure | None:
        """Why and since when the lead is closed (None while it is open)."""
        outcome = (policy.stage(self.stage) or {}).get("outcome")
        reason = closing.reason_for(self.status, outcome)
        if reason is None:
            return None
        since = self.closed_at or self.stage_entered_at or self.created_at
        return closing.Closure(reason, since)

    def first(self, kinds: frozenset[str], after: datetime, *, strict: bool = False):
        """The first touch of one of `kinds` at (or, strict, after) `after`."""
        return next(
            (
                t
                for t in self.touches
                if t.kinds & kinds and (t.at > after if strict else t.at >= after)
            ),
            None,
        )


Rule = Callable[[Any, Policy, BusinessCalendar], list[Due]]
RULES: dict[str, list[tuple[str, Rule]]] = {}


def rule(record_type: str, rule_id: str) -> Callable[[Rule], Rule]:
    def register(function: Rule) -> Rule:
        RULES.setdefault(record_type, []).append((rule_id, function))
        return function

    return register


def obligations(record_type: str, facts: Any, policy: Policy, calendar: BusinessCalendar):
    """Every obligation the record owes now, from every registered rule; a closed record's
    open work ends as rules/closing.py decides."""
    found: list[Due] = []
    for _rule_id, function in RULES.get(record_type, []):
        found += function(facts, policy, calendar)
    closure = facts.closure(policy) if hasattr(facts, "closure") else None
    return [close(due, closure) for due in found] if closure else found


def close(due: Due, closure: closing.Closure) -> Due:
    """`due` as a closing leaves it: an open one cancelled or lapsed (its detail says when
    and why), or as it was."""
    if due.status != closing.OPEN:
        return due
    ended = closing.ending(
        closure,
        rule=due.rule,
        arose_at=due.arose_at or due.started_at,
        due_at=due.due_at,
        detail=due.detail,
    )
    if not ended:
        return due
    return replace(due, ended=ended, detail=ended_detail(due.detail, closure.at, closure.reason))


def ended_detail(detail: dict[str, Any], at: datetime, why: str) -> dict[str, Any]:
    """An obligation's detail once it ended: since when, and why (won, inactive, reply...)."""
    return {**detail, "ended_at": at.isoformat(), "ended_by": why}


def is_closed(lead: LeadFacts, policy: Policy) -> bool:
    stage = policy.stage(lead.stage) or {}
    return "outcome" in stage or lead.status in ("won", "lost")


def meeting_kinds(policy: Policy, what: str) -> frozenset[str]:
    """The kinds of touch that meet `what` (a rule, or band.contact / band.follow_up)."""
    return touches.meets(policy.touches, what)


def rule_schedule(policy: Policy, rule_id: str) -> Schedule:
    """Where a rule's deadlines for a person land (its `at` and `snap`; default: in
    business hours at the next opening)."""
    return schedule_of(policy.rule_settings(rule_id)) or Schedule()


def _met(touch: Touch | None) -> dict[str, Any]:
    if touch is None:
        return {}
    return {"met_at": touch.at, "met_by": touch.by, "met_with": touch.id}


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
    kinds = meeting_kinds(policy, "lead.first_response")
    touch = lead.first(kinds, lead.created_at) or lead.first(kinds, lead.acquired_at)
    if touch is None and lead.kind != "lead":
        return []
    due = due_after(policy, calendar, lead.created_at, "lead.first_response")
    return [
        Due(
            "lead.first_response",
            lead.titled("first response"),
            lead.created_at,
            due,
            **_met(touch),
        )
    ]


@rule("lead", "lead.follow_up")
def lead_follow_up(lead: LeadFacts, policy: Policy, calendar: BusinessCalendar) -> list[Due]:
    if lead.assigned_at is None:
        return []
    touch = lead.first(meeting_kinds(policy, "lead.follow_up"), lead.assigned_at)
    due = due_after(policy, calendar, lead.assigned_at, "lead.follow_up")
    return [Due("lead.follow_up", lead.titled("follow up"), lead.assigned_at, due, **_met(touch))]


@rule("lead", "task.due")
def scheduled_tasks(lead: LeadFacts, policy: Policy, calendar: BusinessCalendar) -> list[Due]:
    """Each scheduled task is due when it was scheduled for; it is met when done, or, for a
    score band's task, by the first touch of the kind it asks for after it was set."""
    dues = []
    for task in lead.tasks:
        # a reminder created for another rule's obligation is watched by that obligation
        if task.status not in ("open", "done") or task.serves:
            continue
        met: dict[str, Any] = {
            "met_at": task.done_at,
            "met_by": task.done_by,
            "met_with": task.met_with,
        }
        if task.status == "open" and task.meets:
            met = _met(lead.first(task.meets, task.created_at or task.due_at)) or met
        dues.append(
            Due(
                "task.due",
                lead.titled(task.title),
                task.due_at,
                task.due_at,
                key=str(task.id),
                detail={"task": task.id},
                arose_at=task.created_at,
                **met,
            )
        )
    return dues


@rule("lead", "opportunity.next_step")
def opportunity_next_step(lead: LeadFacts, policy: Policy, calendar: BusinessCalendar):
    if lead.kind != "opportunity" or is_closed(lead, policy):
        return []
    if not policy.rule_settings("opportunity.next_step").get("required", True):
        return []
    if any(task.status == "open" for task in lead.tasks):
        return []  # an open next step exists; its own task.due obligation watches the date
    last_done = max((t.done_at for t in lead.tasks if t.done_at), default=None)
    started = max(d for d in (lead.stage_entered_at, last_done, lead.created_at) if d)
    return [Due("opportunity.next_step", lead.titled("schedule a next step"), started, started)]


@rule("lead", "lead.cadence")
def lead_cadence(lead: LeadFacts, policy: Policy, calendar: BusinessCalendar) -> list[Due]:
    """Touches on day 1, 3, 7, 14 after a first attempt that got no reply, then monthly
    re-engagement. A reply ends the cadence: no touch falls due after it, and one missed
    before it lapses (it can no longer be made up). Qualified leads leave it."""
    kinds = meeting_kinds(policy, "lead.cadence")
    attempts = [t for t in lead.touches if t.kinds & kinds]
    if lead.kind != "lead" or not attempts:
        return []
    settings = policy.rule_settings("lead.cadence")
    schedule = rule_schedule(policy, "lead.cadence")
    first = attempts[0].at
    reply = lead.first(REPLY, first)
    replied = reply.at if reply else None
    every = parse_duration(settings["reengage"])
    days = list(settings["days"])
    dues: list[Due] = []
    previous = first
    while replied is None or replied > previous:
        if len(dues) < len(days):
            day = days[len(dues)]
            key, title, detail = f"day{day}", f"day {day} touch", {}
            due = person_due(calendar, first, timedelta(days=day), schedule)
        else:  # the cadence is exhausted: the lead is inactive; re-engage it every `reengage`
            key = f"reengage{len(dues) - len(days) + 1}"
            title, detail = "monthly re-engagement", {"inactive": True}
            due = person_due(calendar, previous, every, schedule)
        touch = next(
            # a touch that is itself the reply (a connected call) still counts
            (t for t in attempts if t.at > previous and (replied is None or t.at <= replied)),
            None,
        )
        owed = Due(
            "lead.cadence",
            lead.titled(title),
            previous,
            due,
            key=key,
            detail=detail,
            arose_at=first,  # the whole cadence was owed from its first attempt
        )
        if touch is None and replied is not None:
            if replied > due:  # missed, and after the reply it can no longer be made
                ended = ended_detail(detail, replied, "reply")
                dues.append(replace(owed, ended=closing.LAPSED, detail=ended))
            break
        dues.append(replace(owed, **_met(touch)))
        if touch is None and detail:
            break  # one open re-engagement at a time
        previous = touch.at if touch else due
    return dues


@rule("lead", "customer.response")
def customer_response(lead: LeadFacts, policy: Policy, calendar: BusinessCalendar) -> list[Due]:
    """Every message from an existing customer is answered within the policy's time: an
    inbound reply that was not itself a conversation, since the lead (or its account)
    became a customer; never one from before."""
    return customer_responses(lead.touches, lead.customer_since, lead.titled, policy, calendar)


def customer_responses(
    touched: tuple[Touch, ...],
    since: datetime | None,
    titled: Callable[[str], str],
    policy: Policy,
    calendar: BusinessCalendar,
) -> list[Due]:
    """customer.response for a lead or an account: its customer's messages and answers."""
    if since is None:
        return []
    answers = meeting_kinds(policy, "customer.response")
    # an inbound message; a conversation (a connected call) answered itself
    messages = [
        t
        for t in touched
        if t.direction == "inbound" and "reply" in t.kinds and t.at >= since
        if "contact" not in t.kinds
    ]
    dues = []
    for number, message in enumerate(messages, start=1):
        answer = next((t for t in touched if t.kinds & answers and t.at > message.at), None)
        dues.append(
            Due(
                "customer.response",
                titled(f"answer the customer's {message.type}"),
                message.at,
                due_after(policy, calendar, message.at, "customer.response"),
                key=str(number),
                **_met(answer),
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
    suggest = policy.rule_settings("opportunity.stale")["suggest"]
    after = parse_duration(stage["stale_after"])
    return [
        Due(
            "opportunity.stale",
            lead.titled(f"stale in {lead.stage}; move on or to {' or '.join(suggest)}"),
            entered,
            person_due(calendar, entered, after, rule_schedule(policy, "opportunity.stale")),
            key=lead.stage,
            detail={"suggest": suggest},
        )
    ]


# rules of other record types (accounts, contacts, cases, …) register themselves on import
from crmcli.rules import account_rules as _accounts  # noqa: E402, F401, I001
from crmcli.rules import cases as _cases  # noqa: E402, F401, I001
