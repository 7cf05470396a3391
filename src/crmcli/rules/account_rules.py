"""Account management obligations (SPEC §4, seed 000): onboarding, QBRs, renewal, contact
verification. Pure functions of an account's or a contact's facts; registered with the
deadline engine in rules/obligations.py, stored by services/obligations.sync.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from crmcli.rules.calendar import BusinessCalendar, due_after, person_due, snap
from crmcli.rules.durations import parse_duration
from crmcli.rules.obligations import Due, Task, Touch, customer_responses, rule, rule_schedule
from crmcli.rules.policy import Policy


@dataclass(frozen=True)
class OnboardingStep:
    """One checklist item of the onboarding plan: its title and when it falls due."""

    title: str
    due_at: datetime


@dataclass(frozen=True)
class AccountFacts:
    id: int
    name: str
    created_at: datetime
    key_account: bool = False
    key_since: datetime | None = None
    won_at: datetime | None = None
    contract_end: date | None = None
    meetings: tuple[tuple[datetime, str], ...] = ()  # held meetings of its leads: (at, subject)
    onboarding_tasks: tuple[Task, ...] = ()  # the plan's tasks, created when it was won
    # the account's opportunities as (type, when): each time one was opened or moved on as an
    # opportunity, for the renewal one
    opportunities: tuple[tuple[str | None, datetime], ...] = ()
    # calls, emails, chats with its contacts that are not leads (mail from a contact), oldest
    # first, and since when it is a customer (customer.response)
    messages: tuple[Touch, ...] = ()
    customer_since: datetime | None = None

    def titled(self, text: str) -> str:
        return f"{text}: {self.name}" if self.name else text


@dataclass(frozen=True)
class ContactFacts:
    id: int
    label: str  # "Ada Lovelace, Analytical Engines"
    created_at: datetime
    verified_at: datetime | None = None
    forgotten: bool = False  # personal data erased: nothing left to verify


def onboarding_steps(
    policy: Policy, won_at: datetime, calendar: BusinessCalendar | None = None
) -> list[OnboardingStep]:
    """The onboarding checklist of the policy, dated from the won date: each step `day` days
    later on the policy's wall clock, in business hours (the rule's `at` and `snap`)."""
    calendar = calendar or BusinessCalendar.from_policy(policy)
    schedule = rule_schedule(policy, "account.onboarding")
    return [
        OnboardingStep(
            task["title"], person_due(calendar, won_at, timedelta(days=task["day"]), schedule)
        )
        for task in policy.rule_settings("account.onboarding").get("tasks", [])
    ]


def is_qbr(subject: str | None, policy: Policy) -> bool:
    """A meeting counts as a QBR when its subject names one of the policy's QBR words."""
    words = policy.rule_settings("account.qbr").get("meeting_subjects", [])
    text = (subject or "").lower()
    return any(re.search(rf"\b{re.escape(word.lower())}\b", text) for word in words)


def renewal_start(policy: Policy, contract_end: date) -> datetime:
    """`before` the contract ends (00:00 of the end date, local time), on the wall clock."""
    before = parse_duration(policy.rule_settings("account.renewal")["before"])
    ends = datetime.combine(contract_end, time(0), tzinfo=policy.timezone)
    return (ends - before).astimezone(UTC)


def renewal_due(
    policy: Policy, contract_end: date, calendar: BusinessCalendar | None = None
) -> datetime:
    """When the renewal must have started: its start, in business hours (rule `at`, `snap`)."""
    calendar = calendar or BusinessCalendar.from_policy(policy)
    start = renewal_start(policy, contract_end)
    return snap(calendar, start, rule_schedule(policy, "account.renewal"))


@rule("account", "account.onboarding")
def account_onboarding(account: AccountFacts, policy: Policy, calendar: BusinessCalendar):
    """The 30-day plan from the won date: each checklist task by its day, the whole plan by
    `after`; the plan is met when every task of it is done."""
    if account.won_at is None:
        return []
    tasks = [t for t in account.onboarding_tasks if t.status in ("open", "done")]
    if not tasks:
        return []  # no checklist in the policy when it was won: nothing to track
    dues = [
        Due(
            "account.onboarding",
            account.titled(task.title),
            account.won_at,
            task.due_at,
            key=f"task{task.id}",
            met_at=task.done_at,
            met_by=task.done_by,
            detail={"task": task.id},
        )
        for task in tasks
    ]
    finished = all(t.status == "done" for t in tasks)
    last = max(tasks, key=lambda t: t.done_at or t.due_at)
    dues.append(
        Due(
            "account.onboarding",
            account.titled("complete the onboarding plan"),
            account.won_at,
            due_after(policy, calendar, account.won_at, "account.onboarding"),
            key="plan",
            met_at=last.done_at if finished else None,
            met_by=last.done_by if finished else None,
            detail={"tasks": [t.id for t in tasks]},
        )
    )
    return dues


@rule("account", "account.qbr")
def account_qbr(account: AccountFacts, policy: Policy, calendar: BusinessCalendar):
    """Key accounts get a quarterly business review, counted from the last one held (a
    meeting whose subject says QBR) or from when the account became key."""
    if not account.key_account:
        return []
    since = account.key_since or account.created_at
    held = [at for at, subject in account.meetings if at >= since and is_qbr(subject, policy)]
    start = max([since, *held])
    return [
        Due(
            "account.qbr",
            account.titled("quarterly business review"),
            start,
            due_after(policy, calendar, start, "account.qbr"),
            detail={"last_qbr": max(held).isoformat() if held else None},
        )
    ]


@rule("account", "account.renewal")
def account_renewal(account: AccountFacts, policy: Policy, calendar: BusinessCalendar):
    """Renewal starts `before` the contract ends; it is met by opening an opportunity of the
    policy's renewal type within that window (or up to `before` earlier)."""
    if account.contract_end is None:
        return []
    settings = policy.rule_settings("account.renewal")
    due = renewal_due(policy, account.contract_end, calendar)
    window = renewal_start(policy, account.contract_end) - parse_duration(settings["before"])
    renewal_type = settings.get("opportunity_type", "").lower()
    opened = min(
        (
            at
            for kind, at in account.opportunities
            if renewal_type and (kind or "").lower() == renewal_type and at >= window
        ),
        default=None,
    )
    return [
        Due(
            "account.renewal",
            account.titled(f"start the renewal (contract ends {account.contract_end})"),
            due,
            due,
            key=account.contract_end.isoformat(),
            met_at=opened,
            detail={"contract_end": account.contract_end.isoformat()},
        )
    ]


@rule("account", "customer.response")
def account_customer_response(account: AccountFacts, policy: Policy, calendar: BusinessCalendar):
    """Messages from the account's contacts (not leads themselves) are answered like any
    customer's, since the account became a customer."""
    return customer_responses(
        account.messages, account.customer_since, account.titled, policy, calendar
    )


@rule("contact", "contact.verify")
def contact_verify(contact: ContactFacts, policy: Policy, calendar: BusinessCalendar):
    """Contact details are verified every quarter, from the last verification."""
    if contact.forgotten:
        return []
    start = contact.verified_at or contact.created_at
    return [
        Due(
            "contact.verify",
            f"verify the contact details: {contact.label}",
            start,
            due_after(policy, calendar, start, "contact.verify"),
        )
    ]
