"""`crm review`, `crm lead dupes`, `crm lead merge` and `crm lead export`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from conftest import Crm

DATA = Path(__file__).parent / "data"


def rows(crm: Crm, sql: str, *params) -> list[tuple]:
    return crm.rows(sql, *params)


def chain_ok(crm: Crm) -> bool:
    from sqlmodel import Session

    from crmcli.services.audit import verify_chain
    from crmcli.store.engine import database_url, make_engine

    with Session(make_engine(database_url(crm.url()))) as session:
        return verify_chain(session)["ok"]


def forced(crm: Crm, **fields: str) -> int:
    """Add a lead even though it looks like a duplicate (`lead add --force`)."""
    args = ["lead", "add", "--source", "web", "--force"]
    for key, value in fields.items():
        args += [f"--{key}", value]
    return int(crm.ok(*args).out)


@pytest.fixture
def queued(team: Crm, tmp_path: Path) -> Crm:
    """Lead 1 (Ada) with two conflicting values from an import waiting for review (the
    same email: a new last name and another phone; her other title is only noted)."""
    team.add_lead(phone="(212) 555-0100", title="CTO")
    path = tmp_path / "dupes.csv"
    path.write_text(
        "First Name,Last Name,Company,Title,Email,Phone,Lead Source\n"
        "Ada,Byron,Analytical Engines,Countess,ada@example.com,212 555 0199,web\n",
        encoding="utf-8",
    )
    team.ok("lead", "import", str(path), user="ed")
    return team


def test_review_list_and_show(queued: Crm) -> None:
    items = queued.ok("review", "list", "--format", "json", user="vi").json()
    assert [(i["id"], i["lead"], i["field"], i["current_value"], i["proposed_value"],
             i["source"], i["status"]) for i in items] == [
        (1, 1, "last_name", "Lovelace", "Byron", "import 1 row 2", "open"),
        (2, 1, "phone", "+12125550100", "+12125550199", "import 1 row 2", "open"),
    ]  # fmt: skip
    table = queued.ok("review", "list").out
    assert "Ada Lovelace, Analytical Engines" in table and "+12125550199" in table
    shown = queued.ok("review", "show", "1", "--format", "json").json()
    assert (shown["field"], shown["name"]) == ("last_name", "Ada Lovelace, Analytical Engines")
    assert queued("review", "show", "9").code == 3


def test_review_accept_applies_the_value_and_reject_keeps_it(queued: Crm) -> None:
    assert queued("review", "accept", "2", user="vi").code == 4
    run = queued.ok("review", "accept", "2", user="ed")
    assert run.err == "accepted: lead 1 phone is now +12125550199\n"
    lead = queued.ok("lead", "show", "1", "--format", "json").json()
    assert lead["phone"] == "+12125550199"
    assert lead["history"][-1]["changes"] == {"phone": ["+12125550100", "+12125550199"]}
    assert lead["history"][-1]["command"] == "crm review accept"
    queued.ok("review", "reject", "1", user="ed")
    assert queued.ok("lead", "show", "1", "--format", "json").json()["last_name"] == "Lovelace"
    assert queued("review", "reject", "1", user="ed").err == (
        "crm: review item 1 is already rejected\n"
    )
    assert queued.ok("review", "list", "--format", "json").json() == []
    done = queued.ok("review", "list", "--status", "all", "--format", "json").json()
    assert [(i["id"], i["status"], i["resolved_by"]) for i in done] == [
        (1, "rejected", "ed"),
        (2, "accepted", "ed"),
    ]
    actions = rows(queued, "SELECT record_id, action FROM audit_event "
                   "WHERE record_type = 'review_item' ORDER BY id")  # fmt: skip
    assert actions == [(2, "accept"), (1, "reject")]
    assert queued("review", "list", "--status", "maybe").code == 2
    assert chain_ok(queued)


def test_a_rejected_proposal_is_not_asked_again(queued: Crm, tmp_path) -> None:
    queued.ok("review", "reject", "1", user="ed")  # the last name
    path = tmp_path / "again.csv"
    path.write_text(
        "First Name,Last Name,Company,Title,Email,Lead Source\n"
        "Ada,Byron,Analytical Engines,Countess,ada@example.com,web\n"
        "Ada,King,Analytical Engines,Countess,ada@example.com,web\n",
        encoding="utf-8",
    )
    queued.ok("lead", "import", str(path), user="ed")
    items = queued.ok("review", "list", "--format", "json").json()
    assert [(i["field"], i["proposed_value"]) for i in items] == [
        ("phone", "+12125550199"),  # still open: not asked twice
        ("last_name", "King"),  # a new proposal
    ]


def test_review_is_scoped_to_the_users_campaigns(team: Crm, tmp_path) -> None:
    team.ok("campaign", "add", "Expo")
    team.ok("user", "scope", "ed", "--campaign", "Expo")
    team.add_lead(phone="(212) 555-0100")  # no campaign: outside ed's scope
    path = tmp_path / "dupe.csv"
    path.write_text(
        "First Name,Last Name,Email,Phone,Lead Source\n"
        "Ada,Lovelace,ada@example.com,212 555 0199,web\n",
        encoding="utf-8",
    )
    team.ok("lead", "import", str(path))  # the admin's import queues the conflict
    assert len(team.ok("review", "list", "--format", "json").json()) == 1
    assert team.ok("review", "list", "--format", "json", user="ed").json() == []
    assert team("review", "accept", "1", user="ed").code == 3


def test_lead_dupes_lists_likely_pairs(crm: Crm) -> None:
    crm.add_lead(first="Ada", last="Lovelace", company="Analytical Engines",
                 email="ada@example.com")  # fmt: skip
    forced(crm, first="ADA", last="Lovelcae", company="Analytical Engines Inc",
           email="countess@example.com")  # fmt: skip
    crm.add_lead(first="Charles", last="Babbage", company="Difference", email="cb@example.com",
                 phone="212 555 0100")  # fmt: skip
    forced(crm, first="Chuck", last="B", company="Other", email="chuck@example.com",
           phone="(212) 555-0100")  # fmt: skip
    crm.add_lead(first="Ada", last="Byron", company="Analytical Engines",
                 email="byron@example.com")  # fmt: skip
    pairs = crm.ok("lead", "dupes", "--format", "json").json()
    assert [(p["lead"], p["duplicate"], p["reason"]) for p in pairs] == [
        (3, 4, "same phone, different name"),  # listed, never merged by an import
        (1, 2, "similar name and company"),
    ]
    assert pairs[1]["score"] < 100 and pairs[1]["duplicate_name"] == "ADA Lovelcae"
    strict = crm.ok("lead", "dupes", "--threshold", "99", "--format", "json").json()
    assert [(p["lead"], p["duplicate"]) for p in strict] == [(3, 4)]
    assert "same phone" in crm.ok("lead", "dupes").out
    assert crm("lead", "dupes", "--threshold", "101").code == 2


def test_merge_moves_history_and_is_audited(team: Crm) -> None:
    keep = team.add_lead(first="Ada", last="Lovelace", email="ada@example.com", owner="ed")
    other = forced(team, first="Ada", last="Lovelace", email="countess@example.com",
                          phone="212 555 0100", title="CTO")  # fmt: skip
    team.ok("log-call", str(other), "--outcome", "connected", "--notes", "wants a demo",
            user="ed")  # fmt: skip
    team.ok("next-step", str(other), "send the demo", "--due", "2026-03-10 10:00", user="ed")
    run = team("lead", "merge", str(keep), str(other), user="ed")
    assert run.code == 2
    assert "differ in email (ada@example.com / countess@example.com)" in run.err
    assert team("lead", "merge", str(keep), str(other), "--prefer", "keep", user="vi").code == 4
    plan = team.ok("lead", "merge", str(keep), str(other), "--prefer", "keep", "--dry-run",
                   user="ed")  # fmt: skip
    assert "would merge lead 2 into 1" in plan.err and team.count("lead") == 2
    result = team.ok(
        "lead", "merge", str(keep), str(other), "--prefer", "keep", "--format", "json", user="ed"
    ).json()
    # the call and the next step, OTHER's first stage, and the obligation KEEP lacked (the
    # next step's due date; a connected call is a reply, so no no-reply cadence began)
    assert (result["moved"]["activity"], result["moved"]["stage_change"]) == (2, 1)
    assert result["moved"]["obligation"] == 1
    assert result["changes"]["phone"] == [None, "+12125550100"]  # filled from OTHER
    assert result["changes"]["title"] == [None, "CTO"]
    assert team("lead", "show", str(other)).code == 3
    lead = team.ok("lead", "show", str(keep), "--format", "json").json()
    assert (lead["email"], lead["phone"], lead["owner"]) == (
        "ada@example.com", "+12125550100", "ed",
    )  # fmt: skip
    assert lead["history"][-1]["action"] == "merge"
    assert lead["history"][-1]["changes"]["merged_from"] == [None, other]
    assert rows(team, "SELECT count(*) FROM activity WHERE lead_id = ?", keep) == [(2,)]
    assert rows(team, "SELECT count(*) FROM stage_change WHERE lead_id = ?", keep) == [(2,)]
    assert rows(team, "SELECT count(*) FROM obligation WHERE record_id = ? AND "
                "record_type = 'lead' AND rule = 'task.due'", keep) == [(1,)]  # fmt: skip
    # OTHER's whole record is in its last audit event: the merge can be rebuilt from the log
    trail = json.loads(rows(team, "SELECT changes FROM audit_event WHERE record_type = 'lead' "
                            "AND record_id = ? ORDER BY id DESC LIMIT 1", other)[0][0])  # fmt: skip
    assert trail["merged_into"] == [None, keep] and trail["stage"] == ["prospecting", None]
    assert sorted(trail["moved"][1]) == ["activity", "obligation", "stage_change"]
    assert chain_ok(team)


def test_merge_field_choices(crm: Crm) -> None:
    crm.add_lead(first="Ada", last="Lovelace", email="ada@example.com", title="CTO")
    forced(crm, first="Ada", last="Lovelace", email="ada2@example.com", title="Countess")  # fmt: skip
    result = crm.ok("lead", "merge", "1", "2", "--prefer", "keep", "--take", "title",
                    "--format", "json").json()  # fmt: skip
    assert result["changes"]["title"] == ["CTO", "Countess"] and "email" not in result["changes"]
    bo = crm.add_lead(first="Bo", last="Peep", email="bo@example.com")
    other = forced(crm, first="BO", last="Peep", email="bo2@example.com")
    crm.ok("lead", "merge", str(bo), str(other), "--prefer", "other", "--keep", "email")
    merged = crm.ok("lead", "show", str(bo), "--format", "json").json()
    assert (merged["first_name"], merged["email"]) == ("Bo", "bo@example.com")
    assert crm("lead", "merge", str(bo), str(bo)).code == 2
    assert crm("lead", "merge", str(bo), "99", "--prefer", "keep").code == 3
    assert "'shoe' is not a lead field" in crm("lead", "merge", "1", str(bo), "--take", "shoe").err


def test_export_escapes_formulas_and_round_trips(crm: Crm, tmp_path) -> None:
    crm.ok("lead", "import", str(DATA / "salesforce_bom.csv"), "--source", "web")
    out = tmp_path / "out.csv"
    run = crm.ok("lead", "export", str(out), "--search", "example.com")
    assert run.err == f"exported 4 leads to {out}\n"  # Katherine's doubtful head count is kept
    with out.open(encoding="utf-8", newline="") as handle:
        exported = list(csv.DictReader(handle))
    charles = next(r for r in exported if r["last_name"] == "Babbage")
    assert charles["title"] == '\'=HYPERLINK("http://evil.example","click")'
    assert charles["phone"] == "" and exported[0]["phone"] == "'+12125550100"  # + escaped too
    # no user is Maria Lopez: her name is kept, unverified
    assert json.loads(exported[0]["extra"])["unverified owner"] == "Maria Lopez"
    assert exported[0]["employees"] == "1200"
    jsonl = tmp_path / "out.jsonl"
    crm.ok("lead", "export", str(jsonl))
    lines = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    charles = next(line for line in lines if line["last_name"] == "Babbage")
    assert charles["title"] == '=HYPERLINK("http://evil.example","click")'  # JSON: as is
    assert lines[0]["extra"]["Description"] == "Met at the expo.\nWants a demo."
    to_stdout = crm.ok("lead", "export", "-", "--format", "csv", "--stage", "prospecting")
    assert len(list(csv.reader(io.StringIO(to_stdout.out)))) == 5  # header and 4 leads
    assert crm("lead", "export", str(out), "--format", "xlsx").code == 2
    assert crm("lead", "export", str(tmp_path / "no" / "dir.csv")).code == 2


def test_export_respects_campaign_scope(team: Crm, tmp_path) -> None:
    team.ok("campaign", "add", "Expo")
    team.add_lead(campaign="Expo")
    team.add_lead(first="Bo", last="Peep", email="bo@example.com")
    team.ok("user", "scope", "vi", "--campaign", "Expo")
    out = tmp_path / "vi.jsonl"
    team.ok("lead", "export", str(out), user="vi")
    assert [json.loads(line)["campaign"] for line in out.read_text().splitlines()] == ["Expo"]
