"""Pure scheduling and points rules: overlaps, action items, months, agenda windows, points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcli.rules.schedule import (
    DEFAULT_DURATION,
    ActionItem,
    Slot,
    agenda_window,
    clashes,
    month_bounds,
    overlaps,
    parse_action_item,
    points_summary,
)

NEW_YORK = ZoneInfo("America/New_York")
BASE = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)

offsets = st.integers(min_value=0, max_value=24 * 60)
lengths = st.one_of(st.none(), st.integers(min_value=1, max_value=8 * 60))


def at(minutes: int) -> datetime:
    return BASE + timedelta(minutes=minutes)


def minute_set(slot: Slot) -> set[int]:
    """The whole minutes a slot occupies: the half-open interval, counted out."""
    first = int((slot.start - BASE).total_seconds() // 60)
    last = int((slot.end() - BASE).total_seconds() // 60)
    return set(range(first, last))


@given(offsets, lengths, offsets, lengths)
def test_overlap_is_symmetric(a_start: int, a_len: int | None, b_start: int, b_len: int | None):
    a, b = Slot(at(a_start), a_len), Slot(at(b_start), b_len)
    assert overlaps(a, b) == overlaps(b, a)


@given(offsets, lengths, lengths)
def test_adjacent_items_do_not_overlap(start: int, a_len: int | None, b_len: int | None) -> None:
    a = Slot(at(start), a_len)
    b = Slot(a.end(), b_len)  # b starts the minute a ends
    assert not overlaps(a, b)
    assert not overlaps(b, a)


@given(offsets, lengths, offsets, lengths)
def test_overlap_means_a_shared_minute(
    a_start: int, a_len: int | None, b_start: int, b_len: int | None
) -> None:
    a, b = Slot(at(a_start), a_len), Slot(at(b_start), b_len)
    assert overlaps(a, b) == bool(minute_set(a) & minute_set(b))


@given(offsets, lengths)
def test_an_item_overlaps_itself(start: int, length: int | None) -> None:
    slot = Slot(at(start), length)
    assert overlaps(slot, slot)


def test_an_item_without_duration_lasts_the_default() -> None:
    assert timedelta(minutes=30) == DEFAULT_DURATION
    untimed = Slot(at(0))
    assert untimed.end() == at(30)
    assert overlaps(untimed, Slot(at(29), 10))
    assert not overlaps(untimed, Slot(at(30), 10))
    # a policy default of an hour reaches further
    assert overlaps(untimed, Slot(at(45), 10), default=timedelta(hours=1))


def test_clashes_are_sorted_and_skip_the_item_itself() -> None:
    meeting = Slot(at(0), 60, id=1, kind="meeting")
    late = Slot(at(50), 30, id=3)
    early = Slot(at(10), 15, id=2)
    after = Slot(at(60), 15, id=4)
    assert clashes(meeting, [late, after, early, meeting]) == [early, late]
    assert clashes(Slot(at(120), 30), [meeting, late, early, after]) == []


@pytest.mark.parametrize(
    ("raw", "item"),
    [
        ("send the quote@2026-03-10 09:00", ActionItem("send the quote", "2026-03-10 09:00")),
        ("email bob@example.com@2026-03-10", ActionItem("email bob@example.com", "2026-03-10")),
        ("  call back @ tomorrow  ", ActionItem("call back", "tomorrow")),
    ],
)
def test_parse_action_item_splits_on_the_last_at(raw: str, item: ActionItem) -> None:
    assert parse_action_item(raw) == item


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("send the quote", "no due date"),
        ("@2026-03-10", "nothing to do"),
        ("send the quote@  ", "empty due"),
    ],
)
def test_parse_action_item_rejects(raw: str, hint: str) -> None:
    with pytest.raises(ValueError, match=hint):
        parse_action_item(raw)


@given(
    st.text(min_size=1).filter(lambda t: t.strip()),
    st.text(min_size=1).filter(lambda t: t.strip() and "@" not in t),
)
def test_parse_action_item_round_trips(text: str, due: str) -> None:
    assert parse_action_item(f"{text}@{due}") == ActionItem(text.strip(), due.strip())


def test_month_bounds_are_local_months() -> None:
    label, start, end = month_bounds("2026-11", now=BASE, tz=NEW_YORK)
    assert label == "2026-11"
    assert start.astimezone(UTC) == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # EDT
    assert end.astimezone(UTC) == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # EST
    assert month_bounds("2026-12", now=BASE, tz=NEW_YORK)[2] == datetime(
        2027, 1, 1, tzinfo=NEW_YORK
    )
    # 1 March 01:00 UTC is still February in New York
    assert month_bounds(None, now=datetime(2026, 3, 1, 1, tzinfo=UTC), tz=NEW_YORK)[0] == "2026-02"
    for bad in ("2026-13", "March", "2026/03", ""):
        with pytest.raises(ValueError, match="YYYY-MM"):
            month_bounds(bad, now=BASE, tz=NEW_YORK)


def test_agenda_window_counts_local_days() -> None:
    friday_evening = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)  # 16:30 in New York
    assert agenda_window(friday_evening, 1, NEW_YORK) == datetime(2026, 3, 7, tzinfo=NEW_YORK)
    # across the DST change of 8 March the window still ends at local midnight
    assert agenda_window(friday_evening, 7, NEW_YORK) == datetime(2026, 3, 13, tzinfo=NEW_YORK)
    with pytest.raises(ValueError):
        agenda_window(friday_evening, 0, NEW_YORK)


TABLE = {"call": 4, "meeting": 10, "discovery_meeting": 12, "thank_you_card": 1}


def test_points_summary_per_kind_against_recommended() -> None:
    summary = points_summary(
        [("call", 4), ("discovery_meeting", 12), ("call", 4), ("retired_kind", 3)],
        points_table=TABLE,
        recommended={"discovery_meeting": 4, "thank_you_card": 10},
        quota=500,
    )
    rows = {row.kind: row for row in summary.rows}
    # policy order first, then kinds the policy no longer lists
    assert [row.kind for row in summary.rows] == [
        "call",
        "discovery_meeting",
        "thank_you_card",
        "retired_kind",
    ]
    assert (rows["call"].count, rows["call"].points, rows["call"].recommended) == (2, 8, None)
    assert rows["discovery_meeting"].recommended_points == 48
    assert (rows["thank_you_card"].count, rows["thank_you_card"].recommended_points) == (0, 10)
    assert rows["retired_kind"].points_each is None
    assert (summary.count, summary.total, summary.remaining, summary.percent) == (4, 23, 477, 5)


@given(st.lists(st.tuples(st.sampled_from(sorted(TABLE)), st.integers(0, 20)), max_size=40))
def test_points_summary_totals_add_up(earned: list[tuple[str, int]]) -> None:
    summary = points_summary(earned, points_table=TABLE, recommended={}, quota=100)
    assert summary.total == sum(p for _, p in earned) == sum(r.points for r in summary.rows)
    assert summary.count == len(earned) == sum(r.count for r in summary.rows)
    assert summary.remaining == max(100 - summary.total, 0)
