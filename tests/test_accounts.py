"""`crm account …`, `crm contact …`, account obligations and opportunity types, through the
real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Crm


def rows(crm: Crm, sql: str, *args) -> list[tuple]:
    return crm.rows(sql, *args)


def add_account(crm: Crm, *args: str, user: str | None = None) -> int:
    return int(crm.ok("account", "add", *args, user=user).out.strip())


def add_contact(crm: Crm, account: int, *args: str) -> int:
    run = crm.ok("contact", "add", "--account", str(account), *args)
    return int(run.out.strip())


def events(crm: Crm, record_type: str, record_id: int) -> list[tuple]:
    return rows(
        crm,
        "SELECT action, changes FROM audit_event WHERE record_type = ? AND record_id = ? "
        "ORDER BY id",
        record_type,
        record_id,
    )


def obligations(crm: Crm, record_type: str, record_id: int, status: str = "open") -> list[tuple]:
    return rows(
        crm,
        "SELECT rule, due_at FROM obligation WHERE record_type = ? AND record_id = ? "
        "AND status = ? ORDER BY rule, due_at",
        record_type,
        record_id,
        status,
    )


def scored(crm: Crm, **fields: str) -> int:
    lead = crm.add_lead(**fields)
    crm.ok("score", str(lead), "--budget", "20", "--authority", "20", "--need", "20",
           "--timeline", "20")  # fmt: skip
    return lead


def win(crm: Crm, lead: int) -> None:
    crm.ok("advance", str(lead), "qualification")
    crm.ok("advance", str(lead), "needs_analysis")
    quote = crm.ok("quote", "new", str(lead)).out.strip()
    crm.ok("quote", "line", quote, "--product", "Router", "--qty", "1", "--price", "9000")
    crm.ok("quote", "submit", quote)
    crm.ok("advance", str(lead), "proposal")
    crm.ok("advance", str(lead), "negotiation")
    crm.ok("advance", str(lead), "closed_won", "--po", "PO-1")


# --- accounts ----------------------------------------------------------------------------


def test_account_add_stores_normalised_values_and_audits(team: Crm) -> None:
    account = add_account(
        team, "--name", " Acme  Corp ", "--key", "--contract-end", "2026-12-31",
        "--industry", "SaaS", "--country", "us", "--region", "US-NY", "--owner", "ed",
        user="ed",
    )  # fmt: skip
    data = team.ok("account", "show", str(account), "--format", "json").json()
    assert (data["name"], data["key_account"], data["contract_end"]) == (
        "Acme Corp",
        True,
        "2026-12-31",
    )
    assert (data["country"], data["region"], data["owner"]) == ("US", "NY", "ed")
    assert data["key_since"] == "2026-03-06T16:30:00-05:00"
    assert rows(team, "SELECT name_key FROM account") == [("acme",)]
    [(action, changes)] = events(team, "account", account)
    assert action == "create" and '"name": [null, "Acme Corp"]' in changes


def test_account_add_prints_json_when_asked(team: Crm) -> None:
    data = team.ok("account", "add", "--name", "Initech", "--format", "json").json()
    assert data["name"] == "Initech" and data["key_account"] is False
    assert data["contract_end"] is None and data["owner"] is None


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--name", "Acme", "--contract-end", "2026-02-30"], 2, "--contract-end: '2026-02-30'"),
        (["--name", "Acme", "--contract-end", "next year"], 2, "write YYYY-MM-DD"),
        (["--name", "   "], 2, "--name: an account needs a name"),
        ([], 2, "--name"),
        (["--name", "Acme", "--country", "Narnia"], 2, "country: 'Narnia'"),
        (["--name", "Acme", "--owner", "ghost"], 3, "--owner: no user named 'ghost'"),
    ],
)
def test_account_add_refuses_bad_input_and_writes_nothing(
    team: Crm, args: list[str], code: int, needle: str
) -> None:
    run = team("account", "add", *args)
    assert run.code == code and needle in run.err
    assert len(run.err.strip().splitlines()) == 1 and run.out == ""
    assert team.count("account") == 0


def test_a_viewer_cannot_add_or_edit_accounts(team: Crm) -> None:
    assert team("account", "add", "--name", "Acme", user="vi").code == 4
    account = add_account(team, "--name", "Acme")
    run = team("account", "edit", str(account), "--name", "Other", user="vi")
    assert run.code == 4 and "needs the editor role" in run.err
    assert team.count("account") == 1 and rows(team, "SELECT name FROM account") == [("Acme",)]
    assert team.ok("account", "show", str(account), user="vi").out  # viewers read


def test_duplicate_account_name_is_refused_unless_forced(team: Crm) -> None:
    first = add_account(team, "--name", "Acme Corp")
    run = team("account", "add", "--name", "ACME corporation.")
    assert run.code == 5
    assert f"likely duplicate of account {first}" in run.err and "--force" in run.err
    assert team.count("account") == 1
    second = add_account(team, "--name", "ACME corporation.", "--force")
    [(_action, changes)] = events(team, "account", second)
    assert f'"forced_duplicate_of": [null, [{first}]]' in changes


def test_account_list_filters_and_formats(team: Crm) -> None:
    acme = add_account(team, "--name", "Acme", "--key", "--owner", "ed")
    initech = add_account(team, "--name", "Initech", "--country", "GB")
    assert team.ok("account", "list", "--format", "ids").out.split() == [str(acme), str(initech)]
    assert team.ok("account", "list", "--key", "--format", "ids").out.split() == [str(acme)]
    assert team.ok("account", "list", "--not-key", "--format", "ids").out.split() == [str(initech)]
    mine = team.ok("account", "list", "--owner", "me", "--format", "ids", user="ed").out.split()
    assert mine == [str(acme)]
    assert team.ok("account", "list", "--owner", "none", "--format", "ids").out.split() == [
        str(initech)
    ]
    assert team.ok("account", "list", "--country", "gb", "--format", "ids").out.split() == [
        str(initech)
    ]
    assert team.ok("account", "list", "--search", "nite", "--format", "ids").out.split() == [
        str(initech)
    ]
    csv = team.ok("account", "list", "--format", "csv").out.splitlines()
    assert csv[0].startswith("id,name,key_account,key_since,contract_end,won_at")
    data = team.ok("account", "list", "--format", "json").json()
    assert [a["name"] for a in data] == ["Acme", "Initech"]
    table = team.ok("account", "list").out
    assert "Acme" in table and "Initech" in table
    assert team("account", "list", "--owner", "ghost").code == 3
    assert team("account", "list", "--limit", "0").code == 2


def test_account_edit_is_audited_old_to_new(team: Crm) -> None:
    account = add_account(team, "--name", "Acme", "--contract-end", "2026-12-31")
    run = team.ok("account", "edit", str(account), "--contract-end", "2027-06-30", "--key")
    assert run.err.strip() == f"updated account {account}"
    data = team.ok("account", "show", str(account), "--format", "json").json()
    assert data["contract_end"] == "2027-06-30" and data["key_account"] is True
    action, changes = events(team, "account", account)[-1]
    assert action == "update"
    assert '"contract_end": ["2026-12-31", "2027-06-30"]' in changes
    assert '"key_account": [false, true]' in changes
    team.ok("account", "edit", str(account), "--not-key", "--contract-end", "none")
    data = team.ok("account", "show", str(account), "--format", "json").json()
    assert data["key_account"] is False and data["contract_end"] is None
    assert data["key_since"] is None
    assert [e["action"] for e in data["history"]] == ["create", "update", "update"]


def test_account_edit_refusals(team: Crm) -> None:
    acme = add_account(team, "--name", "Acme")
    add_account(team, "--name", "Initech")
    assert team("account", "edit", "99", "--name", "X").code == 3
    run = team("account", "edit", str(acme), "--name", "Initech Inc")
    assert run.code == 5 and "likely duplicate of account 2" in run.err
    assert team("account", "edit", str(acme)).code == 2  # nothing to change
    run = team("account", "edit", str(acme), "--contract-end", "31/12/2026")
    assert run.code == 2 and "--contract-end" in run.err
    assert rows(team, "SELECT name, contract_end FROM account WHERE id = ?", acme) == [
        ("Acme", None)
    ]
    assert len(events(team, "account", acme)) == 1
    team.ok("account", "edit", str(acme), "--name", "Initech Inc", "--force")
    assert rows(team, "SELECT name_key FROM account WHERE id = ?", acme) == [("initech",)]


def test_account_show_unknown_is_not_found(team: Crm) -> None:
    run = team("account", "show", "42")
    assert run.code == 3 and "account 42 not found" in run.err


def test_account_show_is_the_360_view(team: Crm) -> None:
    account = add_account(team, "--name", "Analytical Engines", "--contract-end", "2026-05-01",
                          "--owner", "ed")  # fmt: skip
    grace = add_contact(team, account, "--first", "Grace", "--last", "Hopper",
                        "--email", "grace@ae.example")  # fmt: skip
    lead = scored(team, company="Analytical Engines Ltd", email="ada@ae.example")
    team.ok("advance", str(lead), "qualification")
    team.ok("log-call", str(lead), "--outcome", "connected", "--notes", "needs SSO")
    closed = scored(team, first="Bob", company="Analytical Engines", email="bob@ae.example")
    # an opportunity lost (a lead lost before it qualified would make no contact, issue 18)
    team.ok("advance", str(closed), "qualification")
    team.ok("advance", str(closed), "closed_lost", "--lost-reason", "budget")
    data = team.ok("account", "show", str(account), "--format", "json").json()
    # the contacts made when the leads converted join the one added by hand
    assert [c["id"] for c in data["contacts"]][0] == grace and len(data["contacts"]) == 3
    assert [o["id"] for o in data["open_opportunities"]] == [lead]
    assert data["open_opportunities"][0]["stage"] == "qualification"
    [call] = [a for a in data["recent_activities"] if a["type"] == "call"]
    assert call["lead_id"] == lead and call["user"] == "boss"
    assert {a["lead_id"] for a in data["recent_activities"]} == {lead, closed}
    rules = {(o["rule"], o["record"]) for o in data["open_obligations"]}
    assert ("account.renewal", f"account {account}") in rules
    assert ("contact.verify", f"contact {grace}") in rules
    renewal = next(o for o in data["open_obligations"] if o["rule"] == "account.renewal")
    assert renewal["overdue"] is True
    table = team.ok("account", "show", str(account)).out
    for title in ("contacts", "open opportunities", "recent activities", "open obligations"):
        assert f"\n{title}\n" in table


def test_account_show_lists_its_quotes_and_cases(team: Crm) -> None:
    account = add_account(team, "--name", "Analytical Engines")
    lead = scored(team, company="Analytical Engines", email="ada@ae.example")
    team.ok("advance", str(lead), "qualification")
    quote = team.ok("quote", "new", str(lead)).out.strip()
    team.ok("quote", "line", quote, "--product", "Engine", "--qty", "2", "--price", "1200.50")
    other = scored(team, first="Bob", company="Difference Engines", email="bob@de.example")
    team.ok("quote", "new", str(other))  # another company's quote stays out of the view
    case = team.ok("case", "open", f"account:{account}", "--title", "Gears jam",
                   "--severity", "high", user="ed").out.strip()  # fmt: skip
    data = team.ok("account", "show", str(account), "--format", "json").json()
    [listed] = data["quotes"]
    assert (listed["lead_id"], listed["status"], listed["total"]) == (lead, "draft", "2401.00")
    assert [(c["id"], c["severity"], c["status"]) for c in data["cases"]] == [
        (int(case), "high", "open")
    ]
    table = team.ok("account", "show", str(account)).out
    assert "\nquotes\n" in table and "\ncases\n" in table and "Gears jam" in table


# --- contacts ----------------------------------------------------------------------------


def test_contact_add_validates_like_a_lead(team: Crm) -> None:
    account = add_account(team, "--name", "Acme")
    contact = add_contact(team, account, "--first", " Grace ", "--last", "Hopper",
                          "--email", "Grace@ACME.example", "--phone", "(212) 555-0100",
                          "--title", "CTO")  # fmt: skip
    data = team.ok("contact", "show", str(contact), "--format", "json").json()
    assert (data["email"], data["phone"], data["first_name"]) == (
        "grace@acme.example",
        "+12125550100",
        "Grace",
    )
    assert data["account"] == "Acme" and data["account_id"] == account
    assert [o["rule"] for o in data["open_obligations"]] == ["contact.verify"]
    assert data["history"][0]["action"] == "create"


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--account", "1", "--first", "G", "--email", "not-an-email"], 2, "email: 'not-an-email'"),
        (["--account", "1", "--first", "G", "--phone", "12"], 2, "phone: '12'"),
        (["--account", "1", "--email", "g@acme.example"], 2, "name: a contact needs"),
        (["--account", "1", "--first", "G"], 2, "email/phone: a contact needs"),
        (["--first", "G", "--email", "g@acme.example"], 2, "--account"),
        (["--account", "9", "--first", "G", "--email", "g@acme.example"], 3, "account 9"),
    ],
)
def test_contact_add_refuses_bad_input_and_writes_nothing(
    team: Crm, args: list[str], code: int, needle: str
) -> None:
    add_account(team, "--name", "Acme")
    run = team("contact", "add", *args)
    assert run.code == code and needle in run.err, run.err
    assert len(run.err.strip().splitlines()) == 1
    assert team.count("contact") == 0
    assert rows(team, "SELECT count(*) FROM audit_event WHERE record_type = 'contact'") == [(0,)]


def test_contact_duplicates_by_normalised_email_or_phone(team: Crm) -> None:
    account = add_account(team, "--name", "Acme")
    first = add_contact(team, account, "--first", "Grace", "--email", "grace@acme.example",
                        "--phone", "+1 212 555 0100")  # fmt: skip
    run = team("contact", "add", "--account", str(account), "--first", "G",
               "--email", "GRACE@acme.example")  # fmt: skip
    assert run.code == 5 and f"likely duplicate of contact {first}" in run.err
    assert "same email" in run.err
    run = team("contact", "add", "--account", str(account), "--first", "G",
               "--phone", "(212) 555-0100")  # fmt: skip
    assert run.code == 5 and "same phone" in run.err
    assert team.count("contact") == 1
    forced = add_contact(team, account, "--first", "G", "--phone", "212 555 0100", "--force")
    assert '"forced_duplicate_of"' in events(team, "contact", forced)[0][1]


def test_contact_list_and_show(team: Crm) -> None:
    acme = add_account(team, "--name", "Acme")
    initech = add_account(team, "--name", "Initech")
    a = add_contact(team, acme, "--first", "Grace", "--email", "g@acme.example")
    b = add_contact(team, initech, "--first", "Peter", "--email", "p@initech.example")
    assert team.ok("contact", "list", "--format", "ids").out.split() == [str(a), str(b)]
    listed = team.ok("contact", "list", "--account", str(initech), "--format", "json").json()
    assert [c["id"] for c in listed] == [b] and listed[0]["account"] == "Initech"
    assert "Peter" in team.ok("contact", "list", user="vi").out
    assert team("contact", "list", "--account", "77").code == 3
    assert team("contact", "show", "77").code == 3
    assert "grace" not in team.ok("contact", "list", "--account", str(initech)).out.lower()


def test_contact_edit_is_audited_and_checked(team: Crm) -> None:
    account = add_account(team, "--name", "Acme")
    grace = add_contact(team, account, "--first", "Grace", "--email", "g@acme.example")
    other = add_contact(team, account, "--first", "Ada", "--email", "ada@acme.example")
    team.ok("contact", "edit", str(grace), "--title", "CTO", "--phone", "+1 212 555 0199")
    action, changes = events(team, "contact", grace)[-1]
    assert action == "update" and '"title"' in changes and '"phone"' in changes
    run = team("contact", "edit", str(other), "--email", "G@acme.example")
    assert run.code == 5 and f"contact {grace}" in run.err
    run = team("contact", "edit", str(other), "--email", "bad@")
    assert run.code == 2
    assert team("contact", "edit", str(other), "--account", "99").code == 3
    assert team("contact", "edit", "99", "--title", "X").code == 3
    assert team("contact", "edit", str(other), "--title", "X", user="vi").code == 4
    assert rows(team, "SELECT email, title FROM contact WHERE id = ?", other) == [
        ("ada@acme.example", None)
    ]


def test_contact_verify_restarts_the_quarter_and_is_audited(team: Crm) -> None:
    account = add_account(team, "--name", "Acme", "--owner", "ed")
    grace = add_contact(team, account, "--first", "Grace", "--email", "g@acme.example")
    [(_rule, due_before)] = obligations(team, "contact", grace)
    later = "2026-04-10T14:00:00+00:00"
    data = team.ok("contact", "verify", str(grace), "--format", "json", CRM_NOW=later).json()
    assert data["verified_at"] == "2026-04-10T10:00:00-04:00"
    [(_rule, due_after)] = obligations(team, "contact", grace)
    assert due_after > due_before and due_after.startswith("2026-07-10")
    assert events(team, "contact", grace)[-1][0] == "verify"
    assert team("contact", "verify", str(grace), user="vi").code == 4
    assert team("contact", "verify", "99").code == 3


def test_contact_forget_still_works_and_cancels_verification(team: Crm) -> None:
    account = add_account(team, "--name", "Acme")
    grace = add_contact(team, account, "--first", "Grace", "--email", "g@acme.example")
    team.ok("contact", "forget", str(grace), "--yes")
    assert rows(team, "SELECT first_name, email FROM contact") == [("", None)]
    assert obligations(team, "contact", grace) == []
    assert rows(team, "SELECT title FROM obligation WHERE record_type = 'contact'") == [
        ("verify the contact details",)
    ]
    assert team("contact", "verify", str(grace)).code == 5


# --- obligations in the reports -----------------------------------------------------------


def test_overdue_renewal_appears_in_the_overdue_report(team: Crm) -> None:
    account = add_account(team, "--name", "Acme", "--contract-end", "2026-05-01",
                          "--owner", "ed")  # fmt: skip
    report = team.ok("report", "overdue", "--format", "json").json()
    [item] = [r for r in report if r["rule"] == "account.renewal"]
    assert item["record_type"] == "account" and item["record_id"] == account
    assert item["owner"] == "ed" and item["title"].endswith(": Acme")
    # 90 days before 00:00 of 1 May: 00:00 of Saturday 31 January, so Monday's opening
    assert item["due_at"] == "2026-02-02T09:00:00-05:00" and item["overdue_by_seconds"] > 0
    table = team.ok("report", "overdue").out
    assert f"account {account}" in table and "start the renewal" in table
    assert team("report", "overdue", "--check").code == 1
    assert "account.renewal" in team.ok("--format", "json", user="ed").out  # my day


def test_a_renewal_opportunity_meets_the_renewal(team: Crm) -> None:
    account = add_account(team, "--name", "Acme", "--contract-end", "2026-05-01")
    lead = scored(team, company="Acme")
    team.ok("advance", str(lead), "qualification", "--type", "renewal")
    assert obligations(team, "account", account) == []
    assert [r[0] for r in obligations(team, "account", account, "met")] == ["account.renewal"]


def test_qbr_for_key_accounts_restarts_with_a_qbr_meeting(team: Crm) -> None:
    account = add_account(team, "--name", "Acme", "--key")
    [(rule, due)] = obligations(team, "account", account)
    assert rule == "account.qbr" and due.startswith("2026-06-05")
    lead = scored(team, company="Acme")
    team.ok("advance", str(lead), "qualification")
    team.ok("log-meeting", str(lead), "--attendee", "CFO", "--subject", "Q1 QBR",
            CRM_NOW="2026-04-01T15:00:00+00:00")  # fmt: skip
    [(rule, due)] = obligations(team, "account", account)
    assert due.startswith("2026-07-01")


def test_winning_the_first_opportunity_starts_onboarding(team: Crm) -> None:
    account = add_account(team, "--name", "Acme", "--owner", "ed")
    lead = scored(team, company="Acme Inc", owner="ed")
    win(team, lead)
    shown = team.ok("account", "show", str(account), "--format", "json").json()
    assert shown["won_at"] == "2026-03-06T16:30:00-05:00"
    assert [e["action"] for e in shown["history"]] == ["create", "won"]
    tasks = rows(
        team,
        'SELECT a.id, a.subject, u.name FROM activity a JOIN "user" u ON u.id = a.user_id '
        "WHERE a.type = 'task' AND a.subject LIKE 'Onboarding:%' ORDER BY a.id",
    )
    assert [t[1] for t in tasks] == [
        "Onboarding: Kick-off call",
        "Onboarding: Technical setup",
        "Onboarding: Training",
        "Onboarding: 30-day success review",
    ]
    assert {t[2] for t in tasks} == {"ed"}
    open_rules = [r[0] for r in obligations(team, "account", account)]
    assert open_rules.count("account.onboarding") == 5  # four tasks and the plan
    plan = rows(team, "SELECT due_at FROM obligation WHERE key = 'plan'")
    # 30 days after Friday 16:30 EST is Sunday 5 April: Monday 09:00 EDT
    assert plan == [("2026-04-06 13:00:00.000000",)]
    for task_id, *_ in tasks:
        team.ok("done", str(task_id))
    assert obligations(team, "account", account) == []
    assert len(obligations(team, "account", account, "met")) == 5
    # a second won opportunity does not start a second onboarding
    other = scored(team, first="Bob", company="Acme", email="bob@acme.example")
    win(team, other)
    assert rows(team, "SELECT count(*) FROM activity WHERE subject LIKE 'Onboarding:%'") == [(4,)]


def test_policy_import_recomputes_account_obligations(team: Crm, tmp_path: Path) -> None:
    account = add_account(team, "--name", "Acme", "--contract-end", "2026-09-30")
    [(_rule, due)] = obligations(team, "account", account)
    assert due.startswith("2026-07-02")
    policy = tmp_path / "p.toml"
    policy.write_text('[rules."account.renewal"]\nbefore = "30d"\n')
    team.ok("policy", "import", str(policy))
    [(_rule, due)] = obligations(team, "account", account)
    assert due.startswith("2026-08-31")


def test_qualifying_finds_the_account_by_its_normalised_name(team: Crm) -> None:
    account = add_account(team, "--name", "Analytical Engines")
    lead = scored(team, company="ANALYTICAL ENGINES, Ltd.")
    result = team.ok("advance", str(lead), "qualification", "--format", "json").json()
    assert result["account_id"] == account and team.count("account") == 1
    # the contact made on conversion owes its quarterly verification
    assert [r[0] for r in obligations(team, "contact", result["contact_id"])] == ["contact.verify"]
    assert "ix_account_name_key" in query_plan(team, "SELECT id FROM account WHERE name_key = 'x'")


def query_plan(crm: Crm, query: str) -> str:
    """How the database would run a query (on PostgreSQL with sequential scans priced out,
    since a test's tiny table is cheaper to scan: the plan shows whether an index serves)."""
    if crm.pg is None:
        return " ".join(str(r) for r in rows(crm, f"EXPLAIN QUERY PLAN {query}"))
    with crm._pg() as conn:
        conn.execute("SET enable_seqscan = off")
        return " ".join(r[0] for r in conn.execute(f"EXPLAIN {query}"))


# --- opportunity types (seed 004) -----------------------------------------------------------

TYPES = '[pipeline]\nopportunity_types = ["Managed Services", "Project", "renewal"]\n'


@pytest.fixture
def typed(team: Crm, tmp_path: Path) -> Crm:
    policy = tmp_path / "types.toml"
    policy.write_text(TYPES)
    team.ok("policy", "import", str(policy))
    return team


def test_without_a_list_any_type_is_accepted(team: Crm) -> None:
    lead = scored(team)
    team.ok("advance", str(lead), "qualification")  # no type needed
    team.ok("lead", "edit", str(lead), "--type", "Cabling")
    assert team.ok("lead", "show", str(lead), "--format", "json").json()["type"] == "Cabling"


def test_advance_needs_a_listed_type(typed: Crm) -> None:
    lead = scored(typed)
    run = typed("advance", str(lead), "qualification")
    assert run.code == 5 and "Managed Services, Project, renewal" in run.err
    run = typed("advance", str(lead), "qualification", "--type", "hardware")
    assert run.code == 2 and "'hardware' is not an opportunity type" in run.err
    assert "Managed Services, Project, renewal" in run.err
    assert rows(typed, "SELECT stage, type FROM lead") == [("prospecting", None)]
    result = typed.ok("advance", str(lead), "qualification", "--type", "project", "--format",
                      "json").json()  # fmt: skip
    assert result["type"] == "Project"
    typed.ok("advance", str(lead), "needs_analysis")  # the type stays
    history = typed.ok("lead", "show", str(lead), "--format", "json").json()["history"]
    assert history[-2]["changes"]["type"] == [None, "Project"]


def test_losing_a_lead_needs_no_type(typed: Crm) -> None:
    lead = scored(typed)
    typed.ok("advance", str(lead), "closed_lost", "--lost-reason", "no budget")


def test_lead_edit_type_is_validated_and_audited(typed: Crm) -> None:
    lead = scored(typed)
    run = typed("lead", "edit", str(lead), "--type", "widgets")
    assert run.code == 2 and "use one of Managed Services" in run.err
    typed.ok("lead", "edit", str(lead), "--type", "managed services")
    data = typed.ok("lead", "show", str(lead), "--format", "json").json()
    assert data["type"] == "Managed Services"
    assert data["history"][-1]["changes"]["type"] == [None, "Managed Services"]
    typed.ok("advance", str(lead), "qualification")  # the type set earlier counts
    assert typed.ok("audit", "verify").code == 0


def test_policy_check_names_bad_opportunity_types(crm: Crm, tmp_path: Path) -> None:
    policy = tmp_path / "bad.toml"
    policy.write_text('[pipeline]\nopportunity_types = ["Project", "project", "renewal"]\n')
    run = crm("policy", "check", str(policy))
    assert run.code == 2 and f"{policy}:2: pipeline.opportunity_types[1]" in run.err
    explain = crm.ok("policy", "show", "--explain", "--format", "json").json()
    assert "pipeline.opportunity_types" in {row["key"] for row in explain}
