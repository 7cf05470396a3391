"""`crm audit sample` (the quarterly audit of seed 003 §VI) and `crm doctor`, through the CLI."""

from __future__ import annotations

import csv
import io
import os

import pytest

from conftest import Crm

# the fixture clock is Friday 2026-03-06 16:30 New York, in 2026Q1
MONDAY = {"CRM_NOW": "2026-03-09T14:00:00Z"}  # Monday 10:00 EDT


def sample(crm: Crm, *args: str, **env) -> dict:
    return crm.ok("audit", "sample", *args, "--format", "json", **env).json()


def by_id(result: dict) -> dict[int, dict]:
    return {row["lead_id"]: row for row in result["leads"]}


def sql(crm: Crm, statement: str, *params) -> None:
    crm.execute(statement, params=params)


def add_leads(crm: Crm, count: int) -> list[int]:
    return [
        crm.add_lead(first=f"Rep{n}", last=f"Person{n}", company=f"Co {n}", email=f"p{n}@ex.com")
        for n in range(count)
    ]


# --- audit sample ----------------------------------------------------------------------------


def test_late_entry_fails_and_a_timely_response_passes(team: Crm) -> None:
    late = team.add_lead(acquired="2026-03-04 09:00")  # entered 2 days after acquisition
    timely = team.add_lead(first="Grace", last="Hopper", company="Navy", email="g@navy.example")
    team.ok("log-call", str(timely), "--outcome", "connected", "--at", "2026-03-09 09:10", **MONDAY)
    result = sample(team, "10", "--quarter", "2026Q1", "--seed", "1", **MONDAY)
    rows = by_id(result)
    assert rows[late]["entered"] == "fail"
    assert rows[late]["verdict"] == "fail"
    assert "entered within 24h: entered 1d 7h late" in rows[late]["findings"]
    # nobody called the late lead: its first response (due Monday 09:30) is overdue too
    assert rows[late]["responded"] == "fail"
    assert rows[timely]["entered"] == "pass"
    assert rows[timely]["responded"] == "pass"
    assert rows[timely]["followed_up"] == "n/a"  # never assigned
    assert rows[timely]["changes_logged"] == "pass"
    assert rows[timely]["verdict"] == "pass" and rows[timely]["findings"] == []
    assert result["checks"]["entered"] == "entered within 24h"
    assert (result["population"], result["sample_size"], result["failed"]) == (2, 2, 1)


def test_pending_response_and_follow_up_of_an_assigned_lead(team: Crm) -> None:
    lead = team.add_lead(owner="ed")  # first response due Monday 09:30, follow-up Monday 09:00
    row = by_id(sample(team, "5", "--quarter", "2026Q1"))[lead]
    assert (row["responded"], row["followed_up"], row["verdict"]) == (
        "pending",
        "pending",
        "pending",
    )
    assert row["owner"] == "ed"
    assert "followed up within 48h: due 2026-03-09 09:00 EDT" in row["findings"]
    team.ok("log-email", str(lead), "--subject", "hello", "--at", "2026-03-07 10:00", **MONDAY)
    row = by_id(sample(team, "5", "--quarter", "2026Q1", **MONDAY))[lead]
    assert (row["responded"], row["followed_up"], row["verdict"]) == ("pass", "pass", "pass")


def test_a_stage_change_made_outside_crm_is_not_logged(team: Crm) -> None:
    lead = team.add_lead()
    sql(
        team,
        "INSERT INTO stage_change (lead_id, from_stage, to_stage, at, actor) "
        "VALUES (?, 'prospecting', 'closed_won', '2026-03-06 21:45:00.000000', 'mallory')",
        lead,
    )
    row = by_id(sample(team, "5", "--quarter", "2026Q1"))[lead]
    assert row["changes_logged"] == "fail" and row["verdict"] == "fail"
    assert row["findings"] == [
        "responded within SLA (1h business): due 2026-03-09 09:30 EDT",
        "every status change logged: not in the audit log: "
        "stage change 2 to closed_won at 2026-03-06 16:45 EST",
    ]


def test_the_sample_is_reproducible_with_a_seed(team: Crm) -> None:
    add_leads(team, 12)
    first = sample(team, "4", "--quarter", "2026Q1", "--seed", "11")
    again = sample(team, "4", "--quarter", "2026Q1", "--seed", "11")
    other = sample(team, "4", "--quarter", "2026Q1", "--seed", "12")
    assert first == again
    ids = [row["lead_id"] for row in first["leads"]]
    assert len(ids) == 4 and set(ids) <= set(range(1, 13)) and ids == sorted(ids)
    assert ids != [row["lead_id"] for row in other["leads"]]
    assert (first["seed"], first["population"], first["sample_size"]) == (11, 12, 4)
    # without --seed one is drawn and shown, so the draw can be repeated
    run = team.ok("audit", "sample", "4", "--quarter", "2026Q1")
    drawn = run.err.split("--seed ")[1].split()[0]
    assert (
        "4 of 12 leads touched in 2026Q1; 0 failed; reproduce with: crm audit sample 4" in run.err
    )
    repeat = sample(team, "4", "--quarter", "2026Q1", "--seed", drawn)
    table_ids = [int(line.split()[0]) for line in run.out.splitlines()[3:]]
    assert table_ids == [row["lead_id"] for row in repeat["leads"]]


