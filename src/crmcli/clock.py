"""The one clock every "now" reads (SPEC §2: CRM_NOW makes runs deterministic), and the one
place dates and times a user types are read (every WHEN option, import dates, CRM_NOW)."""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, tzinfo

from crmcli.errors import BadInput
from crmcli.limits import date_problem

EXAMPLE = "2026-03-06 16:30 (or 2026-03-06 16:30+01:00 with an offset)"


def now() -> datetime:
    """Current time, timezone-aware in UTC; CRM_NOW (ISO 8601) overrides the system clock."""
    fixed = os.environ.get("CRM_NOW")
    if not fixed:
        return datetime.now(UTC)
    try:
        return parse_when(fixed, default_tz=UTC, field="CRM_NOW")
    except BadInput as exc:
        raise BadInput(f"CRM_NOW: {exc.message.removeprefix('CRM_NOW: ')}") from None


def parse_when(
    text: str,
    *,
    default_tz: tzinfo,
    field: str = "--at",
    day_first: bool = False,
) -> datetime:
    """Parse an ISO or common US/EU date-time; naive values are read in `default_tz`.

    Returns an aware datetime in UTC, in the years crmcli works in (limits.date_problem). A
    UTC offset must be a real one (under 24 hours); a timezone named by an abbreviation
    other than UTC/GMT/Z is refused, since "CET" or "IST" would otherwise be read as local.
    """
    raw = text.strip()
    if not raw:
        raise BadInput(f"{field}: empty date; use ISO 8601 like {EXAMPLE}")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = _parse_common(raw, field=field, day_first=day_first)
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_tz)
    return in_utc(value, field=field, text=text)


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


def _parse_common(raw: str, *, field: str, day_first: bool) -> datetime:
    """The forms ISO 8601 does not cover (US/EU dates, AM/PM, a timezone name), by dateutil."""
    import warnings

    from dateutil import parser

    try:
        with warnings.catch_warnings():
            # dateutil warns and then ignores a timezone name it does not know
            warnings.simplefilter("error", parser.UnknownTimezoneWarning)
            return parser.parse(raw, dayfirst=day_first)
    except parser.UnknownTimezoneWarning as warning:
        found = re.search(r"tzname (\S+) identified", str(warning))
        name = found.group(1) if found else "the timezone name"
        raise BadInput(
            f"{field}: unknown timezone {name!r} in {raw!r}; give a UTC offset instead, "
            "e.g. 2026-01-01 10:00+01:00 (or UTC)"
        ) from None
    except (ValueError, OverflowError, parser.ParserError):
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
