"""A rep's calendar and activity points (seeds 001 §7 and 004), as pure functions.

Scheduled items are half-open intervals [start, end): a meeting ending at 10:00 and a next
step starting at 10:00 do not clash. An item stored without a duration occupies the
policy's default duration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from crmcli.limits import FIRST_YEAR, LAST_YEAR, MAX_DURATION

DEFAULT_DURATION = timedelta(minutes=30)
NO_DOUBLE_BOOKING = "no double-booking (seed 001 §7)"
_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")


@dataclass(frozen=True)
class Slot:
    """One scheduled item of a rep: starts at `start` and lasts `minutes` (None: the default)."""

    start: datetime
    minutes: int | None = None
    id: int | None = None
    kind: str = "task"  # task | meeting
    title: str = ""
    lead_id: int | None = None

    def end(self, default: timedelta = DEFAULT_DURATION) -> datetime:
        length = default if self.minutes is None else timedelta(minutes=self.minutes)
        return self.start + length


def overlaps(a: Slot, b: Slot, default: timedelta = DEFAULT_DURATION) -> bool:
    """True when [a.start, a.end) and [b.start, b.end) share at least one instant."""
    return max(a.start, b.start) < min(a.end(default), b.end(default))


def clashes(
    candidate: Slot, scheduled: Iterable[Slot], default: timedelta = DEFAULT_DURATION
) -> list[Slot]:
    """The scheduled items (other than the candidate itself) it overlaps, earliest first."""
    found = [
        slot
        for slot in scheduled
        if (candidate.id is None or slot.id != candidate.id) and overlaps(candidate, slot, default)
    ]
    return sorted(found, key=lambda slot: (slot.start, slot.id or 0))


@dataclass(frozen=True)
class ActionItem:
    """An action item of a call report: what to do and the (unparsed) due text."""

    text: str
    due: str


def parse_action_item(raw: str) -> ActionItem:
    """Split "text@due" on the last "@" (so "email bob@example.com@2026-03-10" works).

    Raises ValueError with a hint when the text or the due is missing.
    """
    text, sep, due = raw.rpartition("@")
    text, due = text.strip(), due.strip()
    if not sep:
        raise ValueError(
            f"{raw!r} has no due date; write 'text@due', e.g. 'send the proposal@2026-03-10 09:00'"
        )
    if not text:
        raise ValueError(f"{raw!r} says nothing to do; write 'text@due'")
    if not due:
        raise ValueError(f"{raw!r} has an empty due after '@'; write 'text@due'")
    return ActionItem(text, due)


def month_bounds(month: str | None, *, now: datetime, tz: tzinfo) -> tuple[str, datetime, datetime]:
    """ "2026-03" (or the current month in `tz` for None) -> (label, start, end), aware datetimes.

    Raises ValueError on anything but YYYY-MM.
    """
    if month is None:
        local = now.astimezone(tz)
        year, number = local.year, local.month
    else:
        found = _MONTH.match(month)
        if not found or not 1 <= int(found.group(2)) <= 12:
            raise ValueError(f"{month!r} is not a month; write YYYY-MM like 2026-03")
        year, number = int(found.group(1)), int(found.group(2))
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValueError(f"{month!r} is out of range; give a year {FIRST_YEAR}-{LAST_YEAR}")
    start = datetime(year, number, 1, tzinfo=tz)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=tz)
    return f"{year:04d}-{number:02d}", start, end


def agenda_window(now: datetime, days: int, tz: tzinfo) -> datetime:
    """End of an agenda of `days` local days counted from today (1 = the rest of today)."""
    if days < 1:
        raise ValueError("give 1 or more days")
    if days > MAX_DURATION.days:
        raise ValueError(f"give at most {MAX_DURATION.days} days (ten years)")
    # calendar days, not 24-hour steps: a DST change must not shift the window by an hour
    end = now.astimezone(tz).date() + timedelta(days=days)
    return datetime(end.year, end.month, end.day, tzinfo=tz)


@dataclass(frozen=True)
class PointsRow:
    kind: str
    points_each: int | None  # the policy's value for one activity of this kind
    count: int
    points: int  # earned (as stored when the activity was logged or done)
    recommended: int | None  # recommended number per month, when the policy gives one
    recommended_points: int | None  # recommended x points_each


@dataclass(frozen=True)
class PointsSummary:
    rows: tuple[PointsRow, ...]
    count: int
    total: int
    quota: int

    @property
    def remaining(self) -> int:
        return max(self.quota - self.total, 0)

    @property
    def percent(self) -> int:
        return round(100 * self.total / self.quota) if self.quota else 100


def points_summary(
    earned: Iterable[tuple[str, int]],
    *,
    points_table: Mapping[str, int],
    recommended: Mapping[str, int],
    quota: int,
) -> PointsSummary:
    """Per-kind counts and points of one rep's month, against recommended counts and quota.

    `earned` holds (kind, points) per activity. Rows follow the policy's points table, then
    kinds the policy no longer lists; a kind appears when it was earned or is recommended.
    """
    counts: dict[str, int] = {}
    points: dict[str, int] = {}
    for kind, value in earned:
        counts[kind] = counts.get(kind, 0) + 1
        points[kind] = points.get(kind, 0) + value
    shown = [k for k in points_table if k in counts or k in recommended]
    shown += sorted(k for k in {*counts, *recommended} if k not in points_table)
    rows = []
    for kind in shown:
        each = points_table.get(kind)
        wanted = recommended.get(kind)
        rows.append(
            PointsRow(
                kind=kind,
                points_each=each,
                count=counts.get(kind, 0),
                points=points.get(kind, 0),
                recommended=wanted,
                recommended_points=wanted * each
                if wanted is not None and each is not None
                else None,
            )
        )
    return PointsSummary(
        rows=tuple(rows),
        count=sum(counts.values()),
        total=sum(points.values()),
        quota=quota,
    )
