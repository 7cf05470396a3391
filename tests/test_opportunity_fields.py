"""Issue 18 items 4 and 5 through the real CLI: opportunity fields a rep can keep right
(amount, close date, probability, the weekly update, `lead show`), nurture by hand, and a
lead lost before it qualified."""

from __future__ import annotations

import pytest

from conftest import Crm

SCORE = ("--budget", "20", "--authority", "15", "--need", "20", "--timeline", "10")
DAY = "2026-03-{:02d}T15:00:00+00:00"  # 10:00 in New York (EST until March 8, then EDT)


def at(day: int) -> str:
    return DAY.format(day)


def opportunity(crm: Crm, **fields: str) -> int:
    """A scored lead qualified into an opportunity (now: Friday 2026-03-06 16:30 EST)."""
    lead = crm.add_lead(**fields)
    crm.ok("score", str(lead), *SCORE)
    crm.ok("advance", str(lead), "qualification")
    return lead


def quoted_to(crm: Crm, lead: int, stage: str, *extra: str) -> str:
    """Through needs analysis to `stage` with a quote of 18,500.50 approved at once."""
    crm.ok("advance", str(lead), "needs_analysis")
    quote = crm.ok("quote", "new", str(lead)).out.strip()
    crm.ok("quote", "line", quote, "--product", "Router", "--qty", "2", "--price", "9250.25")
    crm.ok("quote", "submit", quote)
    return crm.ok("advance", str(lead), stage, *extra).err


def deal(crm: Crm, lead: int) -> tuple:
    return crm.rows("SELECT amount, close_date, probability FROM lead WHERE id = ?", lead)[0]


def test_lead_edit_keeps_an_opportunitys_fields_audited(crm: Crm) -> None:
    lead = opportunity(crm)
    crm.ok(
        "lead",
        "edit",
        str(lead),
        *("--amount", "18,500.50", "--close-date", "2026-06-30", "--probability", "60%"),
    )
    assert deal(crm, lead) == (1850050, "2026-06-30", 60)
    shown = crm.ok("lead", "show", str(lead), "--format", "json").json()
    assert (shown["amount"], shown["close_date"], shown["probability"]) == (
        "18500.50",
        "2026-06-30",
        60,
    )
    edit = shown["history"][-1]
    assert edit["command"] == "crm lead edit" and edit["changes"] == {
        "amount": [None, "18500.50"],
        "close_date": [None, "2026-06-30"],
        "probability": [None, 60],
    }
    # today is a realistic close date; yesterday is not
    crm.ok("lead", "edit", str(lead), "--close-date", "2026-03-06")
    assert deal(crm, lead)[1] == "2026-03-06"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["--close-date", "2026-03-05"],
            "--close-date: 2026-03-05 is in the past (today is 2026-03-06)",
        ),
        (["--close-date", "next week"], "--close-date: 'next week' is not a date"),
        (["--probability", "101"], "--probability: '101' is not a percentage"),
        (["--probability", "-5"], "--probability: '-5' is not a percentage"),
        (["--amount", "-1"], "--amount: must not be negative"),
        (["--amount", "1e30"], "--amount: '1e30' is too large"),
        (["--amount", "12.345"], "--amount: '12.345' has more than 2 decimals"),
        (["--amount", "lots"], "--amount: 'lots' is not an amount"),
    ],
)
def test_lead_edit_refuses_bad_opportunity_values(crm: Crm, args: list, needle: str) -> None:
    lead = opportunity(crm)
    before = crm.snapshot()
    run = crm("lead", "edit", str(lead), *args)
    assert run.code == 2 and needle in run.err, run.err
    assert len(run.err.strip().splitlines()) == 1
    assert crm.snapshot() == before


def test_only_an_opportunity_has_amount_close_date_and_probability(crm: Crm) -> None:
    lead = crm.add_lead()
    before = crm.snapshot()
    for flag, value in (
        ("--amount", "100"),
        ("--close-date", "2026-06-30"),
        ("--probability", "5"),
    ):
        run = crm("lead", "edit", str(lead), flag, value)
        assert run.code == 2
        assert f"{flag}: lead {lead} is not an opportunity yet" in run.err
        assert f"crm advance {lead} qualification" in run.err
    assert crm.snapshot() == before


