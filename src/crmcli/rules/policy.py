"""The sales policy as data: defaults (SPEC §4), parsing, validation with line numbers.

A policy file may be partial: it is deep-merged over the defaults (tables merge, arrays
replace), so `[rules."lead.follow_up"] after = "24h"` alone is a valid policy.
"""

from __future__ import annotations

import copy
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crmcli.limits import MAX_DURATION, MAX_DURATION_TEXT, TooDeep, integer_problem, loads_toml
from crmcli.rules.durations import parse_duration
from crmcli.rules.touches import DEFAULT_TOUCHES

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
CLOCKS = ("business", "calendar")
# where a person's deadline that falls outside business hours goes (rules/calendar.py)
SNAPS = ("opening", "none")
# work for a person lands in business hours: days on the wall clock, then the next opening;
# `at = "09:00"` puts it at that local time of its day instead
PERSON_TIME = {"at": "", "snap": "opening"}
# what a stage's `requires` may name; the lifecycle enforces each one
STAGE_REQUIREMENTS = (
    "quote",
    "po_number",
    "lost_reason",
    "next_step",
    "score",
    "prospect_said_no",
    "amount",
)

DEFAULT_POLICY: dict[str, Any] = {
    "business_hours": {
        "timezone": "America/New_York",
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "start": "09:00",
        "end": "17:00",
        "holidays": {"country": "US", "subdivision": ""},
        "closed": [],
    },
    "validation": {"phone_region": "US"},
    "dedupe": {"name_threshold": 90, "company_threshold": 85},
    "rules": {
        "lead.entry": {"after": "24h", "clock": "calendar"},
        "lead.first_response": {"after": "1h", "clock": "business"},
        "lead.follow_up": {"after": "48h", "clock": "calendar", **PERSON_TIME},
        "lead.cadence": {
            "days": [1, 3, 7, 14],
            "reengage": "30d",
            "clock": "calendar",
            **PERSON_TIME,
        },
        "customer.response": {"after": "4h", "clock": "business"},
        "case.ack": {"after": "2h", "clock": "business"},
        "case.resolve": {"after": "24h", "clock": "calendar"},
        "opportunity.next_step": {"required": True},
        "opportunity.weekly_update": {"after": "7d", "clock": "calendar", **PERSON_TIME},
        # move_to: what `crm tick` does with a stale record: "" (only flag it), "nurture", or
        # a lost stage (closed with the reason "stale in <stage>")
        "opportunity.stale": {
            "clock": "calendar",
            "suggest": ["nurture", "closed_lost"],
            "move_to": "",
            **PERSON_TIME,
        },
        "quote.approval": {"after": "8h", "clock": "business"},
        # tasks: the onboarding checklist, each due `day` days after the account is won
        "account.onboarding": {
            "after": "30d",
            "clock": "calendar",
            "tasks": [
                {"title": "Kick-off call", "day": 2},
                {"title": "Technical setup", "day": 7},
                {"title": "Training", "day": 14},
                {"title": "30-day success review", "day": 30},
            ],
            **PERSON_TIME,
        },
        # a held meeting whose subject names one of meeting_subjects counts as the QBR
        "account.qbr": {
            "after": "13w",
            "clock": "calendar",
            "meeting_subjects": ["QBR", "business review"],
            **PERSON_TIME,
        },
        # met by opening an opportunity of this type for the account
        "account.renewal": {
            "before": "90d",
            "clock": "calendar",
            "opportunity_type": "renewal",
            **PERSON_TIME,
        },
        "contact.verify": {"after": "13w", "clock": "calendar", **PERSON_TIME},
    },
    # what a logged activity counts as (rules/touches.py) and which kinds meet which rule
    "touches": DEFAULT_TOUCHES,
    "scoring": {
        "model": "bant",
        "bands": [
            {"min": 0, "max": 29, "name": "nurture", "action": "nurture"},
            {
                "min": 30,
                "max": 59,
                "name": "scheduled_follow_up",
                "action": "follow_up",
                "due": "3d",
            },
            {"min": 60, "max": 89, "name": "immediate_sales", "action": "contact", "due": "1h"},
            {
                "min": 90,
                "max": 100,
                "name": "immediate_executive",
                "action": "contact",
                "due": "1h",
                "notify": ["admins"],
            },
        ],
        "bant": {"budget": 25, "authority": 25, "need": 25, "timeline": 25},
        "engagement": {
            "caps": {"demographics": 25, "behaviour": 50, "engagement": 25},
            # firmographics (seed 000): company size 5-15, industry fit 5-10, title 5-10
            "demographics": {
                "employees": [
                    {"min": 0, "max": 49, "points": 5},
                    {"min": 50, "max": 999, "points": 10},
                    {"min": 1000, "max": 10000000, "points": 15},
                ],
                "industries": {
                    "saas": 10,
                    "fintech": 10,
                    "healthcare": 8,
                    "manufacturing": 8,
                    "logistics": 5,
                },
                "titles": {
                    "ceo": 10,
                    "cto": 10,
                    "cio": 10,
                    "cfo": 10,
                    "coo": 10,
                    "founder": 10,
                    "owner": 10,
                    "vp": 8,
                    "head": 8,
                    "director": 7,
                    "manager": 5,
                },
            },
            "events": {
                "web-visit": {"group": "behaviour", "points": 5, "max": 20},
                "download": {"group": "behaviour", "points": 10, "max": 15},
                "email-open": {"group": "behaviour", "points": 5, "max": 15},
                "demo-request": {"group": "engagement", "points": 20, "max": 20},
                "pricing-inquiry": {"group": "engagement", "points": 15, "max": 15},
                "form": {"group": "engagement", "points": 5, "max": 10},
            },
        },
    },
    "pipeline": {
        # entering this stage (or a later one) makes the lead an opportunity
        "opportunity_from": "qualification",
        # what an opportunity may be (seed 004): one per product or service sold on its own;
        # when listed, entering an opportunity stage needs one of them; [] allows any type
        "opportunity_types": [],
        # true lets `advance` jump over stages; else only stages marked skippable are skipped
        "allow_skip": False,
        "stages": [
            {"key": "prospecting", "name": "Prospecting", "probability": 10, "stale_after": "14d"},
            {
                "key": "qualification",
                "name": "Qualification",
                "probability": 20,
                "stale_after": "14d",
                "requires": ["score"],
            },
            {
                "key": "needs_analysis",
                "name": "Needs Analysis",
                "probability": 40,
                "stale_after": "21d",
            },
            {
                "key": "proposal",
                "name": "Proposal",
                "probability": 60,
                "stale_after": "14d",
                "requires": ["quote"],
            },
            {"key": "negotiation", "name": "Negotiation", "probability": 80, "stale_after": "14d"},
            {
                "key": "closed_won",
                "name": "Closed Won",
                "probability": 100,
                "requires": ["po_number"],
                "outcome": "won",
            },
            {
                "key": "closed_lost",
                "name": "Closed Lost",
                "probability": 0,
                "requires": ["lost_reason"],
                "outcome": "lost",
            },
        ],
    },
    "activities": {
        "points": {"call": 4, "meeting": 10, "email": 2, "chat": 1, "note": 0, "task": 0},
        # recommended monthly count per activity kind (seed 004), shown by `crm points`
        "recommended": {},
        "monthly_quota": 500,
        # how long a scheduled item without --duration blocks the rep's calendar
        "default_duration": "30m",
    },
    "cases": {
        "max_attachment_mb": 10.0,
        # media types sniffed from the content (fnmatch patterns): photos, PDF, text, office
        "allowed_types": [
            "image/jpeg",
            "image/png",
            "image/gif",
            "image/webp",
            "image/heic",
            "image/avif",
            "image/tiff",
            "image/bmp",
            "application/pdf",
            "text/plain",
            "application/rtf",
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.*",
            "application/vnd.oasis.opendocument.*",
        ],
        # per severity: ack and resolve durations (and optionally ack_clock, resolve_clock);
        # a severity or key not given here takes rules."case.ack" / rules."case.resolve"
        "sla": {
            "urgent": {"ack": "30m", "resolve": "4h"},
            "high": {"ack": "1h", "resolve": "8h"},
        },
    },
    "quotes": {
        "currency": "USD",  # ISO 4217; a quote may name another with --currency
        "valid_days": 30,  # a new quote is valid this many days unless --valid-until
        "rounding": "half_up",  # or "half_even" (banker's): how line amounts are rounded
        "approval": {
            "max_discount": 15,  # percent: a line discounted more needs approval
            "max_total": 50000,  # a quote totalling more (policy currency) needs approval
            "approver_role": "admin",  # users with this role (or above) may approve
            "approvers": [],  # named users who may approve too; the first owns the deadline
            "self_approval": False,  # may the quote's submitter or owner approve it?
        },
    },
    # automated messages (issue 9): none by default, so no install starts mailing leads
    # unasked; examples/policies/default.toml shows a full set
    "templates": {},
    "sequences": {},
    "smtp": {"host": "", "port": 587, "security": "starttls", "user": "", "from": ""},
    "outbox": {
        "automated_touches_count": False,
        "max_attempts": 5,
        "retry_after": "5m",
        "expire": "3d",
        "signature": "",
    },
    # meetings with a lead (seed 001 §7.1): the templates of its confirmation, reminders and
    # cancellation notice ("": none, as above), reminders `before` its start; the rep is
    # reminded in the app (users have no email address), on by default
    "reminders": {
        "before": ["1d", "1h"],
        "confirmation": "",
        "reminder": "",
        "cancellation": "",
        "rep": True,
    },
    # won value each rep should close (seed 000 revenue targets, seed 004 sales dashboard);
    # quarterly 0 means three months' worth; [targets.reps.NAME] overrides per rep
    "targets": {"monthly": 50000, "quarterly": 0, "reps": {}},
    # on SQLite: may a login bound to a non-admin act as another user with --as? (issue 17)
    "identity": {"allow_as": False},
}

