"""Meeting reminders (seed 001 §7.1) as pure rules: when each goes out, and [reminders] checks.

A reminder never arrives later than promised: one that falls while the business is closed
moves earlier, to the last business hour before it; one whose time has passed is dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import examples
from crmcli.rules import reminders
from crmcli.rules.calendar import BusinessCalendar
from crmcli.rules.policy import default_policy

NY = ZoneInfo("America/New_York")
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
BEFORE = reminders.offsets(["1d", "1h"])


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    return BusinessCalendar.from_policy(default_policy())  # 09:00-17:00 Mon-Fri, US holidays


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def sent(calendar, start: datetime, now: datetime) -> list[tuple[str, datetime]]:
    return [(r.before, r.send_at) for r in reminders.schedule(start, BEFORE, now, calendar)]


def test_offsets_are_read_longest_first() -> None:
    assert reminders.offsets(["1h", "2d", "30m"]) == [
        ("2d", 2 * DAY),
        ("1h", HOUR),
        ("30m", timedelta(minutes=30)),
    ]


def test_reminders_inside_business_hours_go_at_their_time(calendar) -> None:
    # Tuesday 10:00 (EDT): Monday 10:00 and Tuesday 09:00 are both open
    assert sent(calendar, ny(2026, 3, 10, 10, 0), ny(2026, 3, 4, 11, 0)) == [
        ("1d", ny(2026, 3, 9, 10, 0).astimezone(UTC)),
        ("1h", ny(2026, 3, 10, 9, 0).astimezone(UTC)),
    ]


def test_a_reminder_at_night_moves_to_the_last_business_hour_before_it(calendar) -> None:
    # Tuesday 08:00: 1d is Monday 08:00 -> Friday 16:00 (EST, before the DST change);
    # 1h is Tuesday 07:00 -> Monday 16:00 (EDT)
    assert sent(calendar, ny(2026, 3, 10, 8, 0), ny(2026, 3, 4, 11, 0)) == [
        ("1d", datetime(2026, 3, 6, 21, 0, tzinfo=UTC)),
        ("1h", datetime(2026, 3, 9, 20, 0, tzinfo=UTC)),
    ]


def test_reminders_landing_together_are_sent_once(calendar) -> None:
    # Monday 09:30: Sunday 09:30 and Monday 08:30 both move to Friday 16:00
    assert sent(calendar, ny(2026, 3, 9, 9, 30), ny(2026, 3, 4, 11, 0)) == [
        ("1d", ny(2026, 3, 6, 16, 0).astimezone(UTC)),
    ]


def test_holidays_are_skipped_backwards(calendar) -> None:
    # Tuesday after Memorial Day (Monday 2026-05-25): 1d goes out Friday 22 May 16:00
    assert sent(calendar, ny(2026, 5, 26, 10, 0), ny(2026, 5, 20, 9, 0)) == [
        ("1d", ny(2026, 5, 22, 16, 0).astimezone(UTC)),
        ("1h", ny(2026, 5, 26, 9, 0).astimezone(UTC)),
    ]


def test_a_reminder_whose_time_has_passed_is_dropped(calendar) -> None:
    # booked Friday 16:30 for Monday 10:00: 1d (Sunday -> Friday 16:00) is already past
    assert sent(calendar, ny(2026, 3, 9, 10, 0), ny(2026, 3, 6, 16, 30)) == [
        ("1h", ny(2026, 3, 9, 9, 0).astimezone(UTC)),
    ]
    assert sent(calendar, ny(2026, 3, 9, 10, 0), ny(2026, 3, 9, 9, 30)) == []


def test_latest_open_keeps_an_open_instant_and_moves_a_closed_one_back(calendar) -> None:
    assert reminders.latest_open(calendar, ny(2026, 3, 10, 11, 15)) == ny(2026, 3, 10, 11, 15)
    assert reminders.latest_open(calendar, ny(2026, 3, 10, 19, 0)) == ny(2026, 3, 10, 16, 0)
    assert reminders.latest_open(calendar, ny(2026, 3, 10, 16, 59)) == ny(2026, 3, 10, 16, 59)
    assert reminders.latest_open(calendar, ny(2026, 3, 10, 17, 0)) == ny(2026, 3, 10, 16, 0)
    assert reminders.latest_open(calendar, ny(2026, 3, 10, 9, 0)) == ny(2026, 3, 10, 9, 0)
    assert reminders.latest_open(calendar, ny(2026, 3, 10, 8, 59)) == ny(2026, 3, 9, 16, 0)


def test_a_short_business_day_is_reminded_from_its_opening() -> None:
    from crmcli.rules.policy import parse_policy

    short = BusinessCalendar.from_policy(
        parse_policy('[business_hours]\nstart = "09:00"\nend = "09:30"\n')
    )
    assert reminders.latest_open(short, ny(2026, 3, 10, 12, 0)) == ny(2026, 3, 10, 9, 0)


INSTANTS = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
DURATIONS = st.lists(
    st.sampled_from(["15m", "1h", "2h", "4h", "1d", "2d", "3d", "1w"]),
    min_size=1,
    max_size=4,
    unique=True,
)


@settings(max_examples=examples(300), deadline=None)
@given(start=INSTANTS, lead_time=st.integers(0, 30 * 24 * 60), before=DURATIONS)
def test_no_reminder_is_ever_outside_business_hours_late_or_past(
    calendar, start: datetime, lead_time: int, before: list[str]
) -> None:
    now = start - timedelta(minutes=lead_time)
    offsets = reminders.offsets(before)
    found = reminders.schedule(start, offsets, now, calendar)
    promised = dict(offsets)
    times = [r.send_at for r in found]
    assert times == sorted(set(times))  # in order, never two at once
    for reminder in found:
        assert calendar.next_open(reminder.send_at) == reminder.send_at  # in business hours
        assert now < reminder.send_at <= start - promised[reminder.before]  # ahead, not late


@pytest.mark.parametrize(
    ("settings_", "path", "says"),
    [
        ({"before": ["soon"]}, ("reminders", "before", 0), "duration"),
        ({"before": ["0m"]}, ("reminders", "before", 0), "more than 0"),
        ({"before": ["1h", "60m"]}, ("reminders", "before", 1), "twice"),
        ({"confirmation": "nope"}, ("reminders", "confirmation"), "not in [templates]"),
        ({"reminder": "nope"}, ("reminders", "reminder"), "not in [templates]"),
        ({"cancellation": "nope"}, ("reminders", "cancellation"), "not in [templates]"),
    ],
)
def test_reminder_settings_are_checked(settings_: dict, path: tuple, says: str) -> None:
    values = {
        "before": ["1d"],
        "confirmation": "",
        "reminder": "",
        "cancellation": "",
        "rep": True,
    }
    problems = reminders.check({**values, **settings_}, {"welcome": {}})
    assert [p for p, _m in problems] == [path]
    assert says in problems[0][1]


def test_default_reminder_settings_are_valid() -> None:
    assert reminders.check(default_policy().data["reminders"], {}) == []
