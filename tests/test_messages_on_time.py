"""Automated messages at the right moment (issue 18, item 7): the welcome is queued when a
lead is added or imported and goes out in business hours; the follow-up sequence of the
shipped automation policy sends its day-14 email before the lead is marked inactive.

Times are hand-computed in New York: DST began Sunday 2026-03-08 (EST -5 before, EDT -4 after).
"""

from __future__ import annotations

from pathlib import Path

import test_outbox
from conftest import Crm
from test_outbox import EXAMPLES, WELCOME, Inbox, install, outbox, smtp_env

smtp_server = test_outbox.smtp_server  # the SMTP server on loopback (a fixture)

SATURDAY_2AM = "2026-03-07T07:00:00Z"  # Saturday 02:00 EST
MONDAY_OPENING = "2026-03-09T09:00:00-04:00"  # the next opening, in EDT


def mail_env(port: int) -> dict[str, str | None]:
    """The test server, over automation.toml's [smtp] (its login switched off)."""
    return {**smtp_env(port), "CRM_SMTP_USER": ""}


def add_ada(crm: Crm, **env: str) -> int:
    return int(
        crm.ok(
            "lead", "add", "--first", "Ada", "--last", "Lovelace",
            "--company", "Analytical Engines", "--email", "ada@example.com", "--source", "web",
            **env,
        ).out
    )  # fmt: skip


def test_the_welcome_is_queued_at_lead_add_and_sent_at_the_next_opening(
    crm: Crm, tmp_path: Path, smtp_server: Inbox
) -> None:
    install(crm, tmp_path, WELCOME)
    lead = add_ada(crm, CRM_NOW=SATURDAY_2AM)
    [message] = outbox(crm, now=SATURDAY_2AM)  # no `crm tick` ran
    assert (message["lead_id"], message["template"], message["status"]) == (
        lead,
        "welcome",
        "queued",
    )
    assert message["scheduled_at"] == MONDAY_OPENING
    assert message["subject"] == "Welcome, Ada"
    events = crm.rows("SELECT record_id, action FROM audit_event WHERE record_type = 'outbox'")
    assert events == [(message["id"], "create")]
    env = mail_env(smtp_server.port)
    held = crm.ok("outbox", "send", **env, CRM_NOW="2026-03-07T15:00:00Z")  # Saturday 10:00
    assert "outside business hours" in held.err and "2026-03-09 09:00" in held.err
    assert smtp_server.messages == []
    crm.ok("outbox", "send", **env, CRM_NOW="2026-03-09T13:00:00Z")  # Monday 09:00 EDT
    assert [m["Subject"] for m in smtp_server.messages] == ["Welcome, Ada"]
    crm.ok("tick", CRM_NOW="2026-03-09T13:05:00Z")
    assert crm.count("outbox") == 1  # the tick finds it queued already: not twice


def test_a_lead_without_email_or_acquired_long_ago_gets_no_welcome_at_add(
    crm: Crm, tmp_path: Path
) -> None:
    install(crm, tmp_path, WELCOME)
    crm.ok("lead", "add", "--first", "Alan", "--phone", "+44 20 7946 0958", "--source", "web")
    crm.ok(
        "lead", "add", "--first", "Grace", "--email", "grace@example.com", "--source", "web",
        "--acquired", "2026-02-01 09:00",
    )  # fmt: skip
    assert outbox(crm) == []  # outbox.expire (3d) is long past: no late welcome


