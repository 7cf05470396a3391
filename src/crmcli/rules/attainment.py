"""Obligation outcomes and SLA attainment (SPEC §7, `crm report sla`): pure functions.

An obligation ends up met on time, met late, open (overdue, or not yet due), paused (a clock
that stands still), lapsed (the record went inactive) or cancelled (the record closed or was
merged). Any other status a later rule stores is counted under its own name, so the report
never drops an obligation it does not know.

Attainment is on-time ÷ (on-time + late + overdue + lapsed): of the obligations whose
outcome is decided against the person, the share met in time. Open ones not yet due, paused
and cancelled ones decide nothing yet (or never will).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

OUTCOMES = (
    "met_on_time",
    "met_late",
    "open_overdue",
    "open_not_due",
    "paused",
    "lapsed",
    "cancelled",
)
BREACHES = ("met_late", "open_overdue", "lapsed")
DECIDED = ("met_on_time", *BREACHES)


def outcome(status: str, met_at: datetime | None, due_at: datetime, as_of: datetime) -> str:
    """What became of one obligation, as of `as_of` (open ones are overdue once due)."""
    if status == "met" and met_at is not None:
        return "met_on_time" if met_at <= due_at else "met_late"
    if status == "open":
        return "open_overdue" if due_at <= as_of else "open_not_due"
    return status


def lateness(status: str, met_at: datetime | None, due_at: datetime, as_of: datetime):  # noqa: ANN201
    """How late a breach is (a timedelta): met late by, or overdue by as of `as_of`; None for
    a lapsed one (it was never met, and no longer runs)."""
    kind = outcome(status, met_at, due_at, as_of)
    if kind == "met_late":
        return met_at - due_at  # type: ignore[operator]
    if kind == "open_overdue":
        return as_of - due_at
    return None


@dataclass
class Tally:
    """Counts of outcomes; add `group`s as SQL aggregates them (status with its counts)."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))

    def add(self, name: str, count: int) -> None:
        if count:
            self.counts[name] = self.counts.get(name, 0) + count

    def group(self, status: str, total: int, on_time: int, late: int, past_due: int) -> None:
        """One (status) group of obligations: how many, met on time, met late, past due."""
        if status == "met":
            self.add("met_on_time", on_time)
            self.add("met_late", late)
        elif status == "open":
            self.add("open_overdue", past_due)
            self.add("open_not_due", total - past_due)
        else:
            self.add(status, total)

    def merge(self, other: Tally) -> None:
        for name, count in other.counts.items():
            self.add(name, count)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def breaches(self) -> int:
        return sum(self.counts.get(name, 0) for name in BREACHES)

    @property
    def attainment(self) -> Decimal | None:
        """On-time share of the decided obligations, in percent with one decimal."""
        decided = sum(self.counts.get(name, 0) for name in DECIDED)
        if not decided:
            return None
        share = Decimal(self.counts["met_on_time"]) * 100 / decided
        return share.quantize(Decimal("0.1"), ROUND_HALF_UP)
