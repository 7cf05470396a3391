"""Which obligations a record owes under the policy (SPEC §4), as pure functions.

Each rule is a function from a record's facts to the obligations it creates. Rules are
registered per record type; a later rule (cases, quotes, accounts) is added by registering
a function, and every report reads the stored result, never these functions directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmcli.rules.calendar import BusinessCalendar, due_after
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


@dataclass(frozen=True)
class Task:
    id: int
    title: str
    due_at: datetime
    status: str  # open | done | cancelled
    done_at: datetime | None = None
    done_by: str | None = None


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
    touches: tuple[Touch, ...] = ()
    tasks: tuple[Task, ...] = ()


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
            "enter the lead in the CRM",
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
            "first response to a new lead",
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
            "follow up the assigned lead",
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
            task.title,
            task.due_at,
            task.due_at,
            key=str(task.id),
            met_at=task.done_at,
            met_by=task.done_by,
            detail={"task": task.id},
        )
        for task in lead.tasks
        if task.status in ("open", "done")
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
    return [Due("opportunity.next_step", "schedule a next step", started, started)]