# One line per key for `policy show --explain` and the README.
EXPLAIN: dict[str, str] = {
    "business_hours.timezone": "IANA timezone all times are shown in and business hours use",
    "business_hours.days": "working days (mon..sun)",
    "business_hours.start": "start of the working day, HH:MM",
    "business_hours.end": "end of the working day, HH:MM",
    "business_hours.holidays": "public holidays of the `holidays` package: country, subdivision",
    "business_hours.closed": "extra closed dates, YYYY-MM-DD",
    "validation.phone_region": "ISO region phone numbers without +country are read in",
    "dedupe.name_threshold": "0-100 similarity of names for a likely duplicate (rapidfuzz)",
    "dedupe.company_threshold": "0-100 similarity of companies for a likely duplicate",
    "rules.<id>.after": "how long after the rule's start the obligation is due (30m, 1h, 2d, 1w)",
    "rules.<id>.clock": "business (counts only business hours) or calendar",
    "rules.<id>.at": 'work for a person: due at this local time (HH:MM) of its day; "" keeps '
    "the time of day it started",
    "rules.<id>.snap": "work for a person: opening (a deadline outside business hours moves "
    "to the next opening) or none",
    "touches.attempt": 'activities that are an outbound attempt: "TYPE" or "TYPE:WHAT" (call, '
    "email, chat, meeting; WHAT inbound, outbound, connected, voicemail, no-answer)",
    "touches.contact": "activities that are a real conversation (connected call, held "
    "meeting, chat)",
    "touches.reply": "activities that are the lead's reply: they end the no-reply cadence",
    "touches.meets": "which kinds (attempt, contact, reply) meet lead.first_response, "
    "lead.follow_up, lead.cadence, customer.response and the band tasks (band.contact, "
    "band.follow_up)",
    "rules.lead.cadence.days": "days after first contact on which to touch a silent lead",
    "rules.lead.cadence.reengage": "how often inactive leads are re-engaged",
    "rules.opportunity.next_step.required": "every open opportunity must have a future next step",
    "rules.opportunity.stale.suggest": "what to suggest for an opportunity stale in its stage",
    "rules.opportunity.stale.move_to": 'what crm tick does with stale records: "" (flag only), '
    "nurture, or a lost stage",
    "rules.account.renewal.before": "how long before contract end renewal starts",
    "rules.account.renewal.opportunity_type": "the opportunity type that starts a renewal",
    "rules.account.onboarding.tasks": "onboarding checklist: {title, day} tasks created when "
    "an account's first opportunity is won, each due `day` days later",
    "rules.account.qbr.meeting_subjects": "words in a meeting's subject that make it the QBR",
    "pipeline.opportunity_types": "allowed opportunity types (seed 004); when listed, a type "
    "is required to enter an opportunity stage; [] allows any",
    "scoring.model": "bant (budget/authority/need/timeline) or engagement",
    "scoring.bands": "score ranges 0-100, names, and what each triggers: action (nurture, "
    "follow_up, contact, none), due (task due after), notify (owner, admins), at/snap (where "
    "a follow-up task lands, as for rules)",
    "scoring.bant": "maximum points for each BANT criterion",
    "scoring.engagement.caps": "maximum points for demographics, behaviour, engagement",
    "scoring.engagement.events": "points per engagement event, its group and its cap",
    "scoring.engagement.demographics": "firmographic points: employee bands, industries, titles",
    "pipeline.stages": "ordered stages: key, name, probability %, stale_after, requires, "
    "outcome, skippable",
    "pipeline.opportunity_from": "the stage from which a lead counts as an opportunity",
    "pipeline.allow_skip": "whether advance may jump over stages not marked skippable",
    "activities.points": "points per activity type (seed 004)",
    "activities.recommended": "recommended monthly count per activity kind (seed 004)",
    "activities.default_duration": "calendar time a scheduled item takes when none is given",
    "activities.monthly_quota": "activity points each rep should earn per month",
    "cases.max_attachment_mb": "largest file crm case attach accepts, in MB (MiB)",
    "cases.allowed_types": "media types case attachments may have, sniffed from the content "
    "(not the name); patterns like image/* allowed",
    "cases.sla": "per severity (low, normal, high, urgent): ack and resolve durations, "
    'optional ack_clock/resolve_clock; missing ones come from rules."case.ack" and '
    'rules."case.resolve". Waiting on the customer stops the clock',
    "quotes.currency": "ISO 4217 currency of new quotes (at most 2 decimals), e.g. USD",
    "quotes.valid_days": "days a new quote stays valid when no --valid-until is given",
    "quotes.rounding": "how line amounts of new quotes round to the currency's minor unit: "
    "half_up or half_even (banker's)",
    "quotes.approval.max_discount": "percent; a quote with a line discounted more needs approval",
    "quotes.approval.max_total": "a quote totalling more than this (policy currency) needs "
    "approval; quotes in other currencies always do",
    "quotes.approval.approver_role": "the role (editor or admin) whose users may approve quotes",
    "quotes.approval.approvers": "user names who may approve quotes besides that role; the "
    "first listed owns the quote.approval deadline",
    "quotes.approval.self_approval": "whether the quote's submitter or owner may approve it",
    "templates": "message templates: [templates.NAME] subject, body (Jinja2; fields lead.*, "
    "owner.name, owner.signature, sender.address) or file (relative to the policy), channel",
    "sequences": "automated sequences: [sequences.NAME] trigger (acquired, nurture, no_reply, "
    "inactive), steps = [{day, template}] or every + template, expire",
    "smtp.host": "SMTP server for crm outbox send (env CRM_SMTP_HOST overrides)",
    "smtp.port": "SMTP port (CRM_SMTP_PORT)",
    "smtp.security": "none, starttls or ssl (CRM_SMTP_SECURITY)",
    "smtp.user": "SMTP login; the password only from CRM_SMTP_PASSWORD(_FILE) (CRM_SMTP_USER)",
    "smtp.from": "the From address of automated messages (CRM_SMTP_FROM)",
    "outbox.automated_touches_count": "whether automated messages count as touches for the "
    "response rules (lead.first_response, follow-up, cadence)",
    "outbox.max_attempts": "send attempts before a message stays failed",
    "outbox.retry_after": "wait after the first failure; doubles each attempt, at most 1d",
    "outbox.expire": "a step not queued within this long after it was due is skipped",
    "outbox.signature": "signature for leads without an owner (or an owner without one)",
    "reminders.before": "how long before a meeting with a lead its lead and rep are reminded; "
    "a reminder due while closed goes in the last business hour before it",
    "reminders.confirmation": "template sent to the lead when a meeting is booked or moved "
    '("" for none); it may use meeting.subject, start, date, time, end, duration',
    "reminders.reminder": 'template sent to the lead at each reminder ("" for none)',
    "reminders.cancellation": 'template sent to the lead when a meeting is cancelled ("" for none)',
    "reminders.rep": "remind the meeting's rep too, as an in-app notification (crm outbox send "
    "delivers it)",
    "targets.monthly": "won value each rep (active editor or admin) should close per month",
    "targets.quarterly": "won value each rep should close per quarter; 0 = 3 x monthly",
    "targets.reps": "per-rep targets: NAME = {monthly = ..., quarterly = ...}; 0 for a "
    "manager who does not sell",
    "identity.allow_as": "SQLite: whether anyone may act as another user with --as / CRM_USER "
    "(false: only a login bound to an admin may); read from the stored policy only",
}