def test_more_than_the_population_returns_everything(team: Crm) -> None:
    add_leads(team, 3)
    result = sample(team, "50", "--quarter", "2026Q1", "--seed", "5")
    assert [row["lead_id"] for row in result["leads"]] == [1, 2, 3]
    assert (result["requested"], result["sample_size"]) == (50, 3)


def test_only_leads_touched_in_the_quarter_are_drawn(team: Crm) -> None:
    add_leads(team, 2)
    april = {"CRM_NOW": "2026-04-10T15:00:00Z"}
    team.ok("lead", "edit", "2", "--title", "CTO", **april)
    q2 = sample(team, "5", "--quarter", "2026Q2", **april)
    assert [row["lead_id"] for row in q2["leads"]] == [2]
    # in April the default is the last complete quarter: Q1, when both were entered
    default = sample(team, "5", **april)
    assert default["quarter"] == "2026Q1" and default["complete"] is True
    assert default["starts_at"] == "2026-01-01T00:00:00-05:00"
    assert default["ends_before"] == "2026-04-01T00:00:00-04:00"
    assert [row["lead_id"] for row in default["leads"]] == [1, 2]


def test_an_empty_quarter_says_so(team: Crm) -> None:
    team.add_lead()
    run = team.ok("audit", "sample", "5")  # 2025Q4: before the lead existed
    assert run.out == ""
    assert run.err == "no leads were touched in 2025Q4 (2025-10-01 to 2025-12-31)\n"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--quarter", "2026Q5"], "--quarter: '2026Q5' is not a quarter; write e.g. 2026Q3"),
        (["--quarter", "last"], "--quarter: 'last' is not a quarter"),
        (["--quarter", "2026Q3"], "--quarter: 2026Q3 has not begun (now is in 2026Q1)"),
        (["--seed", "abc"], "--seed"),
    ],
)
def test_bad_options_exit_2(team: Crm, args: list[str], needle: str) -> None:
    run = team("audit", "sample", "5", *args)
    assert run.code == 2 and needle in run.err
    assert run.out == ""


def test_n_must_be_positive(team: Crm) -> None:
    run = team("audit", "sample", "0")
    assert run.code == 2 and "N" in run.err


def test_csv_table_and_ids(team: Crm) -> None:
    team.add_lead(acquired="2026-03-04 09:00")
    team.add_lead(first="Grace", last="Hopper", company="Navy", email="g@navy.example")
    rows = list(
        csv.DictReader(
            io.StringIO(team.ok("audit", "sample", "5", "--quarter", "2026Q1", "-f", "csv").out)
        )
    )
    assert [r["lead_id"] for r in rows] == ["1", "2"]
    assert rows[0]["entered"] == "fail" and "entered 1d 7h late" in rows[0]["findings"]
    assert "; " in rows[0]["findings"]  # several findings in one cell
    table = team.ok("audit", "sample", "5", "--quarter", "2026Q1", "--seed", "3").out
    assert table.startswith("audit sample 2026Q1 (2026-01-01 to 2026-03-31, in progress), seed 3\n")
    assert "entered within 24h: entered 1d 7h late" in table and "\x1b[" not in table
    ids = team.ok("audit", "sample", "5", "--quarter", "2026Q1", "-f", "ids").out
    assert ids.split() == ["1", "2"]


def test_html_page_for_the_auditor(team: Crm, tmp_path) -> None:
    team.add_lead(first="<script>alert(1)</script>", last="O'Brien & Sons", email="x@ex.com")
    page = tmp_path / "audit.html"
    run = team.ok("audit", "sample", "5", "--quarter", "2026Q1", "--seed", "9", "--html", str(page))
    assert f"wrote {page}" in run.err
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert html.count("<table>") == 1 and html.count("</table>") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt; O&#x27;Brien &amp; Sons" in html
    assert "<script" not in html  # no scripts, data escaped
    assert "src=" not in html and "href=" not in html and "http" not in html  # self-contained
    assert "<dt>Seed</dt><dd>9</dd>" in html
    assert "2026Q1: 2026-01-01 to 2026-03-31, in progress" in html
    assert "crm audit sample 5 --quarter 2026Q1 --seed 9" in html
    assert "<th>entered within 24h</th>" in html
    assert html.count("<tr><td>1</td>") == 1
    assert os.stat(page).st_mode & 0o777 == 0o600  # it names people


def test_html_to_an_unwritable_place_exits_2(team: Crm, tmp_path) -> None:
    team.add_lead()
    run = team(
        "audit", "sample", "5", "--quarter", "2026Q1", "--html", str(tmp_path / "no" / "x.html")
    )
    assert run.code == 2 and run.err.startswith("crm: --html: cannot write")
    assert run.out == ""


def test_viewers_may_sample_strangers_may_not(team: Crm) -> None:
    team.add_lead()
    assert sample(team, "5", "--quarter", "2026Q1", user="vi")["sample_size"] == 1
    assert team("audit", "sample", "5", "--quarter", "2026Q1", user="stranger").code == 4


