"""Automated messages: templates, sequences queued by tick, delivery through a real SMTP
server on loopback (aiosmtpd), the never-twice rule, opt-outs and forgotten leads."""

from __future__ import annotations

import email
import email.policy
import socket
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from conftest import NOW, Crm

EXAMPLES = Path(__file__).parent.parent / "examples" / "policies"
MONDAY = "2026-03-09T13:00:00Z"  # 09:00 in New York (daylight saving time from 8 March)
TEMPLATES = """
[templates.welcome]
subject = "Welcome, {{ lead.first_name }}"
body = \"\"\"Hi {{ lead.first_name }} at {{ lead.company }},
{{ owner.signature }}
\"\"\"

[templates.nudge]
subject = "Still there, {{ lead.first_name }}?"
body = "Hello again from {{ owner.name }}."
"""


class Inbox:
    """Collects what the SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(
            email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        )
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


def smtp_env(port: int) -> dict[str, str]:
    return {
        "CRM_SMTP_HOST": "127.0.0.1",
        "CRM_SMTP_PORT": str(port),
        "CRM_SMTP_SECURITY": "none",
        "CRM_SMTP_FROM": "sales@example.com",
        "CRM_SMTP_USER": None,
        "CRM_SMTP_PASSWORD": None,
        "CRM_SMTP_PASSWORD_FILE": None,
    }


def install(crm: Crm, tmp_path: Path, sequences: str, extra: str = "") -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(TEMPLATES + sequences + extra)
    crm.ok("policy", "import", str(policy))


WELCOME = """
[sequences.welcome]
trigger = "acquired"
steps = [{ day = 0, template = "welcome" }]
"""


def outbox(crm: Crm, *args: str, now: str = NOW) -> list[dict]:
    return crm.ok("outbox", "list", *args, "--format", "json", CRM_NOW=now).json()


def sql(crm: Crm, query: str, *params) -> list[tuple]:
    return crm.rows(query, *params)


# --- templates at policy check ------------------------------------------------------------


def test_policy_check_refuses_a_template_naming_an_unknown_field(crm: Crm, tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(
        '[templates.welcome]\nsubject = "Hi {{ lead.first_name }}"\n'
        'body = "Dear {{ lead.nickname }}"\n'
    )
    run = crm("policy", "check", str(policy))
    assert run.code == 2
    assert "p.toml:3: templates.welcome.body" in run.err
    assert "'welcome'" in run.err and "lead.nickname" in run.err
    versions = crm.count("policy_version")
    assert crm("policy", "import", str(policy)).code == 2
    assert crm.count("policy_version") == versions


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('subject = "x"\nbody = "{{ lead.first_name "', "templates.t.body"),
        ('subject = "x"\nbody = "{{ company }}"', "unknown field 'company'"),
        ('subject = "x"\nbody = "x"\nchannel = "fax"', "templates.t.channel"),
        ('body = "x"', "templates.t.subject"),
        ('subject = "x"\nbody = "{{ lead.__class__ }}"', "templates.t.body"),
    ],
)
def test_policy_check_refuses_broken_templates(
    crm: Crm, tmp_path: Path, text: str, says: str
) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(f"[templates.t]\n{text}\n")
    run = crm("policy", "check", str(policy))
    assert run.code == 2, run.err
    assert says in run.err


def test_policy_check_refuses_a_sequence_naming_a_missing_template(
    crm: Crm, tmp_path: Path
) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(
        TEMPLATES + '[sequences.s]\ntrigger = "acquired"\nsteps = [{day = 0, template = "nope"}]\n'
    )
    run = crm("policy", "check", str(policy))
    assert run.code == 2
    assert "sequences.s.steps[0].template" in run.err and "'nope'" in run.err


def test_template_files_are_checked_and_inlined_on_import(crm: Crm, tmp_path: Path) -> None:
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "welcome.txt").write_text("Hi {{ lead.first_name }}\n")
    policy = tmp_path / "p.toml"
    policy.write_text(
        '[templates.welcome]\nsubject = "Hello"\nfile = "mail/welcome.txt"\n' + WELCOME
    )
    crm.ok("policy", "check", str(policy))
    crm.ok("policy", "import", str(policy))
    (tmp_path / "mail" / "welcome.txt").write_text("Hi {{ lead.nick }}\n")
    run = crm("policy", "check", str(policy))
    assert run.code == 2 and "lead.nick" in run.err and "welcome.txt" in run.err
    crm.add_lead()
    crm.ok("tick")  # the stored policy holds the body read at import time
    assert outbox(crm)[0]["body"] == "Hi Ada\n"


def test_the_shipped_automation_example_is_a_valid_policy(crm: Crm) -> None:
    crm.ok("policy", "check", str(EXAMPLES / "automation.toml"))


# --- queueing --------------------------------------------------------------------------------


def test_the_welcome_is_rendered_from_the_record_once(crm: Crm, tmp_path: Path) -> None:
    install(crm, tmp_path, WELCOME, '[outbox]\nsignature = "The Sales Team"\n')
    crm.ok("user", "add", "maria", "--signature", "Maria Lopez\\nExample Co")
    crm.add_lead(owner="maria")  # queued as it is added (issue 18), not at the next tick
    first = crm.ok("tick").out
    assert "message queued" not in first
    [message] = outbox(crm)
    assert message["subject"] == "Welcome, Ada"
    assert message["body"] == "Hi Ada at Analytical Engines,\nMaria Lopez\nExample Co\n"
    assert message["to_address"] == "ada@example.com"
    assert (message["status"], message["attempts"]) == ("queued", 0)
    assert message["scheduled_at"] == "2026-03-06T16:30:00-05:00"  # within hours: at once
    second = crm.ok("tick")
    assert "message queued" not in second.out
    assert crm.count("outbox") == 1


def test_a_message_due_on_saturday_is_scheduled_monday_at_opening(crm: Crm, tmp_path: Path) -> None:
    install(crm, tmp_path, WELCOME.replace("day = 0", "day = 1"))
    crm.add_lead()  # Friday 16:30: the day-1 step falls on Saturday 16:30
    crm.ok("tick")
    assert outbox(crm) == []  # not due yet
    crm.ok("tick", CRM_NOW="2026-03-07T22:00:00Z")
    [message] = outbox(crm)
    assert message["scheduled_at"] == "2026-03-09T09:00:00-04:00"


def test_a_step_due_late_in_the_day_waits_for_the_next_opening(crm: Crm, tmp_path: Path) -> None:
    install(crm, tmp_path, WELCOME)
    after_closing = "2026-03-06T23:00:00Z"  # 18:00
    crm.ok(
        "lead", "add", "--first", "Ada", "--email", "ada@example.com", "--source", "web",
        "--acquired", "2026-03-06 16:00", CRM_NOW=after_closing,
    )  # fmt: skip
    assert outbox(crm)[0]["scheduled_at"] == "2026-03-09T09:00:00-04:00"


def test_opted_out_and_forgotten_leads_get_nothing(crm: Crm, tmp_path: Path) -> None:
    opted = crm.add_lead()
    forgotten = crm.add_lead(first="Grace", last="Hopper", email="grace@example.com")
    crm.ok("lead", "opt-out", str(opted))
    crm.ok("lead", "forget", str(forgotten), "--yes")
    install(crm, tmp_path, WELCOME)  # the welcome starts now: the tick would queue it
    crm.ok("tick")
    assert outbox(crm) == []
    again = crm.ok("lead", "opt-out", str(opted))
    assert "already" in again.err


def test_opt_out_and_forget_cancel_what_is_queued(crm: Crm, tmp_path: Path) -> None:
    install(crm, tmp_path, WELCOME)
    opted = crm.add_lead()
    forgotten = crm.add_lead(first="Grace", last="Hopper", email="grace@example.com")
    crm.ok("tick")
    crm.ok("lead", "opt-out", str(opted))
    crm.ok("lead", "forget", str(forgotten), "--yes")
    rows = {m["lead_id"]: m for m in outbox(crm)}
    assert rows[opted]["status"] == "cancelled" and "opted out" in rows[opted]["last_error"]
    assert rows[forgotten]["status"] == "cancelled"
    assert (rows[forgotten]["to_address"], rows[forgotten]["body"]) == ("", "")
    crm.ok("tick")
    assert [m["status"] for m in outbox(crm)] == ["cancelled", "cancelled"]


def test_opt_out_of_an_unknown_lead_is_not_found(crm: Crm) -> None:
    run = crm("lead", "opt-out", "99")
    assert run.code == 3


FOLLOW_UP = """
[sequences.follow_up]
trigger = "no_reply"
steps = [{ day = 3, template = "nudge" }, { day = 7, template = "nudge" }]
"""


def test_the_follow_up_cadence_starts_at_the_first_contact_and_a_reply_stops_it(
    crm: Crm, tmp_path: Path
) -> None:
    install(crm, tmp_path, FOLLOW_UP)
    lead = crm.add_lead()
    crm.ok("tick")
    assert outbox(crm) == []  # no contact yet
    crm.ok("log-email", str(lead), "--subject", "Intro")
    crm.ok("tick", CRM_NOW="2026-03-10T14:00:00Z")  # after day 3 (Tuesday 10:00)
    [day3] = outbox(crm)
    assert (day3["subject"], day3["status"]) == ("Still there, Ada?", "queued")
    crm.ok(
        "log-email",
        str(lead),
        "--inbound",
        "--subject",
        "Re: Intro",
        CRM_NOW="2026-03-10T14:10:00Z",
    )
    ticked = crm.ok("tick", CRM_NOW="2026-03-13T21:30:00Z").out  # day 7
    assert "a reply stopped the sequence" in ticked
    assert [m["status"] for m in outbox(crm)] == ["cancelled"]


def test_a_call_or_a_stage_change_stops_the_sequence(crm: Crm, tmp_path: Path) -> None:
    install(crm, tmp_path, FOLLOW_UP)
    called = crm.add_lead()
    moved = crm.add_lead(first="Grace", last="Hopper", email="grace@example.com")
    for lead in (called, moved):
        crm.ok("log-email", str(lead), "--subject", "Intro")
    crm.ok("tick", CRM_NOW="2026-03-10T14:00:00Z")
    assert len(outbox(crm)) == 2
    crm.ok("log-call", str(called), "--outcome", "connected", CRM_NOW="2026-03-10T14:10:00Z")
    crm.ok(
        "score",
        str(moved),
        "--budget",
        "20",
        "--authority",
        "20",
        "--need",
        "20",
        "--timeline",
        "20",
        CRM_NOW="2026-03-10T14:10:00Z",
    )
    crm.ok("advance", str(moved), "qualification", CRM_NOW="2026-03-10T14:11:00Z")
    crm.ok("tick", CRM_NOW="2026-03-10T14:15:00Z")
    reasons = {m["lead_id"]: m["last_error"] for m in outbox(crm)}
    assert reasons == {
        called: "a call stopped the sequence",
        moved: "a stage change stopped the sequence",
    }


NURTURE = """
[sequences.nurture]
trigger = "nurture"
steps = [{ day = 0, template = "welcome" }, { day = 7, template = "nudge" }]
"""


def test_nurture_drip_follows_the_band(crm: Crm, tmp_path: Path) -> None:
    install(crm, tmp_path, NURTURE)
    lead = crm.add_lead()
    crm.ok("tick")
    assert outbox(crm) == []  # not scored: not in the nurture band
    crm.ok(
        "score", str(lead), "--budget", "5", "--authority", "5", "--need", "5", "--timeline", "5"
    )
    crm.ok("tick")
    assert [m["template"] for m in outbox(crm)] == ["welcome"]
    crm.ok("tick", CRM_NOW="2026-03-13T21:30:00Z")
    assert [m["template"] for m in outbox(crm)] == ["welcome", "nudge"]


def test_tick_dry_run_queues_nothing(crm: Crm, tmp_path: Path) -> None:
    crm.add_lead()
    install(crm, tmp_path, WELCOME)  # after the lead: the tick queues its welcome
    assert "message queued" in crm.ok("tick", "--dry-run").out
    assert crm.count("outbox") == 0


# --- sending -------------------------------------------------------------------------------


def queued(crm: Crm, tmp_path: Path, extra: str = "") -> int:
    install(crm, tmp_path, WELCOME, extra)
    lead = crm.add_lead()
    crm.ok("tick")
    return lead


def test_send_delivers_once_and_logs_an_automated_email_activity(
    crm: Crm, tmp_path: Path, smtp_server: Inbox
) -> None:
    lead = queued(crm, tmp_path)
    env = {**smtp_env(smtp_server.port), "CRM_SMTP_FROM": "Example Co Sales <sales@example.com>"}
    sent = crm.ok("outbox", "send", "--format", "json", **env).json()
    assert [m["status"] for m in sent["sent"]] == ["sent"]
    [message] = smtp_server.messages
    assert message["Subject"] == "Welcome, Ada"
    assert message["To"] == "ada@example.com"
    assert message["From"] == "Example Co Sales <sales@example.com>"
    assert message["Message-ID"].endswith("@example.com>")
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content().replace("\r\n", "\n") == "Hi Ada at Analytical Engines,\n\n"
    assert smtp_server.envelopes == [("sales@example.com", ["ada@example.com"])]
    again = crm.ok("outbox", "send", **env)
    assert "nothing to send" in again.err
    assert len(smtp_server.messages) == 1
    [row] = outbox(crm)
    assert row["status"] == "sent" and row["message_id"] == message["Message-ID"]
    activity = sql(
        crm,
        "SELECT type, direction, subject, details, points FROM activity WHERE id = ?",
        row["activity_id"],
    )[0]
    assert activity[:3] == ("email", "outbound", "Welcome, Ada")
    assert activity[4] == 0  # automated messages earn the rep no activity points
    assert '"automated": true' in activity[3]
    # automated touches do not answer the first-response rule by default
    status = sql(
        crm,
        "SELECT status FROM obligation WHERE rule = 'lead.first_response' AND record_id = ?",
        lead,
    )
    assert status == [("open",)]


def test_automated_touches_count_when_the_policy_says_so(
    crm: Crm, tmp_path: Path, smtp_server: Inbox
) -> None:
    lead = queued(crm, tmp_path, "[outbox]\nautomated_touches_count = true\n")
    crm.ok("outbox", "send", **smtp_env(smtp_server.port))
    status = sql(
        crm,
        "SELECT status FROM obligation WHERE rule = 'lead.first_response' AND record_id = ?",
        lead,
    )
    assert status == [("met",)]


def test_dry_run_sends_nothing(crm: Crm, tmp_path: Path, smtp_server: Inbox) -> None:
    queued(crm, tmp_path)
    run = crm.ok("outbox", "send", "--dry-run", **smtp_env(smtp_server.port))
    assert "Welcome, Ada" in run.out and "dry run" in run.err
    assert smtp_server.messages == []
    assert [m["status"] for m in outbox(crm)] == ["queued"]


def test_a_refused_connection_fails_with_backoff_then_succeeds(
    crm: Crm, tmp_path: Path, smtp_server: Inbox
) -> None:
    queued(crm, tmp_path)
    closed = smtp_env(free_port())
    run = crm("outbox", "send", **closed)
    assert run.code == 6  # SPEC §2: what was due could not be delivered
    assert "stopped: cannot connect" in run.err
    assert run.err.splitlines()[-1].startswith("crm: 1 of 1 due messages not delivered")
    [row] = outbox(crm)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "Connection refused" in row["last_error"]
    assert row["next_attempt_at"] == "2026-03-06T16:35:00-05:00"  # retry_after 5m
    # not due again before its next attempt, even with a working server
    early = crm.ok("outbox", "send", **smtp_env(smtp_server.port))
    assert "nothing to send" in early.err and smtp_server.messages == []
    crm.ok("outbox", "send", **smtp_env(smtp_server.port), CRM_NOW="2026-03-06T21:36:00Z")
    [row] = outbox(crm)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)
    assert len(smtp_server.messages) == 1


@pytest.fixture
def hanging_server():
    """A server that takes the connection and never says a word (the kernel accepts it)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_a_hanging_server_times_out_and_exits_6(
    crm: Crm, tmp_path: Path, hanging_server: int
) -> None:
    import time

    queued(crm, tmp_path)
    started = time.monotonic()
    run = crm("outbox", "send", **smtp_env(hanging_server), CRM_SMTP_TIMEOUT="1")
    assert time.monotonic() - started < 30
    assert run.code == 6, run.err
    assert "timed out" in run.err
    assert run.err.splitlines()[-1].startswith("crm: 1 of 1 due messages not delivered")
    [row] = outbox(crm)
    assert row["status"] == "failed" and "timed out" in row["last_error"]