# Tables whose keys the user names; each maps to the shape every value must have.
_OPEN_TABLES: dict[tuple[str, ...], Any] = {
    ("activities", "points"): 0,
    ("activities", "recommended"): 0,
    ("targets", "reps"): {"monthly": 0, "quarterly": 0},
    ("scoring", "engagement", "events"): {"group": "", "points": 0, "max": 0},
    ("scoring", "engagement", "demographics", "industries"): 0,
    ("scoring", "engagement", "demographics", "titles"): 0,
    ("cases", "sla"): {"ack": "", "resolve": "", "ack_clock": "", "resolve_clock": ""},
    # automated messages (rules/messaging.py reads them; not imported here: a policy loads
    # for every command, the template sandbox only where messages are made or checked)
    ("templates",): {"subject": "", "body": "", "file": "", "channel": ""},
    ("sequences",): {"trigger": "", "steps": [], "every": "", "template": "", "expire": ""},
}
BAND_ACTIONS = ("nurture", "follow_up", "contact", "none")
BAND_KEYS = ("min", "max", "name", "action", "due", "notify", "at", "snap")
NOTIFY_TARGETS = ("owner", "admins")


@dataclass(frozen=True)
class PolicyIssue:
    path: tuple[str | int, ...]
    message: str
    line: int | None = None

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        return f"{where}: {dotted(self.path)}: {self.message}"


class PolicyInvalid(ValueError):
    def __init__(self, source: str, issues: list[PolicyIssue]) -> None:
        self.source = source
        self.issues = issues
        super().__init__(issues[0].render(source) if issues else source)


def dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = f'"{part}"' if "." in part else part
            out += f".{text}" if out else text
    return out or "(top)"


@dataclass(frozen=True)
class RuleSpec:
    rule_id: str
    after: timedelta | None
    clock: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class Band:
    name: str
    min: int
    max: int
    action: str = "none"
    due: timedelta | None = None
    notify: tuple[str, ...] = ()
    at: str = ""  # a follow-up task's local time of day ("" keeps the time it was scored)
    snap: str = "opening"  # and whether one outside business hours moves to the next opening


# The policy's sections as typed, read-only values (issue 21): code outside this module reads
# these, never `policy.data[...]`. Each is built once per Policy (on first use) from the
# merged, validated data, so every key is present; tables the user names stay mappings.


@dataclass(frozen=True)
class BusinessHours:
    """[business_hours]: when the business is open (rules/calendar.py)."""

    timezone: str
    days: tuple[str, ...]  # mon..sun
    start: str  # HH:MM
    end: str  # HH:MM
    country: str  # of the `holidays` package; "" for none
    subdivision: str
    closed: tuple[str, ...]  # extra closed dates, YYYY-MM-DD


@dataclass(frozen=True)
class QuoteApprovalSettings:
    """[quotes.approval]: when a quote needs approval and who may give it."""

    max_discount: int | float  # percent
    max_total: int | float  # in the policy's currency
    approver_role: str
    approvers: tuple[str, ...]  # the first owns the quote.approval deadline
    self_approval: bool


@dataclass(frozen=True)
class QuoteSettings:
    """[quotes]: new quotes' currency, validity and rounding, and their approval."""

    currency: str  # ISO 4217
    valid_days: int
    rounding: str  # half_up or half_even
    approval: QuoteApprovalSettings


