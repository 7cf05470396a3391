"""The stored policy is the law (issue 17, item 1): `--policy FILE` / `CRM_POLICY` is for
read-only what-ifs; a write under another policy needs an admin and is audited with the
file's hash; the outbox always sends through the stored [smtp]."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
import tomli_w

from conftest import NOW, Crm
from crmcli.rules.policy import DEFAULT_POLICY
from test_outbox import TEMPLATES, WELCOME, Inbox, free_port


def lax_policy(tmp_path: Path) -> Path:
    """A policy with no gates at all: any stage from any stage, nothing required."""
    pipeline = copy.deepcopy(DEFAULT_POLICY["pipeline"])
    for stage in pipeline["stages"]:
        stage.pop("requires", None)
    pipeline["allow_skip"] = True
    path = tmp_path / "lax.toml"
    path.write_text(tomli_w.dumps({"pipeline": pipeline}))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def events_after(crm: Crm, last: int) -> list[dict]:
    return crm.dict_rows(
        # the record events (each write's seal event follows them)
        "SELECT actor, action, record_type, policy FROM audit_event "
        "WHERE id > ? AND record_type <> 'seal' ORDER BY id",
        last,
    )


def last_event(crm: Crm) -> int:
    return crm.rows("SELECT coalesce(max(id), 0) FROM audit_event")[0][0]


def test_an_editor_cannot_write_under_a_laxer_policy(team: Crm, tmp_path: Path) -> None:
    lax = lax_policy(tmp_path)
    lead = team.add_lead()
    gated = team("advance", str(lead), "closed_won", user="ed")
    assert gated.code == 5  # the stored policy's gates hold
    before = team.snapshot()
    run = team("--as", "ed", "--policy", str(lax), "advance", str(lead), "closed_won")
    assert run.code == 4
    [line] = run.err.splitlines()
    assert "--policy" in line and "crm policy import" in line and "admin" in line
    assert team.snapshot() == before
    # CRM_POLICY is the same setting
    run = team("advance", str(lead), "closed_won", user="ed", CRM_POLICY=str(lax))
    assert run.code == 4 and "CRM_POLICY" in run.err
    assert team.snapshot() == before


def test_an_admin_override_is_recorded_in_every_event_it_writes(team: Crm, tmp_path: Path) -> None:
    lax = lax_policy(tmp_path)
    lead = team.add_lead()
    start = last_event(team)
    team.ok("--policy", str(lax), "advance", str(lead), "closed_won", "--amount", "5000")
    [stage] = team.rows("SELECT stage FROM lead WHERE id = ?", lead)
    assert stage == ("closed_won",)
    written = events_after(team, start)
    assert written and all(e["policy"] == sha256(lax) for e in written)
    assert any(e["record_type"] == "lead" for e in written)
    # later writes under the stored policy carry no override
    mark = last_event(team)
    team.ok("lead", "edit", str(lead), "--title", "CTO", user="ed")
    assert [e["policy"] for e in events_after(team, mark)] == [None]
    assert team("audit", "verify").code == 0
    # the override is part of the hashed content: removing it is tampering
    team.execute("UPDATE audit_event SET policy = NULL WHERE policy IS NOT NULL")
    assert team("audit", "verify").code == 1


def test_a_file_with_the_stored_policy_is_not_an_override(team: Crm, tmp_path: Path) -> None:
    same = tmp_path / "same.toml"
    same.write_text(team.ok("policy", "show").out)
    start = last_event(team)
    team.ok("--policy", str(same), "lead", "add", "--first", "Grace", "--last", "Hopper",
            "--email", "grace@example.com", "--source", "web", user="ed")  # fmt: skip
    # the same rules written differently (a partial file over the defaults) are no override
    partial = tmp_path / "partial.toml"
    partial.write_text("# the default threshold, written out\n[dedupe]\nname_threshold = 90\n")
    team.ok("--policy", str(partial), "lead", "edit", "1", "--title", "Admiral", user="ed")
    written = events_after(team, start)
    assert {e["action"] for e in written} >= {"create", "update"}
    assert all(e["policy"] is None for e in written)


def test_anyone_may_read_under_another_policy(team: Crm, tmp_path: Path) -> None:
    lax = lax_policy(tmp_path)
    lead = team.add_lead()
    for args in (
        ("report", "pipeline"),
        ("report", "overdue"),
        ("explain", str(lead)),
        ("lead", "list"),
    ):
        run = team("--policy", str(lax), *args, user="vi")
        assert run.code == 0, (args, run.err)
    shown = team.ok("--policy", str(lax), "policy", "show", "--format", "json", user="vi").json()
    assert shown["pipeline"]["allow_skip"] is True


def test_an_editor_may_dry_run_under_another_policy(team: Crm, tmp_path: Path) -> None:
    lax = lax_policy(tmp_path)
    team.add_lead()
    team.ok("assign", "1", "--to", "ed")
    before = team.snapshot()
    run = team("--policy", str(lax), "tick", "--dry-run", user="ed")
    assert run.code == 0, run.err
    run = team("--policy", str(lax), "assign", "--unassigned", "--dry-run", user="ed")
    assert run.code == 0, run.err
    leads = tmp_path / "leads.csv"
    leads.write_text("first_name,last_name,email,source\nAlan,Turing,alan@example.com,web\n")
    run = team("--policy", str(lax), "lead", "import", str(leads), "--dry-run", user="ed")
    assert run.code == 0, run.err
    assert team.snapshot() == before
    assert team("--policy", str(lax), "tick", user="ed").code == 4


@pytest.fixture
def two_smtp_servers():
    from aiosmtpd.controller import Controller

    servers = []
    for _ in range(2):
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
        controller.start()
        inbox.port = controller.port
        servers.append((inbox, controller))
    yield [inbox for inbox, _ in servers]
    for _, controller in servers:
        controller.stop()


def smtp_section(port: int, sender: str) -> str:
    return (
        f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nuser = ""\n'
        f'from = "{sender}"\n'
    )


NO_SMTP_ENV = dict.fromkeys(
    (
        "CRM_SMTP_HOST",
        "CRM_SMTP_PORT",
        "CRM_SMTP_SECURITY",
        "CRM_SMTP_USER",
        "CRM_SMTP_FROM",
        "CRM_SMTP_PASSWORD",
        "CRM_SMTP_PASSWORD_FILE",
    )
)


def test_outbox_send_uses_the_stored_smtp_server(
    team: Crm, tmp_path: Path, two_smtp_servers: list[Inbox]
) -> None:
    stored_server, evil_server = two_smtp_servers
    stored = tmp_path / "stored.toml"
    stored.write_text(TEMPLATES + WELCOME + smtp_section(stored_server.port, "sales@example.com"))
    team.ok("policy", "import", str(stored))
    evil = tmp_path / "evil.toml"
    evil.write_text(TEMPLATES + WELCOME + smtp_section(evil_server.port, "evil@attacker.example"))
    team.add_lead()
    team.ok("tick", **NO_SMTP_ENV)
    # an editor's send under the file is a write under another policy: refused, nothing sent
    run = team("--policy", str(evil), "outbox", "send", user="ed", **NO_SMTP_ENV)
    assert run.code == 4
    assert stored_server.messages == [] and evil_server.messages == []
    # a dry run shows the plan and sends nothing
    team.ok("--policy", str(evil), "outbox", "send", "--dry-run", user="ed", **NO_SMTP_ENV)
    assert stored_server.messages == [] and evil_server.messages == []
    # an admin may override the policy, but mail still goes through the stored [smtp]
    start = last_event(team)
    sent = team.ok(
        "--policy", str(evil), "outbox", "send", "--format", "json", CRM_NOW=NOW, **NO_SMTP_ENV
    ).json()
    assert [m["status"] for m in sent["sent"]] == ["sent"]
    assert evil_server.messages == []
    [message] = stored_server.messages
    assert message["From"] == "sales@example.com"
    assert stored_server.envelopes == [("sales@example.com", ["ada@example.com"])]
    assert all(e["policy"] == sha256(evil) for e in events_after(team, start))


def test_the_welcome_names_the_stored_sender_even_when_queued_under_a_file(
    team: Crm, tmp_path: Path
) -> None:
    body = '\n[templates.welcome]\nsubject = "Hi"\nbody = "Write to {{ sender.address }}"\n'
    stored = tmp_path / "stored.toml"
    stored.write_text(body + WELCOME + smtp_section(25, "sales@example.com"))
    team.ok("policy", "import", str(stored))
    evil = tmp_path / "evil.toml"
    evil.write_text(body + WELCOME + smtp_section(25, "evil@attacker.example"))
    team.add_lead()
    team.ok("--policy", str(evil), "tick", **NO_SMTP_ENV)
    [(text,)] = team.rows("SELECT body FROM outbox")
    assert text == "Write to sales@example.com"
