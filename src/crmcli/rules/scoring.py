"""Lead scoring as pure functions: BANT (seed 003) and the engagement model (seed 000).

Each model returns a `Score`: a total in 0..100 and a term-by-term breakdown that the
score history stores as-is and `crm explain` prints, so it names every term it counts:

- BANT: ``{"budget": 20, "authority": 15, "need": 25, "timeline": 10}``
- engagement: ``{"demographics": {"employees": 10, "industry": 10, "title": 8},
  "behaviour": {"web-visit": 10, "download": 0, "email-open": 5},
  "engagement": {"demo-request": 20, "pricing-inquiry": 0, "form": 0},
  "subtotals": {"demographics": 25, "behaviour": 15, "engagement": 20},
  "counts": {"web-visit": 2, "email-open": 1, "demo-request": 1}}``
  Group terms are the points before the group's cap; `subtotals` are after it.

The functions take the policy's own tables (``policy.scoring.bant``, ``.engagement``), not the
database, so they can be tested in microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crmcli.errors import BadInput
from crmcli.rules.policy import Band

MAX_SCORE = 100
BANT_TERMS = ("budget", "authority", "need", "timeline")
DEMOGRAPHICS = "demographics"
DEMOGRAPHIC_TERMS = ("employees", "industry", "title")


@dataclass(frozen=True)
class Score:
    model: str  # bant | engagement
    total: int  # 0..100
    breakdown: dict[str, Any]


@dataclass(frozen=True)
class Firmographics:
    """What the engagement model's demographics read from a lead."""

    employees: int | None = None
    industry: str | None = None
    title: str | None = None


def _bounded(points: int) -> int:
    return max(0, min(MAX_SCORE, points))


def bant_score(values: Mapping[str, Any], maxima: Mapping[str, int]) -> Score:
    """Budget, authority, need and timeline, each 0..its maximum (25 by default).

    Raises BadInput naming the flag, e.g. "--budget: 30 is out of range; give 0-25".
    """
    for term in values:
        if term not in maxima:
            raise BadInput(f"--{term}: not a BANT criterion; use {', '.join(maxima)}")
    breakdown: dict[str, int] = {}
    for term, maximum in maxima.items():
        if term not in values or values[term] is None:
            raise BadInput(f"--{term}: missing; give 0-{maximum}")
        points = values[term]
        if isinstance(points, bool) or not isinstance(points, int):
            raise BadInput(f"--{term}: {points!r} is not a whole number; give 0-{maximum}")
        if not 0 <= points <= maximum:
            raise BadInput(f"--{term}: {points} is out of range; give 0-{maximum}")
        breakdown[term] = points
    # maxima normally add up to 100; a policy whose maxima add up to more is capped
    return Score("bant", _bounded(sum(breakdown.values())), breakdown)


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def phrase_points(text: str | None, table: Mapping[str, int]) -> int:
    """The best points of the table's keys found as whole words in `text`, case-insensitively.

    "VP of Sales" matches "vp"; "Co-Founder & CTO" matches "founder" and "cto" (best wins);
    "Healthcare IT" matches "healthcare"; "Directory services" does not match "director".
    """
    if not text:
        return 0
    haystack = f" {_words(text)} "
    found = [
        int(points)
        for key, points in table.items()
        if _words(key) and f" {_words(key)} " in haystack
    ]
    return max(0, max(found, default=0))


def employees_points(employees: int | None, bands: Sequence[Mapping[str, int]]) -> int:
    """Points of the first employee band (inclusive min..max) the company size falls in."""
    if employees is None:
        return 0
    for band in bands:
        if band.get("min", 0) <= employees <= band.get("max", employees):
            return max(0, int(band.get("points", 0)))
    return 0


def demographic_points(lead: Firmographics, settings: Mapping[str, Any]) -> dict[str, int]:
    """Company size, industry fit and title relevance (policy scoring.engagement.demographics)."""
    return {
        "employees": employees_points(lead.employees, settings.get("employees", [])),
        "industry": phrase_points(lead.industry, settings.get("industries", {})),
        "title": phrase_points(lead.title, settings.get("titles", {})),
    }


def event_points(count: int, event: Mapping[str, Any]) -> int:
    """`count` events of one kind: points each, up to the kind's max."""
    points = max(0, count) * max(0, int(event.get("points", 0)))
    limit = event.get("max")
    return points if limit is None else min(points, max(0, int(limit)))


def engagement_score(
    lead: Firmographics, event_counts: Mapping[str, int], settings: Mapping[str, Any]
) -> Score:
    """Seed 000's model: demographics, behaviour and engagement, each capped; total 0..100.

    `settings` is the policy's scoring.engagement table; `event_counts` maps event kinds to
    how often they happened (kinds the policy does not know count for nothing).
    """
    caps: Mapping[str, int] = settings.get("caps", {})
    groups: dict[str, dict[str, int]] = {group: {} for group in caps}
    groups.setdefault(DEMOGRAPHICS, {}).update(
        demographic_points(lead, settings.get(DEMOGRAPHICS, {}))
    )
    events: Mapping[str, Mapping[str, Any]] = settings.get("events", {})
    for kind, event in events.items():
        group = groups.setdefault(event.get("group", "behaviour"), {})
        group[kind] = event_points(event_counts.get(kind, 0), event)
    subtotals = {}
    for group, terms in groups.items():
        cap = caps.get(group)
        earned = sum(terms.values())
        subtotals[group] = earned if cap is None else min(earned, max(0, int(cap)))
    counts = {kind: n for kind, n in event_counts.items() if kind in events and n > 0}
    breakdown: dict[str, Any] = {**groups, "subtotals": subtotals, "counts": counts}
    return Score("engagement", _bounded(sum(subtotals.values())), breakdown)


def band_for(bands: Sequence[Band], total: int) -> Band:
    """The band a total falls in; a validated policy's bands cover 0..100 without gaps."""
    for band in bands:
        if band.min <= total <= band.max:
            return band
    raise ValueError(f"no scoring band covers {total}; check the policy's scoring.bands")