def test_the_others_are_still_sent_when_one_is_refused(
    crm: Crm, tmp_path: Path, smtp_server: Inbox
) -> None:
    install(crm, tmp_path, WELCOME)
    crm.add_lead()
    crm.add_lead(first="Bob", last="Bloggs", company="B Inc", email="bob@refuse.example")
    crm.ok("tick")
    original = smtp_server.handle_DATA

    async def refuse_bob(server, session, envelope):  # noqa: ANN001, ANN202
        if any("refuse.example" in to for to in envelope.rcpt_tos):
            return "550 no such mailbox"
        return await original(server, session, envelope)

    smtp_server.handle_DATA = refuse_bob
    run = crm("outbox", "send", **smtp_env(smtp_server.port))
    assert run.code == 6, run.err
    assert run.err.splitlines()[-1].startswith("crm: 1 of 2 due messages not delivered")
    assert sorted(m["status"] for m in outbox(crm)) == ["failed", "sent"]
    assert len(smtp_server.messages) == 1


def test_backoff_doubles_and_gives_up_after_max_attempts(crm: Crm, tmp_path: Path) -> None:
    queued(crm, tmp_path, '[outbox]\nmax_attempts = 2\nretry_after = "10m"\n')
    closed = smtp_env(free_port())
    assert crm("outbox", "send", **closed).code == 6
    assert crm("outbox", "send", **closed, CRM_NOW="2026-03-06T21:41:00Z").code == 6
    [row] = outbox(crm)
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("failed", 2, None)
    late = crm.ok("outbox", "send", **closed, CRM_NOW="2026-03-06T21:50:00Z")
    assert "nothing to send" in late.err


