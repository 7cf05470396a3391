"""Confirmations and reminders of meetings with a lead (seed 001 §7.1), as pure functions.

`[reminders] before` says how long before a meeting its lead and rep are reminded. Messages go
out in business hours, and a reminder must never arrive later than it promises, so one that
falls while the business is closed moves *earlier*, to the last business hour before it (an
hour before closing: an hourly `crm outbox send` still catches it). One whose time has passed
by the time the meeting is booked is dropped (the confirmation says it all), and reminders
that land on the same instant go out once, as the longest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from crmcli.rules.durations import parse_duration

if TYPE_CHECKING:
    from crmcli.rules.calendar import BusinessCalendar

# the templates [reminders] may name; only these may use the meeting.* fields
TEMPLATE_KEYS = ("confirmation", "reminder", "cancellation")
LAST_HOUR = timedelta(hours=1)
_MAX_DAYS = 3660  # never search further back for an open day (as rules.calendar forward)


@dataclass(frozen=True)
class Reminder:
    before: str  # the offset as the policy writes it ("1d")
    send_at: datetime  # UTC, inside business hours


def offsets(before: Sequence[str]) -> list[tuple[str, timedelta]]:
    """The policy's `before` durations, longest first (the order reminders go out in)."""
    return sorted(((text, parse_duration(text)) for text in before), key=lambda o: -o[1])


def latest_open(calendar: BusinessCalendar, instant: datetime) -> datetime:
    """`instant` if the business is open then; else the start of the last business hour
    before it (the opening, on a day shorter than an hour)."""
    if calendar.next_open(instant) == instant:
        return instant
    tz = calendar.timezone
    local = instant.astimezone(tz)
    day = local.date()
    for _ in range(_MAX_DAYS):
        if calendar.is_open_day(day):
            opening = datetime.combine(day, calendar.opens, tzinfo=tz)
            closing = datetime.combine(day, calendar.closes, tzinfo=tz)
            if opening < local:  # this day's hours lie before the instant (it is closed)
                return max(opening, closing - LAST_HOUR)
        day -= timedelta(days=1)
    raise ValueError("the business calendar has no open day in ten years")


def schedule(
    start: datetime,
    before: list[tuple[str, timedelta]],
    now: datetime,
    calendar: BusinessCalendar,
) -> list[Reminder]:
    """When each reminder of a meeting starting at `start` goes out (see the module doc)."""
    found: dict[datetime, Reminder] = {}
    for text, offset in before:  # longest first: it keeps an instant two of them share
        send_at = latest_open(calendar, start - offset).astimezone(UTC)
        if send_at > now and send_at not in found:
            found[send_at] = Reminder(text, send_at)
    return [found[at] for at in sorted(found)]


def check(settings: dict[str, Any], templates: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """Problems of a policy's [reminders] table, as (path, message)."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    seen: dict[timedelta, str] = {}
    for i, text in enumerate(settings.get("before", [])):
        path = ("reminders", "before", i)
        try:
            offset = parse_duration(text)
        except ValueError as exc:
            problems.append((path, str(exc)))
            continue
        if offset <= timedelta(0):
            problems.append((path, "must be more than 0, e.g. 1h"))
        elif offset in seen:
            problems.append((path, f"{text} is {seen[offset]} twice; give each once"))
        else:
            seen[offset] = text
    for key in TEMPLATE_KEYS:
        name = settings.get(key)
        if name and name not in templates:
            known = ", ".join(templates) or "none defined"
            problems.append(
                (("reminders", key), f"template {name!r} is not in [templates] ({known})")
            )
    return problems
