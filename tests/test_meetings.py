"""Meetings with a lead (seed 001 §7.1, issue 18 item 7): `crm meeting schedule|move|cancel`
queue a confirmation to the lead and reminders to the lead and the rep through the outbox,
in business hours; moving or cancelling the meeting updates or cancels them; the agenda's
.ics carries an alarm per reminder.

NOW is Friday 2026-03-06 16:30 EST; DST begins Sunday 8 March (EDT, UTC-4, from then on).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import test_outbox
from conftest import Crm
from test_messages_on_time import mail_env
from test_outbox import EXAMPLES, Inbox, outbox, smtp_env

smtp_server = test_outbox.smtp_server  # the SMTP server on loopback (a fixture)

AUTOMATION = str(EXAMPLES / "automation.toml")
TUESDAY_10 = "2026-03-10 10:00"
CONFIRMED = "Confirmed: Product demo, Tuesday 10 March 2026, 10:00 EDT"


def meeting_messages(crm: Crm, now: str | None = None) -> list[dict]:
    rows = outbox(crm, now=now) if now else outbox(crm)
    found = [m for m in rows if m["sequence"] == "meeting"]
    return sorted(found, key=lambda m: (m["scheduled_at"], m["id"]))


def shape(messages: list[dict]) -> list[tuple]:
    return [(m["template"], m["channel"], m["to_address"], m["scheduled_at"]) for m in messages]


def schedule(crm: Crm, lead: int, at: str = TUESDAY_10, *args: str, **env: str) -> int:
    run = crm.ok(
        "meeting", "schedule", str(lead), "--at", at, "--duration", "1h",
        "--subject", "Product demo", *args, **env,
    )  # fmt: skip
    return int(run.out)


@pytest.fixture
def automated(crm: Crm) -> Crm:
    crm.ok("policy", "import", AUTOMATION)
    return crm


def test_booking_queues_a_confirmation_and_reminders_for_the_lead_and_the_rep(
    automated: Crm, smtp_server: Inbox
) -> None:
    crm = automated
    lead = crm.add_lead()  # its welcome is queued too (outbox 1)
    run = crm.ok(
        "meeting", "schedule", str(lead), "--at", TUESDAY_10, "--duration", "1h",
        "--subject", "Product demo", "--attendee", "Ada (CTO)", "--format", "json",
    )  # fmt: skip
    meeting = run.json()
    assert (meeting["type"], meeting["status"], meeting["at"]) == (
        "meeting",
        "open",
        "2026-03-10T10:00:00-04:00",
    )
    assert meeting["duration_minutes"] == 60 and meeting["details"]["attendees"] == ["Ada (CTO)"]
    assert "queued: confirmation to ada@example.com for 2026-03-06 16:30" in run.err
    assert "queued: reminder 1h to boss for 2026-03-10 09:00" in run.err
    messages = meeting_messages(crm)
    assert shape(messages) == [
        # in business hours now: at once
        ("meeting_confirmation", "email", "ada@example.com", "2026-03-06T16:30:00-05:00"),
        # 1 day before: Monday 10:00; 1 hour before: Tuesday 09:00, the opening
        ("meeting_reminder", "email", "ada@example.com", "2026-03-09T10:00:00-04:00"),
        ("", "notification", "boss", "2026-03-09T10:00:00-04:00"),
        ("meeting_reminder", "email", "ada@example.com", "2026-03-10T09:00:00-04:00"),
        ("", "notification", "boss", "2026-03-10T09:00:00-04:00"),
    ]
    assert {m["meeting_id"] for m in messages} == {meeting["id"]}
    confirmation = messages[0]
    assert confirmation["subject"] == CONFIRMED
    assert "from 10:00 EDT\nto 11:00 EDT (1 hour)" in confirmation["body"]
    events = crm.rows(
        "SELECT count(*) FROM audit_event WHERE record_type = 'outbox' AND action = 'create'"
    )
    assert events == [(6,)]  # the welcome and the meeting's five

    env = mail_env(smtp_server.port)
    crm.ok("outbox", "send", **env, CRM_NOW="2026-03-06T21:31:00Z")
    assert [m["Subject"] for m in smtp_server.messages] == ["Welcome to Example Co, Ada", CONFIRMED]
    crm.ok("outbox", "send", **env, CRM_NOW="2026-03-09T14:00:00Z")  # Monday 10:00 EDT
    assert smtp_server.messages[-1]["Subject"] == (
        "Reminder: Product demo, Tuesday 10 March 2026, 10:00 EDT"
    )
    notices = crm.rows("SELECT user_id, lead_id, kind, message FROM notification")
    assert notices == [
        (
            1,
            lead,
            "meeting_reminder",
            f"Reminder: meeting {meeting['id']} 'Product demo' with Ada Lovelace "
            "(Analytical Engines) at 2026-03-10 10:00",
        )
    ]
    assert [m["status"] for m in meeting_messages(crm)] == [
        "sent",
        "sent",
        "sent",
        "queued",
        "queued",
    ]


def test_a_reminder_at_night_goes_out_in_the_last_business_hour_before_it(
    automated: Crm,
) -> None:
    crm = automated
    wednesday = "2026-03-04T16:00:00Z"  # Wednesday 11:00 EST
    lead = int(
        crm.ok(
            "lead", "add", "--first", "Ada", "--email", "ada@example.com", "--source", "web",
            CRM_NOW=wednesday,
        ).out
    )  # fmt: skip
    # an early call on Tuesday 08:00: 1 day before is Monday 08:00, before opening -> Friday
    # 16:00 (EST); 1 hour before is Tuesday 07:00 -> Monday 16:00 (EDT)
    schedule(crm, lead, "2026-03-10 08:00", CRM_NOW=wednesday)
    # Monday 09:30: Sunday 09:30 and Monday 08:30 both go back to Friday 16:00: sent once
    schedule(crm, lead, "2026-03-09 09:30", CRM_NOW=wednesday)
    # Tuesday after Memorial Day (Monday 25 May): 1 day before goes out Friday 22 May 16:00
    schedule(crm, lead, "2026-05-26 10:00", CRM_NOW=wednesday)
    reminders = [
        (m["meeting_id"], m["step"].rsplit("/", 1)[1], m["scheduled_at"])
        for m in meeting_messages(crm, wednesday)
        if m["template"] == "meeting_reminder"
    ]
    assert sorted(reminders) == [
        (1, "before1d", "2026-03-06T16:00:00-05:00"),
        (1, "before1h", "2026-03-09T16:00:00-04:00"),
        (2, "before1d", "2026-03-06T16:00:00-05:00"),
        (3, "before1d", "2026-05-22T16:00:00-04:00"),
        (3, "before1h", "2026-05-26T09:00:00-04:00"),
    ]
    rep = [m for m in meeting_messages(crm, wednesday) if m["channel"] == "notification"]
    assert len(rep) == 5  # the rep's follow the same times


def test_moving_the_meeting_cancels_what_was_queued_and_books_it_again(automated: Crm) -> None:
    crm = automated
    lead = crm.add_lead()
    meeting = schedule(crm, lead)
    run = crm.ok("meeting", "move", str(meeting), "--at", "2026-03-11 14:00")
    assert "queued: confirmation to ada@example.com" in run.err
    messages = meeting_messages(crm)
    old = [m for m in messages if m["status"] == "cancelled"]
    assert len(old) == 5 and {m["last_error"] for m in old} == {"the meeting moved"}
    assert shape([m for m in messages if m["status"] == "queued"]) == [
        ("meeting_confirmation", "email", "ada@example.com", "2026-03-06T16:30:00-05:00"),
        ("meeting_reminder", "email", "ada@example.com", "2026-03-10T14:00:00-04:00"),
        ("", "notification", "boss", "2026-03-10T14:00:00-04:00"),
        ("meeting_reminder", "email", "ada@example.com", "2026-03-11T13:00:00-04:00"),
        ("", "notification", "boss", "2026-03-11T13:00:00-04:00"),
    ]
    new_confirmation = [m for m in messages if m["status"] == "queued"][0]
    assert new_confirmation["subject"] == (
        "Confirmed: Product demo, Wednesday 11 March 2026, 14:00 EDT"
    )
    row = crm.dict_rows("SELECT at, duration_minutes, status FROM activity WHERE id = ?", meeting)
    assert (row[0]["at"], row[0]["duration_minutes"], row[0]["status"]) == (
        "2026-03-11 18:00:00.000000",
        60,
        "open",
    )
    changes = crm.rows(
        "SELECT action FROM audit_event WHERE record_type = 'activity' AND record_id = ?",
        meeting,
    )
    assert changes == [("create",), ("update",)]
    # back to its first time: booked again (new keys), nothing clashes with the old rows
    crm.ok("meeting", "move", str(meeting), "--at", TUESDAY_10)
    assert len([m for m in meeting_messages(crm) if m["status"] == "queued"]) == 5
    same = crm.ok("meeting", "move", str(meeting), "--at", TUESDAY_10)
    assert "nothing changed" in same.err
    agenda = crm.ok("agenda", "--format", "json").json()
    assert [(r["id"], r["start"]) for r in agenda] == [(meeting, "2026-03-10T10:00:00-04:00")]


def test_cancelling_withdraws_the_reminders_and_tells_a_lead_who_was_told(
    automated: Crm, smtp_server: Inbox
) -> None:
    crm = automated
    told, untold = crm.add_lead(), crm.add_lead(first="Grace", last="Hopper", email="g@h.com")
    first = schedule(crm, told)
    crm.ok("outbox", "send", **mail_env(smtp_server.port))  # the confirmation goes out
    second = schedule(crm, untold, "2026-03-10 14:00")  # its confirmation still queued
    run = crm.ok("meeting", "cancel", str(first), "--reason", "customer asked to postpone")
    assert f"meeting {first} cancelled" in run.err
    assert "queued: cancellation notice to ada@example.com" in run.err
    crm.ok("meeting", "cancel", str(second))
    by_meeting = {}
    for m in meeting_messages(crm):
        by_meeting.setdefault(m["meeting_id"], []).append((m["template"], m["status"]))
    assert by_meeting[first] == [
        ("meeting_confirmation", "sent"),
        ("meeting_cancelled", "queued"),  # at once: the business is open
        ("meeting_reminder", "cancelled"),
        ("", "cancelled"),
        ("meeting_reminder", "cancelled"),
        ("", "cancelled"),
    ]
    # Grace never heard of it: her confirmation is withdrawn, no notice
    assert [s for _t, s in by_meeting[second]] == ["cancelled"] * 5
    notice = [m for m in meeting_messages(crm) if m["template"] == "meeting_cancelled"][0]
    assert notice["subject"] == "Cancelled: Product demo, Tuesday 10 March 2026, 10:00 EDT"
    again = crm.ok("meeting", "cancel", str(first))
    assert "already cancelled" in again.err
    assert crm("done", str(first)).code == 5
    assert crm("meeting", "move", str(first), "--at", "2026-03-12 10:00").code == 5
    assert crm.ok("agenda", "--format", "json").json() == []
    status = crm.rows("SELECT status, details FROM activity WHERE id = ?", first)[0]
    assert status[0] == "cancelled" and "customer asked to postpone" in status[1]


def test_holding_the_meeting_withdraws_its_remaining_reminders(automated: Crm) -> None:
    crm = automated
    lead = crm.add_lead()
    meeting = schedule(crm, lead)
    crm.ok("done", str(meeting), CRM_NOW="2026-03-10T14:05:00Z")
    left = [m for m in meeting_messages(crm) if m["status"] != "cancelled"]
    assert [m["template"] for m in left] == []  # even the confirmation never sent
    reasons = {m["last_error"] for m in meeting_messages(crm)}
    assert reasons == {"the meeting was held"}


def test_a_reminder_not_sent_before_the_meeting_starts_is_never_sent(
    automated: Crm, smtp_server: Inbox
) -> None:
    crm = automated
    lead = crm.add_lead()
    schedule(crm, lead)
    env = mail_env(smtp_server.port)
    crm.ok("outbox", "send", **env)  # Friday: the welcome and the confirmation
    # nobody ran `outbox send` until Tuesday 10:30, when the meeting had begun
    run = crm.ok("outbox", "send", **env, CRM_NOW="2026-03-10T14:30:00Z")
    assert "4 cancelled" in run.err
    assert len(smtp_server.messages) == 2
    late = {m["last_error"] for m in meeting_messages(crm) if m["status"] == "cancelled"}
    assert late == {"the meeting's time has come"}


def test_an_opted_out_lead_gets_nothing_but_the_rep_is_still_reminded(automated: Crm) -> None:
    crm = automated
    opted, later = crm.add_lead(), crm.add_lead(first="Grace", last="Hopper", email="g@h.com")
    crm.ok("lead", "opt-out", str(opted))
    schedule(crm, opted)
    assert shape(meeting_messages(crm)) == [
        ("", "notification", "boss", "2026-03-09T10:00:00-04:00"),
        ("", "notification", "boss", "2026-03-10T09:00:00-04:00"),
    ]
    schedule(crm, later, "2026-03-10 14:00")
    crm.ok("lead", "opt-out", str(later))
    kept = [(m["channel"], m["status"]) for m in meeting_messages(crm) if m["lead_id"] == later]
    assert sorted(kept) == [
        ("email", "cancelled"),
        ("email", "cancelled"),
        ("email", "cancelled"),
        ("notification", "queued"),
        ("notification", "queued"),
    ]


def test_with_the_default_policy_only_the_rep_is_reminded_and_no_mail_server_is_needed(
    crm: Crm,
) -> None:
    """The defaults name no templates (no install mails leads unasked); the rep's reminders
    are in-app notifications, so `outbox send` delivers them without [smtp]."""
    lead = crm.add_lead()
    schedule(crm, lead)
    assert [m["channel"] for m in meeting_messages(crm)] == ["notification", "notification"]
    unset = {**smtp_env(25), "CRM_SMTP_HOST": None}
    run = crm.ok("outbox", "send", "--format", "json", **unset, CRM_NOW="2026-03-09T14:00:00Z")
    assert [m["channel"] for m in run.json()["sent"]] == ["notification"]
    assert crm.count("notification") == 1


def test_a_future_log_meeting_is_booked_like_meeting_schedule(automated: Crm) -> None:
    crm = automated
    lead = crm.add_lead()
    run = crm.ok("log-meeting", str(lead), "--attendee", "Ada", "--at", TUESDAY_10)
    assert "queued: confirmation to ada@example.com" in run.err
    assert len(meeting_messages(crm)) == 5
    crm.ok("log-meeting", str(lead), "--attendee", "Ada")  # held now: nothing to remind of
    assert len(meeting_messages(crm)) == 5


def test_the_ics_export_carries_an_alarm_per_reminder(automated: Crm, tmp_path: Path) -> None:
    from icalendar import Calendar

    crm = automated
    lead = crm.add_lead()
    schedule(crm, lead)
    crm.ok("next-step", str(lead), "send the deck", "--due", "2026-03-09 10:00")
    path = tmp_path / "week.ics"
    crm.ok("agenda", "--ics", str(path))
    events = {
        str(e["SUMMARY"]).split(" — ")[0]: e
        for e in Calendar.from_ical(path.read_bytes()).walk("VEVENT")
    }
    alarms = events["Product demo"].walk("VALARM")
    assert [a.decoded("TRIGGER") for a in alarms] == [-timedelta(days=1), -timedelta(hours=1)]
    assert {str(a["ACTION"]) for a in alarms} == {"DISPLAY"}
    assert str(alarms[0]["DESCRIPTION"]).startswith("in 1d: Product demo")
    assert b"TRIGGER:-P1D" in path.read_bytes() and b"TRIGGER:-PT1H" in path.read_bytes()
    assert events["send the deck"].walk("VALARM") == []  # tasks carry no meeting reminder


def test_reminder_settings_in_the_policy(crm: Crm, tmp_path: Path) -> None:
    shown = crm.ok("policy", "show", "--format", "json").json()["reminders"]
    assert shown == {
        "before": ["1d", "1h"],
        "confirmation": "",
        "reminder": "",
        "cancellation": "",
        "rep": True,
    }
    keys = {row["key"] for row in crm.ok("policy", "show", "--explain", "--format", "json").json()}
    assert {"reminders.before", "reminders.confirmation", "reminders.rep"} <= keys
    policy = tmp_path / "p.toml"
    policy.write_text('[reminders]\nbefore = ["1d", "soon"]\n')
    run = crm("policy", "check", str(policy))
    assert run.code == 2 and "p.toml:2: reminders.before[1]" in run.err
    policy.write_text('[reminders]\nconfirmation = "confirm"\n')
    run = crm("policy", "check", str(policy))
    assert run.code == 2 and "reminders.confirmation" in run.err and "'confirm'" in run.err
    # meeting.* fields only in a template [reminders] sends: a welcome has no meeting
    policy.write_text('[templates.welcome]\nsubject = "Hi"\nbody = "See you {{ meeting.start }}"\n')
    run = crm("policy", "check", str(policy))
    assert run.code == 2 and "templates.welcome.body" in run.err and "[reminders]" in run.err
    crm.ok("policy", "check", AUTOMATION)


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["meeting", "schedule", "1"], 2, "--at: give when the meeting starts"),
        (["meeting", "schedule", "1", "--at", "2026-03-06 09:00"], 2, "is not ahead"),
        (["meeting", "schedule", "1", "--at", "someday"], 2, "--at"),
        (["meeting", "schedule", "1", "--at", TUESDAY_10, "--duration", "30d"], 2, "--duration"),
        (["meeting", "schedule", "9", "--at", TUESDAY_10], 3, "lead 9"),
        (["meeting", "move", "9", "--at", TUESDAY_10], 3, "meeting 9 not found"),
        (["meeting", "move", "2", "--at", TUESDAY_10], 2, "is a task, not a meeting"),
        (["meeting", "move", "1"], 2, "--at: give the meeting's new start"),
        (["meeting", "cancel", "9"], 3, "meeting 9 not found"),
    ],
)
def test_meeting_errors(crm: Crm, args: list[str], code: int, says: str) -> None:
    lead = crm.add_lead()
    schedule(crm, lead)  # meeting 1
    crm.ok("next-step", str(lead), "prepare", "--due", "2026-03-09 09:00")  # task 2
    before = crm.snapshot()
    run = crm(*args)
    assert run.code == code, run.err
    assert says in run.err
    assert crm.snapshot() == before


def test_meetings_need_an_editor_and_do_not_double_book(team: Crm) -> None:
    lead = team.add_lead()
    assert team("meeting", "schedule", str(lead), "--at", TUESDAY_10, user="vi").code == 4
    schedule(team, lead, user="ed")
    clash = team("meeting", "schedule", str(lead), "--at", "2026-03-10 10:30", user="ed")
    assert clash.code == 5 and "clashes with meeting 1" in clash.err
    schedule(team, lead, "2026-03-10 11:00", user="ed")  # meeting 2, right after
    moved = team("meeting", "move", "2", "--at", "2026-03-10 10:15", user="ed")
    assert moved.code == 5 and "clashes with meeting 1" in moved.err
    # an admin moving ed's meeting is checked against ed's calendar, not the admin's
    assert team("meeting", "move", "2", "--at", "2026-03-10 10:15").code == 5
    team.ok("meeting", "move", "2", "--at", "2026-03-10 10:15", "--allow-overlap", user="ed")
    assert team("meeting", "cancel", "1", user="vi").code == 4
