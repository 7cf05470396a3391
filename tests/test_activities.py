"""Activities through the real CLI: logging, next steps, double-booking, done, points, agenda."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import Crm

CHARTEC = str(Path(__file__).parent.parent / "examples" / "policies" / "chartec.toml")
MONDAY_10 = "2026-03-09 10:00"  # New York; NOW is Friday 2026-03-06 16:30


def query(crm: Crm, sql: str, *params: Any) -> list[dict]:
    return crm.dict_rows(sql, *params)


def activity(crm: Crm, activity_id: int) -> dict:
    return query(crm, "SELECT * FROM activity WHERE id = ?", activity_id)[0]


def obligation(crm: Crm, rule: str, key: str = "") -> dict:
    found = query(crm, 'SELECT * FROM obligation WHERE rule = ? AND "key" = ?', rule, key)
    assert len(found) == 1, (rule, key, found)
    return found[0]


# --- logging -------------------------------------------------------------------------------


def test_a_logged_call_meets_the_first_response_obligation(crm: Crm) -> None:
    lead = crm.add_lead()
    assert obligation(crm, "lead.first_response")["status"] == "open"
    run = crm.ok(
        "log-call",
        str(lead),
        "--outcome",
        "Connected",
        "--notes",
        "wants a demo",
        "--duration",
        "15m",
    )
    assert run.out == "1\n"
    call = activity(crm, 1)
    assert (call["type"], call["direction"], call["outcome"], call["status"]) == (
        "call",
        "outbound",
        "connected",
        "logged",
    )
    assert (call["notes"], call["duration_minutes"], call["points"]) == ("wants a demo", 15, 4)
    met = obligation(crm, "lead.first_response")
    assert (met["status"], met["met_by"]) == ("met", "boss")
    assert query(crm, "SELECT first_response_at FROM lead")[0][0] is not None
    events = query(crm, "SELECT action, changes FROM audit_event WHERE record_type = 'activity'")
    assert [e["action"] for e in events] == ["create"]
    assert json.loads(events[0]["changes"])["outcome"] == [None, "connected"]


def test_log_call_json_and_past_at_in_policy_timezone(crm: Crm) -> None:
    lead = crm.add_lead()
    row = crm.ok(
        "log-call",
        str(lead),
        "--outcome",
        "no_answer",
        "--at",
        "2026-03-06 11:05",
        "--format",
        "json",
    ).json()
    assert row["outcome"] == "no-answer"
    assert row["at"] == "2026-03-06T11:05:00-05:00"
    assert row["user"] == "boss" and row["lead_id"] == lead and row["type"] == "call"


def test_a_missed_inbound_call_is_no_response_and_an_answered_one_is(crm: Crm) -> None:
    lead = crm.add_lead()
    crm.ok("log-call", str(lead), "--outcome", "no-answer", "--inbound")
    assert activity(crm, 1)["direction"] == "inbound"
    assert obligation(crm, "lead.first_response")["status"] == "open"
    # picked up: a real conversation ([touches] contact) answers the lead
    crm.ok("log-call", str(lead), "--outcome", "connected", "--inbound")
    assert obligation(crm, "lead.first_response")["status"] == "met"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--outcome", "busy"], 2, "--outcome: 'busy' is not an outcome"),
        ([], 2, "--outcome"),
        (["--outcome", "connected", "--at", "soon-ish"], 2, "--at: cannot read"),
        (
            ["--outcome", "connected", "--at", "2026-03-07 09:00"],
            2,
            "--at: 2026-03-07 09:00 lies in the future",
        ),
        (["--outcome", "connected", "--duration", "a while"], 2, "--duration:"),
        (["--outcome", "connected", "--duration", "0m"], 2, "--duration: give at least 1m"),
        (["--outcome", "connected", "--duration", "30d"], 2, "longer than a day"),
        (["--outcome", "connected", "--points-as", "discovery-meetin"], 2, "--points-as:"),
    ],
)
def test_log_call_rejects_bad_input(crm: Crm, args: list[str], code: int, message: str) -> None:
    lead = crm.add_lead()
    run = crm("log-call", str(lead), *args)
    assert run.code == code
    assert message in run.err
    assert run.out == ""
    assert crm.count("activity") == 0


def test_unknown_points_kind_suggests_the_close_one(crm: Crm) -> None:
    lead = crm.add_lead()
    run = crm(
        "--policy",
        CHARTEC,
        "log-call",
        str(lead),
        "--outcome",
        "connected",
        "--points-as",
        "lead-follow-up-cal",
    )
    assert run.code == 2
    assert "did you mean 'lead_follow_up_call'?" in run.err


def test_logging_needs_a_lead_and_an_editor(team: Crm) -> None:
    missing = team("log-call", "7", "--outcome", "connected")
    assert missing.code == 3 and "lead 7 not found" in missing.err
    lead = team.add_lead()
    viewer = team("log-call", str(lead), "--outcome", "connected", user="vi")
    assert viewer.code == 4 and "editor" in viewer.err
    stranger = team("note", str(lead), "hello", user="nobody")
    assert stranger.code == 4
    for command in (
        ["log-email", "9"],
        ["log-chat", "9"],
        ["note", "9", "x"],
        ["log-meeting", "9", "--attendee", "Ada"],
        ["next-step", "9", "x", "--due", MONDAY_10],
    ):
        assert team(*command).code == 3, command
    assert team.count("activity") == 0


def test_emails_and_chats_are_outbound_unless_inbound(crm: Crm) -> None:
    lead = crm.add_lead()
    crm.ok("log-email", str(lead), "--inbound", "--subject", "Question", "--notes", "price?")
    assert obligation(crm, "lead.first_response")["status"] == "open"
    email = crm.ok("log-email", str(lead), "--subject", " Pricing ", "--format", "json").json()
    chat = crm.ok("log-chat", str(lead), "--notes", "see you Tuesday", "--format", "json").json()
    inbound_chat = crm.ok(
        "log-chat", str(lead), "--notes", "ok", "--inbound", "--format", "json"
    ).json()
    assert (email["type"], email["direction"], email["subject"], email["points"]) == (
        "email",
        "outbound",
        "Pricing",
        2,
    )
    assert (chat["type"], chat["direction"], chat["notes"], chat["points"]) == (
        "chat",
        "outbound",
        "see you Tuesday",
        1,
    )
    assert inbound_chat["direction"] == "inbound"
    assert activity(crm, 1)["direction"] == "inbound"
    assert obligation(crm, "lead.first_response")["status"] == "met"
    assert crm("log-chat", str(lead), "--at", "2026-03-08").code == 2


def test_a_note_is_no_contact_and_earns_no_points(crm: Crm) -> None:
    lead = crm.add_lead()
    row = crm.ok("note", str(lead), "  prefers email  ", "--format", "json").json()
    assert (row["type"], row["notes"], row["points"], row["direction"]) == (
        "note",
        "prefers email",
        0,
        None,
    )
    assert obligation(crm, "lead.first_response")["status"] == "open"
    empty = crm("note", str(lead), "   ")
    assert empty.code == 2 and "note is empty" in empty.err
    assert crm.count("activity") == 1


# --- meetings and their call reports ------------------------------------------------------------


def test_meeting_action_items_become_open_tasks(crm: Crm) -> None:
    lead = crm.add_lead()
    run = crm.ok(
        "log-meeting",
        str(lead),
        "--attendee",
        "Ada (CTO)",
        "--attendee",
        "Charles",
        "--topic",
        "pricing",
        "--topic",
        "rollout",
        "--issue",
        "needs SSO",
        "--action-item",
        "send the quote@2026-03-10 09:00",
        "--action-item",
        "email bob@example.com the deck@2026-03-11 14:00",
        "--duration",
        "1h",
        "--subject",
        "Discovery",
    )
    assert run.out == "1\n"
    assert "open tasks 2, 3" in run.err
    meeting = activity(crm, 1)
    assert (meeting["type"], meeting["status"], meeting["points"]) == ("meeting", "logged", 10)
    report = json.loads(meeting["details"])["call_report"]
    assert report["attendees"] == ["Ada (CTO)", "Charles"]
    assert report["topics"] == ["pricing", "rollout"]
    assert report["issues"] == ["needs SSO"]
    assert [(i["text"], i["task"]) for i in report["action_items"]] == [
        ("send the quote", 2),
        ("email bob@example.com the deck", 3),
    ]
    tasks = query(crm, "SELECT * FROM activity WHERE type = 'task' ORDER BY id")
    assert [(t["subject"], t["status"], t["parent_id"], t["points"]) for t in tasks] == [
        ("send the quote", "open", 1, 0),
        ("email bob@example.com the deck", "open", 1, 0),
    ]
    assert tasks[0]["due_at"].startswith("2026-03-10 13:00")  # 09:00 EDT, stored in UTC
    assert obligation(crm, "task.due", "2")["status"] == "open"
    assert obligation(crm, "lead.first_response")["status"] == "met"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--attendee: a call report names the players"),
        (["--attendee", "  "], "--attendee"),
        (
            ["--attendee", "Ada", "--action-item", "send the quote"],
            "--action-item: 'send the quote' has no due",
        ),
        (["--attendee", "Ada", "--action-item", "send it@whenever"], "--action-item: cannot read"),
        (["--attendee", "Ada", "--action-item", "send it@2026-03-05"], "in the past"),
        (["--attendee", "Ada", "--at", "later"], "--at"),
        (["--attendee", "Ada", "--duration", "2x"], "--duration"),
    ],
)
def test_log_meeting_rejects_bad_input(crm: Crm, args: list[str], message: str) -> None:
    lead = crm.add_lead()
    run = crm("log-meeting", str(lead), *args)
    assert run.code == 2
    assert message in run.err
    assert crm.count("activity") == 0


def test_a_future_meeting_is_scheduled_and_earns_points_when_held(crm: Crm) -> None:
    lead = crm.add_lead()
    run = crm.ok(
        "log-meeting", str(lead), "--attendee", "Ada", "--at", MONDAY_10, "--duration", "1h"
    )
    assert "crm done 1" in run.err
    meeting = activity(crm, 1)
    assert (meeting["status"], meeting["points"]) == ("open", 0)
    assert obligation(crm, "lead.first_response")["status"] == "open"  # not held yet
    early = crm("done", "1")
    assert early.code == 5 and "starts 2026-03-09 10:00" in early.err
    held = crm.ok("done", "1", CRM_NOW="2026-03-09T15:05:00+00:00")
    assert "+10 points" in held.err
    meeting = activity(crm, 1)
    assert (meeting["status"], meeting["points"], meeting["done_by"]) == ("logged", 10, "boss")
    assert obligation(crm, "lead.first_response")["status"] == "met"
    again = crm.ok("done", "1", CRM_NOW="2026-03-09T16:00:00+00:00")
    assert "meeting 1 is already held (2026-03-09 11:05 by boss)" in again.err
    assert activity(crm, 1)["points"] == 10


# --- next steps and double-booking ---------------------------------------------------------------


def test_next_step_is_an_open_task_with_time_allocated(crm: Crm) -> None:
    lead = crm.add_lead()
    row = crm.ok(
        "next-step", str(lead), "demo for the CTO", "--due", MONDAY_10, "--format", "json"
    ).json()
    assert (row["type"], row["status"], row["subject"]) == ("task", "open", "demo for the CTO")
    assert row["due_at"] == "2026-03-09T10:00:00-04:00"
    assert row["duration_minutes"] == 30  # the default, stored: time is allocated
    assert obligation(crm, "task.due", str(row["id"]))["status"] == "open"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["call back"], "--due: give when"),
        (["call back", "--due", "2026-03-06 16:00"], "--due: 2026-03-06 16:00 is in the past"),
        (["call back", "--due", "next blue moon"], "--due: cannot read"),
        (["  ", "--due", MONDAY_10], "text: say what the next step is"),
        (["call back", "--due", MONDAY_10, "--duration", "-5m"], "--duration"),
    ],
)
def test_next_step_rejects_bad_input(crm: Crm, args: list[str], message: str) -> None:
    lead = crm.add_lead()
    run = crm("next-step", str(lead), *args)
    assert run.code == 2
    assert message in run.err
    assert crm.count("activity") == 0


def test_double_booking_is_refused_then_allowed(team: Crm) -> None:
    lead = team.add_lead()
    team.ok("next-step", str(lead), "demo", "--due", MONDAY_10, "--duration", "1h")
    refused = team("next-step", str(lead), "pricing call", "--due", "2026-03-09 10:30")
    assert refused.code == 5
    assert refused.err.startswith(
        "crm: next step 2026-03-09 10:30–11:00 clashes with task 1 'demo'"
    )
    assert "no double-booking (seed 001 §7)" in refused.err
    assert "--allow-overlap" in refused.err
    assert team.count("activity") == 1
    # back to back is no clash (half-open intervals), nor is another rep's calendar
    assert team.ok("next-step", str(lead), "debrief", "--due", "2026-03-09 11:00").out == "2\n"
    assert team.ok("next-step", str(lead), "demo prep", "--due", MONDAY_10, user="ed").out == "3\n"
    allowed = team.ok(
        "next-step", str(lead), "pricing call", "--due", "2026-03-09 10:30", "--allow-overlap"
    )
    assert allowed.out == "4\n" and "--allow-overlap, audited" in allowed.err
    assert json.loads(activity(team, 4)["details"])["overlaps"] == [1]
    audited = query(team, "SELECT changes FROM audit_event WHERE action = 'allow_overlap'")
    assert json.loads(audited[0]["changes"]) == {"overlaps": [None, [1]]}


def test_meetings_are_checked_for_double_booking_too(crm: Crm) -> None:
    lead = crm.add_lead()
    crm.ok("next-step", str(lead), "demo", "--due", MONDAY_10)
    refused = crm(
        "log-meeting",
        str(lead),
        "--attendee",
        "Ada",
        "--at",
        "2026-03-09 09:30",
        "--duration",
        "45m",
    )
    assert refused.code == 5
    assert "meeting 2026-03-09 09:30–10:15 clashes with task 1 'demo'" in refused.err
    assert "no double-booking (seed 001 §7)" in refused.err
    crm.ok(
        "log-meeting",
        str(lead),
        "--attendee",
        "Ada",
        "--at",
        "2026-03-09 09:30",
        "--duration",
        "45m",
        "--allow-overlap",
    )
    # and a next step is refused over that meeting
    over_meeting = crm(
        "next-step", str(lead), "call", "--due", "2026-03-09 09:15", "--duration", "1h"
    )
    assert over_meeting.code == 5 and "meeting 2 'meeting'" in over_meeting.err
    assert "also clashes with task 1 'demo'" in over_meeting.err


# --- done ---------------------------------------------------------------------------------------


def test_done_meets_the_task_due_obligation_and_again_is_a_no_op(team: Crm) -> None:
    lead = team.add_lead()
    team.ok("next-step", str(lead), "demo", "--due", MONDAY_10)
    run = team.ok("done", "1", user="ed")
    assert run.out == "" and "done: task 1 'demo'" in run.err
    task = activity(team, 1)
    assert (task["status"], task["done_by"]) == ("done", "ed")
    assert task["done_at"].startswith("2026-03-06 21:30")
    met = obligation(team, "task.due", "1")
    assert (met["status"], met["met_by"]) == ("met", "ed")
    events = team.count("audit_event")
    again = team.ok("done", "1", "--format", "json")
    assert "already done" in again.err and "by ed" in again.err
    assert again.json()["status"] == "done"
    assert team.count("audit_event") == events  # nothing changed, nothing audited
    done_events = query(team, "SELECT actor, changes FROM audit_event WHERE action = 'done'")
    assert done_events[0]["actor"] == "ed"
    assert json.loads(done_events[0]["changes"])["status"] == ["open", "done"]


def test_done_errors(team: Crm) -> None:
    lead = team.add_lead()
    team.ok("log-call", str(lead), "--outcome", "connected")
    team.ok("next-step", str(lead), "demo", "--due", MONDAY_10)
    missing = team("done", "99")
    assert missing.code == 3 and "task 99 not found" in missing.err
    not_a_task = team("done", "1")
    assert not_a_task.code == 2 and "call 1 is a logged call" in not_a_task.err
    viewer = team("done", "2", user="vi")
    assert viewer.code == 4
    assert activity(team, 2)["status"] == "open"
    assert team("done", "two").code == 2


# --- points -------------------------------------------------------------------------------------


def test_points_against_the_chartec_quota(team: Crm) -> None:
    # installed, not given with --policy: an editor may not write under another policy
    team.ok("policy", "import", CHARTEC)
    lead = team.add_lead()

    def chartec(*args: str, **kwargs) -> Any:
        return team.ok(*args, **kwargs)

    chartec(
        "log-meeting",
        str(lead),
        "--attendee",
        "Ada",
        "--at",
        "2026-03-06 09:00",
        "--points-as",
        "discovery_meeting",
        user="ed",
    )
    chartec(
        "log-call",
        str(lead),
        "--outcome",
        "connected",
        "--points-as",
        "lead_follow_up_call",
        user="ed",
    )
    chartec("log-call", str(lead), "--outcome", "voicemail", user="ed")
    chartec("log-email", str(lead), "--points-as", "value_add_proactive_email", user="ed")
    chartec(
        "next-step",
        str(lead),
        "first appointment",
        "--due",
        MONDAY_10,
        "--points-as",
        "first_appointment",
        user="ed",
    )
    assert activity(team, 5)["points"] == 0  # earned when done
    chartec("done", "5", user="ed", CRM_NOW="2026-03-09T15:00:00+00:00")
    assert activity(team, 5)["points"] == 10
    chartec("log-call", str(lead), "--outcome", "connected", "--at", "2026-02-27 10:00", user="ed")

    rows = chartec(
        "points", "--user", "ed", "--month", "2026-03", "--format", "json", user="vi"
    ).json()
    by_kind = {row["kind"]: row for row in rows}
    # the policy's order: default kinds first, then CharTec's (all of them have a recommended
    # monthly count, so they are listed even when nothing was logged)
    assert list(by_kind)[:3] == ["call", "add_prospect_to_funnel", "first_appointment"]
    assert list(by_kind)[-1] == "total" and len(by_kind) == 1 + 21 + 1
    assert (by_kind["discovery_meeting"]["count"], by_kind["discovery_meeting"]["points"]) == (
        1,
        12,
    )
    assert by_kind["discovery_meeting"]["points_each"] == 12
    assert by_kind["discovery_meeting"]["recommended"] == 4
    assert by_kind["discovery_meeting"]["recommended_points"] == 48
    assert by_kind["call"] == {
        "kind": "call",
        "points_each": 4,
        "count": 1,
        "points": 4,
        "recommended": None,
        "recommended_points": None,
        "quota": None,
    }
    total = by_kind["total"]
    assert (total["count"], total["points"], total["quota"]) == (5, 12 + 1 + 4 + 2 + 10, 500)
    # seed 004's table: the recommended activities add up to 644 points a month
    assert (total["recommended"], total["recommended_points"]) == (96, 644)

    table = chartec("points", user="ed", CRM_NOW="2026-03-20T12:00:00+00:00")
    assert "discovery_meeting" in table.out and "total" in table.out
    assert "ed, 2026-03: 29 of 500 points (6%); 471 to go" in table.err
    february = chartec("points", "--user", "ed", "--month", "2026-02", "--format", "csv")
    lines = february.out.splitlines()
    assert lines[0] == "kind,points_each,count,points,recommended,recommended_points,quota"
    assert lines[1] == "call,4,1,4,,,"
    assert lines[-1] == "total,,1,4,96,644,500"
    nothing = chartec("points", "--month", "2025-12", "--format", "json").json()
    assert nothing[-1] == {
        "kind": "total",
        "points_each": None,
        "count": 0,
        "points": 0,
        "recommended": 96,
        "recommended_points": 644,
        "quota": 500,
    }
    assert all(row["count"] == 0 for row in nothing)


def test_points_errors(team: Crm) -> None:
    assert team("points", "--month", "2026-13").code == 2
    assert "--month: '2026/03' is not a month" in team("points", "--month", "2026/03").err
    unknown = team("points", "--user", "ghost")
    assert unknown.code == 3 and "--user: no user named 'ghost'" in unknown.err
    ids = team("points", "--format", "ids")
    assert ids.code == 2 and "no ids" in ids.err
    assert team("points", user="nobody").code == 4


def test_points_against_recommended_counts(crm: Crm, tmp_path) -> None:
    """Recommended monthly counts come from the policy's [activities.recommended]."""
    policy = tmp_path / "p.toml"
    policy.write_text(
        "[activities.points]\nvalue_add_proactive_email = 2\nthank_you_card = 1\n"
        "[activities.recommended]\nvalue_add_proactive_email = 10\nthank_you_card = 10\n"
    )
    lead = crm.add_lead()
    for _ in range(2):
        crm.ok(
            "--policy",
            str(policy),
            "log-email",
            str(lead),
            "--points-as",
            "value_add_proactive_email",
        )
    rows = crm.ok(
        "--policy", str(policy), "points", "--month", "2026-03", "--format", "json"
    ).json()
    by_kind = {row["kind"]: row for row in rows}
    assert by_kind["value_add_proactive_email"]["count"] == 2
    assert by_kind["value_add_proactive_email"]["recommended"] == 10
    assert by_kind["value_add_proactive_email"]["recommended_points"] == 20
    assert (
        by_kind["thank_you_card"]["count"],
        by_kind["thank_you_card"]["recommended_points"],
    ) == (0, 10)
    assert (by_kind["total"]["recommended"], by_kind["total"]["recommended_points"]) == (20, 30)
    table = crm.ok("--policy", str(policy), "points", "--month", "2026-03")
    assert "boss, 2026-03: 4 of 500 points (1%); 496 to go" in table.err