def test_advancing_past_the_quote_stage_takes_the_amount_from_the_quote(crm: Crm) -> None:
    lead = opportunity(crm)
    said = quoted_to(crm, lead, "proposal")
    assert "amount 18500.50 from quote Q-0001" in said
    assert deal(crm, lead)[0] == 1850050
    crm.ok("advance", str(lead), "negotiation")
    assert deal(crm, lead)[0] == 1850050
    # a rep who negotiated another figure says so
    other = opportunity(crm, first="Charles", last="Babbage", email="cb@example.com")
    quoted_to(crm, other, "proposal", "--amount", "17000")
    assert deal(crm, other)[0] == 1700000


def test_a_won_deal_needs_a_non_zero_amount(crm: Crm) -> None:
    lead = opportunity(crm)
    quoted_to(crm, lead, "proposal", "--amount", "0")
    crm.ok("advance", str(lead), "negotiation", "--amount", "0")
    before = crm.snapshot()
    run = crm("advance", str(lead), "closed_won", "--po", "PO-1", "--amount", "0")
    assert run.code == 5
    assert "closed_won requires a non-zero amount" in run.err
    assert "crm lead edit ID --amount AMOUNT" in run.err
    assert crm.snapshot() == before
    crm.ok("lead", "edit", str(lead), "--amount", "18000")
    won = crm.ok("advance", str(lead), "closed_won", "--po", "PO-1", "--format", "json").json()
    assert won["status"] == "won" and won["amount"] == "18000.00"
    dashboard = crm.ok("dashboard", "--format", "json", CRM_NOW=at(9)).json()["summary"]
    assert (dashboard["won_deals"], dashboard["won_value"]) == (1, "18000.00")


def test_advance_refuses_a_close_date_in_the_past(crm: Crm) -> None:
    lead = crm.add_lead()
    crm.ok("score", str(lead), *SCORE)
    before = crm.snapshot()
    run = crm("advance", str(lead), "qualification", "--close-date", "2025-01-01")
    assert run.code == 2 and "--close-date: 2025-01-01 is in the past" in run.err
    assert crm.snapshot() == before


def weekly_due(crm: Crm, lead: int) -> tuple:
    return crm.rows(
        "SELECT due_at, title FROM obligation WHERE rule = 'opportunity.weekly_update' "
        "AND record_id = ? AND status = 'open'",
        lead,
    )[0]


def test_only_an_update_leaving_next_step_and_close_date_restarts_the_week(crm: Crm) -> None:
    # became an opportunity Fri Mar 6 16:30 EST: due a week later at the same wall-clock time,
    # 16:30 EDT (clocks go forward on Mar 8), in business hours
    lead = opportunity(crm)
    assert weekly_due(crm, lead)[0] == "2026-03-13 20:30:00.000000"
    crm.ok("note", str(lead), "called, no news", CRM_NOW=at(9))
    assert weekly_due(crm, lead)[0] == "2026-03-13 20:30:00.000000"  # a note alone: no
    crm.ok("lead", "edit", str(lead), "--close-date", "2026-05-29", CRM_NOW=at(10))
    assert weekly_due(crm, lead)[0] == "2026-03-13 20:30:00.000000"  # no next step ahead
    crm.ok("next-step", str(lead), "demo for IT", "--due", "2026-03-16 10:00", CRM_NOW=at(11))
    assert weekly_due(crm, lead)[0] == "2026-03-18 15:00:00.000000"  # Mar 11 + 7 days
    # a week later the next step has passed: a note does not count, a new next step does
    crm.ok("note", str(lead), "demo went well", CRM_NOW=at(17))
    assert weekly_due(crm, lead)[0] == "2026-03-18 15:00:00.000000"
    crm.ok("next-step", str(lead), "pricing call", "--due", "2026-03-20 11:00", CRM_NOW=at(18))
    assert weekly_due(crm, lead)[0] == "2026-03-25 15:00:00.000000"