@dataclass(frozen=True)
class OutboxSettings:
    """[outbox]: how automated messages are sent and retried."""

    automated_touches_count: bool
    max_attempts: int
    retry_after: timedelta  # after the first failure; doubles each attempt
    expire: timedelta  # a step not queued within this long after it was due is skipped
    signature: str


@dataclass(frozen=True)
class SmtpSettings:
    """[smtp]: the stored server settings (the environment may override them)."""

    host: str
    port: int
    security: str
    user: str
    sender: str  # the key `from`

    def as_dict(self) -> dict[str, Any]:
        """Keyed as in the policy file (`from`, not `sender`)."""
        return {
            "host": self.host,
            "port": self.port,
            "security": self.security,
            "user": self.user,
            "from": self.sender,
        }


@dataclass(frozen=True)
class ReminderSettings:
    """[reminders]: a meeting's confirmation, reminders and cancellation ("" template: none)."""

    before: tuple[str, ...]  # durations before the start
    confirmation: str
    reminder: str
    cancellation: str
    rep: bool  # remind the meeting's rep in the app too


@dataclass(frozen=True)
class ActivitySettings:
    """[activities]: points per kind, recommended counts, the quota, a default duration."""

    points: Mapping[str, int]
    recommended: Mapping[str, int]
    monthly_quota: int
    default_duration: str  # "" when none is set


@dataclass(frozen=True)
class CaseSettings:
    """[cases]: attachments and per-severity SLA overrides."""

    max_attachment_mb: float
    allowed_types: tuple[str, ...]  # fnmatch patterns of sniffed media types
    sla: Mapping[str, Mapping[str, str]]  # severity -> ack/resolve (and their clocks)


@dataclass(frozen=True)
class ScoringSettings:
    """[scoring]: the model and its tables (bands: `Policy.bands`)."""

    model: str  # bant or engagement
    bant: Mapping[str, int]  # maximum points per BANT criterion
    engagement: Mapping[str, Any]  # caps, demographics, events (rules/scoring.py reads them)

    @property
    def events(self) -> list[str]:
        """The engagement events the policy scores."""
        return list(self.engagement["events"])


@dataclass(frozen=True)
class PipelineSettings:
    """[pipeline] besides its stages (`Policy.stages`)."""

    opportunity_from: str  # entering this stage makes a lead an opportunity
    opportunity_types: tuple[str, ...]  # () allows any
    allow_skip: bool


@dataclass(frozen=True)
class Targets:
    """[targets]: won value each rep should close; `reps` overrides per rep."""

    monthly: int | float
    quarterly: int | float  # 0: three months' worth
    reps: Mapping[str, Mapping[str, int | float]]


def _table(value: dict[str, Any]) -> Mapping[str, Any]:
    """A table the user names (or whose nested shape rules/ reads), handed on as it was
    validated; typed read-only: nothing may change a loaded policy."""
    return value


class Policy:
    """A validated, merged policy. `text` is what was installed, for `policy show`."""

    def __init__(self, data: dict[str, Any], text: str) -> None:
        self.data = data
        self.text = text

    @cached_property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.data["business_hours"]["timezone"])

    @property
    def phone_region(self) -> str:
        return self.data["validation"]["phone_region"]

    @property
    def name_threshold(self) -> int:
        return self.data["dedupe"]["name_threshold"]

    @property
    def company_threshold(self) -> int:
        return self.data["dedupe"]["company_threshold"]

    @cached_property
    def bands(self) -> list[Band]:
        return [
            Band(
                b["name"],
                b["min"],
                b["max"],
                b.get("action", "none"),
                parse_duration(b["due"]) if b.get("due") else None,
                tuple(b.get("notify", ())),
                b.get("at", ""),
                b.get("snap", "opening"),
            )
            for b in self.data["scoring"]["bands"]
        ]

    def band(self, score: int) -> Band | None:
        return next((b for b in self.bands if b.min <= score <= b.max), None)

    def band_for(self, score: int) -> str | None:
        band = self.band(score)
        return band.name if band else None

    def stage(self, key: str) -> dict[str, Any] | None:
        return next((s for s in self.stages if s["key"] == key), None)

    def stage_keys(self) -> list[str]:
        return [s["key"] for s in self.stages]

    @cached_property
    def stages(self) -> list[dict[str, Any]]:
        return self.data["pipeline"]["stages"]

    @property
    def first_stage(self) -> str:
        return self.stages[0]["key"]

    @cached_property
    def business_hours(self) -> BusinessHours:
        hours = self.data["business_hours"]
        return BusinessHours(
            timezone=hours["timezone"],
            days=tuple(hours["days"]),
            start=hours["start"],
            end=hours["end"],
            country=hours["holidays"].get("country", ""),
            subdivision=hours["holidays"].get("subdivision", ""),
            closed=tuple(hours["closed"]),
        )

    @cached_property
    def quotes(self) -> QuoteSettings:
        quotes = self.data["quotes"]
        approval = quotes["approval"]
        return QuoteSettings(
            currency=quotes["currency"],
            valid_days=quotes["valid_days"],
            rounding=quotes["rounding"],
            approval=QuoteApprovalSettings(
                max_discount=approval["max_discount"],
                max_total=approval["max_total"],
                approver_role=approval["approver_role"],
                approvers=tuple(approval["approvers"]),
                self_approval=approval["self_approval"],
            ),
        )

    @cached_property
    def outbox(self) -> OutboxSettings:
        outbox = self.data["outbox"]
        return OutboxSettings(
            automated_touches_count=outbox["automated_touches_count"],
            max_attempts=outbox["max_attempts"],
            retry_after=parse_duration(outbox["retry_after"]),
            expire=parse_duration(outbox["expire"]),
            signature=outbox["signature"],
        )

    @cached_property
    def smtp(self) -> SmtpSettings:
        smtp = self.data["smtp"]
        return SmtpSettings(
            smtp["host"], smtp["port"], smtp["security"], smtp["user"], smtp["from"]
        )

    @cached_property
    def reminders(self) -> ReminderSettings:
        settings = self.data["reminders"]
        return ReminderSettings(
            before=tuple(settings["before"]),
            confirmation=settings["confirmation"],
            reminder=settings["reminder"],
            cancellation=settings["cancellation"],
            rep=settings["rep"],
        )

    @cached_property
    def templates(self) -> Mapping[str, Mapping[str, Any]]:
        """[templates.NAME]: message templates (rules/messaging.py reads each)."""
        return _table(self.data["templates"])

    @cached_property
    def sequences(self) -> Mapping[str, Mapping[str, Any]]:
        """[sequences.NAME]: automated sequences (rules/messaging.py reads each)."""
        return _table(self.data["sequences"])

    @cached_property
    def touches(self) -> Mapping[str, Any]:
        """[touches]: what a logged activity counts as, and what meets which rule."""
        return _table(self.data["touches"])

    @cached_property
    def activities(self) -> ActivitySettings:
        settings = self.data["activities"]
        return ActivitySettings(
            points=_table(settings["points"]),
            recommended=_table(settings.get("recommended", {})),
            monthly_quota=settings["monthly_quota"],
            default_duration=settings.get("default_duration") or "",
        )

    @cached_property
    def cases(self) -> CaseSettings:
        settings = self.data["cases"]
        return CaseSettings(
            max_attachment_mb=settings["max_attachment_mb"],
            allowed_types=tuple(settings["allowed_types"]),
            sla=_table(settings.get("sla", {})),
        )

    @cached_property
    def scoring(self) -> ScoringSettings:
        scoring = self.data["scoring"]
        return ScoringSettings(
            model=scoring["model"],
            bant=_table(scoring["bant"]),
            engagement=_table(scoring["engagement"]),
        )

    @cached_property
    def pipeline(self) -> PipelineSettings:
        pipeline = self.data["pipeline"]
        return PipelineSettings(
            opportunity_from=pipeline["opportunity_from"],
            opportunity_types=tuple(pipeline.get("opportunity_types", [])),
            allow_skip=pipeline["allow_skip"],
        )

    @cached_property
    def targets(self) -> Targets:
        targets = self.data.get("targets", {})
        return Targets(
            monthly=targets.get("monthly", 0),
            quarterly=targets.get("quarterly", 0),
            reps=_table(targets.get("reps", {})),
        )

    @property
    def allow_as(self) -> bool:
        """[identity] allow_as: may a non-admin login act as another user (SQLite)?"""
        return self.data["identity"]["allow_as"]

    @cached_property
    def rule_ids(self) -> tuple[str, ...]:
        """The ids of the policy's [rules.ID] tables, in the policy's order."""
        return tuple(self.data["rules"])

    def rule_settings(self, rule_id: str) -> Mapping[str, Any]:
        """[rules.ID] as written (after, clock, at, snap and the rule's own keys: cadence
        days, onboarding tasks...); KeyError for a rule the policy does not have."""
        return _table(self.data["rules"][rule_id])

    def rule(self, rule_id: str) -> RuleSpec:
        settings = self.data["rules"][rule_id]
        after = settings.get("after")
        return RuleSpec(
            rule_id=rule_id,
            after=parse_duration(after) if after else None,
            clock=settings.get("clock", "calendar"),
            settings=settings,
        )


