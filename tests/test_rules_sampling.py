"""Audit sampling as pure functions: the draw, the quarter, and each check's verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcli.errors import BadInput
from crmcli.rules.policy import default_policy, parse_policy
from crmcli.rules.sampling import (
    LeadAuditFacts,
    LoggedStage,
    ObligationFacts,
    Quarter,
    StageMove,
    check_labels,
    deadline_kept,
    draw_sample,
    evaluate,
    parse_quarter,
    quarter_of,
    unlogged_moves,
)

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)  # Friday 16:30 in New York
HOUR = timedelta(hours=1)


# --- the draw --------------------------------------------------------------------------------

ids = st.lists(st.integers(min_value=1, max_value=10**6), max_size=200)


@given(ids, st.integers(min_value=0, max_value=250), st.integers())
def test_the_draw_is_reproducible_a_subset_and_the_right_size(
    population: list[int], size: int, seed: int
) -> None:
    sample = draw_sample(population, size, seed)
    assert sample == draw_sample(population, size, seed)
    assert set(sample) <= set(population)
    assert len(sample) == min(size, len(set(population)))
    assert sample == sorted(set(sample))  # id order, no repeats


@given(ids, st.integers(min_value=0, max_value=50), st.integers(), st.randoms())
def test_the_draw_ignores_the_order_the_ids_came_in(
    population: list[int], size: int, seed: int, shuffler
) -> None:
    shuffled = list(population)
    shuffler.shuffle(shuffled)
    assert draw_sample(shuffled, size, seed) == draw_sample(population, size, seed)


def test_different_seeds_draw_different_samples() -> None:
    population = range(1, 1001)
    assert draw_sample(population, 10, 1) != draw_sample(population, 10, 2)
    assert draw_sample(population, 10, 1) == draw_sample(population, 10, 1)


def test_a_sample_larger_than_the_population_is_all_of_it() -> None:
    assert draw_sample([5, 3, 3, 9], 10, 42) == [3, 5, 9]
    assert draw_sample([], 3, 42) == []
    with pytest.raises(ValueError):
        draw_sample([1, 2], -1, 42)


# --- the quarter -----------------------------------------------------------------------------


def test_a_quarter_is_three_months_in_the_policy_timezone() -> None:
    q3 = parse_quarter("2026Q3", now=datetime(2026, 11, 1, tzinfo=UTC), tz=NY)
    assert q3.label == "2026Q3"
    assert q3.starts_at == datetime(2026, 7, 1, tzinfo=NY)
    assert q3.ends_before == datetime(2026, 10, 1, tzinfo=NY)
    # midnight New York is 04:00 UTC in summer
    assert q3.starts_at.astimezone(UTC) == datetime(2026, 7, 1, 4, tzinfo=UTC)
    assert q3.contains(datetime(2026, 7, 1, 4, tzinfo=UTC))
    assert not q3.contains(datetime(2026, 7, 1, 3, 59, tzinfo=UTC))
    assert not q3.contains(q3.ends_before)
    q4 = Quarter(2025, 4, NY)
    assert (q4.starts_at, q4.ends_before) == (
        datetime(2025, 10, 1, tzinfo=NY),
        datetime(2026, 1, 1, tzinfo=NY),
    )


@pytest.mark.parametrize("text", ["2026Q1", "2026q1", "2026-Q1", " 2026 q1 "])
def test_quarter_spellings(text: str) -> None:
    assert parse_quarter(text, now=NOW, tz=NY).label == "2026Q1"


def test_the_default_is_the_last_complete_quarter() -> None:
    assert parse_quarter(None, now=NOW, tz=NY).label == "2025Q4"
    # 2026-01-01 03:00 UTC is still New Year's Eve in New York: 2025Q4 is not over yet
    assert parse_quarter(None, now=datetime(2026, 1, 1, 3, tzinfo=UTC), tz=NY).label == "2025Q3"
    assert quarter_of(datetime(2026, 1, 1, 3, tzinfo=UTC), UTC).label == "2026Q1"


@pytest.mark.parametrize("text", ["2026Q5", "2026Q0", "Q3", "2026", "26Q1", "2026Q1x", ""])
def test_bad_quarters_name_the_option(text: str) -> None:
    with pytest.raises(BadInput, match="^--quarter: .* is not a quarter; write e.g. 2026Q3$"):
        parse_quarter(text, now=NOW, tz=NY)


def test_a_quarter_that_has_not_begun_is_refused() -> None:
    with pytest.raises(BadInput, match="^--quarter: 2026Q2 has not begun .*2026Q1"):
        parse_quarter("2026Q2", now=NOW, tz=NY)


@given(st.integers(min_value=1000, max_value=9998), st.integers(min_value=1, max_value=4))
def test_quarters_tile_the_year(year: int, number: int) -> None:
    quarter = Quarter(year, number, NY)
    assert quarter.following().starts_at == quarter.ends_before
    assert quarter.following().preceding() == quarter
    assert quarter_of(quarter.starts_at, NY) == quarter


# --- the checks ------------------------------------------------------------------------------

ACQUIRED = datetime(2026, 3, 2, 14, tzinfo=UTC)


def obligation(due: datetime, met: datetime | None = None, status: str | None = None):
    return ObligationFacts(
        status=status or ("met" if met else "open"),
        started_at=due - 24 * HOUR,
        due_at=due,
        met_at=met,
    )


def test_met_on_time_passes_and_late_fails() -> None:
    due = ACQUIRED + 24 * HOUR
    assert deadline_kept(obligation(due, met=due), NOW).outcome == "pass"  # at the deadline
    late = deadline_kept(obligation(due, met=due + 31 * HOUR), NOW, verb="entered")
    assert (late.outcome, late.detail) == ("fail", "entered 1d 7h late")


def test_open_obligations_are_pending_until_due_then_fail() -> None:
    pending = deadline_kept(obligation(NOW + 2 * HOUR), NOW, NY)
    assert (pending.outcome, pending.detail) == ("pending", "due 2026-03-06 18:30 EST")
    overdue = deadline_kept(obligation(NOW - 3 * HOUR), NOW)
    assert (overdue.outcome, overdue.detail) == ("fail", "not done; overdue by 3h")
    assert deadline_kept(None, NOW).outcome == "n/a"


def test_a_withdrawn_obligation_fails_only_if_it_fell_due_first() -> None:
    due = NOW - 10 * HOUR
    withdrawn = obligation(due, status="cancelled")
    # the lead was converted (a stage change) before the response fell due: nothing owed
    in_time = (StageMove(2, "qualified", due - HOUR),)
    assert deadline_kept(withdrawn, NOW, UTC, in_time).outcome == "n/a"
    # it sat unanswered past due, and was closed only afterwards
    too_late = (StageMove(2, "closed_lost", due + HOUR),)
    assert deadline_kept(withdrawn, NOW, UTC, too_late).outcome == "fail"


def test_program_written_stage_changes_are_logged() -> None:
    moves = (StageMove(1, "new", ACQUIRED), StageMove(2, "qualified", ACQUIRED + HOUR))
    events = (LoggedStage(10, "new", ACQUIRED), LoggedStage(11, "qualified", ACQUIRED + HOUR))
    assert unlogged_moves(moves, events) == []


def test_a_stage_change_without_its_event_is_unlogged() -> None:
    injected = StageMove(3, "closed_won", ACQUIRED + 2 * HOUR)
    moves = (StageMove(1, "new", ACQUIRED), injected)
    events = (LoggedStage(10, "new", ACQUIRED),)
    assert unlogged_moves(moves, events) == [injected]
    # one event accounts for one change only: a copy of a logged move is still unlogged
    copy = StageMove(4, "new", ACQUIRED)
    assert unlogged_moves((StageMove(1, "new", ACQUIRED), copy), events) == [copy]


def test_backdated_history_is_accounted_for_by_a_later_event() -> None:
    # the example data: a stage entered days ago, its event written when it was loaded
    moves = (StageMove(1, "new", ACQUIRED), StageMove(2, "qualified", ACQUIRED + HOUR))
    events = (LoggedStage(10, "new", ACQUIRED), LoggedStage(11, "qualified", NOW))
    assert unlogged_moves(moves, events) == []
    # but an event cannot account for a change made after it
    assert unlogged_moves(moves, (LoggedStage(10, "new", ACQUIRED),)) == [moves[1]]
    earlier = (LoggedStage(10, "new", ACQUIRED), LoggedStage(11, "qualified", ACQUIRED))
    assert unlogged_moves(moves, earlier) == [moves[1]]


def test_exact_matches_are_taken_before_backdated_ones() -> None:
    # a row injected earlier than a real move to the same stage is the one reported
    real = StageMove(5, "qualified", ACQUIRED + 5 * HOUR)
    injected = StageMove(9, "qualified", ACQUIRED + HOUR)
    events = (LoggedStage(20, "qualified", ACQUIRED + 5 * HOUR),)
    assert unlogged_moves((injected, real), events) == [injected]


def facts(**overrides) -> LeadAuditFacts:
    base = {
        "lead_id": 7,
        "entry": obligation(ACQUIRED + 24 * HOUR, met=ACQUIRED + HOUR),
        "first_response": obligation(ACQUIRED + 3 * HOUR, met=ACQUIRED + 2 * HOUR),
        "follow_up": None,
        "assigned": False,
        "stage_moves": (StageMove(1, "new", ACQUIRED + HOUR),),
        "logged_stages": (LoggedStage(1, "new", ACQUIRED + HOUR),),
    }
    return LeadAuditFacts(**(base | overrides))


def test_a_clean_lead_passes_and_an_unassigned_one_needs_no_follow_up() -> None:
    audit = evaluate(facts(), NOW)
    assert {k: v.outcome for k, v in audit.checks.items()} == {
        "entered": "pass",
        "responded": "pass",
        "followed_up": "n/a",
        "changes_logged": "pass",
    }
    assert audit.checks["followed_up"].detail == "never assigned"
    assert audit.verdict == "pass"


def test_the_verdict_is_the_worst_check() -> None:
    pending = evaluate(facts(follow_up=obligation(NOW + HOUR), assigned=True), NOW)
    assert pending.checks["followed_up"].outcome == "pending"
    assert pending.verdict == "pending"
    failed = evaluate(
        facts(follow_up=obligation(NOW + HOUR), assigned=True, logged_stages=()), NOW, NY
    )
    assert failed.verdict == "fail"
    assert [m.id for m in failed.unlogged] == [1]
    assert failed.checks["changes_logged"].detail == (
        "not in the audit log: stage change 1 to new at 2026-03-02 10:00 EST"
    )


def test_labels_follow_the_policy() -> None:
    assert check_labels(default_policy()) == {
        "entered": "entered within 24h",
        "responded": "responded within SLA (1h business)",
        "followed_up": "followed up within 48h",
        "changes_logged": "every status change logged",
    }
    stricter = parse_policy('[rules."lead.entry"]\nafter = "12h"\n')
    assert check_labels(stricter)["entered"] == "entered within 12h"
