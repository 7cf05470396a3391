"""Business calendars: "N business hours after T" and business time between two instants.

Working days, opening hours and timezone come from the policy's [business_hours]; public
holidays from the `holidays` package (country and subdivision), plus extra closed dates.
Business hours are wall-clock hours in the policy's timezone, so DST changes (which happen
at night) never stretch or shrink a working day.

Two kinds of deadline (SPEC §7): a customer promise (first response, case SLA) is exact
arithmetic on its clock; work the policy hands a person (a cadence touch, an onboarding step,
a QBR) counts days on the wall clock of the policy's timezone and lands in business hours
(`person_due`, per rule `at` and `snap`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from crmcli.rules.policy import WEEKDAYS, Policy

# never search further than this for an open day (a calendar with none open is a policy bug)
_MAX_DAYS = 3660


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@dataclass
class BusinessCalendar:
    timezone: ZoneInfo
    days: frozenset[int]  # 0 = Monday
    opens: time
    closes: time
    closed: frozenset[date] = frozenset()
    is_holiday: Callable[[date], bool] = lambda day: False
    _open_cache: dict[date, bool] = field(default_factory=dict, repr=False)

    @classmethod
    def from_policy(cls, policy: Policy) -> BusinessCalendar:
        hours = policy.business_hours
        country = hours.country
        subdivision = hours.subdivision or None
        return cls(
            timezone=policy.timezone,
            days=frozenset(WEEKDAYS.index(d) for d in hours.days),
            opens=_hhmm(hours.start),
            closes=_hhmm(hours.end),
            closed=frozenset(date.fromisoformat(d) for d in hours.closed),
            is_holiday=_holiday_lookup(country, subdivision) if country else (lambda day: False),
        )

    def is_open_day(self, day: date) -> bool:
        if day not in self._open_cache:
            self._open_cache[day] = (
                day.weekday() in self.days and day not in self.closed and not self.is_holiday(day)
            )
        return self._open_cache[day]

    def _opening(self, day: date) -> datetime:
        return datetime.combine(day, self.opens, tzinfo=self.timezone)

    def _closing(self, day: date) -> datetime:
        return datetime.combine(day, self.closes, tzinfo=self.timezone)

    def _next_open_day(self, day: date) -> date:
        for _ in range(_MAX_DAYS):
            day += timedelta(days=1)
            if self.is_open_day(day):
                return day
        raise ValueError("the business calendar has no open day in ten years")

    def next_open(self, instant: datetime) -> datetime:
        """The instant itself if the business is open then, else the next opening."""
        local = instant.astimezone(self.timezone)
        day = local.date()
        if self.is_open_day(day):
            if local < self._opening(day):
                return self._opening(day)
            if local < self._closing(day):
                return local
        return self._opening(self._next_open_day(day))

    def is_open_at(self, instant: datetime) -> bool:
        """Whether `instant` lies in business hours (opening to closing, both included)."""
        local = instant.astimezone(self.timezone)
        day = local.date()
        return self.is_open_day(day) and self._opening(day) <= local <= self._closing(day)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """`duration` of business time after `start` (counting from the next opening)."""
        if duration < timedelta(0):
            raise ValueError("business durations are not negative")
        current = self.next_open(start)
        remaining = duration
        while True:
            # wall-clock arithmetic inside one working day (zoneinfo datetimes add naively)
            available = self._closing(current.date()) - current.replace(fold=0)
            if remaining <= available:
                return (current + remaining).astimezone(UTC)
            remaining -= available
            current = self._opening(self._next_open_day(current.date()))

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants (zero if `end` is not after `start`)."""
        if end <= start:
            return timedelta(0)
        total = timedelta(0)
        current = self.next_open(start)
        end_local = end.astimezone(self.timezone)
        while current < end_local:
            closing = self._closing(current.date())
            stop = min(closing, end_local)
            if stop > current:
                total += stop.replace(tzinfo=None) - current.replace(tzinfo=None)
            current = self._opening(self._next_open_day(current.date()))
        return total


def _holiday_lookup(country: str, subdivision: str | None) -> Callable[[date], bool]:
    import holidays

    calendar = holidays.country_holidays(country, subdiv=subdivision)  # years load lazily
    return lambda day: day in calendar


# how a person's deadline that falls outside business hours is moved
SNAPS = ("opening", "none")


@dataclass(frozen=True)
class Schedule:
    """Where a person's deadline lands: at a fixed local time of its day (`at`), else at the
    time of day it started; then, with snap "opening", at the next opening if it lies
    outside business hours."""

    at: time | None = None
    snap: str = "opening"


def schedule_of(settings: Mapping[str, Any]) -> Schedule | None:
    """A rule's (or band's) schedule from its `at` and `snap` keys; None when it has neither:
    an exact deadline."""
    if "snap" not in settings and not settings.get("at"):
        return None
    at = settings.get("at") or ""
    return Schedule(_hhmm(at) if at else None, settings.get("snap", "opening"))


def wall_clock_add(start: datetime, duration: timedelta, timezone: ZoneInfo) -> datetime:
    """`duration` later on the wall clock of `timezone`: 13 weeks after 10:00 EST is 10:00
    EDT (a calendar day is a day, whatever its length); a time the clocks skip reads as the
    same wall time after the change."""
    local = start.astimezone(timezone).replace(tzinfo=None) + duration
    return local.replace(tzinfo=timezone).astimezone(UTC)


def snap(calendar: BusinessCalendar, instant: datetime, schedule: Schedule) -> datetime:
    """`instant` moved to the schedule's time of day and into business hours."""
    if schedule.at is not None:
        day = instant.astimezone(calendar.timezone).date()
        instant = datetime.combine(day, schedule.at, tzinfo=calendar.timezone)
    if schedule.snap == "opening" and not calendar.is_open_at(instant):
        instant = calendar.next_open(instant)
    return instant.astimezone(UTC)


def person_due(
    calendar: BusinessCalendar, start: datetime, after: timedelta, schedule: Schedule
) -> datetime:
    """A person's deadline `after` a start: counted on the policy's wall clock (days are
    days across DST), then placed by `schedule` (in business hours, by default)."""
    return snap(calendar, wall_clock_add(start, after, calendar.timezone), schedule)


def due_after(
    policy: Policy, calendar: BusinessCalendar | None, start: datetime, rule_id: str
) -> datetime:
    """When an obligation of `rule_id` that starts at `start` falls due.

    Business-clock rules count business time exactly; calendar rules with a schedule (`at`,
    `snap`: work for a person) land in business hours; other calendar rules are exact."""
    spec = policy.rule(rule_id)
    if spec.after is None:
        raise ValueError(f"rule {rule_id} has no `after` duration")
    schedule = schedule_of(spec.settings)
    if spec.clock == "business" or schedule is not None:
        calendar = calendar or BusinessCalendar.from_policy(policy)
        if spec.clock == "business":
            return calendar.add(start, spec.after)
        return person_due(calendar, start, spec.after, schedule)  # type: ignore[arg-type]
    return (start + spec.after).astimezone(UTC)
