"""`crm report sla` (issue 18 item 8) against a hand-worked dataset, and the late-entry
warnings of `lead add` and `lead import`.

The dataset (now: Friday 2026-03-06 16:30 EST = 21:30 UTC; the report runs Wednesday
2026-03-11 11:00 EDT = 15:00 UTC):

- A (ed) acquired Tuesday 16:30, entered Friday 16:30: lead.entry due Wed 16:30, met 2 days
  late. B (ed), C (li) acquired when entered; D (nobody) acquired Friday 10:00: on time.
- C is closed lost at once: its first response, follow-up and stale clock are cancelled.
- Nobody is contacted: first responses (due Monday 09:30 EDT) of A, B, D and follow-ups (due
  Sunday 21:30 UTC) of A and B are overdue; the stale clocks (14 days) of A, B, D not yet due.
- ed's next steps: A's Monday 10:00 done Monday 09:00 (on time), B's Monday 11:00 done
  Tuesday 11:00 (a day late), B's Tuesday 10:00 never done (overdue 25 h); A's next Friday
  starts after the report: not in its period.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Crm

REPORT = {"CRM_NOW": "2026-03-11T15:00:00+00:00"}  # Wednesday 11:00 EDT
ZERO = dict.fromkeys(
    (
        "met_on_time",
        "met_late",
        "open_overdue",
        "open_not_due",
        "paused",
        "lapsed",
        "cancelled",
    ),
    0,
)


def counts(**given: int) -> dict[str, int]:
    found = {**ZERO, **given}
    return {**found, "total": sum(found.values())}


def task(crm: Crm, lead: int, text: str, due: str) -> int:
    made = crm.ok("next-step", str(lead), text, "--due", due, "--format", "json", user="ed")
    return made.json()["id"]


@pytest.fixture
def worked(team: Crm) -> Crm:
    crm = team
    crm.ok("user", "add", "li", "--role", "editor")
    late = crm.ok(
        "lead",
        "add",
        *("--first", "Ann", "--last", "Arden", "--company", "Arden Mills"),
        *("--email", "ann@arden.example", "--source", "web", "--owner", "ed"),
        *("--acquired", "2026-03-03 16:30"),
    )
    assert late.out.strip() == "1"
    assert late.err.strip() == (
        "warning: lead 1 was entered 3d after it was acquired, later than policy lead.entry "
        "allows (24h); it counts as a late entry in crm report sla"
    )
    crm.add_lead(first="Bo", last="Brandt", company="Brandt AG", email="bo@b.example", owner="ed")
    crm.add_lead(first="Cy", last="Cole", company="Cole Ltd", email="cy@c.example", owner="li")
    on_time = crm.ok(
        "lead",
        "add",
        *("--first", "Di", "--last", "Dunn", "--company", "Dunn Inc"),
        *("--email", "di@d.example", "--source", "web", "--acquired", "2026-03-06 10:00"),
    )
    assert on_time.err == ""
    crm.ok("advance", "3", "closed_lost", "--lost-reason", "no budget")
    a1 = task(crm, 1, "demo", "2026-03-09 10:00")
    b1 = task(crm, 2, "call back", "2026-03-09 11:00")
    task(crm, 2, "pricing", "2026-03-10 10:00")
    task(crm, 1, "follow-up", "2026-03-13 10:00")
    crm.ok("done", str(a1), user="ed", CRM_NOW="2026-03-09T13:00:00+00:00")
    crm.ok("done", str(b1), user="ed", CRM_NOW="2026-03-10T15:00:00+00:00")
    return crm


def sla(crm: Crm, *args: str, user: str | None = None) -> dict:
    return crm.ok("report", "sla", *args, "--format", "json", user=user, **REPORT).json()


def by(rows: list[dict], key: str) -> dict[str, dict]:
    return {
        row[key]: {k: v for k, v in row.items() if k not in ("rule", "rep", "attainment_percent")}
        for row in rows
    }


def test_sla_figures_per_rule_and_rep_match_the_hand_worked_dataset(worked: Crm) -> None:
    report = sla(worked, user="vi")  # a viewer may read it
    assert report["summary"] == {
        "rule": "all",
        **counts(met_on_time=4, met_late=2, open_overdue=6, open_not_due=3, cancelled=3),
        "breaches": 8,
        "attainment_percent": "33.3",  # 4 on time of 12 decided
    }
    assert by(report["rules"], "rule") == {
        "lead.entry": counts(met_on_time=3, met_late=1),
        "lead.first_response": counts(open_overdue=3, cancelled=1),
        "lead.follow_up": counts(open_overdue=2, cancelled=1),
        "opportunity.stale": counts(open_not_due=3, cancelled=1),
        "task.due": counts(met_on_time=1, met_late=1, open_overdue=1),
    }
    assert {r["rule"]: r["attainment_percent"] for r in report["rules"]} == {
        "lead.entry": "75.0",
        "lead.first_response": "0.0",
        "lead.follow_up": "0.0",
        "opportunity.stale": None,  # nothing decided yet
        "task.due": "33.3",
    }
    assert by(report["reps"], "rep") == {
        "(unassigned)": counts(met_on_time=1, open_overdue=1, open_not_due=1),
        "ed": counts(met_on_time=2, met_late=2, open_overdue=5, open_not_due=2),
        "li": counts(met_on_time=1, cancelled=3),
    }
    assert {r["rep"]: r["attainment_percent"] for r in report["reps"]} == {
        "(unassigned)": "50.0",
        "ed": "22.2",  # 2 of 9
        "li": "100.0",
    }
    detail = {(r["rule"], r["rep"]): r for r in report["rules_by_rep"]}
    assert len(detail) == 12  # 3 + 3 + 2 + 3 + 1
    assert detail[("task.due", "ed")]["met_late"] == 1
    assert detail[("lead.entry", "ed")]["met_late"] == 1
    assert detail[("lead.entry", "ed")]["met_on_time"] == 1


def test_sla_filters_by_rule_owner_and_period(worked: Crm) -> None:
    tasks = sla(worked, "--owner", "ed", "--rule", "task.due")
    assert tasks["summary"]["total"] == 3 and [r["rule"] for r in tasks["rules"]] == ["task.due"]
    assert sla(worked, "--owner", "li")["summary"]["cancelled"] == 3
    # the period counts obligations that started in it: from Monday, only the next steps
    since = sla(worked, "--from", "2026-03-09")
    assert [r["rule"] for r in since["rules"]] == ["task.due"]
    unknown = worked("report", "sla", "--rule", "lead.nope", **REPORT)
    assert unknown.code == 2 and "--rule: 'lead.nope' is not a rule" in unknown.err


def test_sla_breaches_list_late_entries_late_and_overdue_work(worked: Crm) -> None:
    entry = worked.ok(
        "report", "sla", "--breaches", "--rule", "lead.entry", "--format", "json", **REPORT
    ).json()
    assert entry == [
        {
            "rule": "lead.entry",
            "record_type": "lead",
            "record_id": 1,
            "title": "enter the lead: Ann Arden, Arden Mills",
            "owner": "ed",
            "started_at": "2026-03-03T16:30:00-05:00",
            "due_at": "2026-03-04T16:30:00-05:00",
            "met_at": "2026-03-06T16:30:00-05:00",
            "outcome": "met_late",
            "lateness_seconds": 2 * 86400,
        }
    ]
    lines = worked.ok(
        "report", "sla", "--breaches", "--rule", "task.due", "--format", "csv", **REPORT
    ).out.splitlines()
    assert lines[0] == (
        "rule,record_type,record_id,title,owner,started_at,due_at,met_at,outcome,lateness_seconds"
    )
    assert [line.split(",")[-2:] for line in lines[1:]] == [
        ["met_late", "86400"],  # done a day late
        ["open_overdue", "90000"],  # due Tuesday 10:00 EDT, 25 hours ago
    ]
    table = worked.ok("report", "sla", "--breaches", **REPORT).out
    assert len([line for line in table.splitlines() if line.startswith(("lead.", "task."))]) == 8
    assert "met_late      2d" in table and "open_overdue  1d 1h" in table


def test_sla_check_exits_1_on_any_breach(worked: Crm) -> None:
    run = worked("report", "sla", "--check", **REPORT)
    assert run.code == 1 and "8 breaches (met late, overdue or lapsed)" in run.err
    assert worked("report", "sla", "--breaches", "--check", **REPORT).code == 1
    assert worked("report", "sla", "--check", "--rule", "opportunity.stale", **REPORT).code == 0


def test_sla_table_csv_and_html(worked: Crm, tmp_path: Path) -> None:
    table = worked.ok("report", "sla", **REPORT).out
    assert "Per rule" in table and "Per rep" in table and "attainment %" in table
    csv = worked.ok("report", "sla", "--format", "csv", **REPORT).out.splitlines()
    assert csv[0].startswith("rule,rep,met_on_time,met_late,open_overdue,open_not_due,paused")
    assert "task.due,ed,1,1,1,0,0,0,0,3,33.3" in csv
    page = tmp_path / "sla.html"
    worked.ok("report", "sla", "--breaches", "--html", str(page), **REPORT)
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html
    assert "Per rule and rep" in html and "Breaches: met late, overdue, lapsed" in html
    assert "enter the lead: Ann Arden, Arden Mills" in html


def test_sla_counts_statuses_it_does_not_know_under_their_own_name(worked: Crm) -> None:
    # "lapsed" (an inactive lead's missed follow-ups) and any later status are counted
    worked.execute(
        "UPDATE obligation SET status = 'lapsed' WHERE rule = 'lead.follow_up' AND record_id = 1"
    )
    worked.execute(
        "UPDATE obligation SET status = 'waived' WHERE rule = 'lead.follow_up' AND record_id = 2"
    )
    report = sla(worked)
    assert report["summary"]["lapsed"] == 1 and report["summary"]["waived"] == 1
    ed = next(r for r in report["reps"] if r["rep"] == "ed")
    assert (ed["open_overdue"], ed["lapsed"], ed["waived"]) == (3, 1, 1)
    assert ed["attainment_percent"] == "25.0"  # 2 on time of 2 + 2 late + 3 overdue + 1 lapsed
    lapsed = worked.ok(
        "report", "sla", "--breaches", "--rule", "lead.follow_up", "-f", "json", **REPORT
    ).json()
    assert [(b["record_id"], b["outcome"], b["lateness_seconds"]) for b in lapsed] == [
        (1, "lapsed", None)
    ]


def test_a_campaign_scoped_user_sees_only_their_campaigns_obligations(worked: Crm) -> None:
    worked.ok("campaign", "add", "Expo")
    worked.ok("user", "add", "pat", "--role", "editor")
    worked.ok("user", "scope", "pat", "--campaign", "Expo")
    worked.ok(
        "lead",
        "add",
        *("--first", "Eve", "--last", "Ernst", "--email", "eve@e.example", "--source", "web"),
        user="pat",
    )
    report = sla(worked, user="pat")
    assert report["summary"]["total"] == 3  # Eve's entry, first response, stale clock
    assert {r["rule"] for r in report["rules"]} == {
        "lead.entry",
        "lead.first_response",
        "opportunity.stale",
    }


def test_lead_import_warns_of_late_entries(crm: Crm, tmp_path: Path) -> None:
    source = tmp_path / "expo.csv"
    source.write_text(
        "First Name,Last Name,Email,Lead Source,Created Date\n"
        "Ann,Arden,ann@arden.example,expo,2026-03-02\n"
        "Bo,Brandt,bo@b.example,expo,2026-03-06\n"
        "Cy,Cole,cy@c.example,expo,2026-02-27\n"
    )
    run = crm.ok("lead", "import", str(source), "--format", "json")
    assert run.json()["late_entries"] == 2
    assert (
        "warning: 2 leads were entered later after acquisition than policy lead.entry allows; "
        "see them with: crm report sla --rule lead.entry --breaches"
    ) in run.err
    late = crm.ok("report", "sla", "--breaches", "--rule", "lead.entry", "-f", "json").json()
    assert sorted(b["record_id"] for b in late) == [1, 3]