# --- doctor ----------------------------------------------------------------------------------


def doctor(crm: Crm, **kwargs) -> tuple[int, dict, str]:
    run = crm("doctor", "--format", "json", **kwargs)
    return run.code, run.json(), run.err


def test_a_clean_database_is_healthy(team: Crm) -> None:
    code, report, err = doctor(team)
    assert code == 0 and report["ok"] is True and report["problems"] == []
    assert err == "no problems found\n"
    status = {(c["check"], c["subject"]): (c["status"], c["detail"]) for c in report["checks"]}
    if team.pg is None:  # file modes: SQLite only
        assert status[("permissions", str(team.db))] == ("ok", "0600")
        assert status[("permissions", str(team.db.parent))] == ("ok", "0700")
    assert status[("policy", "stored policy 1")][0] == "ok"
    assert status[("audit chain", "audit_event")][0] == "ok"
    schema = status[("schema", "alembic_version")]
    assert schema[0] == "ok"
    table = team.ok("doctor", user="vi").out  # viewers may run it
    where = str(team.db) if team.pg is None else team.url("vi")
    assert table.startswith(f"crm doctor: {where}\n")


@pytest.mark.sqlite_only
def test_readable_database_file_is_a_problem(team: Crm) -> None:
    os.chmod(team.db, 0o644)
    run = team("doctor")
    assert run.code == 1
    assert run.err.splitlines() == [
        "crm: 1 problem found",
        f"permissions: {team.db} is 0644 (group/other can read); fix: chmod 600 {team.db}",
    ]
    assert "problem" in run.out


@pytest.mark.sqlite_only
def test_open_data_directory_is_a_problem(team: Crm) -> None:
    os.chmod(team.db.parent, 0o755)
    try:
        code, report, err = doctor(team)
    finally:
        os.chmod(team.db.parent, 0o700)
    assert code == 1 and report["ok"] is False
    assert report["problems"] == [
        f"permissions: data directory {team.db.parent} is 0755 (group/other can list, enter); "
        f"fix: chmod 700 {team.db.parent}"
    ]


def test_newer_schema_is_refused(team: Crm) -> None:
    sql(team, "UPDATE alembic_version SET version_num = '9999'")
    run = team("doctor")
    assert run.code == 6
    assert "database schema 9999 is newer than this crmcli" in run.err


def test_corrupt_stored_policy_is_a_problem(team: Crm) -> None:
    sql(team, "UPDATE policy_version SET content = '[[['")
    run = team("doctor")
    assert run.code == 1
    lines = run.err.splitlines()
    assert lines[0] == "crm: 1 problem found"
    assert lines[1].startswith("policy: stored policy 1:1: (top): not valid TOML")
    assert len(lines) == 2


def test_invalid_stored_policy_lists_each_issue(team: Crm) -> None:
    bad = '[business_hours]\ntimezone = "Mars/Olympus"\n\n[rules."lead.entry"]\nafter = "soon"\n'
    sql(team, "UPDATE policy_version SET content = ?", bad)
    code, report, _ = doctor(team)
    assert code == 1
    assert [p.split(": ")[1] for p in report["problems"]] == [
        "stored policy 1:2",
        "stored policy 1:5",
    ]


def test_tampered_audit_chain_is_a_problem(team: Crm) -> None:
    team.add_lead()
    sql(team, "UPDATE audit_event SET actor = 'mallory' WHERE id = 2")
    code, report, _ = doctor(team)
    assert code == 1
    assert len(report["problems"]) == 1
    assert report["problems"][0].startswith("audit chain: broken at event 2: ")
    assert report["problems"][0].endswith("; details: crm audit verify")


def test_chain_line_follows_the_verifier_contract(team: Crm, monkeypatch) -> None:
    from crmcli.services import audit

    verdict = {"ok": False, "events": 9, "first_broken": 4, "reason": "hash mismatch"}
    monkeypatch.setattr(audit, "verify_chain", lambda session: verdict, raising=False)
    code, report, _ = doctor(team)
    assert code == 1
    assert report["problems"] == [
        "audit chain: broken at event 4: hash mismatch; details: crm audit verify"
    ]
    verdict.update(ok=True, first_broken=None, reason=None)
    code, report, _ = doctor(team)
    chain = next(c for c in report["checks"] if c["check"] == "audit chain")
    assert code == 0 and chain["detail"] == "intact (9 events)"
    # a build without a verifier reports the chain as unchecked, not as a problem
    monkeypatch.delattr(audit, "verify_chain", raising=False)
    code, report, _ = doctor(team)
    chain = next(c for c in report["checks"] if c["check"] == "audit chain")
    assert code == 0 and chain["status"] == "skipped"


def test_doctor_needs_a_known_user_and_a_database(team: Crm, fresh: Crm) -> None:
    assert team("doctor", user="stranger").code == 4
    missing = fresh("doctor")
    assert missing.code == 6 and "crm init" in missing.err
    assert team("doctor", "--format", "ids").code == 2
