"""Business calendar: SPEC §4's worked examples, holidays, closed dates, DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcli.rules.calendar import BusinessCalendar, due_after
from crmcli.rules.policy import default_policy, parse_policy

NY = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    return BusinessCalendar.from_policy(default_policy())


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def test_friday_afternoon_rolls_to_monday(calendar: BusinessCalendar) -> None:
    assert calendar.add(ny(2026, 3, 6, 16, 30), HOUR) == ny(2026, 3, 9, 9, 30).astimezone(UTC)


def test_monday_holiday_rolls_to_tuesday(calendar: BusinessCalendar) -> None:
    # Martin Luther King Jr. Day: Monday 2026-01-19
    assert calendar.add(ny(2026, 1, 16, 16, 30), HOUR) == ny(2026, 1, 20, 9, 30).astimezone(UTC)


def test_weekend_event_counts_from_monday_morning(calendar: BusinessCalendar) -> None:
    assert calendar.add(ny(2026, 3, 7, 11, 0), HOUR) == ny(2026, 3, 9, 10, 0).astimezone(UTC)


def test_before_opening_counts_from_opening(calendar: BusinessCalendar) -> None:
    assert calendar.add(ny(2026, 3, 10, 6, 0), HOUR) == ny(2026, 3, 10, 10, 0).astimezone(UTC)


def test_dst_weekend_keeps_wall_clock_hours(calendar: BusinessCalendar) -> None:
    # clocks went forward on Sunday 2026-03-08; Monday 09:30 is EDT (UTC-4)
    due = calendar.add(ny(2026, 3, 6, 16, 30), HOUR)
    assert due == datetime(2026, 3, 9, 13, 30, tzinfo=UTC)
    # autumn: clocks go back on Sunday 2026-11-01
    assert calendar.add(ny(2026, 10, 30, 16, 0), 2 * HOUR) == datetime(
        2026, 11, 2, 15, 0, tzinfo=UTC
    )


def test_multi_day_spans_and_extra_closed_dates() -> None:
    policy = parse_policy('[business_hours]\nclosed = ["2026-12-24"]\n')
    calendar = BusinessCalendar.from_policy(policy)
    # 16 business hours from Wednesday 2026-12-23 09:00: the 24th is closed, the 25th a holiday
    assert calendar.add(ny(2026, 12, 23, 9, 0), 16 * HOUR) == ny(2026, 12, 28, 17, 0).astimezone(
        UTC
    )


def test_no_holidays_when_country_is_empty() -> None:
    policy = parse_policy('[business_hours]\nholidays = { country = "", subdivision = "" }\n')
    calendar = BusinessCalendar.from_policy(policy)
    assert calendar.add(ny(2026, 1, 16, 16, 30), HOUR) == ny(2026, 1, 19, 9, 30).astimezone(UTC)


def test_subdivision_holidays() -> None:
    policy = parse_policy(
        '[business_hours]\ntimezone = "Europe/Berlin"\n'
        'holidays = { country = "DE", subdivision = "BY" }\n'
    )
    calendar = BusinessCalendar.from_policy(policy)
    berlin = ZoneInfo("Europe/Berlin")
    # Epiphany (6 Jan) is a holiday in Bavaria: Tuesday 2026-01-06
    due = calendar.add(datetime(2026, 1, 5, 16, 30, tzinfo=berlin), HOUR)
    assert due == datetime(2026, 1, 7, 9, 30, tzinfo=berlin).astimezone(UTC)


def test_elapsed_is_the_reverse(calendar: BusinessCalendar) -> None:
    start = ny(2026, 3, 6, 16, 30)
    assert calendar.elapsed(start, ny(2026, 3, 9, 9, 30)) == HOUR
    assert calendar.elapsed(ny(2026, 3, 7, 10, 0), ny(2026, 3, 8, 10, 0)) == timedelta(0)
    assert calendar.elapsed(ny(2026, 3, 9, 12, 0), ny(2026, 3, 9, 11, 0)) == timedelta(0)


@given(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)),
    st.integers(min_value=0, max_value=60 * 40),
)
def test_add_then_elapsed_round_trips(naive: datetime, minutes: int) -> None:
    calendar = BusinessCalendar.from_policy(default_policy())
    start = naive.replace(tzinfo=UTC)
    due = calendar.add(start, timedelta(minutes=minutes))
    assert due >= start
    assert calendar.elapsed(start, due) == timedelta(minutes=minutes)
    local = due.astimezone(NY)
    assert calendar.is_open_day(local.date())
    assert local.time() >= calendar.opens and local.time() <= calendar.closes


def test_due_after_uses_the_rule_clock(calendar: BusinessCalendar) -> None:
    policy = default_policy()
    start = ny(2026, 3, 6, 16, 30)
    assert due_after(policy, calendar, start, "lead.follow_up") == start + timedelta(hours=48)
    assert due_after(policy, calendar, start, "lead.first_response") == ny(2026, 3, 9, 9, 30)
