"""Email capture: an mbox of real-looking messages (multipart, quoted-printable, non-ASCII
names, an attachment) and saved .eml files, logged on leads once per Message-ID."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from conftest import Crm

MAIL = Path(__file__).parent / "data" / "mail"


def activities(crm: Crm) -> list[tuple]:
    return crm.rows(
        "SELECT lead_id, type, direction, subject, notes, at FROM activity "
        "WHERE type = 'email' ORDER BY id"
    )


def test_mbox_import_logs_matched_messages_and_lists_unmatched_senders(crm: Crm) -> None:
    ada = crm.add_lead()
    summary = crm.ok("mail", "import", str(MAIL / "sample.mbox"), "--format", "json").json()
    assert summary["messages"] == 4
    assert summary["logged"] == 2
    assert summary["duplicates"] == 1  # the same Message-ID twice in one mailbox
    assert summary["unmatched"] == [{"address": "francois@unknown.example", "messages": 1}]
    reply, demo = activities(crm)
    # from the lead (its address in another case): inbound; subject and body decoded
    assert reply[:4] == (ada, "email", "inbound", "Re: Preise für 2026")
    assert "Können wir nächste Woche sprechen?" in reply[4]  # quoted-printable, soft break
    assert reply[5].startswith("2026-03-02 15:15:00")  # Date header, stored in UTC
    # from us to the lead: outbound; Latin-1 body decoded
    assert demo[:4] == (ada, "email", "outbound", "Demo next week")
    assert "hi Jürgen" in demo[4]


def test_a_second_import_adds_nothing(crm: Crm) -> None:
    crm.add_lead()
    crm.ok("mail", "import", str(MAIL / "sample.mbox"))
    before = activities(crm)
    again = crm.ok("mail", "import", str(MAIL / "sample.mbox"), "--format", "json").json()
    assert (again["logged"], again["duplicates"]) == (0, 3)
    assert activities(crm) == before


def test_attachments_go_to_the_content_addressed_store(crm: Crm) -> None:
    crm.add_lead()
    crm.ok("mail", "import", str(MAIL / "sample.mbox"))
    [(attachments,)] = crm.rows(
        "SELECT attachments FROM email_message WHERE message_id = ?", "<reply-1@example.com>"
    )
    assert '"filename": "angebot.pdf"' in attachments
    stored = list(crm.attachments.glob("*/*"))
    assert len(stored) == 1
    data = stored[0].read_bytes()
    assert data.startswith(b"%PDF")
    assert stored[0].name == hashlib.sha256(data).hexdigest()
    assert stored[0].parent.name == stored[0].name[:2]


def test_a_directory_of_eml_files_imports_too(crm: Crm, tmp_path: Path) -> None:
    crm.add_lead()
    folder = tmp_path / "saved"
    folder.mkdir()
    shutil.copy(MAIL / "reply.eml", folder / "a.eml")
    (folder / "notes.txt").write_text("not a message")
    summary = crm.ok("mail", "import", str(folder), "--format", "json").json()
    assert (summary["messages"], summary["logged"]) == (1, 1)


def test_bad_paths_are_refused_and_write_nothing(crm: Crm, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    for path, says in (
        (tmp_path / "missing.mbox", "does not exist"),
        (text, "is not an mbox"),
        (tmp_path, "no .eml files"),
    ):
        run = crm("mail", "import", str(path))
        assert run.code == 2 and says in run.err, run.err
    assert crm.count("email_message") == 0


def test_log_email_eml_reads_the_message_and_is_idempotent(crm: Crm) -> None:
    lead = crm.add_lead()
    first = crm.ok("log-email", str(lead), "--eml", str(MAIL / "reply.eml"), "--format", "json")
    row = first.json()
    assert (row["direction"], row["subject"]) == ("inbound", "Re: Welcome")
    assert row["notes"] == "Thanks, let's talk on Monday."
    again = crm.ok("log-email", str(lead), "--eml", str(MAIL / "reply.eml"))
    assert "already logged" in again.err
    assert len(activities(crm)) == 1


def test_log_email_eml_refuses_other_content_options(crm: Crm, tmp_path: Path) -> None:
    lead = crm.add_lead()
    run = crm("log-email", str(lead), "--eml", str(MAIL / "reply.eml"), "--subject", "x")
    assert run.code == 2 and "--subject" in run.err
    missing = crm("log-email", str(lead), "--eml", str(tmp_path / "none.eml"))
    assert missing.code == 2 and "--eml" in missing.err
    assert activities(crm) == []


def test_an_imported_reply_stops_the_follow_up_sequence(crm: Crm, tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(
        '[templates.nudge]\nsubject = "Hi"\nbody = "Hi {{ lead.first_name }}"\n'
        '[sequences.follow_up]\ntrigger = "no_reply"\n'
        'steps = [{ day = 0, template = "nudge" }, { day = 3, template = "nudge" }]\n'
    )
    crm.ok("policy", "import", str(policy))
    lead = crm.add_lead()
    crm.ok("log-email", str(lead), "--subject", "Intro", "--at", "2026-03-06 10:00")
    crm.ok("tick")
    crm.ok("log-email", str(lead), "--eml", str(MAIL / "reply.eml"))  # Friday 15:00 local
    ticked = crm.ok("tick").out
    assert "a reply stopped the sequence" in ticked


def test_viewers_cannot_import_mail(team: Crm) -> None:
    run = team("mail", "import", str(MAIL / "sample.mbox"), user="vi")
    assert run.code == 4


def test_forgetting_a_lead_deletes_its_attachments(crm: Crm) -> None:
    lead = crm.add_lead()
    crm.ok("mail", "import", str(MAIL / "sample.mbox"))
    assert len(list(crm.attachments.glob("*/*"))) == 1
    crm.ok("lead", "forget", str(lead), "--yes")
    assert list(crm.attachments.glob("*/*")) == []
    rows = crm.rows("SELECT from_address, attachments FROM email_message")
    assert rows == [(None, "[]"), (None, "[]")]


def test_forgetting_a_lead_keeps_a_file_a_case_still_uses(crm: Crm, tmp_path: Path) -> None:
    """Mail and case attachments share one store: the same bytes attached to a case survive
    the lead's erasure."""
    lead = crm.add_lead()
    crm.ok("mail", "import", str(MAIL / "sample.mbox"))
    [blob] = crm.attachments.glob("*/*")
    copy = tmp_path / "offer.pdf"
    shutil.copyfile(blob, copy)
    account = crm.ok("account", "add", "--name", "Analytical Engines").out.strip()
    case = crm.ok("case", "open", account, "--title", "Offer unclear", "--severity", "low")
    crm.ok("case", "attach", case.out.strip(), str(copy))
    crm.ok("lead", "forget", str(lead), "--yes")
    assert [path.name for path in crm.attachments.glob("*/*")] == [blob.name]


def test_each_server_database_has_its_own_attachment_store(monkeypatch, tmp_path: Path) -> None:
    """A server database has no directory of its own: its files go to the user data dir,
    one directory per database (shared by its logins), never one store for all."""
    from crmcli.services.attachments import attachments_root

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    sales = attachments_root("postgresql+psycopg://ann@db.example:5432/sales")
    assert sales == attachments_root("postgresql+psycopg://bob:pw@db.example:5432/sales")
    assert sales != attachments_root("postgresql+psycopg://ann@db.example:5432/support")
    assert sales != attachments_root("postgresql+psycopg://ann@db.example:5433/sales")
    assert sales.is_relative_to(tmp_path / "crmcli" / "attachments")
    assert attachments_root(f"sqlite:///{tmp_path}/crm.db") == tmp_path / "attachments"