# --- agenda -------------------------------------------------------------------------------------


@pytest.fixture
def booked(team: Crm) -> Crm:
    """ed has: a next step Monday 10:00 (1h), a meeting Tuesday 14:00, an action item Thursday."""
    lead = team.add_lead()
    team.ok("next-step", str(lead), "demo", "--due", MONDAY_10, "--duration", "1h", user="ed")
    team.ok(
        "log-meeting",
        str(lead),
        "--attendee",
        "Ada",
        "--subject",
        "Pricing review",
        "--at",
        "2026-03-10 14:00",
        "--duration",
        "90m",
        "--action-item",
        "send the quote@2026-03-12 09:00",
        user="ed",
    )
    team.ok("next-step", str(lead), "boss's own call", "--due", MONDAY_10)
    team.ok("log-call", str(lead), "--outcome", "connected", user="ed")
    return team


def test_agenda_table_and_json(booked: Crm) -> None:
    table = booked.ok("agenda", user="ed").out
    lines = table.splitlines()
    assert lines[0].split() == ["id", "start", "end", "kind", "lead", "subject", "overdue"]
    assert "2026-03-09 10:00  2026-03-09 11:00  task" in lines[2]
    assert "Ada Lovelace (Analytical Engines)" in lines[2]
    assert "Pricing review" in lines[3] and "send the quote" in lines[4]
    assert len(lines) == 5
    rows = booked.ok("agenda", "--user", "ed", "--format", "json", user="vi").json()
    assert [(r["id"], r["kind"], r["subject"]) for r in rows] == [
        (1, "task", "demo"),
        (2, "meeting", "Pricing review"),
        (3, "task", "send the quote"),
    ]
    assert rows[1]["start"] == "2026-03-10T14:00:00-04:00"
    assert rows[1]["end"] == "2026-03-10T15:30:00-04:00"
    assert rows[2]["end"] == "2026-03-12T09:30:00-04:00"  # no duration: the 30m default
    assert [r["id"] for r in booked.ok("agenda", "--format", "json").json()] == [4]  # boss's
    # --days 4 (Fri..Mon) ends before Tuesday's meeting
    assert booked.ok("agenda", "--days", "4", "--format", "ids", user="ed").out == "1\n"
    assert booked.ok("agenda", "--days", "1", "--format", "ids", user="ed").out == ""


