"""`crm lead add|list|show|edit` through the real CLI."""

from __future__ import annotations

import csv
import io

import pytest

from conftest import Crm


def test_add_prints_only_the_new_id(crm: Crm) -> None:
    run = crm.ok(
        "lead",
        "add",
        "--first",
        "Ada",
        "--last",
        "Lovelace",
        "--company",
        "AE",
        "--email",
        "Ada@Example.COM",
        "--phone",
        "(212) 555-0100",
        "--source",
        "Web",
    )
    assert run.out == "1\n"
    lead = crm.ok("lead", "show", "1", "--format", "json").json()
    assert lead["email"] == "ada@example.com"
    assert lead["phone"] == "+12125550100"
    assert lead["source"] == "web"
    assert lead["stage"] == "prospecting"
    assert lead["status"] == "new"
    assert lead["owner"] is None


def test_add_json_prints_the_record_with_spec_fields(crm: Crm) -> None:
    lead = crm.ok(
        "--format",
        "json",
        "lead",
        "add",
        "--first",
        "Ada",
        "--last",
        "L",
        "--email",
        "a@example.com",
        "--source",
        "web",
    ).json()
    spec_fields = {
        "id",
        "first_name",
        "last_name",
        "company",
        "email",
        "phone",
        "source",
        "stage",
        "status",
        "score",
        "band",
        "owner",
        "campaign",
        "acquired_at",
        "created_at",
        "updated_at",
    }
    assert spec_fields <= lead.keys()
    assert lead["id"] == 1
    # shown in the policy's timezone (New York), stored in UTC
    assert lead["created_at"] == "2026-03-06T16:30:00-05:00"


def test_acquired_is_read_in_policy_timezone(crm: Crm) -> None:
    crm.add_lead(acquired="2026-03-05 09:15")
    lead = crm.ok("lead", "show", "1", "--format", "json").json()
    assert lead["acquired_at"] == "2026-03-05T09:15:00-05:00"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--first", "A", "--last", "B", "--source", "web"], "email/phone"),
        (["--first", "A", "--email", "a@example.com"], "source"),
        (["--email", "a@example.com", "--source", "web"], "name"),
        (["--first", "A", "--email", "not-an-email", "--source", "web"], "email"),
        (["--first", "A", "--phone", "12", "--source", "web"], "phone"),
        (
            ["--first", "A", "--email", "a@example.com", "--source", "web", "--country", "XX"],
            "country",
        ),
        (
            ["--first", "A", "--email", "a@example.com", "--source", "web", "--acquired", "soon"],
            "--acquired",
        ),
        (
            [
                "--first",
                "A",
                "--email",
                "a@example.com",
                "--source",
                "web",
                "--acquired",
                "2027-01-01",
            ],
            "--acquired",
        ),
        (
            ["--first", "A", "--email", "a@example.com", "--source", "web", "--employees", "-3"],
            "employees",
        ),
    ],
)
def test_add_rejects_bad_input_naming_the_field(crm: Crm, args: list[str], field: str) -> None:
    run = crm("lead", "add", *args)
    assert run.code == 2
    assert run.err.startswith(f"crm: {field}:")
    assert len(run.err.strip().splitlines()) == 1
    assert run.out == ""
    assert crm.count("lead") == 0


def test_unknown_campaign_or_owner_is_not_found(crm: Crm) -> None:
    run = crm(
        "lead",
        "add",
        "--first",
        "A",
        "--email",
        "a@example.com",
        "--source",
        "web",
        "--campaign",
        "Nope",
    )
    assert run.code == 3
    assert "crm campaign add" in run.err
    run = crm(
        "lead",
        "add",
        "--first",
        "A",
        "--email",
        "a@example.com",
        "--source",
        "web",
        "--owner",
        "ghost",
    )
    assert run.code == 3
    assert crm.count("lead") == 0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"email": "ADA@example.com", "first": "Someone", "company": "Else"}, "same email"),
        (
            {"email": "other@example.com", "phone": "212-555-0100", "first": "X"},
            "same phone, different name",
        ),
        (
            {
                "email": "other@example.com",
                "first": "Ada",
                "last": "Lovelace",
                "company": "Analytical Engines Inc.",
            },
            "similar name and company",
        ),
        (
            {
                "email": "other@example.com",
                "first": "Adah",
                "last": "Lovelace",
                "company": "analytical engines",
            },
            "similar name and company",
        ),
    ],
)
def test_likely_duplicate_is_refused_then_forced(crm: Crm, change: dict, reason: str) -> None:
    crm.add_lead(phone="+1 212 555 0100")
    args = ["lead", "add", "--source", "web", "--last", "Lovelace"]
    for key, value in change.items():
        args += [f"--{key}", value]
    refused = crm(*args)
    assert refused.code == 5
    assert f"likely duplicate of lead 1 ({reason})" in refused.err
    assert "lead 1: Ada Lovelace, Analytical Engines" in refused.err  # shows the existing record
    assert crm.count("lead") == 1
    forced = crm(*args, "--force")
    assert forced.code == 0
    assert forced.out == "2\n"
    history = crm.ok("lead", "show", "2", "--format", "json").json()["history"]
    assert history[0]["changes"]["forced_duplicate_of"] == [None, [1]]


def test_different_people_at_one_company_are_not_duplicates(crm: Crm) -> None:
    crm.add_lead()
    assert crm.add_lead(first="Charles", last="Babbage", email="cb@example.com") == 2