def test_import_queues_each_new_lead_s_welcome_in_bulk_and_undo_removes_it(
    crm: Crm, tmp_path: Path
) -> None:
    install(crm, tmp_path, WELCOME)
    path = tmp_path / "leads.csv"
    path.write_text(
        "First Name,Last Name,Company,Email,Phone,Lead Source,Created Date\n"
        "Ada,Lovelace,Analytical Engines,ada@example.com,,web,\n"
        "Grace,Hopper,Navy,grace@example.com,,web,2026-02-01 09:00\n"  # expired: no welcome
        "Alan,Turing,Bletchley,,+44 20 7946 0958,web,\n"  # no address: nothing to send
        "Ada,Lovelace,Analytical Engines,ADA@example.com,,web,\n"  # a duplicate: merged
    )
    crm.ok("lead", "import", str(path), "--dry-run", CRM_NOW=SATURDAY_2AM)
    assert crm.count("outbox") == 0
    summary = crm.ok("lead", "import", str(path), "--format", "json", CRM_NOW=SATURDAY_2AM).json()
    assert (summary["imported"], summary["merged"]) == (3, 1)
    [message] = outbox(crm, now=SATURDAY_2AM)
    ada = crm.rows("SELECT id FROM lead WHERE email = 'ada@example.com'")[0][0]
    assert (message["lead_id"], message["to_address"], message["status"]) == (
        ada,
        "ada@example.com",
        "queued",
    )
    # exactly what `lead add` (or the tick) would have queued
    assert message["scheduled_at"] == MONDAY_OPENING
    assert (message["subject"], message["body"]) == (
        "Welcome, Ada",
        "Hi Ada at Analytical Engines,\n\n",
    )
    events = crm.rows("SELECT record_id, action FROM audit_event WHERE record_type = 'outbox'")
    assert events == [(message["id"], "create")]
    assert crm.ok("audit", "verify").code == 0
    crm.ok("tick", CRM_NOW=SATURDAY_2AM)
    assert crm.count("outbox") == 1
    crm.ok("imports", "undo", str(summary["batch"]), CRM_NOW=SATURDAY_2AM)
    assert crm.count("outbox") == 0  # not sent: it goes with its lead
    events = crm.rows("SELECT action FROM audit_event WHERE record_type = 'outbox'")
    assert events == [("create",), ("delete",)]


def test_an_import_whose_welcome_was_sent_cannot_be_undone(
    crm: Crm, tmp_path: Path, smtp_server: Inbox
) -> None:
    install(crm, tmp_path, WELCOME)
    path = tmp_path / "leads.csv"
    path.write_text("First Name,Email,Lead Source\nAda,ada@example.com,web\n")
    crm.ok("lead", "import", str(path))  # Friday 16:30: in hours, due at once
    crm.ok("outbox", "send", **mail_env(smtp_server.port))
    run = crm("imports", "undo", "1")
    assert run.code == 5 and "was sent automated messages" in run.err
    assert crm.count("lead") == 1


def test_the_shipped_follow_up_sends_its_day_14_email_before_the_lead_goes_inactive(
    crm: Crm, smtp_server: Inbox
) -> None:
    """automation.toml: follow-ups on day 3, 7 and 14 after a first contact without reply;
    the policy's cadence makes the lead inactive after its day-14 touch. cron runs
    `crm tick && crm outbox send` at 09:30 on weekdays (examples/cron/crontab.example)."""
    crm.ok("policy", "import", str(EXAMPLES / "automation.toml"))
    env = mail_env(smtp_server.port)
    lead = crm.add_lead()  # Friday 6 March 16:30 EST
    crm.ok("log-email", str(lead), "--subject", "Intro")  # the first contact; no reply ever

    def weekday_morning(day: int) -> None:
        at = f"2026-03-{day:02d}T13:30:00Z"  # 09:30 EDT
        crm.ok("tick", CRM_NOW=at)
        crm.ok("outbox", "send", **env, CRM_NOW=at)

    def status() -> str:
        return crm.ok("lead", "show", str(lead), "--format", "json").json()["status"]

    for day in (9, 10, 11, 12, 13, 16, 17, 18, 19, 20):
        weekday_morning(day)
    # day 3 fell on Monday 9 March 17:30 EDT (after closing): sent Tuesday 09:30; day 7 on
    # Friday 13 March 17:30: sent Monday 16 March
    assert [m["Subject"] for m in smtp_server.messages] == [
        "Welcome to Example Co, Ada",
        "Following up, Ada",
        "One idea for Analytical Engines",
    ]
    assert status() != "inactive"
    # day 14 and the cadence's last touch: Friday 20 March 17:30 EDT. Monday 23 March's run
    # sends the day-14 email; the lead is left inactive only afterwards
    weekday_morning(23)
    assert smtp_server.messages[-1]["Subject"] == "Closing the loop"
    assert status() != "inactive"
    weekday_morning(24)
    assert status() == "inactive"
    assert len(smtp_server.messages) == 4
    sent = crm.rows(
        "SELECT step, status FROM outbox WHERE sequence = 'follow_up' ORDER BY scheduled_at"
    )
    assert [s for _step, s in sent] == ["sent", "sent", "sent"]
    assert sent[-1][0].endswith("/day14")
