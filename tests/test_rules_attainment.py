"""rules/attainment.py: obligation outcomes and SLA attainment as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from crmcli.rules.attainment import BREACHES, OUTCOMES, Tally, lateness, outcome

DUE = datetime(2026, 3, 9, 13, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_outcomes() -> None:
    assert outcome("met", DUE, DUE, DUE + HOUR) == "met_on_time"  # at the due time: in time
    assert outcome("met", DUE + HOUR, DUE, DUE) == "met_late"
    assert outcome("open", None, DUE, DUE) == "open_overdue"
    assert outcome("open", None, DUE, DUE - HOUR) == "open_not_due"
    for status in ("paused", "lapsed", "cancelled", "waived"):
        assert outcome(status, None, DUE, DUE + HOUR) == status
    assert lateness("met", DUE + HOUR, DUE, DUE + 5 * HOUR) == HOUR
    assert lateness("open", None, DUE, DUE + 5 * HOUR) == 5 * HOUR
    assert lateness("lapsed", None, DUE, DUE + 5 * HOUR) is None
    assert lateness("met", DUE, DUE, DUE + 5 * HOUR) is None


def test_attainment_is_on_time_of_the_decided() -> None:
    tally = Tally()
    tally.group("met", 5, on_time=3, late=2, past_due=5)
    tally.group("open", 4, on_time=0, late=0, past_due=1)
    tally.group("lapsed", 2, 0, 0, 2)
    tally.group("cancelled", 7, 0, 0, 7)
    tally.group("paused", 1, 0, 0, 1)
    assert tally.counts == {
        "met_on_time": 3,
        "met_late": 2,
        "open_overdue": 1,
        "open_not_due": 3,
        "paused": 1,
        "lapsed": 2,
        "cancelled": 7,
    }
    assert tally.total == 19 and tally.breaches == 5
    assert tally.attainment == Decimal("37.5")  # 3 of 3 + 2 + 1 + 2
    assert Tally().attainment is None


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["met", "open", "paused", "lapsed", "cancelled", "waived"]),
            st.integers(-3, 3),
            st.integers(-3, 3),
        ),
        max_size=30,
    )
)
def test_every_obligation_is_counted_once(items) -> None:
    """Whatever the statuses, the tally's total is the number of obligations and the
    breaches are exactly the late, overdue and lapsed ones."""
    as_of = DUE + 2 * HOUR
    tally = Tally()
    expected = {}
    for status, met_hours, due_hours in items:
        due = DUE + due_hours * HOUR
        met = DUE + met_hours * HOUR if status == "met" else None
        kind = outcome(status, met, due, as_of)
        expected[kind] = expected.get(kind, 0) + 1
        on_time = int(kind == "met_on_time")
        tally.group(status, 1, on_time, int(kind == "met_late"), int(due <= as_of))
    assert tally.total == len(items)
    assert {k: v for k, v in tally.counts.items() if v} == expected
    assert tally.breaches == sum(expected.get(k, 0) for k in BREACHES)
    assert set(OUTCOMES) <= set(tally.counts)