def test_a_crash_between_smtp_and_recording_is_reported_not_resent(
    crm: Crm, tmp_path: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crmcli.services import smtp

    queued(crm, tmp_path)
    delivered = smtp.Connection.send

    def deliver_then_die(self, message):
        delivered(self, message)
        raise SystemExit(137)  # the process is killed before it records the outcome

    monkeypatch.setattr(smtp.Connection, "send", deliver_then_die)
    crm("outbox", "send", **smtp_env(smtp_server.port))
    monkeypatch.undo()
    assert [m["status"] for m in outbox(crm)] == ["sending (unknown — check the mail server)"]
    run = crm.ok("outbox", "send", **smtp_env(smtp_server.port))
    assert "unknown — check the mail server" in run.err and "crm outbox retry 1" in run.err
    assert len(smtp_server.messages) == 1
    crm.ok("outbox", "retry", "1")
    crm.ok("outbox", "send", **smtp_env(smtp_server.port))
    assert len(smtp_server.messages) == 2  # sent again only because a person said so
    assert outbox(crm)[0]["status"] == "sent"


def test_sending_waits_for_business_hours(crm: Crm, tmp_path: Path, smtp_server: Inbox) -> None:
    queued(crm, tmp_path)
    run = crm.ok("outbox", "send", **smtp_env(smtp_server.port), CRM_NOW="2026-03-07T15:00:00Z")
    assert "outside business hours" in run.err and "2026-03-09 09:00" in run.err
    assert smtp_server.messages == []
    crm.ok("outbox", "send", **smtp_env(smtp_server.port), CRM_NOW=MONDAY)
    assert len(smtp_server.messages) == 1


def test_a_reply_after_tick_cancels_at_send_time(
    crm: Crm, tmp_path: Path, smtp_server: Inbox
) -> None:
    install(crm, tmp_path, FOLLOW_UP)
    lead = crm.add_lead()
    crm.ok("log-email", str(lead), "--subject", "Intro")
    crm.ok("tick", CRM_NOW="2026-03-10T14:00:00Z")
    crm.ok("log-email", str(lead), "--inbound", CRM_NOW="2026-03-10T14:05:00Z")
    run = crm.ok("outbox", "send", **smtp_env(smtp_server.port), CRM_NOW="2026-03-10T14:06:00Z")
    assert "1 cancelled" in run.err
    assert smtp_server.messages == []


def test_limit_sends_at_most_n(crm: Crm, tmp_path: Path, smtp_server: Inbox) -> None:
    install(crm, tmp_path, WELCOME)
    crm.add_lead()
    crm.add_lead(first="Grace", last="Hopper", email="grace@example.com")
    crm.ok("tick")
    crm.ok("outbox", "send", "--limit", "1", **smtp_env(smtp_server.port))
    assert len(smtp_server.messages) == 1
    assert sorted(m["status"] for m in outbox(crm)) == ["queued", "sent"]


def test_smtp_settings_are_required_and_checked(crm: Crm, tmp_path: Path) -> None:
    unset = {**smtp_env(25), "CRM_SMTP_HOST": None}
    assert "nothing to send" in crm.ok("outbox", "send", **unset).err  # no mail, no check
    queued(crm, tmp_path)
    missing = crm("outbox", "send", **{**smtp_env(25), "CRM_SMTP_HOST": None})
    assert missing.code == 2 and "smtp.host" in missing.err
    bad = crm("outbox", "send", **{**smtp_env(25), "CRM_SMTP_SECURITY": "tls"})
    assert bad.code == 2 and "CRM_SMTP_SECURITY" in bad.err
    no_password = crm("outbox", "send", **{**smtp_env(25), "CRM_SMTP_USER": "crm"})
    assert no_password.code == 2 and "CRM_SMTP_PASSWORD" in no_password.err
    secret = tmp_path / "smtp-password"
    secret.write_text("hunter2\n")
    secret.chmod(0o644)
    loose = crm(
        "outbox",
        "send",
        **{**smtp_env(25), "CRM_SMTP_USER": "crm", "CRM_SMTP_PASSWORD_FILE": str(secret)},
    )
    assert loose.code == 2 and "chmod 600" in loose.err and "0644" in loose.err
    assert [m["status"] for m in outbox(crm)] == ["queued"]


def test_an_empty_smtp_variable_overrides_the_policy(crm: Crm, tmp_path: Path) -> None:
    queued(crm, tmp_path, '[smtp]\nuser = "crm@example.com"\n')
    assert crm("outbox", "send", "--dry-run", **smtp_env(25)).code == 2  # needs a password
    login_off = {**smtp_env(25), "CRM_SMTP_USER": ""}
    assert crm("outbox", "send", "--dry-run", **login_off).code == 0


def test_password_file_of_mode_0600_is_accepted(crm: Crm, tmp_path: Path) -> None:
    queued(crm, tmp_path)
    secret = tmp_path / "smtp-password"
    secret.write_text("hunter2\n")
    secret.chmod(0o600)
    env = {**smtp_env(25), "CRM_SMTP_USER": "crm", "CRM_SMTP_PASSWORD_FILE": str(secret)}
    assert crm("outbox", "send", "--dry-run", **env).code == 0


# --- cancel, retry, show, roles ------------------------------------------------------------


def test_cancel_retry_and_their_refusals(crm: Crm, tmp_path: Path, smtp_server: Inbox) -> None:
    queued(crm, tmp_path)
    retry_queued = crm("outbox", "retry", "1")
    assert retry_queued.code == 5
    crm.ok("outbox", "cancel", "1")
    assert "already cancelled" in crm.ok("outbox", "cancel", "1").err
    crm.ok("outbox", "retry", "1")
    crm.ok("outbox", "send", **smtp_env(smtp_server.port))
    sent_cancel = crm("outbox", "cancel", "1")
    assert sent_cancel.code == 5 and "cannot be undone" in sent_cancel.err
    assert crm("outbox", "show", "42").code == 3
    shown = crm.ok("outbox", "show", "1", "--format", "json").json()
    assert shown["status"] == "sent"


def test_list_filters_and_rejects_an_unknown_status(crm: Crm, tmp_path: Path) -> None:
    queued(crm, tmp_path)
    assert len(outbox(crm, "--status", "queued")) == 1
    assert outbox(crm, "--status", "sent") == []
    run = crm("outbox", "list", "--status", "lost")
    assert run.code == 2 and "--status" in run.err


def test_viewers_read_the_outbox_but_cannot_send(team: Crm, tmp_path: Path) -> None:
    queued(team, tmp_path)
    assert team("outbox", "list", user="vi").code == 0
    for args in (("outbox", "send"), ("outbox", "cancel", "1"), ("lead", "opt-out", "1")):
        run = team(*args, user="vi")
        assert run.code == 4, args
    assert team("user", "set-signature", "ed", "x", user="ed").code == 4
    # templates and SMTP settings live in the policy: only admins change them
    run = team("policy", "import", str(EXAMPLES / "automation.toml"), user="ed")
    assert run.code == 4


def test_monthly_re_engagement_of_a_lead_the_cadence_left_inactive(
    crm: Crm, tmp_path: Path
) -> None:
    install(
        crm,
        tmp_path,
        '[sequences.re_engage]\ntrigger = "inactive"\nevery = "30d"\ntemplate = "nudge"\n',
    )
    lead = crm.add_lead()
    crm.ok("log-email", str(lead), "--subject", "Intro")  # Friday 6 March, no reply ever
    crm.ok("tick", CRM_NOW="2026-03-23T14:00:00Z")  # day 17: the cadence is exhausted
    shown = crm.ok("lead", "show", str(lead), "--format", "json").json()
    assert shown["status"] == "inactive"
    assert outbox(crm) == []  # a month after the last activity, not before
    crm.ok("tick", CRM_NOW="2026-04-06T14:00:00Z")  # day 31
    [message] = outbox(crm)
    assert (message["sequence"], message["subject"]) == ("re_engage", "Still there, Ada?")
    crm.ok("tick", CRM_NOW="2026-04-07T14:00:00Z")
    assert len(outbox(crm)) == 1  # once a month


def test_user_signatures_are_set_and_removed_by_admins(crm: Crm) -> None:
    crm.ok("user", "add", "maria", "--signature", "Maria\\nSales")
    assert sql(crm, 'SELECT signature FROM "user" WHERE name = ?', "maria") == [("Maria\nSales",)]
    crm.ok("user", "set-signature", "maria", "")
    assert sql(crm, 'SELECT signature FROM "user" WHERE name = ?', "maria") == [(None,)]
    assert crm("user", "set-signature", "nobody", "x").code == 3


# --- TLS and login -------------------------------------------------------------------------


@pytest.fixture
def tls(tmp_path: Path):
    """A private CA (trustme) and a certificate for 127.0.0.1 signed by it."""
    import ssl

    import trustme

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server_context, ca_file


def test_starttls_with_login_verifies_the_certificate(crm: Crm, tmp_path: Path, tls) -> None:
    from aiosmtpd.smtp import AuthResult

    server_context, ca_file = tls

    def check_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (auth_data.login, auth_data.password) == (b"crm", b"hunter2")
        return AuthResult(success=ok)

    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_context,
        require_starttls=True,
        auth_required=True,
        authenticator=check_login,
    )
    controller.start()
    try:
        queued(crm, tmp_path)
        secret = tmp_path / "smtp-password"
        secret.write_text("hunter2\n")
        secret.chmod(0o600)
        env = {
            **smtp_env(controller.port),
            "CRM_SMTP_SECURITY": "starttls",
            "CRM_SMTP_USER": "crm",
            "CRM_SMTP_PASSWORD_FILE": str(secret),
        }
        untrusted = crm("outbox", "send", **env, SSL_CERT_FILE=str(tmp_path / "none.pem"))
        assert untrusted.code == 6  # nothing was delivered
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.err and inbox.messages == []
        crm.ok("outbox", "send", **env, SSL_CERT_FILE=str(ca_file), CRM_NOW="2026-03-06T21:40:00Z")
        assert [m["Subject"] for m in inbox.messages] == ["Welcome, Ada"]
    finally:
        controller.stop()