def default_policy_toml() -> str:
    import tomli_w

    header = (
        "# crmcli sales policy. Durations: 30m, 1h, 2d, 1w. Clocks: business or calendar.\n"
        "# `crm policy show --explain` describes every key.\n\n"
    )
    return header + tomli_w.dumps(DEFAULT_POLICY)


def default_policy() -> Policy:
    return Policy(copy.deepcopy(DEFAULT_POLICY), default_policy_toml())


def parse_policy(text: str, source: str = "policy", *, validate: bool = True) -> Policy:
    """Parse and validate policy TOML; raises PolicyInvalid with line-precise issues.

    `validate=False` is for text that was validated when it was installed.
    """
    if not validate:
        return Policy(copy.deepcopy(_installed(text, source)), text)
    raw = _toml(text, source)
    merged = _merge(copy.deepcopy(DEFAULT_POLICY), raw)
    shape = _check_shape(raw, DEFAULT_POLICY, ())
    # values are judged only in a policy of the right shape (a table given as a number ...)
    issues = shape or _check_values(merged)
    if issues:
        lines = _key_lines(text)
        located = [PolicyIssue(i.path, i.message, _locate(lines, i.path)) for i in issues]
        raise PolicyInvalid(source, located)
    return Policy(merged, text)


@lru_cache(maxsize=8)
def _installed(text: str, source: str) -> dict[str, Any]:
    """The stored policy merged over the defaults, parsed once per process: every command
    reads it (a caller gets a deep copy, so nothing it does reaches the next one)."""
    return _merge(copy.deepcopy(DEFAULT_POLICY), _toml(text, source))