def test_lead_show_has_the_deal_and_recent_activities_with_call_reports(team: Crm) -> None:
    lead = opportunity(team)
    team.ok("lead", "edit", str(lead), "--amount", "9000", "--probability", "35")
    team.ok(
        "log-meeting",
        str(lead),
        *("--attendee", "Ada (CTO)", "--attendee", "Bob (IT)", "--topic", "pricing"),
        *("--issue", "SSO", "--action-item", "send SSO docs@2026-03-10 10:00"),
        user="ed",
    )
    shown = team.ok("lead", "show", str(lead), "--format", "json", user="ed").json()
    assert shown["kind"] == "opportunity" and shown["amount"] == "9000.00"
    assert shown["probability"] == 35 and shown["lost_reason"] is None
    meeting = next(a for a in shown["activities"] if a["type"] == "meeting")
    assert meeting["user"] == "ed"
    assert meeting["call_report"] == {
        "attendees": ["Ada (CTO)", "Bob (IT)"],
        "topics": ["pricing"],
        "issues": ["SSO"],
        "action_items": [
            {"text": "send SSO docs", "due_at": "2026-03-10T10:00:00-04:00", "task": 3}
        ],
    }
    table = team.ok("lead", "show", str(lead), user="ed").out
    assert "amount            $9,000.00" in table and "probability       35%" in table
    assert "attendees: Ada (CTO), Bob (IT); topics: pricing; issues: SSO" in table
    assert "action items: send SSO docs (due 2026-03-10 10:00)" in table
    # a viewer reads when, what and who, but not the words (personal values)
    viewed = team.ok("lead", "show", str(lead), "--format", "json", user="vi").json()
    seen = next(a for a in viewed["activities"] if a["type"] == "meeting")
    assert seen["user"] == "ed" and seen["call_report"] is None and seen["subject"] is None
    assert "Ada (CTO)" not in team.ok("lead", "show", str(lead), user="vi").out


def test_a_stage_without_its_own_probability_shows_the_stages(crm: Crm) -> None:
    lead = opportunity(crm)
    assert crm.ok("lead", "show", str(lead), "--format", "json").json()["probability"] == 20


# --- item 5: nurture and lost -------------------------------------------------------------


def test_advance_nurture_does_what_the_stale_rule_suggests(crm: Crm) -> None:
    lead = crm.add_lead()
    late = "2026-03-23T15:00:00+00:00"  # 17 days in prospecting (stale after 14)
    overdue = crm.ok("report", "overdue", "--format", "json", CRM_NOW=late).json()
    stale = [r for r in overdue if r["rule"] == "opportunity.stale"]
    assert stale and "move on or to nurture or closed_lost" in stale[0]["title"]
    moved = crm.ok("advance", str(lead), "nurture", "--format", "json", CRM_NOW=late).json()
    assert (moved["stage"], moved["status"]) == ("prospecting", "nurture")
    assert crm.rows(
        "SELECT status FROM obligation WHERE rule = 'opportunity.stale' AND record_id = ?", lead
    ) == [("cancelled",)]
    event = crm.ok("lead", "show", str(lead), "--format", "json").json()["history"][-1]
    assert event["command"] == "crm advance" and event["changes"]["status"] == ["new", "nurture"]
    again = crm("advance", str(lead), "nurture", CRM_NOW=late)
    assert again.code == 2 and "already in nurture" in again.err
    # moved on again, it is back in the active pipeline
    crm.ok("score", str(lead), *SCORE, CRM_NOW=late)
    back = crm.ok("advance", str(lead), "qualification", "--format", "json", CRM_NOW=late).json()
    assert back["status"] == "qualified"


def test_a_closed_record_does_not_move_to_nurture(crm: Crm) -> None:
    lead = crm.add_lead()
    crm.ok("advance", str(lead), "closed_lost", "--lost-reason", "no budget")
    run = crm("advance", str(lead), "nurture")
    assert run.code == 5 and "closed records do not move" in run.err


def test_closing_lost_before_qualifying_creates_no_account_or_contact(crm: Crm) -> None:
    lead = crm.add_lead(company="Acme Corp")
    lost = crm.ok(
        "advance", str(lead), "closed_lost", "--lost-reason", "no need", "--format", "json"
    ).json()
    assert (lost["status"], lost["kind"], lost["converted"]) == ("lost", "lead", False)
    assert (lost["account_id"], lost["contact_id"]) == (None, None)
    assert crm.count("account") == 0 and crm.count("contact") == 0


def test_a_nurtured_opportunity_moved_on_is_qualified_again(crm: Crm) -> None:
    lead = opportunity(crm)
    crm.ok("advance", str(lead), "nurture")
    assert crm.rows("SELECT status, kind FROM lead WHERE id = ?", lead) == [
        ("nurture", "opportunity")
    ]
    crm.ok("advance", str(lead), "needs_analysis")
    assert crm.rows("SELECT status FROM lead WHERE id = ?", lead) == [("qualified",)]
