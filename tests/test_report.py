"""`crm report overdue` and `crm tick`: exact due times under CRM_NOW, --check for cron."""

from __future__ import annotations

import csv
import io
import re

from conftest import Crm

# the fixture clock is Friday 2026-03-06 16:30 New York (21:30 UTC)
MONDAY_0930 = "2026-03-09T09:30:00-04:00"


def report(crm: Crm, *args: str, **env) -> list[dict]:
    return crm.ok("report", "overdue", "--format", "json", *args, **env).json()


def test_new_lead_first_response_falls_due_next_business_hour(team: Crm) -> None:
    team.add_lead()
    assert report(team) == []
    soon = report(team, "--due-within", "3d")
    assert [(r["rule"], r["due_at"]) for r in soon] == [("lead.first_response", MONDAY_0930)]
    assert soon[0]["overdue_by_seconds"] == -(2 * 86400 + 16 * 3600)  # not yet due: negative
    later = report(team, CRM_NOW="2026-03-09T15:00:00Z")  # Monday 11:00 EDT
    assert later[0]["overdue_by_seconds"] == 5400
    assert {"rule", "record_type", "record_id", "owner", "due_at", "overdue_by_seconds"} <= set(
        later[0]
    )


def test_check_exits_1_only_when_something_is_overdue(team: Crm) -> None:
    team.add_lead()
    quiet = team("report", "overdue", "--check")
    assert quiet.code == 0 and "nothing overdue" in quiet.err
    late = team("report", "overdue", "--check", CRM_NOW="2026-03-09T15:00:00Z")
    assert late.code == 1
    assert "lead.first_response" in late.out and "(unassigned)" in late.out
    assert late.err.strip() == "crm: 1 obligation overdue"
    # due soon is listed but is not overdue
    assert team("report", "overdue", "--check", "--due-within", "5d").code == 0


def test_late_entry_and_logged_touch(team: Crm) -> None:
    team.add_lead(acquired="2026-03-04 09:00")
    (entry,) = team.rows("SELECT status, due_at, met_at FROM obligation WHERE rule = 'lead.entry'")
    # acquired Wednesday 09:00 EST, due 24 h later, met late on Friday
    assert entry == ("met", "2026-03-05 14:00:00.000000", "2026-03-06 21:30:00.000000")
    team.ok(
        "log-call",
        "1",
        "--outcome",
        "connected",
        "--notes",
        "intro",
        "--at",
        "2026-03-09 09:10",
        CRM_NOW="2026-03-09T14:00:00Z",
    )
    rows = report(team, "--due-within", "30d", CRM_NOW="2026-03-09T14:00:00Z")
    assert "lead.first_response" not in {r["rule"] for r in rows}


def test_assignment_starts_the_48_hour_follow_up(team: Crm) -> None:
    team.add_lead(owner="ed")
    rows = report(team, "--owner", "ed", "--rule", "lead.follow_up", "--due-within", "3d")
    # 48 hours on the wall clock is Sunday 16:30: a rep's work, so Monday's opening (EDT)
    assert [(r["owner"], r["due_at"]) for r in rows] == [("ed", "2026-03-09T09:00:00-04:00")]
    assert report(team, "--owner", "vi", "--due-within", "9d") == []
    mine = report(team, "--owner", "me", "--due-within", "3d", user="ed")
    assert {r["rule"] for r in mine} == {"lead.first_response", "lead.follow_up"}


def test_report_filters_and_formats(team: Crm) -> None:
    team.add_lead(owner="ed")
    team.add_lead(first="Grace", last="Hopper", company="Navy", email="g@navy.example")
    later = {"CRM_NOW": "2026-03-12T15:00:00Z"}
    table = team.ok("report", "overdue", **later).out
    assert "ed:" in table and "(unassigned):" in table and "\x1b[" not in table
    assert table.index("(unassigned)") < table.index("ed:")  # grouped by owner
    rows = list(
        csv.DictReader(io.StringIO(team.ok("report", "overdue", "--format", "csv", **later).out))
    )
    assert {r["rule"] for r in rows} == {"lead.first_response", "lead.follow_up"}
    ids = team.ok("report", "overdue", "--format", "ids", "--owner", "none", **later).out
    assert ids.split() == ["2"]
    for args, needle in (
        (["--rule", "lead.nope"], "--rule"),
        (["--due-within", "soon"], "--due-within"),
    ):
        bad = team("report", "overdue", *args)
        assert bad.code == 2 and needle in bad.err
    assert team("report", "overdue", "--owner", "ghost").code == 3
    assert team.ok("report", "overdue", user="vi").code == 0


def test_tick_creates_cadence_reminders_once_and_marks_inactive(team: Crm) -> None:
    team.add_lead(owner="ed")
    team.ok("log-call", "1", "--outcome", "no-answer", "--notes", "left no message")
    # Monday 10:00 EDT: day 1 (Saturday, so Monday 09:00) was missed, so day 3's window is
    # open too: a reminder for each
    day2 = {"CRM_NOW": "2026-03-09T14:00:00Z"}
    planned = team.ok("tick", "--dry-run", "--format", "json", **day2).json()
    assert [a["detail"].split(": ")[1] for a in planned] == ["day 1 touch", "day 3 touch"]
    assert team.count("activity") == 1  # the dry run wrote nothing
    done = team.ok("tick", "--format", "json", **day2).json()
    if team.pg is not None:  # a PostgreSQL sequence is not rolled back with the dry run
        done = [{**a, "detail": re.sub(r"task \d+", "task N", a["detail"])} for a in done]
        planned = [{**a, "detail": re.sub(r"task \d+", "task N", a["detail"])} for a in planned]
    assert done == planned
    assert team.ok("tick", "--format", "json", **day2).json() == []  # nothing twice
    # a touch meets the day 1 obligation, and its reminder is done at once
    team.ok("log-email", "1", "--subject", "hello again", **day2)
    reminders = team.rows("SELECT subject, status FROM activity WHERE type = 'task' ORDER BY id")
    assert reminders == [("day 1 touch", "done"), ("day 3 touch", "open")]
    assert team.ok("tick", "--format", "json", **day2).json() == []
    # weeks later without reply: the cadence is exhausted, the lead inactive
    month = {"CRM_NOW": "2026-03-25T15:00:00Z"}
    actions = team.ok("tick", "--format", "json", **month).json()
    assert any(a["action"] == "inactive" for a in actions)
    assert team.ok("lead", "show", "1", "--format", "json").json()["status"] == "inactive"
    assert team.ok("tick", "--format", "json", **month).json() == []


def test_tick_moves_stale_records_where_the_policy_says(team: Crm, tmp_path) -> None:
    team.add_lead()
    policy = tmp_path / "p.toml"
    policy.write_text('[rules."opportunity.stale"]\nmove_to = "nurture"\n')
    team.ok("policy", "import", str(policy))
    later = {"CRM_NOW": "2026-03-25T15:00:00Z"}  # prospecting's 14 days are over
    flagged = team.ok("tick", "--format", "json", **later).json()
    assert flagged == [{"action": "nurture", "record": "lead 1", "detail": "stale in prospecting"}]
    assert team.ok("lead", "show", "1", "--format", "json").json()["status"] == "nurture"
    assert team.ok("tick", "--format", "json", **later).json() == []


def test_tick_needs_editor(team: Crm) -> None:
    assert team("tick", user="vi").code == 4
