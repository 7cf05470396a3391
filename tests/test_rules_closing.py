"""Closing closes the work (rules/closing.py and the engine in rules/obligations.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import examples
from crmcli.rules import closing
from crmcli.rules import obligations as ob
from crmcli.rules.calendar import BusinessCalendar
from crmcli.rules.policy import default_policy

POLICY = default_policy()
CAL = BusinessCalendar.from_policy(POLICY)
T0 = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)  # Friday 16:30 New York
DAY = timedelta(days=1)
CLOSED = closing.Closure("lost", T0 + 10 * DAY)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("lead.first_response", "cancelled"),
        ("lead.follow_up", "cancelled"),
        ("lead.cadence", "cancelled"),
        ("task.due", "cancelled"),
        ("customer.response", None),  # the customer's messages are answered whatever
        ("lead.entry", None),
    ],
)
def test_won_lost_nurture_and_merge_cancel_the_sales_work(rule: str, expected) -> None:
    for reason in ("won", "lost", "nurture", "merged"):
        closure = closing.Closure(reason, T0 + 10 * DAY)
        assert closing.ending(closure, rule=rule, arose_at=T0, due_at=T0 + DAY) == expected


def test_going_inactive_lapses_what_was_missed_and_cancels_the_rest() -> None:
    inactive = closing.Closure("inactive", T0 + 10 * DAY)
    missed = closing.ending(inactive, rule="lead.follow_up", arose_at=T0, due_at=T0 + 2 * DAY)
    assert missed == "lapsed"
    ahead = closing.ending(inactive, rule="task.due", arose_at=T0, due_at=T0 + 20 * DAY)
    assert ahead == "cancelled"
    reengage = closing.ending(
        inactive, rule="lead.cadence", arose_at=T0, due_at=T0 + 40 * DAY, detail={"inactive": 1}
    )
    assert reengage is None  # what an inactive lead is owed


def test_a_next_step_scheduled_after_the_closing_lives_on() -> None:
    later = closing.ending(CLOSED, rule="task.due", arose_at=T0 + 11 * DAY, due_at=T0 + 12 * DAY)
    assert later is None
    # but a closed lead owes no follow-up, even one a later reassignment would start
    reassigned = closing.ending(
        CLOSED, rule="lead.follow_up", arose_at=T0 + 11 * DAY, due_at=T0 + 13 * DAY
    )
    assert reassigned == "cancelled"


def test_reasons() -> None:
    assert closing.reason_for("qualified", "won") == "won"
    assert closing.reason_for("inactive", None) == "inactive"
    assert closing.reason_for("new", None) is None


# --- property: a closed record has no open obligation ----------------------------------------

KIND_SETS = [
    frozenset({"attempt"}),
    frozenset({"attempt", "contact", "reply"}),
    frozenset({"contact", "reply"}),
    frozenset({"reply"}),
]


@st.composite
def closed_leads(draw) -> ob.LeadFacts:
    """A lead closed at some instant, after everything it went through."""
    offsets = st.integers(min_value=0, max_value=60 * 24 * 40)  # minutes after T0
    touched = sorted(draw(st.lists(offsets, max_size=6)))
    touches = tuple(
        ob.Touch(
            T0 + timedelta(minutes=m),
            "ed",
            draw(st.sampled_from(("call", "email", "chat", "meeting"))),
            kinds := draw(st.sampled_from(KIND_SETS)),
            id=i,
            direction="inbound" if "attempt" not in kinds else "outbound",
        )
        for i, m in enumerate(touched, start=1)
    )
    tasks = tuple(
        ob.Task(
            100 + i,
            "next step",
            T0 + timedelta(minutes=draw(offsets)),
            "open",
            created_at=T0 + timedelta(minutes=draw(offsets)),
            meets=draw(st.sampled_from((frozenset(), frozenset({"contact"})))),
        )
        for i in range(draw(st.integers(min_value=0, max_value=3)))
    )
    status, stage = draw(
        st.sampled_from(
            [
                ("won", "closed_won"),
                ("lost", "closed_lost"),
                ("nurture", "prospecting"),
                ("inactive", "prospecting"),
            ]
        )
    )
    known = [T0, *(t.at for t in touches)]
    closed_at = max(known) + timedelta(minutes=draw(st.integers(min_value=0, max_value=60 * 24)))
    return ob.LeadFacts(
        id=1,
        kind="opportunity" if stage.startswith("closed") else "lead",
        stage=stage,
        status=status,
        acquired_at=T0,
        created_at=T0,
        created_by="ed",
        assigned_at=T0 + timedelta(minutes=draw(offsets)) if draw(st.booleans()) else None,
        stage_entered_at=closed_at if stage.startswith("closed") else T0,
        touches=touches,
        tasks=tasks,
        customer_since=T0 if status == "won" else None,
        closed_at=closed_at,
    )


@settings(max_examples=examples(200), deadline=None)
@given(closed_leads())
def test_a_closed_record_has_no_open_obligation(lead: ob.LeadFacts) -> None:
    """Everything a closed lead owed is met, cancelled or lapsed; only the customer's own
    messages, an inactive lead's re-engagement and a next step set after the closing stay
    open."""
    closure = lead.closure(POLICY)
    assert closure is not None
    for due in ob.obligations("lead", lead, POLICY, CAL):
        if due.status != "open":
            assert due.status in ("met", "cancelled", "lapsed")
            continue
        assert (
            due.rule == "customer.response"
            or (lead.status == "inactive" and due.rule == "lead.cadence" and due.detail["inactive"])
            or (due.rule == "task.due" and due.arose_at > closure.at)
        ), due
    # and going inactive lapses only what was due by then
    if lead.status == "inactive":
        for due in ob.obligations("lead", lead, POLICY, CAL):
            if due.status == "lapsed" and due.rule != "lead.cadence":
                assert due.due_at <= closure.at
