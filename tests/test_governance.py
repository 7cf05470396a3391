"""SPEC §7: roles on every command, campaign isolation, the tamper-evident audit log,
privacy erasure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

from conftest import Crm, Prepared
from crmcli.cli import app
from crmcli.roles import COMMAND_ROLES, ROLE_CASES, WRITE, needed_role, role_allows


def _leaf_commands() -> list[str]:
    stack = [((), typer.main.get_command(app))]
    found = []
    while stack:
        path, command = stack.pop()
        subcommands = getattr(command, "commands", None)
        if subcommands:
            stack += [((*path, name), sub) for name, sub in subcommands.items()]
        else:
            found.append(" ".join(path))
    return sorted(found)


ALL = _leaf_commands()
WRITES = [c for c in ALL if COMMAND_ROLES.get(c) in ("editor", "admin")]


def test_every_command_declares_its_role() -> None:
    missing = [c for c in ALL if c not in COMMAND_ROLES]
    assert missing == [], f"add these commands to crmcli.roles.COMMAND_ROLES: {missing}"
    assert len(WRITES) >= 20


def test_one_function_decides_the_role_from_the_table_and_its_cases() -> None:
    assert needed_role("user add") == needed_role("user add", WRITE) == "admin"
    assert needed_role("lead list") == "viewer" and needed_role("lead add", WRITE) == "editor"
    # a read-only dry run of a write command still needs the write command's role
    assert needed_role("assign") == needed_role("imports undo") == "editor"
    assert needed_role("user away") == "viewer" and needed_role("user away", WRITE) == "editor"
    assert needed_role("history") == "viewer"
    assert needed_role("history", "of a record other than a lead") == "admin"
    assert needed_role("init", WRITE) == needed_role("completion") == "viewer"  # "none"
    assert needed_role("") == "viewer" and needed_role("", WRITE) == "editor"  # bare crm
    assert needed_role("no such command") == "admin"  # fails closed
    with pytest.raises(ValueError, match="not a case"):
        needed_role("lead list", "of a record other than a lead")
    assert all(c == "" or c in COMMAND_ROLES for c in ROLE_CASES)
    assert role_allows("admin", "editor") and not role_allows("viewer", "editor")


def snapshot(crm: Crm) -> dict[str, list]:
    return crm.snapshot()


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    crm = Crm(tmp_path_factory.mktemp("roles") / "crm.db")
    crm.ok("init", "--example")
    crm.ok("user", "add", "vi", "--role", "viewer")
    crm.ok("user", "add", "ed", "--role", "editor")
    return crm.db


@pytest.mark.parametrize("command", WRITES)
def test_every_write_command_refuses_a_viewer_and_changes_nothing(
    populated: Path, tmp_path: Path, command: str
) -> None:
    db = tmp_path / "crm.db"
    db.write_bytes(populated.read_bytes())
    crm = Crm(db)
    before = snapshot(crm)
    # whatever arguments follow (here: none, or nonsense), the role is checked first
    for args in ([], ["1", "x", "--bogus"]):
        run = crm(*command.split(), *args, user="vi")
        assert run.code == 4, (command, args, run.err)
        assert "vi is a viewer" in run.err
    assert snapshot(crm) == before


@pytest.mark.parametrize("command", [c for c in WRITES if COMMAND_ROLES[c] == "admin"])
def test_admin_commands_refuse_an_editor(populated: Path, tmp_path: Path, command: str) -> None:
    db = tmp_path / "crm.db"
    db.write_bytes(populated.read_bytes())
    run = Crm(db)(*command.split(), user="ed")
    assert run.code == 4 and "needs the admin role" in run.err


def test_help_is_open_to_everyone(team: Crm) -> None:
    assert team("lead", "add", "--help", user="vi").code == 0
    assert team("score", "--help", user="vi").code == 0


# --- campaign isolation ---------------------------------------------------------------------


@pytest.fixture
def scoped(team: Crm, prepared: Prepared) -> Crm:
    prepared(team, make_scoped)
    return team


def make_scoped(crm: Crm) -> None:
    crm.ok("campaign", "add", "Expo")
    crm.ok("campaign", "add", "Webinar")
    crm.ok("user", "add", "pat", "--role", "editor")
    crm.ok("user", "scope", "pat", "--campaign", "Expo")
    crm.add_lead(campaign="Expo")  # 1
    crm.add_lead(
        first="Grace", last="Hopper", company="Navy", email="g@navy.example", campaign="Webinar"
    )  # 2
    crm.add_lead(first="Alan", last="Turing", company="Bletchley", email="a@b.example")  # 3


def test_scoped_user_sees_only_their_campaign(scoped: Crm) -> None:
    ids = scoped.ok("lead", "list", "--format", "ids", user="pat").out.split()
    assert ids == ["1"]
    assert scoped.ok("lead", "list", "--format", "ids").out.split() == ["1", "2", "3"]  # admin
    for args in (
        ("lead", "show", "2"),
        ("lead", "edit", "2", "--title", "x"),
        ("explain", "3"),
        ("advance", "2", "closed_lost", "--lost-reason", "x"),
        ("log-call", "2", "--outcome", "connected"),
        ("history", "lead:2"),
    ):
        run = scoped(*args, user="pat")
        assert run.code == 3, args
        assert "not found" in run.err
    # the same message as for a lead that does not exist at all
    assert scoped("lead", "show", "2", user="pat").err == scoped(
        "lead", "show", "99", user="pat"
    ).err.replace("99", "2")
    assert scoped.ok("lead", "edit", "1", "--title", "CTO", user="pat").code == 0


def test_scoped_user_adds_into_their_campaign_only(scoped: Crm) -> None:
    new = scoped.ok(
        "lead",
        "add",
        "--first",
        "N",
        "--email",
        "n@example.com",
        "--source",
        "web",
        "--format",
        "json",
        user="pat",
    ).json()
    assert new["campaign"] == "Expo"  # the only campaign pat works in
    foreign = scoped(
        "lead",
        "add",
        "--first",
        "M",
        "--email",
        "m@example.com",
        "--source",
        "web",
        "--campaign",
        "Webinar",
        user="pat",
    )
    assert foreign.code == 3
    moving = scoped("lead", "edit", "1", "--campaign", "Webinar", user="pat")
    assert moving.code == 3
    dup = scoped(
        "lead", "add", "--first", "G", "--email", "g@navy.example", "--source", "web", user="pat"
    )
    assert dup.code == 5
    assert "outside your campaigns" in dup.err and "Hopper" not in dup.err


def test_scoped_reports(scoped: Crm) -> None:
    later = {"CRM_NOW": "2026-03-12T15:00:00Z"}
    mine = scoped.ok("report", "overdue", "--format", "json", user="pat", **later).json()
    assert {r["record_id"] for r in mine} == {1}
    everything = scoped.ok("report", "overdue", "--format", "json", **later).json()
    assert {r["record_id"] for r in everything} == {1, 2, 3}


def test_scoped_overdue_report_shows_the_quotes_of_their_leads(scoped: Crm) -> None:
    bant = ["--budget", "20", "--authority", "15", "--need", "20", "--timeline", "10"]
    for lead in ("1", "2"):  # lead 1 is in pat's campaign, lead 2 is not
        scoped.ok("score", lead, *bant)
        quote = scoped.ok("quote", "new", lead).out.strip()
        line = ["--product", "Router", "--price", "1250", "--discount", "20"]  # needs approval
        scoped.ok("quote", "line", quote, *line)
        scoped.ok("quote", "submit", quote)
    later = {"CRM_NOW": "2026-03-12T15:00:00Z"}
    mine = scoped.ok("report", "overdue", "--format", "json", user="pat", **later).json()
    assert {(r["record_type"], r["record_id"]) for r in mine} >= {("lead", 1), ("quote", 1)}
    assert {r["record_type"] for r in mine} == {"lead", "quote"}
    assert {r["record_id"] for r in mine if r["record_type"] == "quote"} == {1}
    assert not [r for r in mine if r["record_type"] == "lead" and r["record_id"] != 1]
    everything = scoped.ok("report", "overdue", "--format", "json", **later).json()
    assert {r["record_id"] for r in everything if r["record_type"] == "quote"} == {1, 2}


def test_user_scope_command(scoped: Crm) -> None:
    assert scoped("user", "scope", "pat").code == 2
    assert scoped("user", "scope", "pat", "--campaign", "Nope").code == 3
    scoped.ok("user", "scope", "pat", "--clear")
    assert scoped.ok("lead", "list", "--format", "ids", user="pat").out.split() == ["1", "2", "3"]


# --- the tamper-evident audit log -------------------------------------------------------------


def sql(crm: Crm, statement: str, *args) -> None:
    crm.execute(statement, params=args)


def test_verify_passes_after_real_work(team: Crm) -> None:
    team.ok("init", "--example")
    team.ok("lead", "edit", "3", "--title", "VP")
    team.ok("score", "3", "--budget", "20", "--authority", "20", "--need", "20", "--timeline", "20")
    team.ok("log-call", "3", "--outcome", "connected", "--notes", "talked")
    run = team.ok("audit", "verify")
    assert "audit log intact" in run.err
    data = team.ok("audit", "verify", "--format", "json").json()
    assert data["ok"] is True and data["events"] > 100


def test_an_edited_event_breaks_the_chain(team: Crm) -> None:
    team.add_lead()
    team.ok("lead", "edit", "1", "--title", "CTO")
    sql(team, "UPDATE audit_event SET actor = 'someone else' WHERE id = 3")
    run = team("audit", "verify")
    assert run.code == 1
    assert "event 3 was changed after it was written" in run.err


def test_a_deleted_event_breaks_the_chain(team: Crm) -> None:
    team.add_lead()
    team.ok("lead", "edit", "1", "--title", "CTO")
    team.ok("lead", "edit", "1", "--title", "CEO")
    count = team.count("audit_event")
    sql(team, "DELETE FROM audit_event WHERE id = ?", count - 1)
    run = team("audit", "verify", "--check")
    assert run.code == 1 and "was removed, reordered or inserted" in run.err


def test_edits_outside_crm_are_detected(team: Crm) -> None:
    team.add_lead()
    assert team("audit", "verify").code == 0
    sql(team, "UPDATE lead SET email = 'other@example.com', stage = 'proposal' WHERE id = 1")
    run = team("audit", "verify")
    assert run.code == 1
    assert "lead 1: email, stage changed outside crm" in run.err


def test_anchor_catches_a_rewritten_chain(team: Crm, tmp_path: Path) -> None:
    team.add_lead()
    anchors = tmp_path / "anchors.jsonl"
    team.ok("audit", "anchor", "--out", str(anchors))
    line = json.loads(anchors.read_text())
    assert line["events"] == team.count("audit_event") and len(line["head"]) == 64
    team.ok("lead", "edit", "1", "--title", "CTO")
    team.ok("audit", "verify", "--anchor", str(anchors))
    # someone with write access rewrites history consistently: the chain verifies, the
    # anchor kept elsewhere does not
    from sqlmodel import select

    from crmcli.context import AppContext
    from crmcli.services import audit
    from crmcli.services.workspace import Workspace
    from crmcli.store.models import AuditEvent

    with Workspace(AppContext(db=team.url(), user="boss")).reading() as tx:
        events = tx.session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
        previous, rewritten = audit.GENESIS, []
        for event in events:
            actor = "a forger" if event.id == 2 else event.actor
            digest = audit.content_hash(
                event.at, actor, event.command, event.record_type, event.record_id,
                event.action, event.changes, previous, login=event.login, policy=event.policy,
            )  # fmt: skip
            rewritten.append((actor, previous, digest, event.id))
            previous = digest
    # behind crm's back (on PostgreSQL only the server's administrator can: the audit log
    # refuses changes even to the tables' owner)
    for row in rewritten:
        team.execute("UPDATE audit_event SET actor = ?, prev_hash = ?, hash = ? WHERE id = ?",
                     params=row)  # fmt: skip
    # and the head kept outside the chain, which they can write too
    team.execute("UPDATE audit_head SET hash = ?", params=(previous,))
    assert team("audit", "verify").code == 0
    run = team("audit", "verify", "--anchor", str(anchors))
    assert run.code == 1 and "the log was rewritten" in run.err
    broken = tmp_path / "broken.jsonl"
    broken.write_text("not json\n")
    assert team("audit", "verify", "--anchor", str(broken)).code == 2


# --- privacy ----------------------------------------------------------------------------------


def test_personal_values_are_not_in_the_chain_in_clear(team: Crm) -> None:
    team.add_lead(email="ada@secret.example")
    changes = " ".join(r[0] for r in team.rows("SELECT changes FROM audit_event"))
    assert "ada@secret.example" not in changes and "hmac:" in changes
    history = team.ok("lead", "show", "1", "--format", "json").json()["history"]
    assert history[0]["changes"]["email"] == [None, "ada@secret.example"]


def test_forget_erases_the_person_and_keeps_the_chain(team: Crm) -> None:
    team.add_lead(email="ada@secret.example", phone="+1 212 555 0100")
    team.ok("log-call", "1", "--outcome", "connected", "--notes", "her daughter is ill")
    team.ok("score", "1", "--budget", "10", "--authority", "10", "--need", "10", "--timeline", "10")
    exported = team.ok("lead", "export-personal", "1").json()
    assert exported["lead"]["email"] == "ada@secret.example"
    assert exported["activities"][0]["notes"] == "her daughter is ill"
    refused = team("lead", "forget", "1")  # no terminal to confirm on
    assert refused.code == 2 and "--yes" in refused.err
    team.ok("lead", "forget", "1", "--yes")
    lead = team.ok("lead", "show", "1", "--format", "json").json()
    assert (lead["first_name"], lead["email"], lead["phone"]) == ("", None, None)
    assert lead["score"] == 40 and lead["company"] == "Analytical Engines"  # facts stay
    dump = team.dump()
    assert "ada@secret.example" not in dump and "daughter" not in dump
    assert "Lovelace" not in dump
    assert "(erased)" in json.dumps(lead["history"])
    assert team("audit", "verify").code == 0


def test_privacy_commands_need_admin(team: Crm) -> None:
    team.add_lead()
    assert team("lead", "forget", "1", "--yes", user="ed").code == 4
    assert team("lead", "export-personal", "1", user="ed").code == 4
    assert team("lead", "forget", "9", "--yes").code == 3


def test_history_and_audit_log(team: Crm) -> None:
    team.add_lead()
    team.ok("lead", "edit", "1", "--title", "CTO", user="ed")
    rows = team.ok("history", "lead:1", "--format", "json").json()
    assert [r["action"] for r in rows] == ["create", "update"]
    assert team.ok("history", "1", "--format", "json").json() == rows
    assert team("history", "lead:x").code == 2
    refused = team("history", "user:1", user="ed")
    assert refused.code == 4 and refused.out == ""
    assert (
        "crm history of a record other than a lead needs the admin role; ed is an editor"
        in refused.err
    )
    assert team("history", "lead:1", user="vi").code == 0
    log = team.ok("audit", "log", "--user", "ed", "--format", "json").json()
    assert [(r["record"], r["action"]) for r in log] == [("lead 1", "update")]
    assert team.ok("audit", "log", "--from", "2026-03-07", "--format", "json").json() == []


def test_readme_roles_table_matches_the_code() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    table = readme[readme.index("| role needed | commands |") :].split("\n\n")[0]
    rows = {line.split("|")[1].split()[0]: line for line in table.splitlines()[2:]}
    label = {"none": "no", "viewer": "viewer", "editor": "editor", "admin": "admin"}
    for command, role in COMMAND_ROLES.items():
        assert f"`{command}`" in rows[label[role]], (command, role)


def test_verify_accepts_leads_removed_by_crm_and_flags_a_sql_delete(team: Crm) -> None:
    team.add_lead()
    team.ok(
        "lead",
        "add",
        "--first",
        "Ada",
        "--last",
        "Lovelace",
        "--company",
        "Analytical Engines",
        "--email",
        "ada.l@example.com",
        "--source",
        "web",
        "--force",
    )
    team.ok("lead", "merge", "1", "2", "--prefer", "keep")
    assert team("audit", "verify").code == 0
    team.add_lead(first="Grace", last="Hopper", company="Navy", email="g@navy.example")
    sql(team, "DELETE FROM obligation WHERE record_id = 3")
    sql(team, "DELETE FROM stage_change WHERE lead_id = 3")
    sql(team, "DELETE FROM lead WHERE id = 3")
    run = team("audit", "verify")
    assert run.code == 1 and "lead 3: deleted outside crm" in run.err


def test_contact_forget_erases_the_person_behind_the_opportunity(team: Crm) -> None:
    lead = team.add_lead(email="ada@secret.example")
    team.ok(
        "score",
        str(lead),
        "--budget",
        "20",
        "--authority",
        "20",
        "--need",
        "20",
        "--timeline",
        "20",
    )
    team.ok("advance", str(lead), "qualification")  # creates the account and the contact
    contact = team.rows("SELECT id FROM contact")[0][0]
    assert team("contact", "forget", str(contact), "--yes", user="ed").code == 4
    assert team("contact", "forget", "999", "--yes").code == 3
    team.ok("contact", "forget", str(contact), "--yes")
    dump = team.dump()
    assert "ada@secret.example" not in dump and "Lovelace" not in dump
    assert team("audit", "verify").code == 0
