"""Stage gates and obligation rules as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcli.rules import obligations as ob
from crmcli.rules.calendar import BusinessCalendar
from crmcli.rules.gates import GateFacts, check_move, next_stage
from crmcli.rules.policy import default_policy, parse_policy

POLICY = default_policy()
STAGES = POLICY.stage_keys()


def test_qualification_needs_a_score() -> None:
    refused = check_move(POLICY, GateFacts(stage="prospecting"), "qualification")
    assert not refused.allowed
    assert refused.missing == ("score",)
    assert "pipeline.stages[1].requires" in refused.reasons[0]
    assert check_move(POLICY, GateFacts(stage="prospecting", score=40), "qualification").allowed


@pytest.mark.parametrize(
    ("stage", "facts", "missing"),
    [
        ("proposal", {"stage": "needs_analysis"}, ("quote",)),
        # a won stage is never worth 0, whatever its `requires` lists (issue 18)
        ("closed_won", {"stage": "negotiation"}, ("po_number", "amount")),
        ("closed_lost", {"stage": "prospecting"}, ("lost_reason",)),
    ],
)
def test_entry_requirements(stage: str, facts: dict, missing: tuple) -> None:
    result = check_move(POLICY, GateFacts(**facts), stage)
    assert result.missing == missing and not result.allowed


def test_a_won_deal_needs_a_non_zero_amount() -> None:
    for amount in (None, Decimal("0"), Decimal("0.00")):
        refused = check_move(
            POLICY, GateFacts("negotiation", po_number="PO-1", amount=amount), "closed_won"
        )
        assert refused.missing == ("amount",)
        assert "closed_won requires a non-zero amount" in refused.reasons[0]
        assert "stages[5].outcome = won" in refused.reasons[0]
        assert "crm lead edit ID --amount" in refused.reasons[0]
    won = GateFacts("negotiation", po_number="PO-1", amount=Decimal("0.01"))
    assert check_move(POLICY, won, "closed_won").allowed
    # a lost deal owes no amount
    assert check_move(POLICY, GateFacts("negotiation", lost_reason="price"), "closed_lost").allowed


def test_skipping_needs_policy_consent() -> None:
    facts = GateFacts(stage="prospecting", score=50, quote_ref="Q-1")
    refused = check_move(POLICY, facts, "proposal")
    assert "it would skip qualification, needs_analysis" in refused.reasons[0]
    lenient = parse_policy("[pipeline]\nallow_skip = true\n")
    allowed = check_move(lenient, facts, "proposal")
    assert allowed.allowed and allowed.skipped == ("qualification", "needs_analysis")


def test_lost_is_reachable_from_any_open_stage_and_closed_is_final() -> None:
    for stage in STAGES[:5]:
        assert check_move(
            POLICY, GateFacts(stage=stage, lost_reason="budget"), "closed_lost"
        ).allowed
    closed = check_move(POLICY, GateFacts(stage="closed_won", lost_reason="x"), "closed_lost")
    assert not closed.allowed and "closed" in closed.reasons[0]


def test_moving_back_is_allowed() -> None:
    assert check_move(POLICY, GateFacts(stage="proposal", score=1), "qualification").allowed


def test_chartec_lost_needs_the_prospects_no() -> None:
    from pathlib import Path

    text = (Path(__file__).parent.parent / "examples/policies/chartec.toml").read_text()
    chartec = parse_policy(text)
    facts = GateFacts(stage="presentation", lost_reason="went quiet")
    assert check_move(chartec, facts, "closed_lost").missing == ("prospect_said_no",)
    said_no = GateFacts(stage="presentation", lost_reason="chose X", prospect_said_no=True)
    assert check_move(chartec, said_no, "closed_lost").allowed
    # Follow-Up is skippable: a prospect who commits goes straight to Commitment
    committed = GateFacts(stage="presentation", po_number="PO-1")
    assert check_move(chartec, committed, "commitment").allowed


def test_next_stage_never_suggests_lost() -> None:
    assert next_stage(POLICY, "negotiation") == "closed_won"
    assert next_stage(POLICY, "closed_won") is None


@given(
    st.sampled_from(STAGES),
    st.sampled_from(STAGES),
    st.fixed_dictionaries(
        {
            "score": st.none() | st.integers(0, 100),
            "quote_ref": st.none() | st.just("Q"),
            "po_number": st.none() | st.just("PO"),
            "lost_reason": st.none() | st.just("r"),
        }
    ),
)
def test_gate_reasons_explain_every_refusal(current: str, target: str, values: dict) -> None:
    result = check_move(POLICY, GateFacts(stage=current, **values), target)
    assert result.allowed == (not result.reasons)
    assert all("policy" in reason or "closed" in reason for reason in result.reasons)


T0 = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)  # Friday 16:30 New York
CAL = BusinessCalendar.from_policy(POLICY)


def lead(**kw) -> ob.LeadFacts:
    base = {
        "id": 1,
        "kind": "lead",
        "stage": "prospecting",
        "status": "new",
        "acquired_at": T0 - timedelta(hours=30),
        "created_at": T0,
        "created_by": "ed",
    }
    return ob.LeadFacts(**(base | kw))


def by_rule(facts: ob.LeadFacts) -> dict[str, ob.Due]:
    return {
        d.rule + (f":{d.key}" if d.key else ""): d
        for d in ob.obligations("lead", facts, POLICY, CAL)
    }


def test_new_lead_owes_entry_and_first_response() -> None:
    dues = by_rule(lead())
    assert set(dues) == {"lead.entry", "lead.first_response", "opportunity.stale:prospecting"}
    entry = dues["lead.entry"]
    assert entry.due_at == T0 - timedelta(hours=6) and entry.met_at == T0  # entered 6 h late
    response = dues["lead.first_response"]
    assert response.due_at == datetime(2026, 3, 9, 13, 30, tzinfo=UTC) and response.met_at is None


def test_touch_meets_first_response_and_follow_up() -> None:
    touch = ob.Touch(T0 + timedelta(hours=1), "ed", "call", id=4)
    dues = by_rule(lead(assigned_at=T0, touches=(touch,)))
    assert dues["lead.first_response"].met_at == touch.at
    assert dues["lead.first_response"].met_with == 4  # explain names the activity
    # 48 h after Friday 16:30 is Sunday 16:30 on the wall clock: the next opening, Monday
    # 09:00 EDT (after the DST change)
    assert dues["lead.follow_up"].due_at == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
    assert dues["lead.follow_up"].met_by == "ed"


def test_tasks_and_next_step_for_opportunities() -> None:
    task = ob.Task(7, "send proposal", T0 + timedelta(days=2), "open")
    dues = by_rule(
        lead(
            kind="opportunity",
            stage="needs_analysis",
            status="qualified",
            tasks=(task,),
            touches=(ob.Touch(T0, "ed", "call"),),
        )
    )
    assert "task.due:7" in dues and "opportunity.next_step" not in dues
    without = by_rule(
        lead(
            kind="opportunity",
            stage="needs_analysis",
            status="qualified",
            stage_entered_at=T0,
            touches=(ob.Touch(T0, "ed", "call"),),
        )
    )
    assert without["opportunity.next_step"].due_at == T0


def test_closed_leads_owe_nothing_new() -> None:
    dues = by_rule(lead(stage="closed_lost", status="lost", assigned_at=T0))
    # what a closed lead would owe is over before it began (sync stores none of it)
    assert {k: d.status for k, d in dues.items()} == {
        "lead.entry": "met",
        "lead.first_response": "cancelled",
        "lead.follow_up": "cancelled",
    }


DAY = timedelta(days=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_cadence_touches_then_monthly_reengagement() -> None:
    first = ob.Touch(T0, "ed", "call")  # Friday 16:30 EST
    dues = [
        d
        for d in ob.obligations("lead", lead(touches=(first,)), POLICY, CAL)
        if d.rule == "lead.cadence"
    ]
    # days on New York's wall clock, in business hours: day 1 is Saturday, so Monday 09:00
    # EDT; the others are 16:30 EDT (not 17:30: DST began on Sunday 8 March)
    assert [(d.key, d.due_at) for d in dues] == [
        ("day1", utc(2026, 3, 9, 13, 0)),
        ("day3", utc(2026, 3, 9, 20, 30)),
        ("day7", utc(2026, 3, 13, 20, 30)),
        ("day14", utc(2026, 3, 20, 20, 30)),
        # 30 days after day 14's due is Sunday 19 April: Monday 09:00 EDT
        ("reengage1", utc(2026, 4, 20, 13, 0)),
    ]
    assert all(d.met_at is None for d in dues)
    assert dues[-1].detail == {"inactive": True}


def test_cadence_touches_are_met_in_order_and_a_reply_ends_it() -> None:
    touches = (
        ob.Touch(T0, "ed", "call"),
        ob.Touch(T0 + DAY, "ed", "email"),
        ob.Touch(T0 + 3 * DAY, "ed", "call"),
    )
    dues = {
        d.key: d
        for d in ob.obligations("lead", lead(touches=touches), POLICY, CAL)
        if d.rule == "lead.cadence"
    }
    assert dues["day1"].met_at == T0 + DAY and dues["day3"].met_at == T0 + 3 * DAY
    assert dues["day7"].met_at is None and dues["day7"].due_at == utc(2026, 3, 13, 20, 30)
    reply = ob.Touch(T0 + 2 * DAY, "ed", "email", frozenset({"reply"}), direction="inbound")
    replied = lead(touches=(*touches[:2], reply, touches[2]))
    found = [d for d in ob.obligations("lead", replied, POLICY, CAL) if d.rule == "lead.cadence"]
    # the reply (Sunday) came before day 3 was due (Monday 16:30): no more touches are owed
    assert [(d.key, d.status) for d in found] == [("day1", "met")]


def test_customer_response_within_four_business_hours() -> None:
    at = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # Monday 10:00 EDT
    message = ob.Touch(at, "", "email", frozenset({"reply"}), direction="inbound")
    won = {"kind": "opportunity", "status": "won", "stage": "closed_won", "touches": (message,)}
    dues = by_rule(lead(**won, customer_since=T0))
    assert dues["customer.response:1"].due_at == datetime(2026, 3, 9, 18, 0, tzinfo=UTC)
    assert dues["customer.response:1"].status == "open"  # the closing leaves the customer's
    assert by_rule(lead(touches=(message,))).get("customer.response:1") is None
    # a message from before the lead became a customer owes nothing
    assert by_rule(lead(**won, customer_since=at + DAY)).get("customer.response:1") is None


def test_weekly_update_and_stale_opportunity() -> None:
    facts = lead(
        kind="opportunity",
        stage="proposal",
        status="qualified",
        stage_entered_at=T0,
        updated_at=T0 + DAY,
        tasks=(ob.Task(1, "call", T0 + 2 * DAY, "open"),),
        touches=(ob.Touch(T0, "ed", "call"),),
    )
    dues = by_rule(facts)
    weekly = dues["opportunity.weekly_update"]
    # a week after Saturday 16:30 is a Saturday: Monday 09:00 EDT
    assert weekly.due_at == utc(2026, 3, 16, 13, 0) and weekly.detail == {"missing": ["close date"]}
    stale = dues["opportunity.stale:proposal"]
    # 14 days on the wall clock: Friday 20 March 16:30 EDT
    assert stale.due_at == utc(2026, 3, 20, 20, 30)
    assert stale.detail["suggest"] == ["nurture", "closed_lost"]