def test_implicit_tls(crm: Crm, tmp_path: Path, tls) -> None:
    server_context, ca_file = tls
    inbox = Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), ssl_context=server_context
    )
    controller.start()
    try:
        queued(crm, tmp_path)
        env = {**smtp_env(controller.port), "CRM_SMTP_SECURITY": "ssl"}
        crm.ok("outbox", "send", **env, SSL_CERT_FILE=str(ca_file))
        assert [m["Subject"] for m in inbox.messages] == ["Welcome, Ada"]
    finally:
        controller.stop()


def test_only_an_admin_sends_through_another_server_than_the_stored_smtp(
    team: Crm, tmp_path: Path, smtp_server: Inbox
) -> None:
    # issue 17: everything the outbox sends uses the stored [smtp]; an editor's CRM_SMTP_HOST
    # (their own relay) is refused, not followed, and nothing leaves
    queued(team, tmp_path)
    env = smtp_env(smtp_server.port)
    run = team("outbox", "send", user="ed", **env)
    assert run.code == 4 and "CRM_SMTP_HOST: only an admin" in run.err
    assert smtp_server.messages == []
    assert team.rows("SELECT status FROM outbox") == [("queued",)]
    team.ok("outbox", "send", **env)  # the admin may (e.g. a test relay from cron)
    assert [m["Subject"] for m in smtp_server.messages] == ["Welcome, Ada"]
