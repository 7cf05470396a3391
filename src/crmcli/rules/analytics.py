"""Pure arithmetic of the performance reports: periods, trend buckets, rates and medians.
No database, no printing (the SQL lives in services/analytics; render/charts draws)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal

from crmcli.limits import FIRST_YEAR, LAST_YEAR

BUCKETS = ("week", "month")
# a period up to this long is bucketed by week by default, a longer one by month
WEEKLY_UP_TO = timedelta(days=92)
DEFAULT_PERIOD = timedelta(weeks=13)  # a quarter: the horizon of the weekly pipeline review
_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")


@dataclass(frozen=True)
class Bucket:
    label: str
    start: datetime  # aware UTC, inclusive
    end: datetime  # aware UTC, exclusive


def local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def buckets(start: datetime, end: datetime, size: str, tz: tzinfo) -> list[Bucket]:
    """Calendar weeks (Monday first) or months in `tz` covering [start, end), clipped to it."""
    if size not in BUCKETS:
        raise ValueError(f"{size!r} is not a bucket; use week or month")
    day = start.astimezone(tz).date()
    first = day - timedelta(days=day.weekday()) if size == "week" else day.replace(day=1)
    out: list[Bucket] = []
    while True:
        following = _next(first, size)
        lo, hi = local_midnight(first, tz), local_midnight(following, tz)
        if lo >= end:
            break
        label = first.isoformat() if size == "week" else first.strftime("%Y-%m")
        out.append(Bucket(label, max(lo, start), min(hi, end)))
        first = following
    return out


def _next(day: date, size: str) -> date:
    if size == "week":
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def default_bucket(start: datetime, end: datetime) -> str:
    return "week" if end - start <= WEEKLY_UP_TO else "month"


def quarter_bounds(quarter: str | None, *, now: datetime, tz: tzinfo) -> tuple[str, date, date]:
    """ "2026Q1" / "2026-Q1" (or the quarter of `now` in `tz`) -> (label, first day, day after).

    Raises ValueError on anything else.
    """
    if quarter is None:
        local = now.astimezone(tz)
        year, number = local.year, (local.month - 1) // 3 + 1
    else:
        found = _QUARTER.match(quarter.strip())
        if not found:
            raise ValueError(f"{quarter!r} is not a quarter; write YYYY-QN like 2026-Q1")
        year, number = int(found.group(1)), int(found.group(2))
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValueError(f"{quarter!r} is out of range; give a year {FIRST_YEAR}-{LAST_YEAR}")
    first = date(year, 3 * number - 2, 1)
    after = date(year + (number == 4), 1 if number == 4 else 3 * number + 1, 1)
    return f"{year}-Q{number}", first, after


def percent(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """part/whole as a percentage with one decimal, None when there is nothing to divide by."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def cents(value: int | None) -> Decimal:
    """Whole cents (as SQL sums them) -> money."""
    return (Decimal(value or 0) / 100).quantize(Decimal("0.01"))


def weighted_cents(total_cents: int | None, probability: int | float) -> Decimal:
    """A stage's value times its probability, rounded to the cent."""
    value = Decimal(total_cents or 0) * Decimal(str(probability)) / 100
    return (value / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)


def days(seconds: float | None) -> Decimal | None:
    """Seconds -> days with one decimal (velocity figures)."""
    if seconds is None:
        return None
    return (Decimal(str(seconds)) / 86400).quantize(Decimal("0.1"), ROUND_HALF_UP)


def minutes(seconds: float | None) -> Decimal | None:
    if seconds is None:
        return None
    return (Decimal(str(seconds)) / 60).quantize(Decimal("0.1"), ROUND_HALF_UP)


def median(values: list[float]) -> float | None:
    """The middle value (mean of the two middle ones for an even count); tests check the SQL
    medians against this."""
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return None
    mid = n // 2
    return float(ordered[mid]) if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def ratio(part: int, whole: int) -> str | None:
    """'3.0:1' — how many deals a stage holds for each deal of the next one."""
    if not whole:
        return None
    return f"{Decimal(part) / Decimal(whole):.1f}:1"
