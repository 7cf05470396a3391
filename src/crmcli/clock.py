"""The one clock every "now" reads (SPEC §2: CRM_NOW makes runs deterministic), and the one
place dates and times a user types are read (every WHEN option, import dates, CRM_NOW)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from crmcli.errors import BadInput
from crmcli.limits import date_problem

EXAMPLE = "2026-03-06 16:30 (or 2026-03-06 16:30+01:00 with an offset)"
HUMAN_EXAMPLES = "'tomorrow 10:00', 'fri 14:00', 'next monday', '+2d', 'in 3h', '1h ago', 'eod'"

Direction = Literal["past", "future"]
MAX_WHEN_LENGTH = 100


def now() -> datetime:
    """Current time, timezone-aware in UTC; CRM_NOW (ISO 8601) overrides the system clock."""
    fixed = os.environ.get("CRM_NOW")
    if not fixed:
        return datetime.now(UTC)
    try:
        return parse_when(fixed, default_tz=UTC, field="CRM_NOW")
    except BadInput as exc:
        raise BadInput(f"CRM_NOW: {exc.message.removeprefix('CRM_NOW: ')}") from None


def read_when(
    text: str,
    *,
    policy: Any,
    field: str,
    prefer: Direction = "future",
    relative_to: datetime | None = None,
) -> datetime:
    """A time a person typed for a WHEN option (--at, --due, --from...): ISO 8601, a common
    form, or a human one, read in the policy's timezone; "eod" is its business day's end.
    `prefer` says which way a bare weekday points ("fri" logging a call: the last Friday)."""
    return parse_when(
        text,
        default_tz=policy.timezone,
        field=field,
        human=prefer,
        day_end=policy.business_hours.end,
        relative_to=relative_to,
    )


def parse_when(
    text: str,
    *,
    default_tz: tzinfo,
    field: str = "--at",
    day_first: bool = False,
    human: Direction | None = None,
    day_end: str = "17:00",
    relative_to: datetime | None = None,
) -> datetime:
    """Parse an ISO or common US/EU date-time; naive values are read in `default_tz`.

    With `human` set, the forms a person types are read too (`tomorrow 10:00`, `+2d`,
    `1h ago`; see `_parse_human`), relative to `relative_to` (default: the clock). Files and
    CRM_NOW leave it unset: a relative time in data would change with every run.

    Returns an aware datetime in UTC, in the years crmcli works in (limits.date_problem). A
    UTC offset must be a real one (under 24 hours); a timezone named by an abbreviation
    other than UTC/GMT/Z is refused, since "CET" or "IST" would otherwise be read as local.
    """
    raw = text.strip()
    if not raw:
        hint = f"e.g. {HUMAN_EXAMPLES} or {EXAMPLE}" if human else f"use ISO 8601 like {EXAMPLE}"
        raise BadInput(f"{field}: empty date; {hint}")
    if len(raw) > MAX_WHEN_LENGTH:  # no time is this long; the parsers need not try
        raise BadInput(
            f"{field}: {raw[:20]!r}… is {len(raw)} characters, too long to be a time; "
            f"use ISO 8601 like {EXAMPLE}"
        )
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        if human is not None:
            value = _parse_human(
                raw,
                field=field,
                tz=default_tz,
                prefer=human,
                day_end=day_end,
                reference=relative_to,
            )
            if value is not None:
                utc = in_utc(value, field=field, text=text)
                _remember(field, text, utc, default_tz)
                return utc
        today = None
        if human is not None:  # "march 6 10:00": the year and day missing are today's, by the clock
            midnight = (relative_to or now()).astimezone(default_tz)
            today = midnight.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
        value = _parse_common(raw, field=field, day_first=day_first, today=today)
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_tz)
    return in_utc(value, field=field, text=text)


# --- human forms ------------------------------------------------------------------------------

WEEKDAYS = {
    "mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4,
    "sat": 5, "saturday": 5, "sun": 6, "sunday": 6,
}  # fmt: skip
UNITS = {
    "m": "minutes", "min": "minutes", "mins": "minutes", "minute": "minutes",
    "minutes": "minutes", "h": "hours", "hr": "hours", "hrs": "hours", "hour": "hours",
    "hours": "hours", "d": "days", "day": "days", "days": "days", "w": "weeks", "wk": "weeks",
    "wks": "weeks", "week": "weeks", "weeks": "weeks",
}  # fmt: skip
_AMOUNT = r"(?:\d{1,6}\s*[a-z]+\s*)+"  # 2d, 3 hours, 1h 30m (six digits: no overflow games)
_RELATIVE = re.compile(
    rf"^(?:(?P<sign>[+-])\s*|in\s+)(?P<ahead>{_AMOUNT})$|^(?P<back>{_AMOUNT})ago$"
)
_PART = re.compile(r"(\d{1,6})\s*([a-z]+)")
_DAY = re.compile(
    r"^(?:(?P<word>today|tomorrow|yesterday)"
    r"|(?:(?P<which>next|last|this)\s+)?(?P<weekday>[a-z]+)"
    r"|(?P<iso>\d{4}-\d{2}-\d{2}))$"
)
_CLOCK = re.compile(r"^(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<half>am|pm)?$")


def _parse_human(
    raw: str,
    *,
    field: str,
    tz: tzinfo,
    prefer: Direction,
    day_end: str,
    reference: datetime | None,
) -> datetime | None:
    """The forms a person types, or None when `raw` is none of them (then the ISO/common
    parser has its turn). A day alone means its start (00:00), as an ISO date does;
    `+2d` and `+1w` keep the wall-clock time across a DST change, `+3h` is elapsed time."""
    text = " ".join(raw.lower().split())
    current = (reference or now()).astimezone(tz)
    relative = _RELATIVE.match(text)
    if relative:
        ahead = relative.group("ahead") or relative.group("back")
        sign = -1 if relative.group("back") or relative.group("sign") == "-" else 1
        return _shifted(current, ahead, sign, field=field, raw=raw)
    if text == "now":
        return current
    day_text, clock_text = _split_day_and_clock(text)
    if day_text is None and clock_text is None:
        return None
    day = current.date() if day_text is None else _day(day_text, current.date(), prefer)
    if day is None:
        return None
    at = time(0, 0) if clock_text is None else _clock(clock_text, day_end)
    if at is None:
        if clock_text is not None and _CLOCK.match(clock_text.replace(".", ":")):
            raise _unreadable(field, raw, f"{clock_text!r} is not a time of day")
        return None
    return datetime.combine(day, at, tzinfo=tz)


def _split_day_and_clock(text: str) -> tuple[str | None, str | None]:
    """ "fri 14:00" -> ("fri", "14:00"), "tomorrow at 10am" -> ("tomorrow", "10am"),
    "eod" -> (None, "eod"), "next monday" -> ("next monday", None)."""
    words = text.replace(" at ", " ").split(" ")
    if len(words) == 1:
        return (None, text) if _is_clock(text) else (text, None)
    for cut in (1, len(words) - 1, 2):
        head, tail = " ".join(words[:cut]), " ".join(words[cut:])
        if _is_clock(tail) and _DAY.match(head):
            return head, tail
        if _is_clock(head) and _DAY.match(tail):
            return tail, head
    return (text, None) if _DAY.match(text) else (None, None)


def _is_clock(text: str) -> bool:
    return text in ("eod", "noon", "midnight") or bool(_CLOCK.match(text))


def _day(text: str, today: date, prefer: Direction) -> date | None:
    found = _DAY.match(text)
    if not found:
        return None
    if found.group("word"):
        return today + timedelta(days={"today": 0, "tomorrow": 1, "yesterday": -1}[text])
    if found.group("iso"):
        try:
            return date.fromisoformat(found.group("iso"))
        except ValueError:
            return None
    weekday = WEEKDAYS.get(found.group("weekday"))
    if weekday is None:
        return None
    ahead = (weekday - today.weekday()) % 7  # 0..6 days on
    which = found.group("which")
    if which == "next" or (which is None and prefer == "future"):
        # "fri" on a Friday is today; "next fri" is always a day to come
        return today + timedelta(days=ahead or (7 if which == "next" else 0))
    if which == "this":
        return today + timedelta(days=ahead)
    back = (today.weekday() - weekday) % 7
    return today - timedelta(days=back or (7 if which == "last" else 0))


def _clock(text: str, day_end: str) -> time | None:
    """A time of day: 14:00, 2pm, 2:30pm, noon, midnight, eod (the business day's end)."""
    if text == "eod":
        hour, minute = day_end.split(":")
        return time(int(hour), int(minute))
    if text in ("noon", "midnight"):
        return time(12 if text == "noon" else 0, 0)
    found = _CLOCK.match(text)
    if not found or (found.group("minute") is None and found.group("half") is None):
        return None  # a bare "10" could be a day, an hour or a count: ask for 10:00
    hour, minute = int(found.group("hour")), int(found.group("minute") or 0)
    half = found.group("half")
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _shifted(current: datetime, amount: str, sign: int, *, field: str, raw: str) -> datetime:
    """`current` moved by "2d 3h": days and weeks on the wall clock, hours and minutes elapsed."""
    totals = {"minutes": 0, "hours": 0, "days": 0, "weeks": 0}
    for number, unit in _PART.findall(amount):
        name = UNITS.get(unit)
        if name is None:
            raise _unreadable(field, raw, f"{unit!r} is not a unit (use m, h, d or w)")
        totals[name] += int(number)
    try:
        calendar = timedelta(days=totals["days"], weeks=totals["weeks"]) * sign
        elapsed = timedelta(hours=totals["hours"], minutes=totals["minutes"]) * sign
        tz = current.tzinfo
        moved = (current.replace(tzinfo=None) + calendar).replace(tzinfo=tz)
        return (moved.astimezone(UTC) + elapsed).astimezone(tz)
    except OverflowError:
        raise BadInput(f"{field}: {raw!r} is out of range; {_range_hint()}") from None


def _unreadable(field: str, raw: str, why: str) -> BadInput:
    return BadInput(f"{field}: cannot read {raw!r} ({why}); write e.g. {HUMAN_EXAMPLES}")


# --- echo: what a human form was read as (commands print it after the command succeeds) ------

_READ: ContextVar[list[tuple[str, str, datetime, tzinfo]] | None] = ContextVar(
    "crm_when_read", default=None
)


@contextmanager
def remembering() -> Iterator[list[tuple[str, str, datetime, tzinfo]]]:
    """Collect (field, text, value in UTC, timezone) for every human form read inside."""
    read: list[tuple[str, str, datetime, tzinfo]] = []
    token = _READ.set(read)
    try:
        yield read
    finally:
        _READ.reset(token)


def _remember(field: str, text: str, value: datetime, tz: tzinfo) -> None:
    read = _READ.get()
    if read is not None and (field, text) not in [(f, t) for f, t, _, _ in read]:
        read.append((field, text, value, tz))


def in_utc(value: datetime, *, field: str, text: str) -> datetime:
    """An aware `value` (read from `text`) in UTC, or BadInput when its offset is not a
    real one or it lies outside the years crmcli works in."""
    try:
        value.utcoffset()
    except ValueError:  # dateutil accepts +99:00; datetime refuses it as soon as it is used
        raise BadInput(
            f"{field}: {text!r} has a UTC offset of 24 hours or more; "
            f"offsets run from -23:59 to +23:59, e.g. {EXAMPLE}"
        ) from None
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-12:00 is past the year 9999 in UTC
        utc = None
    if utc is None or date_problem(utc):
        raise BadInput(f"{field}: {text!r} is out of range; {_range_hint()}")
    return utc


def _parse_common(
    raw: str, *, field: str, day_first: bool, today: datetime | None = None
) -> datetime:
    """The forms ISO 8601 does not cover (US/EU dates, AM/PM, a timezone name), by dateutil."""
    import warnings

    from dateutil import parser

    try:
        with warnings.catch_warnings():
            # dateutil warns and then ignores a timezone name it does not know
            warnings.simplefilter("error", parser.UnknownTimezoneWarning)
            return parser.parse(raw, dayfirst=day_first, default=today)
    except parser.UnknownTimezoneWarning as warning:
        found = re.search(r"tzname (\S+) identified", str(warning))
        name = found.group(1) if found else "the timezone name"
        raise BadInput(
            f"{field}: unknown timezone {name!r} in {raw!r}; give a UTC offset instead, "
            "e.g. 2026-01-01 10:00+01:00 (or UTC)"
        ) from None
    except (ValueError, OverflowError, parser.ParserError):
        if today is not None:  # a person typed it: show the human forms too
            raise BadInput(
                f"{field}: cannot read {raw!r} as a time; write e.g. {HUMAN_EXAMPLES} or {EXAMPLE}"
            ) from None
        raise BadInput(
            f"{field}: cannot read {raw!r} as a date; use ISO 8601 like {EXAMPLE}"
        ) from None


def _range_hint() -> str:
    from crmcli.limits import FIRST_YEAR, LAST_YEAR

    return f"give a date in the years {FIRST_YEAR}-{LAST_YEAR}"


def in_range(day: date, *, field: str) -> date:
    """`day` itself, or BadInput when it lies outside the years crmcli works in."""
    problem = date_problem(day)
    if problem:
        raise BadInput(f"{field}: {problem}")
    return day


def parse_date(text: str, *, field: str) -> date:
    """A calendar date written YYYY-MM-DD (contract ends, close dates)."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"{field}: {text!r} is not a date; write YYYY-MM-DD") from None
    return in_range(day, field=field)
