"""`crm score` and `crm lead event` through the real CLI: bands and what they trigger."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import Crm

ENGAGEMENT_POLICY = '[scoring]\nmodel = "engagement"\n'


def bant(total: int) -> list[str]:
    """BANT flags adding up to `total` (0-100), budget first."""
    values, left = [], total
    for flag in ("--budget", "--authority", "--need", "--timeline"):
        points = min(25, left)
        values += [flag, str(points)]
        left -= points
    return values


def rows(crm: Crm, sql: str, *params) -> list[dict]:
    return crm.dict_rows(sql, *params)


def utc(stored: str) -> datetime:
    """A datetime as the store keeps it on SQLite (naive UTC) made aware."""
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


def tasks(crm: Crm, lead_id: int) -> list[dict]:
    return rows(
        crm,
        "SELECT a.id, a.subject, a.status, a.due_at, u.name AS assignee FROM activity a "
        "JOIN \"user\" u ON u.id = a.user_id WHERE a.lead_id = ? AND a.type = 'task' ORDER BY a.id",
        lead_id,
    )


def lead_json(crm: Crm, lead_id: int) -> dict:
    return crm.ok("lead", "show", str(lead_id), "--format", "json").json()


def use_policy(crm: Crm, tmp_path: Path, text: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    crm.ok("policy", "import", str(path))


# --- crm score: the four bands ----------------------------------------------------------------


def test_score_prints_score_band_and_action(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    run = team.ok(
        "score",
        str(lead),
        "--budget",
        "20",
        "--authority",
        "15",
        "--need",
        "25",
        "--timeline",
        "10",
    )
    assert run.err == ""
    assert "lead 1 scored" in run.out
    assert "score       70\n" in run.out
    assert "band        immediate_sales\n" in run.out
    assert "breakdown   budget 20 + authority 15 + need 25 + timeline 10\n" in run.out
    assert (
        "action      task 1 created: Contact now (immediate_sales band) for ed, "
        "due Mon 2026-03-09 09:30\n" in run.out
    )
    shown = lead_json(team, lead)
    assert (shown["score"], shown["band"], shown["status"]) == (70, "immediate_sales", "new")


def test_nurture_band_enrols_the_lead_in_the_nurture_program(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    result = team.ok("score", str(lead), *bant(29), "--format", "json").json()
    assert (result["score"], result["band"], result["action"]) == (29, "nurture", "nurture")
    assert result["action_taken"] == "enrolled"
    assert result["nurture"] == "enrolled"
    assert result["task"] is None and result["notified"] == []
    assert lead_json(team, lead)["status"] == "nurture"
    assert tasks(team, lead) == []
    audit = lead_json(team, lead)["history"][-1]
    assert audit["action"] == "score"
    assert audit["changes"]["status"] == ["new", "nurture"]
    assert audit["changes"]["program"] == [None, "nurture"]


def test_follow_up_band_schedules_a_task_three_calendar_days_out_for_the_owner(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    result = team.ok("score", str(lead), *bant(45), "--format", "json").json()
    assert (result["band"], result["action"], result["action_taken"]) == (
        "scheduled_follow_up",
        "follow_up",
        "task",
    )
    [task] = tasks(team, lead)
    assert task["subject"] == "Follow up (scheduled_follow_up band)"
    assert task["status"] == "open"
    assert task["assignee"] == "ed"
    # Friday 16:30 New York + 3 days on the wall clock: Monday 16:30, in business hours
    # (the clocks go forward on Sunday 8 March: 16:30 EDT)
    assert utc(task["due_at"]) == datetime(2026, 3, 9, 20, 30, tzinfo=UTC)
    assert result["task"]["due_at"] == "2026-03-09T16:30:00-04:00"
    assert result["task"]["assignee"] == "ed"
    assert lead_json(team, lead)["status"] == "new"


def test_band_task_of_an_unowned_lead_goes_to_the_scorer(team: Crm) -> None:
    lead = team.add_lead()
    team.ok("score", str(lead), *bant(45), user="ed")
    assert [t["assignee"] for t in tasks(team, lead)] == ["ed"]


def test_band_task_is_an_obligation_with_its_due_time(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    team.ok("score", str(lead), *bant(70))
    [task] = tasks(team, lead)
    [obligation] = rows(
        team,
        "SELECT * FROM obligation WHERE rule = 'task.due' AND record_id = ? AND status = 'open'",
        lead,
    )
    assert obligation["title"].startswith("Contact now (immediate_sales band)")
    assert obligation["due_at"] == task["due_at"]


def test_sales_band_asks_for_contact_within_one_business_hour(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    result = team.ok("score", str(lead), *bant(60), "--format", "json").json()
    assert result["band"] == "immediate_sales"
    [task] = tasks(team, lead)
    assert task["subject"] == "Contact now (immediate_sales band)"
    # one business hour from Friday 16:30 is Monday 09:30 (SPEC §4), now daylight time
    assert utc(task["due_at"]) == datetime(2026, 3, 9, 13, 30, tzinfo=UTC)
    assert result["notified"] == []
    assert team.count("notification") == 0


def test_executive_band_notifies_every_admin(team: Crm) -> None:
    team.ok("user", "add", "chief", "--role", "admin")
    lead = team.add_lead(owner="ed")
    run = team.ok("score", str(lead), *bant(95))
    assert "notified boss, chief" in run.out
    notices = rows(team, 'SELECT n.*, u.name FROM notification n JOIN "user" u ON u.id = n.user_id')
    assert [n["name"] for n in notices] == ["boss", "chief"]
    for notice in notices:
        assert notice["kind"] == "executive_contact"
        assert notice["lead_id"] == lead
        assert notice["read_at"] is None
        assert notice["message"] == (
            "lead 1 (Ada Lovelace, Analytical Engines) scored 95: immediate_executive band; "
            "Contact now (immediate_executive band) due 2026-03-09 09:30"
        )
    [task] = tasks(team, lead)
    assert task["subject"] == "Contact now (immediate_executive band)"
    assert task["assignee"] == "ed"


def test_owner_notice_when_the_policy_says_so(team: Crm, tmp_path: Path) -> None:
    use_policy(
        team,
        tmp_path,
        "[scoring]\nbands = [\n"
        '  {min = 0, max = 59, name = "cold", action = "none"},\n'
        '  {min = 60, max = 100, name = "hot", action = "contact", due = "2h", notify = ["owner"]},\n'
        "]\n",
    )
    lead = team.add_lead(owner="ed")
    result = team.ok("score", str(lead), *bant(80), "--format", "json").json()
    assert result["notified"] == ["ed"]
    [notice] = rows(team, "SELECT kind, message FROM notification")
    assert notice["kind"] == "lead_band"
    assert notice["message"].startswith(
        "lead 1 (Ada Lovelace, Analytical Engines) scored 80: hot band"
    )
    # two business hours from Friday 16:30: Monday 10:30
    assert result["task"]["due_at"] == "2026-03-09T10:30:00-04:00"
    unowned = team.add_lead(first="Bo", last="Brown", email="bo@example.com", company="Other")
    assert team.ok("score", str(unowned), *bant(80), "--format", "json").json()["notified"] == []
    cold = team.ok("score", str(unowned), *bant(10), "--format", "json").json()
    assert (cold["band"], cold["action_taken"], cold["task"]) == ("cold", "none", None)


# --- re-scoring -------------------------------------------------------------------------------


def test_score_history_is_kept_and_audited(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    team.ok(
        "score", str(lead), "--budget", "10", "--authority", "10", "--need", "10", "--timeline", "5"
    )
    team.ok(
        "score",
        str(lead),
        "--budget",
        "25",
        "--authority",
        "20",
        "--need",
        "15",
        "--timeline",
        "10",
        user="ed",
    )
    events = rows(team, "SELECT * FROM score_event WHERE lead_id = ? ORDER BY id", lead)
    assert [(e["model"], e["score"], e["band"], e["actor"]) for e in events] == [
        ("bant", 35, "scheduled_follow_up", "boss"),
        ("bant", 70, "immediate_sales", "ed"),
    ]
    assert events[1]["breakdown"] == '{"budget": 25, "authority": 20, "need": 15, "timeline": 10}'
    assert utc(events[0]["at"]) == datetime(2026, 3, 6, 21, 30, tzinfo=UTC)
    scored = [e for e in lead_json(team, lead)["history"] if e["action"] == "score"]
    assert [(e["actor"], e["command"]) for e in scored] == [
        ("boss", "crm score"),
        ("ed", "crm score"),
    ]
    assert scored[0]["changes"] == {
        "score": [None, 35],
        "band": [None, "scheduled_follow_up"],
        "model": [None, "bant"],
    }
    assert scored[1]["changes"] == {
        "score": [35, 70],
        "band": ["scheduled_follow_up", "immediate_sales"],
    }


def test_rescore_in_the_same_band_adds_no_second_task_or_notice(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    team.ok("score", str(lead), *bant(92))
    again = team.ok("score", str(lead), *bant(97), "--format", "json").json()
    assert again["action_taken"] == "task_open"
    assert again["task"]["new"] is False
    assert again["notified"] == []
    assert len(tasks(team, lead)) == 1
    assert team.count("notification") == 1  # boss, once
    assert team.count("score_event") == 2
    run = team.ok("score", str(lead), *bant(97))
    assert "task 1 already open: Contact now (immediate_executive band) for ed" in run.out


def test_moving_band_cancels_the_task_of_the_band_left(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    team.ok("score", str(lead), *bant(45))
    result = team.ok("score", str(lead), *bant(75), "--format", "json").json()
    assert result["cancelled_tasks"] == [1]
    assert [(t["subject"], t["status"]) for t in tasks(team, lead)] == [
        ("Follow up (scheduled_follow_up band)", "cancelled"),
        ("Contact now (immediate_sales band)", "open"),
    ]
    cancelled = rows(
        team,
        "SELECT changes FROM audit_event WHERE record_type = 'activity' AND action = 'update'",
    )
    assert cancelled == [
        {
            "changes": '{"status": ["open", "cancelled"], "reason": [null, "lead moved to the immediate_sales band"]}'
        }
    ]
    open_obligations = rows(
        team, "SELECT title FROM obligation WHERE rule = 'task.due' AND status = 'open'"
    )
    assert [o["title"].split(":")[0] for o in open_obligations] == [
        "Contact now (immediate_sales band)"
    ]


def test_leaving_the_nurture_band_makes_the_lead_new_again(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    team.ok("score", str(lead), *bant(10))
    result = team.ok("score", str(lead), *bant(40), "--format", "json").json()
    assert (result["status"], result["nurture"]) == ("new", "left")
    assert lead_json(team, lead)["status"] == "new"
    audit = lead_json(team, lead)["history"][-1]
    assert audit["changes"]["status"] == ["nurture", "new"]
    assert audit["changes"]["program"] == ["nurture", None]
    run = team.ok("score", str(lead), *bant(10))
    assert (
        "entered the nurture program (status nurture); cancelled task 1 of the band left" in run.out
    )


def test_leaving_nurture_after_a_first_response_makes_the_lead_contacted(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    team.ok("score", str(lead), *bant(10))
    team.execute(  # as if a call had been logged
        "UPDATE lead SET first_response_at = '2026-03-06 20:00:00' WHERE id = ?", params=(lead,)
    )
    run = team.ok("score", str(lead), *bant(65))
    assert "left the nurture program (status contacted)" in run.out
    assert lead_json(team, lead)["status"] == "contacted"


def test_a_closed_lead_keeps_its_status_and_gets_no_task(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    team.execute("UPDATE lead SET status = 'lost' WHERE id = ?", params=(lead,))
    result = team.ok("score", str(lead), *bant(15), "--format", "json").json()
    assert (result["score"], result["band"], result["action_taken"]) == (15, "nurture", "skipped")
    assert result["reason"] == "lead 1 is closed (lost)"
    assert lead_json(team, lead)["status"] == "lost"
    team.ok("score", str(lead), *bant(95))
    assert tasks(team, lead) == [] and team.count("notification") == 0


# --- crm score: formats and errors ------------------------------------------------------------


def test_score_json_is_the_score_record(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    result = team.ok("--format", "json", "score", str(lead), *bant(70)).json()
    assert result == {
        "id": 1,
        "scored": True,
        "model": "bant",
        "policy_model": "bant",
        "score": 70,
        "band": "immediate_sales",
        "previous_score": None,
        "previous_band": None,
        "breakdown": {"budget": 25, "authority": 25, "need": 20, "timeline": 0},
        "action": "contact",
        "action_taken": "task",
        "reason": None,
        "nurture": None,
        "task": {
            "id": 1,
            "subject": "Contact now (immediate_sales band)",
            "due_at": "2026-03-09T09:30:00-04:00",
            "assignee": "ed",
            "new": True,
        },
        "notified": [],
        "cancelled_tasks": [],
        "status": "new",
        "score_event": 1,
        "at": "2026-03-06T16:30:00-05:00",
        "actor": "boss",
    }


def test_score_ids_and_csv(team: Crm) -> None:
    lead = team.add_lead()
    assert team.ok("score", str(lead), *bant(50), "--format", "ids").out == "1\n"
    csv_out = team.ok("score", str(lead), *bant(50), "--format", "csv").out.splitlines()
    assert csv_out[0].startswith("id,scored,model,policy_model,score,band,")
    assert csv_out[1].startswith("1,yes,bant,bant,50,scheduled_follow_up,")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--budget", "30", "--authority", "5", "--need", "5", "--timeline", "5"],
            "crm: --budget: 30 is out of range; give 0-25\n",
        ),
        (
            ["--budget", "5", "--authority", "-1", "--need", "5", "--timeline", "5"],
            "crm: --authority: -1 is out of range; give 0-25\n",
        ),
        (
            ["--budget", "5", "--authority", "5", "--need", "5", "--timeline", "26"],
            "crm: --timeline: 26 is out of range; give 0-25\n",
        ),
    ],
)
def test_out_of_range_is_bad_input_and_writes_nothing(
    team: Crm, flags: list[str], message: str
) -> None:
    lead = team.add_lead()
    run = team("score", str(lead), *flags)
    assert run.code == 2
    assert run.err == message
    assert run.out == ""
    assert team.count("score_event") == 0
    assert lead_json(team, lead)["score"] is None


@pytest.mark.parametrize(
    ("flags", "mention"),
    [
        (["--budget", "5", "--authority", "5", "--need", "5"], "--timeline"),
        (["--budget", "lots", "--authority", "5", "--need", "5", "--timeline", "5"], "--budget"),
        (["--budget", "2.5", "--authority", "5", "--need", "5", "--timeline", "5"], "--budget"),
    ],
)
def test_missing_or_non_numeric_flags_are_usage_errors(
    team: Crm, flags: list[str], mention: str
) -> None:
    lead = team.add_lead()
    run = team("score", str(lead), *flags)
    assert run.code == 2
    assert mention in run.err
    assert team.count("score_event") == 0


def test_a_policy_with_other_bant_maxima_changes_the_range(team: Crm, tmp_path: Path) -> None:
    use_policy(
        team, tmp_path, "[scoring.bant]\nbudget = 40\nauthority = 30\nneed = 20\ntimeline = 10\n"
    )
    lead = team.add_lead()
    run = team(
        "score",
        str(lead),
        "--budget",
        "35",
        "--authority",
        "30",
        "--need",
        "20",
        "--timeline",
        "11",
    )
    assert (run.code, run.err) == (2, "crm: --timeline: 11 is out of range; give 0-10\n")
    result = team.ok(
        "score",
        str(lead),
        "--budget",
        "35",
        "--authority",
        "30",
        "--need",
        "20",
        "--timeline",
        "10",
        "--format",
        "json",
    ).json()
    assert (result["score"], result["band"]) == (95, "immediate_executive")


def test_unknown_lead_is_not_found(team: Crm) -> None:
    run = team("score", "42", *bant(50))
    assert run.code == 3
    assert run.err == "crm: lead 42 not found; list leads with: crm lead list\n"


def test_viewer_may_not_score(team: Crm) -> None:
    lead = team.add_lead()
    run = team("score", str(lead), *bant(50), user="vi")
    assert run.code == 4
    assert "needs the editor role" in run.err
    assert team.count("score_event") == 0


# --- crm lead event -----------------------------------------------------------------------------


def test_event_under_the_bant_model_is_stored_without_rescoring(team: Crm) -> None:
    lead = team.add_lead()
    team.ok("score", str(lead), *bant(40))
    run = team.ok("lead", "event", str(lead), "Web-Visit", user="ed")
    assert "event    1: web-visit" in run.out
    assert "score    40\n" in run.out
    assert "action   not scored (the policy's scoring model is bant)" in run.out
    [event] = rows(team, "SELECT * FROM engagement_event")
    assert (event["lead_id"], event["kind"], event["actor"]) == (lead, "web-visit", "ed")
    assert utc(event["at"]) == datetime(2026, 3, 6, 21, 30, tzinfo=UTC)
    assert team.count("score_event") == 1
    audit = lead_json(team, lead)["history"][-1]
    assert (audit["action"], audit["actor"]) == ("event", "ed")
    assert audit["changes"] == {
        "event": [None, "web-visit"],
        "event_at": [None, "2026-03-06T21:30:00+00:00"],
    }


def test_event_at_is_read_in_the_policy_timezone(team: Crm) -> None:
    lead = team.add_lead()
    result = team.ok(
        "lead", "event", str(lead), "download", "--at", "2026-03-05 10:15", "--format", "json"
    ).json()
    assert result["event_at"] == "2026-03-05T10:15:00-05:00"
    assert (result["scored"], result["score"]) == (False, None)
    assert utc(rows(team, "SELECT at FROM engagement_event")[0]["at"]) == datetime(
        2026, 3, 5, 15, 15, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["1", "tweet"],
            2,
            "crm: KIND: 'tweet' is not an engagement event; use one of web-visit, download, "
            "email-open, demo-request, pricing-inquiry, form\n",
        ),
        (
            ["1", "form", "--at", "someday"],
            2,
            "crm: --at: cannot read 'someday' as a time; write e.g. 'tomorrow 10:00', 'fri 14:00', 'next monday', '+2d', 'in 3h', '1h ago', 'eod' or 2026-03-06 16:30 (or 2026-03-06 16:30+01:00 with an offset)\n",
        ),
        (
            ["1", "form", "--at", "2026-03-07 09:00"],
            2,
            "crm: --at: lies in the future; give when the event happened\n",
        ),
        (["7", "form"], 3, "crm: lead 7 not found; list leads with: crm lead list\n"),
    ],
)
def test_event_errors(team: Crm, args: list[str], code: int, message: str) -> None:
    team.add_lead()
    run = team("lead", "event", *args)
    assert (run.code, run.err, run.out) == (code, message, "")
    assert team.count("engagement_event") == 0


def test_viewer_may_not_record_events(team: Crm) -> None:
    lead = team.add_lead()
    run = team("lead", "event", str(lead), "form", user="vi")
    assert run.code == 4
    assert team.count("engagement_event") == 0


# --- the engagement model ---------------------------------------------------------------------


@pytest.fixture
def engaged(team: Crm, tmp_path: Path) -> Crm:
    """The team under a policy that scores with the engagement model of seed 000."""
    use_policy(team, tmp_path, ENGAGEMENT_POLICY)
    return team


def test_events_rescore_a_lead_under_the_engagement_model(engaged: Crm) -> None:
    lead = engaged.add_lead(owner="ed", title="Co-Founder & CTO", industry="SaaS", employees="5000")
    first = engaged.ok("lead", "event", str(lead), "demo-request", "--format", "json").json()
    assert (first["model"], first["score"], first["band"]) == (
        "engagement",
        45,
        "scheduled_follow_up",
    )
    assert first["breakdown"]["demographics"] == {"employees": 15, "industry": 10, "title": 10}
    assert first["breakdown"]["subtotals"] == {"demographics": 25, "behaviour": 0, "engagement": 20}
    assert first["breakdown"]["counts"] == {"demo-request": 1}
    assert first["task"]["subject"] == "Follow up (scheduled_follow_up band)"

    second = engaged.ok("lead", "event", str(lead), "pricing-inquiry", "--format", "json").json()
    assert (second["score"], second["action_taken"]) == (50, "task_open")  # engagement capped at 25
    for _ in range(2):
        engaged.ok("lead", "event", str(lead), "web-visit")
    run = engaged.ok("lead", "event", str(lead), "download")
    assert "score       70 (was 60)" in run.out
    assert "breakdown   demographics 25 + behaviour 20 + engagement 25" in run.out
    events = rows(engaged, "SELECT model, score, band FROM score_event ORDER BY id")
    assert [e["score"] for e in events] == [45, 50, 55, 60, 70]
    assert {e["model"] for e in events} == {"engagement"}
    assert [(t["subject"], t["status"]) for t in tasks(engaged, lead)] == [
        ("Follow up (scheduled_follow_up band)", "cancelled"),
        ("Contact now (immediate_sales band)", "open"),
    ]


def test_a_single_visit_leaves_a_lead_in_nurture(engaged: Crm) -> None:
    lead = engaged.add_lead()
    run = engaged.ok("lead", "event", str(lead), "web-visit")
    assert "band        nurture" in run.out
    assert "entered the nurture program (status nurture)" in run.out
    assert lead_json(engaged, lead)["status"] == "nurture"


def test_engagement_reaching_the_executive_band_tells_the_admins(engaged: Crm) -> None:
    lead = engaged.add_lead(owner="ed", title="CEO", industry="fintech", employees="2000")
    for kind in (
        "demo-request",
        "pricing-inquiry",
        "download",
        "download",
        "web-visit",
        "web-visit",
        "web-visit",
        "web-visit",
    ):
        engaged.ok("lead", "event", str(lead), kind)
    result = engaged.ok("lead", "event", str(lead), "email-open", "--format", "json").json()
    assert (result["score"], result["band"]) == (90, "immediate_executive")
    assert result["notified"] == ["boss"]
    again = engaged.ok("lead", "event", str(lead), "email-open", "--format", "json").json()
    assert (again["score"], again["notified"]) == (95, [])
    assert rows(engaged, "SELECT kind FROM notification") == [{"kind": "executive_contact"}]


def test_bant_scoring_under_the_engagement_model_works_with_a_note(engaged: Crm) -> None:
    lead = engaged.add_lead()
    run = engaged.ok("score", str(lead), *bant(65))
    assert run.err == (
        "note: the policy scores with the engagement model; this BANT score stands until "
        "the next engagement event re-scores lead 1\n"
    )
    assert "band        immediate_sales" in run.out
    after = engaged.ok("lead", "event", str(lead), "form", "--format", "json").json()
    assert (after["model"], after["score"], after["previous_score"]) == ("engagement", 5, 65)
    changes = lead_json(engaged, lead)["history"][-1]["changes"]
    assert changes["model"] == ["bant", "engagement"]
