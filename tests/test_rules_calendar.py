"""Business calendar: SPEC §4's worked examples, holidays, closed dates, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcli.rules.calendar import (
    BusinessCalendar,
    Schedule,
    due_after,
    person_due,
    wall_clock_add,
)
from crmcli.rules.obligations import Task
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
    # a follow-up is a person's work: 48 h on the wall clock is Sunday 16:30, so Monday 09:00
    assert due_after(policy, calendar, start, "lead.follow_up") == ny(2026, 3, 9, 9, 0)
    assert due_after(policy, calendar, start, "lead.first_response") == ny(2026, 3, 9, 9, 30)
    # a calendar rule without at/snap (the entry of a lead) stays exact
    assert due_after(policy, calendar, start, "lead.entry") == start + timedelta(hours=24)


# --- a person's work lands in business hours (issue 18) ----------------------------------------

ANY_TIME = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31))


def test_wall_clock_days_keep_the_local_time_across_dst() -> None:
    start = ny(2026, 1, 5, 10, 0)  # Monday 10:00 EST
    assert wall_clock_add(start, timedelta(weeks=13), NY) == ny(2026, 4, 6, 10, 0)  # EDT
    elapsed = ny(2026, 4, 6, 10, 0).astimezone(UTC) - start.astimezone(UTC)
    assert elapsed == timedelta(weeks=13, hours=-1)  # an hour shorter than 13 x 7 x 24 h


def test_a_time_the_clocks_skip_lands_at_the_opening(calendar: BusinessCalendar) -> None:
    # 02:30 on Sunday 8 March does not exist in New York; the work waits for Monday 09:00
    start = ny(2026, 3, 7, 2, 30)
    due = person_due(calendar, start, timedelta(days=1), Schedule())
    assert due == ny(2026, 3, 9, 9, 0)


def test_snap_and_at(calendar: BusinessCalendar) -> None:
    saturday_0258 = ny(2026, 3, 7, 2, 58)
    assert person_due(calendar, saturday_0258, timedelta(days=2), Schedule()) == ny(
        2026, 3, 9, 9, 0
    )
    at_ten = Schedule(at=time(10, 0))
    assert person_due(calendar, saturday_0258, timedelta(days=2), at_ten) == ny(2026, 3, 9, 10)
    # inside business hours the time of day is kept; "none" never moves it
    tuesday = ny(2026, 3, 10, 14, 15)
    assert person_due(calendar, tuesday, timedelta(days=1), Schedule()) == ny(2026, 3, 11, 14, 15)
    unsnapped = person_due(calendar, saturday_0258, timedelta(days=2), Schedule(snap="none"))
    assert unsnapped == ny(2026, 3, 9, 2, 58)


def test_a_holiday_moves_the_work_to_the_next_working_day(calendar: BusinessCalendar) -> None:
    friday = ny(2026, 5, 22, 16, 30)  # Memorial Day is Monday 25 May
    due = person_due(calendar, friday, timedelta(hours=48), Schedule())
    assert due == ny(2026, 5, 26, 9, 0)


@given(
    ANY_TIME,
    st.integers(min_value=0, max_value=200 * 24 * 60),
    st.one_of(st.none(), st.times(min_value=time(0, 0), max_value=time(23, 59))),
    st.sampled_from(
        ["US", ""]  # with and without public holidays
    ),
)
def test_no_person_task_is_ever_due_outside_business_hours(
    naive: datetime, minutes: int, at: time | None, country: str
) -> None:
    policy = parse_policy(f'[business_hours]\nholidays = {{ country = "{country}" }}\n')
    calendar = BusinessCalendar.from_policy(policy)
    start = naive.replace(tzinfo=UTC)
    due = person_due(calendar, start, timedelta(minutes=minutes), Schedule(at=at))
    assert calendar.is_open_at(due), due.astimezone(NY)
    local_start, local_due = start.astimezone(NY), due.astimezone(NY)
    target = local_start.replace(tzinfo=None) + timedelta(minutes=minutes)
    assert local_due.date() >= target.date()  # never earlier than the day it is owed
    if at is None and calendar.is_open_at(target.replace(tzinfo=NY)):
        assert local_due.replace(tzinfo=None) == target  # already in hours: the wall time


@st.composite
def lead_facts(draw):
    from crmcli.rules import obligations as ob

    start = draw(ANY_TIME).replace(tzinfo=UTC)
    offsets = st.integers(min_value=0, max_value=90 * 24 * 60)
    touches = tuple(
        ob.Touch(start + timedelta(minutes=m), "ed", "call")
        for m in sorted(draw(st.lists(offsets, max_size=4)))
    )
    kind = draw(st.sampled_from(["lead", "opportunity"]))
    return ob.LeadFacts(
        id=1,
        kind=kind,
        stage="prospecting" if kind == "lead" else "proposal",
        status="new" if kind == "lead" else "qualified",
        acquired_at=start,
        created_at=start,
        created_by="ed",
        assigned_at=start + timedelta(minutes=draw(offsets)),
        stage_entered_at=start,
        updated_at=start + timedelta(minutes=draw(offsets)),
        touches=touches,
    )


PERSON_RULES = {
    "lead.follow_up",
    "lead.cadence",
    "opportunity.weekly_update",
    "opportunity.stale",
    "account.onboarding",
    "account.qbr",
    "account.renewal",
    "contact.verify",
}


@settings(max_examples=60, deadline=None)
@given(lead_facts(), ANY_TIME, st.dates(min_value=date(2025, 6, 1), max_value=date(2028, 1, 1)))
def test_no_generated_person_obligation_is_due_outside_business_hours(
    lead, naive: datetime, contract_end: date
) -> None:
    from crmcli.rules import account_rules as ar
    from crmcli.rules.obligations import obligations

    policy = default_policy()
    calendar = BusinessCalendar.from_policy(policy)
    start = naive.replace(tzinfo=UTC)
    steps = ar.onboarding_steps(policy, start, calendar)
    tasks = tuple(Task(i, s.title, s.due_at, "open", created_at=start) for i, s in enumerate(steps))
    account = ar.AccountFacts(
        id=1,
        name="Acme",
        created_at=start,
        key_account=True,
        key_since=start,
        won_at=start,
        contract_end=contract_end,
        onboarding_tasks=tasks,
    )
    contact = ar.ContactFacts(id=1, label="Grace", created_at=start)
    dues = [
        *obligations("lead", lead, policy, calendar),
        *obligations("account", account, policy, calendar),
        *obligations("contact", contact, policy, calendar),
    ]
    person = [d for d in dues if d.rule in PERSON_RULES]
    assert {d.rule for d in person} >= {"account.onboarding", "account.qbr", "contact.verify"}
    for due in person:
        assert calendar.is_open_at(due.due_at), (due.rule, due.due_at.astimezone(NY))
    assert all(calendar.is_open_at(step.due_at) for step in steps)