def test_agenda_keeps_overdue_items_until_done(booked: Crm) -> None:
    later = {"CRM_NOW": "2026-03-11T12:00:00+00:00", "user": "ed"}
    rows = booked.ok("agenda", "--days", "1", "--format", "json", **later).json()
    assert [(r["id"], r["overdue"]) for r in rows] == [(1, True), (2, True)]
    booked.ok("done", "1", **later)
    booked.ok("done", "2", **later)
    assert booked.ok("agenda", "--days", "2", "--format", "ids", **later).out == "3\n"


def test_agenda_writes_a_valid_ics_file(booked: Crm, tmp_path: Path) -> None:
    from icalendar import Calendar

    path = tmp_path / "week.ics"
    run = booked.ok("agenda", "--ics", str(path), user="ed")
    assert "wrote 3 events" in run.err
    calendar = Calendar.from_ical(path.read_bytes())
    assert str(calendar["VERSION"]) == "2.0" and "PRODID" in calendar
    events = calendar.walk("VEVENT")
    assert len(events) == 3
    first = events[0]
    assert str(first["UID"]) == "activity-1@crmcli"
    assert first.decoded("DTSTAMP") == datetime(2026, 3, 6, 21, 30, tzinfo=UTC)
    assert first.decoded("DTSTART") == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
    assert first.decoded("DTEND") == datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
    assert first["DTSTART"].to_ical() == b"20260309T140000Z"  # written in UTC
    assert str(first["SUMMARY"]) == "demo — Ada Lovelace (Analytical Engines)"
    assert len({str(e["UID"]) for e in events}) == 3
    meeting = events[1]
    assert meeting.decoded("DTEND") - meeting.decoded("DTSTART") == (
        datetime(2026, 3, 10, 19, 30) - datetime(2026, 3, 10, 18, 0)
    )
    stdout = booked.ok("agenda", "--ics", "-", user="ed").out
    assert len(Calendar.from_ical(stdout).walk("VEVENT")) == 3


def test_agenda_errors(team: Crm, tmp_path: Path) -> None:
    assert team.ok("agenda").err.strip() == "nothing on the agenda"
    assert team.ok("agenda", "--format", "json").json() == []
    bad_days = team("agenda", "--days", "0")
    assert bad_days.code == 2 and "--days: give 1 or more days" in bad_days.err
    assert team("agenda", "--user", "ghost").code == 3
    unwritable = team("agenda", "--ics", str(tmp_path / "no" / "such" / "dir.ics"))
    assert unwritable.code == 2 and "--ics: cannot write" in unwritable.err
    assert team("agenda", user="nobody").code == 4