def _toml(text: str, source: str) -> dict[str, Any]:
    try:
        return loads_toml(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_from_message(str(exc))
        message = getattr(exc, "msg", None) or re.sub(r"\s*\(at line.*\)$", "", str(exc))
        raise PolicyInvalid(source, [PolicyIssue((), f"not valid TOML: {message}", line)]) from None
    except TooDeep as exc:
        hint = "a policy's tables nest a few levels at most"
        raise PolicyInvalid(source, [PolicyIssue((), f"{exc}; {hint}")]) from None


def _line_from_message(message: str) -> int | None:
    found = re.search(r"line (\d+)", message)
    return int(found.group(1)) if found else None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def _type_name(value: Any) -> str:
    return {
        bool: "true/false",
        int: "a whole number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _check_shape(raw: Any, default: Any, path: tuple) -> list[PolicyIssue]:
    """Unknown keys and wrong types, judged against the defaults."""
    issues: list[PolicyIssue] = []
    if isinstance(default, dict):
        if not isinstance(raw, dict):
            return [PolicyIssue(path, f"must be a table, not {_type_name(raw)}")]
        open_table = path in _OPEN_TABLES
        template = _OPEN_TABLES.get(path)
        for key, value in raw.items():
            if open_table:
                issues += _check_shape(value, template, (*path, key))
            elif key not in default:
                issues.append(PolicyIssue((*path, key), _unknown_key(key, default)))
            else:
                issues += _check_shape(value, default[key], (*path, key))
        return issues
    if path and path[0] == "rules" and len(path) == 3:
        return _check_scalar(raw, default, path)
    if isinstance(default, list):
        if not isinstance(raw, list):
            return [PolicyIssue(path, f"must be a list, not {_type_name(raw)}")]
        return issues  # list items are checked by _check_values
    return _check_scalar(raw, default, path)


def _check_scalar(raw: Any, default: Any, path: tuple) -> list[PolicyIssue]:
    if isinstance(default, bool) or isinstance(raw, bool):
        ok = isinstance(raw, bool) == isinstance(default, bool)
    elif isinstance(default, int | float) and not isinstance(default, bool):
        ok = isinstance(raw, int | float)
    else:
        ok = isinstance(raw, type(default))
    if not ok:
        return [PolicyIssue(path, f"must be {_type_name(default)}, not {_type_name(raw)}")]
    return _number_problem(raw, path)


def _number_problem(raw: Any, path: tuple) -> list[PolicyIssue]:
    """Numbers a policy gives end up in deadlines, sums and database columns: finite, and
    whole numbers a database integer holds."""
    if isinstance(raw, float) and not math.isfinite(raw):
        return [PolicyIssue(path, f"{raw} is not a number; give a finite one")]
    if isinstance(raw, int) and not isinstance(raw, bool):
        problem = integer_problem(raw)
        if problem:
            return [PolicyIssue(path, problem)]
    return []


def _check_days(value: Any, path: tuple) -> list[PolicyIssue]:
    """A whole number of days used as an offset from a date (quote validity, steps)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > MAX_DURATION.days:
        return [PolicyIssue(path, f"{value} days is longer than {MAX_DURATION_TEXT}")]
    return []


def _unknown_key(key: str, known: dict[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
    return f"unknown key; {hint}"


def _is_date(text: str) -> bool:
    from datetime import date

    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _check_values(p: dict[str, Any]) -> list[PolicyIssue]:
    issues: list[PolicyIssue] = []

    def bad(path: tuple, message: str) -> None:
        issues.append(PolicyIssue(path, message))

    hours = p["business_hours"]
    try:
        ZoneInfo(str(hours["timezone"]))
    except (ZoneInfoNotFoundError, ValueError):
        bad(
            ("business_hours", "timezone"),
            f"unknown timezone {hours['timezone']!r}; use an IANA name like America/New_York",
        )
    for i, day in enumerate(hours["days"]):
        if day not in WEEKDAYS:
            bad(("business_hours", "days", i), f"{day!r} is not a day; use {', '.join(WEEKDAYS)}")
    if not hours["days"]:
        bad(("business_hours", "days"), "at least one working day is needed")
    for key in ("start", "end"):
        if not _HHMM.match(str(hours[key])):
            bad(("business_hours", key), f"{hours[key]!r} is not a time; write HH:MM like 09:00")
    if (
        _HHMM.match(str(hours["start"]))
        and _HHMM.match(str(hours["end"]))
        and hours["start"] >= hours["end"]
    ):
        bad(("business_hours", "end"), "must be later than start")
    for i, day in enumerate(hours["closed"]):
        if not (isinstance(day, str) and _DATE.match(day) and _is_date(day)):
            bad(("business_hours", "closed", i), f"{day!r} is not a date; write YYYY-MM-DD")
    country = hours["holidays"].get("country", "")
    if country:
        issues += _check_holidays(country, hours["holidays"].get("subdivision", ""))

    region = p["validation"]["phone_region"]
    if not re.fullmatch(r"[A-Z]{2}", str(region)):
        bad(("validation", "phone_region"), f"{region!r} is not a region; use two letters like US")

    for key in ("name_threshold", "company_threshold"):
        value = p["dedupe"][key]
        if not 0 <= value <= 100:
            bad(("dedupe", key), f"{value} is out of range; use 0-100")

    for rule_id, settings in p["rules"].items():
        if rule_id not in DEFAULT_POLICY["rules"]:
            known = DEFAULT_POLICY["rules"]
            bad(("rules", rule_id), _unknown_key(rule_id, known))
            continue
        for key in ("after", "before", "reengage"):
            if key in settings:
                try:
                    parse_duration(settings[key])
                except ValueError as exc:
                    bad(("rules", rule_id, key), str(exc))
        if "clock" in settings and settings["clock"] not in CLOCKS:
            bad(
                ("rules", rule_id, "clock"),
                f"{settings['clock']!r} is not a clock; use business or calendar",
            )
        issues += _check_person_time(settings, ("rules", rule_id))
    cadence = p["rules"]["lead.cadence"].get("days", [])
    if not all(isinstance(d, int) and d > 0 for d in cadence) or cadence != sorted(set(cadence)):
        bad(("rules", "lead.cadence", "days"), "must be increasing whole days, e.g. [1, 3, 7, 14]")
    elif cadence:
        issues += _check_days(cadence[-1], ("rules", "lead.cadence", "days"))

    scoring = p["scoring"]
    if scoring["model"] not in ("bant", "engagement"):
        bad(("scoring", "model"), f"{scoring['model']!r} is not a model; use bant or engagement")
    issues += _check_bands(scoring["bands"])
    for group, cap in scoring["engagement"]["caps"].items():
        if not isinstance(cap, int) or cap < 0:
            bad(("scoring", "engagement", "caps", group), "must be a whole number >= 0")
    for name, event in scoring["engagement"]["events"].items():
        if event.get("group") not in scoring["engagement"]["caps"]:
            bad(
                ("scoring", "engagement", "events", name, "group"),
                f"must be one of {', '.join(scoring['engagement']['caps'])}",
            )

    issues += _check_stages(p["pipeline"]["stages"])
    try:
        parse_duration(p["activities"]["default_duration"])
    except ValueError as exc:
        bad(("activities", "default_duration"), str(exc))
    for kind, count in p["activities"]["recommended"].items():
        if isinstance(count, int) and count < 0:
            bad(("activities", "recommended", kind), "must be 0 or more")
    for name, event in p["scoring"]["engagement"]["events"].items():
        for key in ("points", "max"):
            if isinstance(event.get(key), int) and event[key] < 0:
                bad(("scoring", "engagement", "events", name, key), "must be 0 or more")
    issues += _check_targets(p["targets"])
    move_to = p["rules"]["opportunity.stale"].get("move_to", "")
    lost = [
        s.get("key")
        for s in p["pipeline"]["stages"]
        if isinstance(s, dict) and s.get("outcome") == "lost"
    ]
    if move_to not in ("", "nurture", *lost):
        bad(
            ("rules", "opportunity.stale", "move_to"),
            f'use "", nurture or a lost stage ({", ".join(map(str, lost))})',
        )
    issues += _check_account_rules(p)
    issues += _check_touches(p["touches"])
    issues += _check_quotes(p["quotes"])
    issues += _check_messaging(p)
    keys = [s.get("key") for s in p["pipeline"]["stages"] if isinstance(s, dict)]
    if p["pipeline"]["opportunity_from"] not in keys:
        bad(
            ("pipeline", "opportunity_from"),
            f"must be one of the stages: {', '.join(map(str, keys))}",
        )
    return issues + _check_cases(p["cases"])


CASE_SEVERITIES = ("low", "normal", "high", "urgent")
_MEDIA_TYPE = re.compile(r"^[a-z*]+/[a-z0-9.+*-]+$")


def _check_cases(cases: Any) -> list[PolicyIssue]:
    """Values of the [cases] section; wrong shapes are the shape check's to report."""
    issues: list[PolicyIssue] = []
    if not isinstance(cases, dict):
        return issues
    limit = cases["max_attachment_mb"]
    if isinstance(limit, int | float) and not isinstance(limit, bool) and limit <= 0:
        issues.append(PolicyIssue(("cases", "max_attachment_mb"), "must be more than 0"))
    patterns = cases["allowed_types"] if isinstance(cases["allowed_types"], list) else []
    for i, pattern in enumerate(patterns):
        if not (isinstance(pattern, str) and _MEDIA_TYPE.match(pattern)):
            issues.append(
                PolicyIssue(
                    ("cases", "allowed_types", i),
                    f"{pattern!r} is not a media type; write e.g. image/png or image/*",
                )
            )
    slas = cases["sla"] if isinstance(cases["sla"], dict) else {}
    for severity, sla in slas.items():
        path = ("cases", "sla", severity)
        if severity not in CASE_SEVERITIES:
            issues.append(PolicyIssue(path, _unknown_key(severity, dict.fromkeys(CASE_SEVERITIES))))
            continue
        if not isinstance(sla, dict):
            continue  # reported by the shape check
        for key in ("ack", "resolve"):
            if isinstance(sla.get(key), str):
                try:
                    parse_duration(sla[key])
                except ValueError as exc:
                    issues.append(PolicyIssue((*path, key), str(exc)))
            clock = sla.get(f"{key}_clock")
            if isinstance(clock, str) and clock not in CLOCKS:
                issues.append(
                    PolicyIssue(
                        (*path, f"{key}_clock"),
                        f"{clock!r} is not a clock; use business or calendar",
                    )
                )
    return issues


def _check_person_time(settings: dict[str, Any], path: tuple) -> list[PolicyIssue]:
    """`at` and `snap` of a rule or band: where a person's deadline lands."""
    issues: list[PolicyIssue] = []
    at = settings.get("at", "")
    if isinstance(at, str) and at and not _HHMM.match(at):
        issues.append(
            PolicyIssue((*path, "at"), f'{at!r} is not a time; write HH:MM like 09:00, or ""')
        )
    elif not isinstance(at, str):
        issues.append(PolicyIssue((*path, "at"), 'must be a time like "09:00", or ""'))
    mode = settings.get("snap", "opening")
    if mode not in SNAPS:
        issues.append(PolicyIssue((*path, "snap"), f"{mode!r} is not a snap; use opening or none"))
    return issues


def _check_touches(table: dict[str, Any]) -> list[PolicyIssue]:
    from crmcli.rules.touches import check

    return [PolicyIssue(path, message) for path, message in check(table)]


def _listed(value: Any) -> list[Any]:
    """A list's items; anything else was reported by the shape check."""
    return value if isinstance(value, list) else []


def _check_account_rules(p: dict[str, Any]) -> list[PolicyIssue]:
    """Opportunity types, the onboarding checklist and the QBR meeting words."""
    issues: list[PolicyIssue] = []
    types = _listed(p["pipeline"]["opportunity_types"])
    seen: set[str] = set()
    for i, kind in enumerate(types):
        if not isinstance(kind, str) or not kind.strip():
            issues.append(PolicyIssue(("pipeline", "opportunity_types", i), "must be a name"))
        elif kind.strip().lower() in seen:
            issues.append(
                PolicyIssue(("pipeline", "opportunity_types", i), f"{kind!r} appears twice")
            )
        else:
            seen.add(kind.strip().lower())
    renewal = p["rules"]["account.renewal"].get("opportunity_type", "")
    if seen and isinstance(renewal, str) and renewal and renewal.lower() not in seen:
        issues.append(
            PolicyIssue(
                ("pipeline", "opportunity_types"),
                f"lacks {renewal!r}, the type that starts a renewal "
                '(rules."account.renewal".opportunity_type); add it, or set that to "" '
                "when renewals are not opportunities",
            )
        )
    onboarding = p["rules"]["account.onboarding"]
    try:
        span = parse_duration(onboarding.get("after", "30d")).days
    except ValueError:
        span = None  # reported with the other durations
    for i, task in enumerate(_listed(onboarding.get("tasks", []))):
        path = ("rules", "account.onboarding", "tasks", i)
        if not isinstance(task, dict) or set(task) != {"title", "day"}:
            issues.append(PolicyIssue(path, 'write each task as {title = "Training", day = 14}'))
        elif not isinstance(task["title"], str) or not task["title"].strip():
            issues.append(PolicyIssue((*path, "title"), "must be a non-empty name"))
        elif not isinstance(task["day"], int) or isinstance(task["day"], bool) or task["day"] < 0:
            issues.append(PolicyIssue((*path, "day"), "must be a whole number of days >= 0"))
        elif span is not None and task["day"] > span:
            issues.append(
                PolicyIssue((*path, "day"), f"lies after the {span}-day plan (after); shorten it")
            )
    for i, word in enumerate(_listed(p["rules"]["account.qbr"].get("meeting_subjects", []))):
        if not isinstance(word, str) or not word.strip():
            path = ("rules", "account.qbr", "meeting_subjects", i)
            issues.append(PolicyIssue(path, "must be a word or phrase"))
    return issues


def _check_quotes(quotes: dict[str, Any]) -> list[PolicyIssue]:
    from crmcli.rules.quotes import ROUNDINGS, currency_problem

    issues: list[PolicyIssue] = []
    problem = currency_problem(quotes["currency"])
    if problem:
        issues.append(PolicyIssue(("quotes", "currency"), problem))
    if isinstance(quotes["valid_days"], int) and quotes["valid_days"] < 1:
        issues.append(PolicyIssue(("quotes", "valid_days"), "must be 1 or more"))
    issues += _check_days(quotes["valid_days"], ("quotes", "valid_days"))
    if quotes["rounding"] not in ROUNDINGS:
        issues.append(PolicyIssue(("quotes", "rounding"), f"use one of {', '.join(ROUNDINGS)}"))
    approval = quotes["approval"]
    path = ("quotes", "approval")
    limits = {"max_discount": 100, "max_total": 10**13}
    for key, top in limits.items():
        value = approval[key]
        if isinstance(value, int | float) and not 0 <= value <= top:
            issues.append(PolicyIssue((*path, key), f"{value} is out of range; use 0-{top}"))
    if approval["approver_role"] not in ("editor", "admin"):
        issues.append(PolicyIssue((*path, "approver_role"), "use editor or admin"))
    for i, name in enumerate(approval["approvers"]):
        if not (isinstance(name, str) and name.strip()):
            issues.append(PolicyIssue((*path, "approvers", i), "must be a user name"))
    return issues


SMTP_SECURITY = ("none", "starttls", "ssl")


def _check_messaging(p: dict[str, Any]) -> list[PolicyIssue]:
    from crmcli.rules import messaging, reminders

    found = messaging.check_sequences(p["sequences"], p["templates"])
    found += reminders.check(p["reminders"], p["templates"])
    if p["templates"]:
        meeting = {p["reminders"][key] for key in reminders.TEMPLATE_KEYS}
        # loads Jinja2 only when needed
        found += messaging.check_templates(p["templates"], meeting_templates=meeting)
    if p["smtp"]["security"] not in SMTP_SECURITY:
        found.append((("smtp", "security"), f"use one of {', '.join(SMTP_SECURITY)}"))
    if isinstance(p["smtp"]["port"], int) and not 0 < p["smtp"]["port"] < 65536:
        found.append((("smtp", "port"), "must be 1-65535"))
    if isinstance(p["outbox"]["max_attempts"], int) and p["outbox"]["max_attempts"] < 1:
        found.append((("outbox", "max_attempts"), "must be 1 or more"))
    for key in ("retry_after", "expire"):
        try:
            parse_duration(p["outbox"][key])
        except ValueError as exc:
            found.append((("outbox", key), str(exc)))
    return [PolicyIssue(path, message) for path, message in found]


def _check_targets(targets: dict[str, Any]) -> list[PolicyIssue]:
    """Targets are money: numbers of 0 or more (a rep's table may give either or both)."""
    issues: list[PolicyIssue] = []
    places = [(("targets", k), targets[k]) for k in ("monthly", "quarterly")]
    for name, own in targets["reps"].items():
        if isinstance(own, dict):
            places += [(("targets", "reps", name, k), v) for k, v in own.items()]
    for path, value in places:
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            issues.append(PolicyIssue(path, "must be 0 or more (a won value, e.g. 50000)"))
    return issues


def _check_holidays(country: str, subdivision: str) -> list[PolicyIssue]:
    import holidays

    supported = holidays.list_supported_countries()
    path = ("business_hours", "holidays")
    if country not in supported:
        return [
            PolicyIssue(
                (*path, "country"),
                f"{country!r} is not a country the holidays package knows; use ISO "
                'codes like US, GB, DE or "" for none',
            )
        ]
    if subdivision and subdivision not in supported[country]:
        return [
            PolicyIssue(
                (*path, "subdivision"),
                f"{subdivision!r} is not a subdivision of {country}; e.g. "
                f'{", ".join(supported[country][:5])} or "" for none',
            )
        ]
    return []


def _check_bands(bands: list[Any]) -> list[PolicyIssue]:
    issues: list[PolicyIssue] = []
    expected_min = 0
    for i, band in enumerate(bands):
        path = ("scoring", "bands", i)
        if not isinstance(band, dict) or not {"min", "max", "name"} <= set(band):
            issues.append(PolicyIssue(path, "each band needs min, max and name"))
            return issues
        if not all(isinstance(band[k], int) for k in ("min", "max")):
            issues.append(PolicyIssue(path, "min and max must be whole numbers"))
            return issues
        if band["min"] != expected_min:
            issues.append(
                PolicyIssue(
                    (*path, "min"),
                    f"bands must cover 0-100 without gaps; expected min "
                    f"{expected_min}, got {band['min']}",
                )
            )
        if band["max"] < band["min"]:
            issues.append(PolicyIssue((*path, "max"), "must not be below min"))
        for key in band:
            if key not in BAND_KEYS:
                issues.append(
                    PolicyIssue((*path, key), _unknown_key(key, dict.fromkeys(BAND_KEYS)))
                )
        issues += _check_person_time(band, path)
        if band.get("action", "none") not in BAND_ACTIONS:
            issues.append(PolicyIssue((*path, "action"), f"use one of {', '.join(BAND_ACTIONS)}"))
        if "due" in band:
            try:
                parse_duration(band["due"])
            except ValueError as exc:
                issues.append(PolicyIssue((*path, "due"), str(exc)))
        for j, target in enumerate(band.get("notify", [])):
            if target not in NOTIFY_TARGETS:
                issues.append(
                    PolicyIssue((*path, "notify", j), f"use one of {', '.join(NOTIFY_TARGETS)}")
                )
        expected_min = band["max"] + 1
    if bands and expected_min != 101:
        issues.append(
            PolicyIssue(
                ("scoring", "bands", len(bands) - 1, "max"), "the last band must end at 100"
            )
        )
    if not bands:
        issues.append(PolicyIssue(("scoring", "bands"), "at least one band is needed"))
    return issues


def _check_stages(stages: list[Any]) -> list[PolicyIssue]:
    issues: list[PolicyIssue] = []
    seen: set[str] = set()
    allowed = {"key", "name", "probability", "stale_after", "requires", "outcome", "skippable"}
    for i, stage in enumerate(stages):
        path = ("pipeline", "stages", i)
        if not isinstance(stage, dict) or "key" not in stage:
            issues.append(PolicyIssue(path, "each stage needs at least a key"))
            continue
        for key in stage:
            if key not in allowed:
                issues.append(PolicyIssue((*path, key), _unknown_key(key, dict.fromkeys(allowed))))
        key = stage["key"]
        if not (isinstance(key, str) and re.fullmatch(r"[a-z][a-z0-9_]*", key)):
            issues.append(PolicyIssue((*path, "key"), "use lower_snake_case like needs_analysis"))
        if key in seen:
            issues.append(PolicyIssue((*path, "key"), f"stage {key!r} appears twice"))
        seen.add(key)
        probability = stage.get("probability", 0)
        if not isinstance(probability, int | float) or not 0 <= probability <= 100:
            issues.append(PolicyIssue((*path, "probability"), "must be 0-100"))
        if "stale_after" in stage:
            try:
                parse_duration(stage["stale_after"])
            except ValueError as exc:
                issues.append(PolicyIssue((*path, "stale_after"), str(exc)))
        for j, need in enumerate(stage.get("requires", [])):
            if need not in STAGE_REQUIREMENTS:
                issues.append(
                    PolicyIssue(
                        (*path, "requires", j),
                        f"{need!r} is unknown; use {', '.join(STAGE_REQUIREMENTS)}",
                    )
                )
        if stage.get("outcome", "won") not in ("won", "lost"):
            issues.append(PolicyIssue((*path, "outcome"), "must be won or lost"))
    if not stages:
        issues.append(PolicyIssue(("pipeline", "stages"), "at least one stage is needed"))
    return issues


# --- locating keys in the source text --------------------------------------------------

_KEY_LINE = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)


def _first_path(parsed: dict[str, Any]) -> tuple[str, ...]:
    path: list[str] = []
    node: Any = parsed
    while isinstance(node, dict) and node:
        key = next(iter(node))
        path.append(key)
        node = node[key]
        if isinstance(node, list):
            break
    return tuple(path)


def _key_lines(text: str) -> dict[tuple, int]:
    """Map key paths (with array-of-table indexes) to the line that defines them."""
    lines: dict[tuple, int] = {}
    table: tuple = ()
    array_counts: dict[tuple, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        try:
            if stripped.startswith("[["):
                header = _first_path(tomllib.loads(stripped.split("#")[0] + "\n"))
                index = array_counts.get(header, -1) + 1
                array_counts[header] = index
                table = (*header, index)
                lines.setdefault(header, number)
                lines[table] = number
            elif stripped.startswith("["):
                table = _first_path(tomllib.loads(stripped.split("#")[0] + "\n"))
                lines[table] = number
            else:
                match = _KEY_LINE.match(line)
                if match:
                    key = _first_path(tomllib.loads(match.group(1) + " = 0\n"))
                    lines[(*table, *key)] = number
        except tomllib.TOMLDecodeError:
            continue
    return lines


def _locate(lines: dict[tuple, int], path: tuple) -> int | None:
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None
