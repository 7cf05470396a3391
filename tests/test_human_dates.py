"""Human dates wherever a person types a time (issue 20 item 3): read in the policy's
timezone, relative to the one clock, echoed back as the absolute time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from conftest import Crm
from crmcli.clock import parse_when
from crmcli.errors import BadInput

NY = ZoneInfo("America/New_York")
WEDNESDAY_3PM = datetime(2026, 3, 4, 15, 0, tzinfo=NY)  # the Sunday after is the DST change


def read(text: str, prefer: str = "future") -> str:
    value = parse_when(text, default_tz=NY, human=prefer, relative_to=WEDNESDAY_3PM)  # type: ignore[arg-type]
    return f"{value.astimezone(NY):%a %Y-%m-%d %H:%M}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tomorrow 10:00", "Thu 2026-03-05 10:00"),
        ("Tomorrow at 10am", "Thu 2026-03-05 10:00"),
        ("fri 14:00", "Fri 2026-03-06 14:00"),
        ("friday 2:30pm", "Fri 2026-03-06 14:30"),
        ("next monday", "Mon 2026-03-09 00:00"),
        ("next wed", "Wed 2026-03-11 00:00"),  # "next" is never today
        ("wed 16:00", "Wed 2026-03-04 16:00"),  # a bare weekday that is today: today
        ("last fri", "Fri 2026-02-27 00:00"),
        ("+2d", "Fri 2026-03-06 15:00"),
        ("+1w", "Wed 2026-03-11 15:00"),  # across the DST change: the same wall-clock time
        ("in 3h", "Wed 2026-03-04 18:00"),
        ("in 1h 30m", "Wed 2026-03-04 16:30"),
        ("1h ago", "Wed 2026-03-04 14:00"),
        ("2 days ago", "Mon 2026-03-02 15:00"),
        ("-30m", "Wed 2026-03-04 14:30"),
        ("yesterday 15:00", "Tue 2026-03-03 15:00"),
        ("eod", "Wed 2026-03-04 17:00"),  # the policy's end of the business day
        ("tomorrow eod", "Thu 2026-03-05 17:00"),
        ("noon", "Wed 2026-03-04 12:00"),
        ("9:15", "Wed 2026-03-04 09:15"),
        ("now", "Wed 2026-03-04 15:00"),
        ("2026-03-10 eod", "Tue 2026-03-10 17:00"),
        ("march 10 10:00", "Tue 2026-03-10 10:00"),  # the year is the clock's, not the machine's
    ],
)
def test_human_forms_are_read_in_the_policy_timezone(text: str, expected: str) -> None:
    assert read(text) == expected


def test_a_bare_weekday_points_the_way_the_option_looks() -> None:
    assert read("fri 14:00", prefer="future") == "Fri 2026-03-06 14:00"  # --due fri: coming
    assert read("fri 14:00", prefer="past") == "Fri 2026-02-27 14:00"  # --at fri: last one
    assert read("mon", prefer="past") == "Mon 2026-03-02 00:00"


def test_iso_and_common_forms_keep_working_with_human_forms_on() -> None:
    assert read("2026-03-06 16:30") == "Fri 2026-03-06 16:30"
    assert read("2026-03-06T16:30:00+01:00") == "Fri 2026-03-06 10:30"
    assert read("03/06/2026 4:30 PM") == "Fri 2026-03-06 16:30"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("10", "'10' is not a time of day"),  # a day, an hour or a count? ask for 10:00
        ("mon 10", "'10' is not a time of day"),
        ("25:00", "is not a time of day"),
        ("13pm", "is not a time of day"),
        ("+2x", "'x' is not a unit"),
        ("soonish", "as a time"),
        ("next week", "as a time"),
    ],
)
def test_unreadable_times_name_the_problem_and_show_examples(text: str, why: str) -> None:
    with pytest.raises(BadInput) as caught:
        read(text)
    message = caught.value.message
    assert message.startswith(f"--at: cannot read {text!r}") and why in message
    assert "'tomorrow 10:00'" in message and "'+2d'" in message and "\n" not in message


@pytest.mark.parametrize("text", ["+999999w", "in 999999d", "999999 weeks ago"])
def test_relative_times_out_of_range_are_bad_input(text: str) -> None:
    with pytest.raises(BadInput, match="out of range; give a date in the years 1900-2999"):
        read(text)


def test_files_and_the_clock_variable_do_not_take_relative_times() -> None:
    # an import row or CRM_NOW of "tomorrow" would mean something new on every run
    with pytest.raises(BadInput, match="use ISO 8601"):
        parse_when("tomorrow 10:00", default_tz=NY)


# --- through the CLI (the clock: Friday 2026-03-06 16:30 in New York) ------------------------


def test_next_step_takes_a_human_due_and_echoes_the_absolute_time(crm: Crm) -> None:
    lead = crm.add_lead()
    run = crm.ok("next-step", str(lead), "call back", "--due", "mon 10:00")
    assert run.out.strip().isdigit()  # stdout stays the id, for scripts
    assert run.err == "--due 'mon 10:00': Mon 2026-03-09 10:00 EDT\n"
    stored = crm.rows("SELECT due_at FROM activity WHERE id = ?", int(run.out))
    assert str(stored[0][0]).startswith("2026-03-09 14:00:00")  # UTC


def test_logged_events_read_a_bare_weekday_as_the_last_one(crm: Crm) -> None:
    lead = crm.add_lead()
    run = crm.ok("log-call", str(lead), "--outcome", "connected", "--at", "wed 11:00")
    assert run.err == "--at 'wed 11:00': Wed 2026-03-04 11:00 EST\n"
    ago = crm.ok("note", str(lead), "spoke to the CFO", "--at", "2h ago")
    assert ago.err == "--at '2h ago': Fri 2026-03-06 14:30 EST\n"


def test_iso_times_are_not_echoed(crm: Crm) -> None:
    lead = crm.add_lead()
    run = crm.ok("next-step", str(lead), "call back", "--due", "2026-03-09 10:00")
    assert run.err == ""


def test_an_unreadable_time_is_bad_input_and_writes_nothing(crm: Crm) -> None:
    lead = crm.add_lead()
    before = crm.snapshot()
    run = crm("next-step", str(lead), "call back", "--due", "whenever")
    assert run.code == 2
    assert run.err.startswith("crm: --due: cannot read 'whenever' as a time; write e.g.")
    assert crm.snapshot() == before


def test_a_future_human_time_for_an_event_is_still_refused(crm: Crm) -> None:
    lead = crm.add_lead()
    run = crm("log-call", str(lead), "--outcome", "connected", "--at", "tomorrow 10:00")
    assert run.code == 2 and "lies in the future" in run.err


def test_report_periods_take_human_dates(crm: Crm) -> None:
    run = crm.ok("report", "pipeline", "--from", "last monday", "--format", "json")
    assert "--from 'last monday': Mon 2026-03-02 00:00 EST" in run.err
    assert run.json()  # the report itself is unchanged


@pytest.mark.parametrize("text", ["1a" * 50_000, "mon " * 20_000 + "10:00", "in " + "1h " * 40])
def test_a_time_too_long_to_be_one_is_refused_at_once(text: str) -> None:
    with pytest.raises(BadInput, match=r"characters, too long to be a time; use ISO 8601"):
        parse_when(text, default_tz=NY, human="future")
    with pytest.raises(BadInput, match="too long to be a time"):
        parse_when(text, default_tz=NY)  # files too: a cell this long is no date
