"""`crm init`: create, migrate, bootstrap the admin and the policy, example data."""

from __future__ import annotations

from decimal import Decimal

import pytest

from conftest import ADMIN, Crm


def test_init_creates_database_admin_and_policy(fresh: Crm) -> None:
    run = fresh("init")
    assert run.code == 0
    assert "created database" in run.err
    assert f"registered {ADMIN} as admin" in run.err
    assert fresh.created()
    users = fresh.ok("user", "list", "--format", "json").json()
    assert [(u["name"], u["role"]) for u in users] == [(ADMIN, "admin")]
    assert '[rules."lead.first_response"]' in fresh.ok("policy", "show").out


def test_init_twice_is_harmless_and_says_so(fresh: Crm) -> None:
    fresh.ok("init")
    before = fresh.count("audit_event")
    again = fresh.ok("init")
    assert "already initialised" in again.err
    assert "registered" not in again.err
    assert fresh.count("audit_event") == before
    assert fresh.count("user") == 1


def test_init_example_loads_team_and_leads_once(fresh: Crm) -> None:
    fresh.ok("init", "--example")
    leads = fresh.ok("lead", "list", "--format", "json").json()
    assert 25 <= len(leads) <= 40
    assert {lead["stage"] for lead in leads} >= {"prospecting", "proposal", "closed_won"}
    assert any(lead["owner"] is None for lead in leads)
    assert any(lead["owner"] == "maria" for lead in leads)
    users = {u["name"]: u for u in fresh.ok("user", "list", "--format", "json").json()}
    assert users["maria"]["territories"] == ["US-NJ", "US-NY"]
    assert users["sam"]["role"] == "viewer"
    again = fresh.ok("init", "--example")
    assert "example data already loaded" in again.err
    assert len(fresh.ok("lead", "list", "--format", "json").json()) == len(leads)
    assert fresh.count("account") >= 2 and fresh.count("service_case") == 2


def test_first_overdue_report_shows_rules_of_every_record_kind(fresh: Crm) -> None:
    """The README's first command: a new user sees leads, opportunities, quotes, accounts
    and cases breaching the policy, for several owners."""
    fresh.ok("init", "--example")
    rows = fresh.ok("report", "overdue", "--format", "json").json()
    late = {r["rule"] for r in rows if r["overdue_by_seconds"] > 0}
    assert {"lead.first_response", "opportunity.next_step", "quote.approval"} <= late
    assert {"account.renewal", "case.ack"} <= late
    assert {r["record_type"] for r in rows} >= {"lead", "quote", "account", "case"}
    assert len({r["owner"] for r in rows}) >= 3


def test_init_by_unknown_user_on_existing_database_is_refused(crm: Crm) -> None:
    run = crm("init", "--example", user="stranger")
    assert run.code == 4
    assert "unknown user 'stranger'" in run.err


def test_example_needs_admin(team: Crm) -> None:
    run = team("init", "--example", user="ed")
    assert run.code == 4
    assert team.count("lead") == 0


def test_commands_other_than_init_do_not_create_a_database(fresh: Crm) -> None:
    run = fresh("lead", "list")
    assert run.code == 6
    assert "crm init" in run.err
    assert not fresh.created()


def test_newer_schema_is_refused_with_exit_6(crm: Crm) -> None:
    crm.execute("UPDATE alembic_version SET version_num = '9999'")
    for args in (("lead", "list"), ("init",)):
        run = crm(*args)
        assert run.code == 6, args
        assert "newer than this crmcli" in run.err


@pytest.mark.sqlite_only
def test_a_file_that_is_not_a_database_is_a_storage_error(fresh: Crm) -> None:
    fresh.db.parent.mkdir(parents=True)
    fresh.db.write_text("this is not sqlite " * 100)
    run = fresh("lead", "list")
    assert run.code == 6
    assert run.err.startswith("crm: database")
    assert "Traceback" not in run.err


def test_example_gives_a_meaningful_first_report(fresh: Crm) -> None:
    fresh.ok("init", "--example")
    rows = fresh.ok("report", "overdue", "--due-within", "2d", "--format", "json").json()
    overdue = [r for r in rows if r["overdue_by_seconds"] > 0]
    soon = [r for r in rows if r["overdue_by_seconds"] <= 0]
    assert len({r["rule"] for r in overdue}) >= 4
    assert len({r["owner"] for r in overdue}) >= 4
    assert soon, "some items fall due in the next two days"
    assert {"customer.response", "task.due"} <= {r["rule"] for r in rows}
    assert fresh("report", "overdue", "--check").code == 1


def test_example_after_other_leads_keeps_its_links(crm: Crm) -> None:
    crm.add_lead(first="Before", last="Example", email="before@example.com")
    crm.ok("init", "--example")
    rows = crm.ok("report", "overdue", "--due-within", "2d", "--format", "json").json()
    customer = next(r for r in rows if r["rule"] == "customer.response")
    assert "Amelia Taylor" in customer["title"] or "Ella Young" in customer["title"]


def test_example_opportunities_carry_amounts_and_close_dates(fresh: Crm) -> None:
    fresh.ok("init", "--example")
    dashboard = fresh.ok("dashboard", "--format", "json").json()
    # example.json: open opportunities 18,000 + 24,000 + 12,000 + 9,500 (qualification),
    # 32,000 + 15,500 (needs analysis), 27,000 + 41,000 + 19,800 (proposal), 36,500 + 48,000
    # (negotiation); weighted at 20/40/60/80 %
    assert Decimal(dashboard["summary"]["open_value"]) == Decimal("283300.00")
    assert Decimal(dashboard["summary"]["weighted_value"]) == Decimal("151980.00")
    stages = {r["stage"]: Decimal(r["value"]) for r in dashboard["funnel"]}
    assert stages["closed_won"] == Decimal("62500.00")  # 29,000 + 33,500
    # every open opportunity has a close date (none "undated" in the forecast)
    forecast = fresh.ok("report", "forecast", "--format", "json").json()
    assert all(r["undated"] == 0 for r in forecast["reps"])
    # a quote is what its opportunity is worth (lost ones got to proposal too)
    quoted = {Decimal(q["subtotal"]) for q in fresh.ok("quote", "list", "--format", "json").json()}
    assert quoted == {Decimal(v) for v in ("27000", "41000", "19800", "36500", "48000",
                                           "29000", "33500", "22000", "26000")}  # fmt: skip
