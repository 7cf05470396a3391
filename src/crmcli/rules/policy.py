"""The sales policy as data: defaults (SPEC §4), parsing, validation with line numbers.

A policy file may be partial: it is deep-merged over the defaults (tables merge, arrays
replace), so `[rules."lead.follow_up"] after = "24h"` alone is a valid policy.
"""

from __future__ import annotations

import copy
import re
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crmcli.rules.durations import parse_duration

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
CLOCKS = ("business", "calendar")
# what a stage's `requires` may name; the lifecycle enforces each one
STAGE_REQUIREMENTS = ("quote", "po_number", "lost_reason", "next_step", "score", "prospect_said_no")

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
        "lead.follow_up": {"after": "48h", "clock": "calendar"},
        "lead.cadence": {"days": [1, 3, 7, 14], "reengage": "30d", "clock": "calendar"},
        "customer.response": {"after": "4h", "clock": "business"},
        "case.ack": {"after": "2h", "clock": "business"},
        "case.resolve": {"after": "24h", "clock": "calendar"},
        "opportunity.next_step": {"required": True},
        "opportunity.weekly_update": {"after": "7d", "clock": "calendar"},
        # move_to: what `crm tick` does with a stale record: "" (only flag it), "nurture", or
        # a lost stage (closed with the reason "stale in <stage>")
        "opportunity.stale": {
            "clock": "calendar",
            "suggest": ["nurture", "closed_lost"],
            "move_to": "",
        },
        "quote.approval": {"after": "8h", "clock": "business"},
        "account.onboarding": {"after": "30d", "clock": "calendar"},
        "account.qbr": {"after": "13w", "clock": "calendar"},
        "account.renewal": {"before": "90d", "clock": "calendar"},
        "contact.verify": {"after": "13w", "clock": "calendar"},
    },
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
    "rules.lead.cadence.days": "days after first contact on which to touch a silent lead",
    "rules.lead.cadence.reengage": "how often inactive leads are re-engaged",
    "rules.opportunity.next_step.required": "every open opportunity must have a future next step",
    "rules.opportunity.stale.suggest": "what to suggest for an opportunity stale in its stage",
    "rules.opportunity.stale.move_to": 'what crm tick does with stale records: "" (flag only), '
    "nurture, or a lost stage",
    "rules.account.renewal.before": "how long before contract end renewal starts",
    "scoring.model": "bant (budget/authority/need/timeline) or engagement",
    "scoring.bands": "score ranges 0-100, names, and what each triggers: action (nurture, "
    "follow_up, contact, none), due (task due after), notify (owner, admins)",
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
}

# Tables whose keys the user names; each maps to the shape every value must have.
_OPEN_TABLES: dict[tuple[str, ...], Any] = {
    ("activities", "points"): 0,
    ("activities", "recommended"): 0,
    ("scoring", "engagement", "events"): {"group": "", "points": 0, "max": 0},
    ("scoring", "engagement", "demographics", "industries"): 0,
    ("scoring", "engagement", "demographics", "titles"): 0,
}
BAND_ACTIONS = ("nurture", "follow_up", "contact", "none")
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
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_from_message(str(exc))
        message = getattr(exc, "msg", None) or re.sub(r"\s*\(at line.*\)$", "", str(exc))
        raise PolicyInvalid(source, [PolicyIssue((), f"not valid TOML: {message}", line)]) from None
    merged = _merge(copy.deepcopy(DEFAULT_POLICY), raw)
    if not validate:
        return Policy(merged, text)
    shape = _check_shape(raw, DEFAULT_POLICY, ())
    # values are judged only in a policy of the right shape (a table given as a number ...)
    issues = shape or _check_values(merged)
    if issues:
        lines = _key_lines(text)
        located = [PolicyIssue(i.path, i.message, _locate(lines, i.path)) for i in issues]
        raise PolicyInvalid(source, located)
    return Policy(merged, text)


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
    if ok:
        return []
    return [PolicyIssue(path, f"must be {_type_name(default)}, not {_type_name(raw)}")]


def _unknown_key(key: str, known: dict[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
    return f"unknown key; {hint}"


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
        if not (isinstance(day, str) and _DATE.match(day)):
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
    cadence = p["rules"]["lead.cadence"].get("days", [])
    if not all(isinstance(d, int) and d > 0 for d in cadence) or cadence != sorted(set(cadence)):
        bad(("rules", "lead.cadence", "days"), "must be increasing whole days, e.g. [1, 3, 7, 14]")

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
    keys = [s.get("key") for s in p["pipeline"]["stages"] if isinstance(s, dict)]
    if p["pipeline"]["opportunity_from"] not in keys:
        bad(
            ("pipeline", "opportunity_from"),
            f"must be one of the stages: {', '.join(map(str, keys))}",
        )
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
            if key not in ("min", "max", "name", "action", "due", "notify"):
                issues.append(
                    PolicyIssue(
                        (*path, key),
                        _unknown_key(
                            key, dict.fromkeys(("min", "max", "name", "action", "due", "notify"))
                        ),
                    )
                )
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
