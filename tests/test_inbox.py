"""`crm inbox` (issue 18 item 8): every user's notifications, from every producer, read
and acknowledged; my day counts the unread ones."""

from __future__ import annotations

from conftest import Crm

EXECUTIVE = ("--budget", "25", "--authority", "25", "--need", "25", "--timeline", "20")
MONDAY_1100 = "2026-03-09T15:00:00Z"  # 11:00 EDT


def inbox(crm: Crm, *args: str, user: str | None = None, **env: str) -> list[dict]:
    return crm.ok("inbox", *args, "--format", "json", user=user, **env).json()


def test_an_executive_band_lead_lands_in_the_admins_inbox_until_acknowledged(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    team.ok("score", str(lead), *EXECUTIVE, user="ed")
    [notice] = inbox(team)
    assert (notice["kind"], notice["record_type"], notice["record_id"]) == (
        "executive_contact",
        "lead",
        lead,
    )
    assert "scored 95: immediate_executive band" in notice["message"]
    assert notice["read_at"] is None and notice["at"] == "2026-03-06T16:30:00-05:00"
    assert inbox(team, user="ed") == []  # the band tells the admins only
    day = team.ok()
    assert "1 unread in your inbox (crm inbox)" in day.err
    assert team.ok("--format", "json").json()["inbox_unread"] == 1
    table = team.ok("inbox").out
    assert "inbox: 1 unread" in table and f"lead {lead}" in table
    # somebody else's notice is not found; a viewer acknowledges nothing
    other = team("inbox", "ack", str(notice["id"]), user="ed")
    assert other.code == 3 and f"notification {notice['id']} is not in your inbox" in other.err
    assert team("inbox", "ack", str(notice["id"]), user="vi").code == 4
    assert team("inbox", "ack").code == 2  # neither ids nor --all
    read = team.ok("inbox", "ack", str(notice["id"]), "--format", "json").json()
    assert read == [{"id": notice["id"]}]
    assert inbox(team) == [] and "unread in your inbox" not in team.ok().err
    [kept] = inbox(team, "--all")
    assert kept["read_at"] == "2026-03-06T16:30:00-05:00"
    events = team.rows(
        "SELECT action FROM audit_event WHERE record_type = 'notification' ORDER BY id"
    )
    assert events == [("create",), ("read",)]
    assert team.ok("inbox", "ack", str(notice["id"]), "--format", "json").json() == []


def test_a_quote_waiting_for_approval_tells_each_approver_until_it_is_decided(team: Crm) -> None:
    team.ok("user", "add", "al", "--role", "admin")
    lead = team.add_lead(owner="ed", company="Acme Pumps")
    team.ok(
        "score", str(lead), "--budget", "20", "--authority", "20", "--need", "20", "--timeline", "5"
    )
    quote = team.ok("quote", "new", str(lead), user="ed").out.strip()
    team.ok(
        "quote",
        "line",
        quote,
        "--product",
        "Pump",
        "--price",
        "1000",
        "--discount",
        "20",
        user="ed",
    )
    team.ok("quote", "submit", quote, user="ed")
    for admin in ("boss", "al"):
        [notice] = inbox(team, user=admin)
        assert (notice["kind"], notice["record_type"], notice["record_id"]) == (
            "quote_approval",
            "quote",
            int(quote),
        )
        assert notice["message"].startswith(
            "quote Q-0001 for Acme Pumps (800.00 USD) waits for your approval: "
        )
    assert inbox(team, user="ed") == []  # the submitter does not approve their own quote
    team.ok("quote", "approve", quote, "--reason", "strategic", user="al")
    assert inbox(team) == [] and inbox(team, user="al") == []  # no longer waiting
    settled = team.rows(
        "SELECT changes FROM audit_event WHERE record_type = 'notification' AND action = 'read'"
    )
    assert len(settled) == 2 and all("approved by al" in row[0] for row in settled)


def test_tick_tells_a_case_owner_once_when_the_case_passes_its_sla(team: Crm) -> None:
    lead = team.add_lead(company="Acme Pumps", email="ann@acme.example", first="Ann", last="Lee")
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
    team.ok("advance", str(lead), "qualification")  # account 1
    team.ok("case", "open", "account:1", "--title", "Pump leaks", "--severity", "normal", user="ed")
    team.ok("tick")  # nothing past its SLA yet: ack Monday 10:30, resolve Saturday 16:30
    assert inbox(team, user="ed") == []
    ticked = team.ok("tick", "--format", "json", CRM_NOW=MONDAY_1100).json()
    assert {a["detail"] for a in ticked if a["record"] == "case 1"} >= {
        "past case.ack: told ed",
        "past case.resolve: told ed",
    }
    notices = inbox(team, user="ed", CRM_NOW=MONDAY_1100)
    # newest first: told in the order the deadlines passed (resolve Saturday, ack Monday)
    assert [(n["kind"], n["record_type"], n["record_id"]) for n in notices] == [
        ("case_sla:case.ack", "case", 1),
        ("case_sla:case.resolve", "case", 1),
    ]
    assert [n["message"] for n in notices] == [
        "case 1 (Acme Pumps, normal) was not acknowledged by its SLA (case.ack, due 2026-03-09 10:30)",
        "case 1 (Acme Pumps, normal) was not resolved by its SLA (case.resolve, due 2026-03-07 16:30)",
    ]
    team.ok("tick", CRM_NOW=MONDAY_1100)  # told once
    assert len(inbox(team, "--all", user="ed", CRM_NOW=MONDAY_1100)) == 2
    assert team.ok("inbox", "ack", "--all", user="ed", CRM_NOW=MONDAY_1100).err == (
        "read 2 notifications\n"
    )


def test_a_stale_record_notice_names_its_lead(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    team.ok("tick", CRM_NOW="2026-03-23T15:00:00Z")  # 17 days in prospecting
    [notice] = inbox(team, user="ed", CRM_NOW="2026-03-23T15:00:00Z")
    assert (notice["kind"], notice["record_type"], notice["record_id"]) == (
        "stale:prospecting",
        "lead",
        lead,
    )