def test_list_filters(crm: Crm) -> None:
    crm.ok("campaign", "add", "Expo")
    crm.ok("user", "add", "ed", "--role", "editor")
    crm.add_lead(first="Ada", email="ada@example.com", source="web", campaign="Expo")
    crm.add_lead(
        first="Grace",
        last="Hopper",
        company="Navy",
        email="grace@navy.example",
        source="referral",
        owner="ed",
    )
    crm.add_lead(
        first="Alan",
        last="Turing",
        company="Bletchley",
        email="alan@b.example",
        source="web",
        owner="me",
    )

    def ids(*args: str, user: str | None = None) -> list[int]:
        out = crm.ok("lead", "list", "--format", "ids", *args, user=user).out
        return [int(line) for line in out.split()]

    assert ids() == [1, 2, 3]
    assert ids("--source", "web") == [1, 3]
    assert ids("--campaign", "Expo") == [1]
    assert ids("--owner", "ed") == [2]
    assert ids("--owner", "me") == [3]
    assert ids("--owner", "me", user="ed") == [2]
    assert ids("--owner", "none") == [1]
    assert ids("--search", "HOPPER") == [2]
    assert ids("--search", "bletchley") == [3]
    assert ids("--stage", "prospecting", "--limit", "2") == [1, 2]
    assert ids("--stage", "proposal") == []
    bad = crm("lead", "list", "--stage", "nowhere")
    assert bad.code == 2
    assert "--stage" in bad.err and "prospecting" in bad.err


def test_list_formats(crm: Crm) -> None:
    crm.add_lead(company="Acme, Inc.")
    table = crm.ok("lead", "list").out
    assert "Lovelace" in table and "\x1b[" not in table
    assert all(line == line.rstrip() for line in table.splitlines())
    rows = list(csv.DictReader(io.StringIO(crm.ok("lead", "list", "--format", "csv").out)))
    assert rows[0]["company"] == "Acme, Inc."
    assert rows[0]["acquired_at"] == "2026-03-06T16:30:00-05:00"
    data = crm.ok("--format", "json", "lead", "list").json()
    assert data[0]["company"] == "Acme, Inc."
    assert crm.ok("lead", "list", "--format", "ids").out == "1\n"
    assert crm.ok("lead", "list", CRM_FORMAT="csv").out.startswith("id,first_name")
    empty = crm.ok("lead", "list", "--search", "zzz")
    assert empty.out == "" and "no leads match" in empty.err
    assert crm.ok("lead", "list", "--search", "zzz", "--format", "json").json() == []
    bad = crm("lead", "list", "--format", "xml")
    assert bad.code == 2 and "--format" in bad.err
    bad_env = crm("lead", "list", CRM_FORMAT="yaml")
    assert bad_env.code == 2


def test_table_cells_print_user_text_literally(crm: Crm) -> None:
    crm.add_lead(company="[bold]Brackets[/bold] Ltd")
    assert "[bold]Brackets[/bold] Ltd" in crm.ok("lead", "list").out


def test_show_includes_history_and_missing_is_exit_3(crm: Crm) -> None:
    crm.add_lead()
    crm.ok("lead", "edit", "1", "--title", "Countess")
    shown = crm.ok("lead", "show", "1").out
    assert "history" in shown and "title: - → Countess" in shown
    data = crm.ok("lead", "show", "1", "--format", "json").json()
    assert [e["action"] for e in data["history"]] == ["create", "update"]
    assert data["history"][1]["changes"] == {"title": [None, "Countess"]}
    assert data["history"][1]["actor"] == "boss"
    assert data["history"][1]["command"] == "crm lead edit"
    missing = crm("lead", "show", "42")
    assert missing.code == 3 and "lead 42 not found" in missing.err


def test_edit_validates_like_add_and_audits_old_to_new(crm: Crm) -> None:
    crm.add_lead()
    updated = crm.ok(
        "lead", "edit", "1", "--phone", "+44 20 7946 0958", "--country", "gb", "--format", "json"
    ).json()
    assert updated["phone"] == "+442079460958"
    assert updated["country"] == "GB"
    assert updated["updated_at"] == "2026-03-06T16:30:00-05:00"
    bad = crm("lead", "edit", "1", "--email", "nope")
    assert bad.code == 2 and bad.err.startswith("crm: email:")
    events = crm.count("audit_event")
    unchanged = crm.ok("lead", "edit", "1", "--country", "GB")
    assert "updated lead 1" in unchanged.err
    assert crm.count("audit_event") == events  # no change, no event
    assert crm("lead", "edit", "1").code == 2
    assert crm("lead", "edit", "9", "--title", "x").code == 3
    # clearing both ways to reach the lead breaks completeness
    cleared = crm("lead", "edit", "1", "--email", "", "--phone", "")
    assert cleared.code == 2 and "email/phone" in cleared.err


def test_edit_into_a_duplicate_is_refused(crm: Crm) -> None:
    crm.add_lead()
    crm.add_lead(first="Grace", last="Hopper", company="Navy", email="grace@navy.example")
    run = crm("lead", "edit", "2", "--email", "ada@example.com")
    assert run.code == 5
    assert crm.ok("lead", "show", "2", "--format", "json").json()["email"] == "grace@navy.example"
    assert crm.ok("lead", "edit", "2", "--email", "ada@example.com", "--force").code == 0


def test_region_in_iso_form_fills_country(crm: Crm) -> None:
    crm.add_lead(region="US-NY")
    lead = crm.ok("lead", "show", "1", "--format", "json").json()
    assert (lead["country"], lead["region"]) == ("US", "NY")
