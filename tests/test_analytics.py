"""Sales performance reports against a small hand-made history whose figures are worked out
by hand below (not by the report code).

Every lead enters at 09:00 New York (14:00 UTC, EST) on a weekday, so its first response
(1 business hour) is due at 10:00 (15:00 UTC). Stage moves happen at 14:00 UTC, so times in
stage are whole days.

  lead  rep  source    created  first response       stages (date of entering)
  A     ed   web       Feb 2    call  +30 min        qual Feb 4, needs Feb 9, proposal Feb 12
                                                     ($10,000, close Mar 20), negotiation
                                                     Feb 16, won Feb 20
  B     ed   referral  Feb 3    email +120 min late  qual Feb 5, needs Feb 12, proposal Feb 19
                                                     ($20,000, close Mar 25), still there
  C     al   web       Feb 4    call  +20 min        qual Feb 10 ($5,000), lost Feb 17
  D     al   referral  Feb 5    none (overdue)       still prospecting
  E     ed   web       Mar 2    call  +45 min        qual Mar 3 ($8,000, close Mar 31)
  F     al   web       Jan 5    call  +10 min        qual Jan 7, needs Jan 14, proposal Jan 21
                                                     ($30,000, close Mar 10), negotiation
                                                     Feb 2, won Mar 3
  plus: ed holds a meeting with A on Feb 10 (10 points).

NOW is Friday 2026-03-06 21:30 UTC (conftest).
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import Crm

TARGETS = """
[targets]
monthly = 20000
[targets.reps.ed]
quarterly = 40000
"""


def at(day: str, time: str = "14:00") -> str:
    return f"2026-{day}T{time}:00+00:00"


def lead(crm: Crm, name: str, owner: str, source: str, created: str) -> int:
    return int(
        crm.ok(
            "lead",
            "add",
            "--first",
            name,
            "--last",
            "Test",
            "--company",
            f"{name} Corp",
            "--email",
            f"{name.lower()}@example.com",
            "--source",
            source,
            "--owner",
            owner,
            CRM_NOW=created,
        ).out.strip()
    )


def move(crm: Crm, lead_id: int, stage: str, when: str, *extra: str) -> None:
    crm.ok("advance", str(lead_id), stage, *extra, CRM_NOW=when)


def proposal(crm: Crm, lead_id: int, when: str, *extra: str) -> None:
    """Into Proposal the way the gate asks: a real quote, submitted (within policy, so
    approved at once), then the move."""
    quote = crm.ok("quote", "new", str(lead_id), CRM_NOW=when).out.strip()
    crm.ok("quote", "line", quote, "--product", "Plan", "--price", "100", CRM_NOW=when)
    crm.ok("quote", "submit", quote, CRM_NOW=when)
    move(crm, lead_id, "proposal", when, *extra)


def score(crm: Crm, lead_id: int, when: str) -> None:
    crm.ok(
        "score", str(lead_id), "--budget", "20", "--authority", "15", "--need", "20",
        "--timeline", "10", CRM_NOW=when,
    )  # fmt: skip


def history_database(folder: Path) -> Path:
    """A database in `folder` holding the history, built through the CLI."""
    crm = Crm(folder / "crm.db")
    crm.ok("init")
    build_history(crm, folder)
    return crm.db


def copy_of(db: Path, folder: Path) -> Crm:
    """A CLI over a copy of `db` (with its WAL) in `folder`."""
    import shutil

    for suffix in ("", "-wal", "-shm"):
        if Path(f"{db}{suffix}").exists():
            shutil.copy(f"{db}{suffix}", folder / f"crm.db{suffix}")
    return Crm(folder / "crm.db")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The history, built once per module through the CLI; each test gets its own copy."""
    return history_database(tmp_path_factory.mktemp("history"))


@pytest.fixture
def history(built: Path, tmp_path: Path) -> Crm:
    return copy_of(built, tmp_path)


def build_history(crm: Crm, tmp_path: Path) -> Crm:
    crm.ok("user", "add", "ed", "--role", "editor")
    crm.ok("user", "add", "al", "--role", "editor")
    crm.ok("user", "add", "vi", "--role", "viewer")
    policy = tmp_path / "targets.toml"
    policy.write_text(TARGETS)
    crm.ok("policy", "import", str(policy), CRM_NOW=at("01-01", "00:00"))

    f = lead(crm, "F", "al", "web", at("01-05"))
    crm.ok("log-call", str(f), "--outcome", "connected", user="al", CRM_NOW=at("01-05", "14:10"))
    score(crm, f, at("01-05", "14:20"))
    move(crm, f, "qualification", at("01-07"))
    move(crm, f, "needs_analysis", at("01-14"))
    proposal(crm, f, at("01-21"), "--amount", "30000",
         "--close-date", "2026-03-10")  # fmt: skip

    a = lead(crm, "A", "ed", "web", at("02-02"))
    crm.ok("log-call", str(a), "--outcome", "connected", user="ed", CRM_NOW=at("02-02", "14:30"))
    score(crm, a, at("02-02", "14:40"))
    move(crm, f, "negotiation", at("02-02"))
    b = lead(crm, "B", "ed", "referral", at("02-03"))
    crm.ok("log-email", str(b), "--subject", "hello", user="ed", CRM_NOW=at("02-03", "16:00"))
    score(crm, b, at("02-03", "16:10"))
    c = lead(crm, "C", "al", "web", at("02-04"))
    crm.ok("log-call", str(c), "--outcome", "connected", user="al", CRM_NOW=at("02-04", "14:20"))
    score(crm, c, at("02-04", "14:30"))
    move(crm, a, "qualification", at("02-04"))
    lead(crm, "D", "al", "referral", at("02-05"))
    move(crm, b, "qualification", at("02-05"))
    move(crm, a, "needs_analysis", at("02-09"))
    move(crm, c, "qualification", at("02-10"), "--amount", "5000")
    crm.ok("log-meeting", str(a), "--attendee", "A", "--subject", "discovery", user="ed",
           CRM_NOW=at("02-10", "18:00"), )  # fmt: skip
    proposal(crm, a, at("02-12"), "--amount", "10000",
         "--close-date", "2026-03-20")  # fmt: skip
    move(crm, b, "needs_analysis", at("02-12"))
    move(crm, a, "negotiation", at("02-16"))
    move(crm, c, "closed_lost", at("02-17"), "--lost-reason", "price")
    proposal(crm, b, at("02-19"), "--amount", "20000",
         "--close-date", "2026-03-25")  # fmt: skip
    move(crm, a, "closed_won", at("02-20"), "--po", "PO-A")

    e = lead(crm, "E", "ed", "web", at("03-02"))
    crm.ok("log-call", str(e), "--outcome", "connected", user="ed", CRM_NOW=at("03-02", "14:45"))
    score(crm, e, at("03-02", "14:50"))
    move(crm, f, "closed_won", at("03-03"), "--po", "PO-F")
    move(crm, e, "qualification", at("03-03"), "--amount", "8000", "--close-date", "2026-03-31")
    return crm


def report(crm: Crm, *args: str, **env: str) -> dict:
    return crm.ok("report", *args, "--format", "json", **env).json()


def by(rows: list[dict], key: str) -> dict[str, dict]:
    return {row[key]: row for row in rows}


def test_pipeline_counts_values_and_weights_per_stage(history: Crm) -> None:
    data = report(history, "pipeline")
    stages = by(data["stages"], "stage")
    assert {k: (v["count"], v["value"]) for k, v in stages.items()} == {
        "prospecting": (1, "0.00"),  # D
        "qualification": (1, "8000.00"),  # E
        "needs_analysis": (0, "0.00"),
        "proposal": (1, "20000.00"),  # B
        "negotiation": (0, "0.00"),
        "closed_won": (2, "40000.00"),  # A + F
        "closed_lost": (1, "5000.00"),  # C
    }
    assert stages["qualification"]["weighted"] == "1600.00"  # 20 %
    assert stages["proposal"]["weighted"] == "12000.00"  # 60 %
    # health: each open stage's share of the 3 open deals, and deals per next-stage deal
    assert [stages[k]["share"] for k in ("prospecting", "qualification", "needs_analysis")] == [
        "33.3",
        "33.3",
        "0.0",
    ]
    assert stages["prospecting"]["per_next"] == "1.0:1"
    assert stages["qualification"]["per_next"] is None  # nothing in needs analysis
    assert data["summary"] == {
        "open_deals": 3,
        "open_value": "28000.00",
        "weighted_value": "13600.00",
        "won_deals": 2,
        "won_value": "40000.00",
        "lost_deals": 1,
    }
    mine = report(history, "pipeline", "--owner", "ed")["summary"]
    assert (mine["open_deals"], mine["open_value"], mine["won_value"]) == (
        2,
        "28000.00",
        "10000.00",
    )


def test_pipeline_as_of_rebuilds_stages_and_amounts(history: Crm) -> None:
    # at Feb 15 00:00 UTC: A in proposal ($10k), B in needs analysis (no amount yet),
    # C in qualification ($5k), D prospecting, F in negotiation ($30k); E did not exist
    data = report(history, "pipeline", "--as-of", "2026-02-15T00:00:00Z")
    stages = by(data["stages"], "stage")
    assert {k: (v["count"], v["value"]) for k, v in stages.items()} == {
        "prospecting": (1, "0.00"),
        "qualification": (1, "5000.00"),
        "needs_analysis": (1, "0.00"),
        "proposal": (1, "10000.00"),
        "negotiation": (1, "30000.00"),
        "closed_won": (0, "0.00"),
        "closed_lost": (0, "0.00"),
    }
    # 5000 x 20 % + 10000 x 60 % + 30000 x 80 %
    assert data["summary"]["weighted_value"] == "31000.00"
    assert data["as_of"].startswith("2026-02-14T19:00")


def test_pipeline_as_of_uses_the_owner_of_then(history: Crm) -> None:
    history.ok("assign", "3", "--to", "al", CRM_NOW=at("03-04"))  # B: ed -> al
    now = report(history, "pipeline", "--owner", "al")["summary"]["open_value"]
    then = report(history, "pipeline", "--owner", "al", "--as-of", at("03-04", "12:00"))
    assert (now, then["summary"]["open_value"]) == ("20000.00", "0.00")


def test_conversion_follows_each_lead_through_its_stage_history(history: Crm) -> None:
    data = report(history, "conversion")
    # furthest stage: A won, B proposal, C qualification (then lost), D prospecting,
    # E qualification, F won
    stages = by(data["stages"], "stage")
    assert [stages[k]["reached"] for k in stages] == [6, 5, 3, 3, 2, 2]
    assert [stages[k]["rate"] for k in stages] == ["83.3", "60.0", "100.0", "66.7", "100.0", None]
    assert stages["qualification"]["lost_here"] == 1
    assert data["summary"] == {
        "leads": 6,
        "opportunities": 5,
        "customers": 2,
        "lead_to_opportunity": "83.3",
        "opportunity_to_customer": "40.0",
        "lead_to_customer": "33.3",
    }
    weeks = by(data["trend"], "bucket")
    assert weeks["2026-02-02"]["leads"] == 4  # A, B, C, D in the week of Monday Feb 2
    assert weeks["2026-03-02"]["leads"] == 1  # E


def test_conversion_by_source_and_owner(history: Crm) -> None:
    sources = by(report(history, "conversion", "--by", "source")["groups"], "source")
    assert (sources["web"]["leads"], sources["web"]["opportunities"]) == (4, 4)
    assert (sources["web"]["customers"], sources["web"]["lead_to_customer"]) == (2, "50.0")
    assert (sources["referral"]["leads"], sources["referral"]["lead_to_opportunity"]) == (2, "50.0")
    owners = by(report(history, "conversion", "--by", "owner")["groups"], "owner")
    assert [owners["ed"][k] for k in ("leads", "opportunities", "customers")] == [3, 3, 1]
    assert [owners["al"][k] for k in ("leads", "opportunities", "customers")] == [3, 2, 1]


def test_conversion_as_of_counts_only_what_had_happened(history: Crm) -> None:
    data = report(history, "conversion", "--as-of", "2026-02-15T00:00:00Z")
    # cohort A, B, C, D, F; then A in proposal, B needs analysis, C qualification, F negotiation
    assert [row["reached"] for row in data["stages"]] == [5, 4, 3, 2, 1, 0]
    assert data["summary"]["customers"] == 0
    assert all(row["lost_here"] == 0 for row in data["stages"])


def test_velocity_medians_means_and_the_stagnation_limit(history: Crm) -> None:
    data = report(history, "velocity")
    stages = by(data["stages"], "stage")
    # days out of prospecting: A 2, B 2, C 6, E 1, F 2 -> median 2, mean 13/5
    assert [
        stages["prospecting"][k] for k in ("moves", "median_days", "mean_days", "max_days")
    ] == [
        5,
        "2.0",
        "2.6",
        "6.0",
    ]
    # qualification: A 5, B 7, C 7, F 7 -> median 7, mean 6.5
    assert (stages["qualification"]["median_days"], stages["qualification"]["mean_days"]) == (
        "7.0",
        "6.5",
    )
    # needs analysis: A 3, B 7, F 7 -> median 7, mean 17/3
    assert stages["needs_analysis"]["mean_days"] == "5.7"
    # proposal: A 4, F 12 -> median of two is their mean
    assert stages["proposal"]["median_days"] == "8.0"
    # negotiation: A 4, F 29 -> median 16.5 > the 14 day stale limit: flagged
    neg = stages["negotiation"]
    assert (neg["median_days"], neg["limit_days"], neg["over_limit"], neg["slow"]) == (
        "16.5",
        "14.0",
        1,
        True,
    )
    assert [k for k, v in stages.items() if v["slow"]] == ["negotiation"]
    # stuck now: D 29 days in prospecting, B 15 days in proposal (limits 14)
    assert {k: v["stuck_now"] for k, v in stages.items() if v["stuck_now"]} == {
        "prospecting": 1,
        "proposal": 1,
    }
    close = by(data["close"], "outcome")
    # won: A 18 days, F 57 days; lost: C 13 days
    assert (close["won"]["deals"], close["won"]["median_days"], close["won"]["max_days"]) == (
        2,
        "37.5",
        "57.0",
    )
    assert (close["lost"]["deals"], close["lost"]["mean_days"]) == (1, "13.0")
    assert data["summary"]["slow_stages"] == ["negotiation"]


def test_velocity_table_marks_the_slow_stage(history: Crm) -> None:
    out = history.ok("report", "velocity").out
    assert "! negotiation" in out and "over limit" in out
    assert "! prospecting" not in out


def test_win_rate_overall_and_by_owner(history: Crm) -> None:
    data = report(history, "win-rate", "--by", "owner")
    assert data["summary"] == {
        "won": 2,
        "lost": 1,
        "closed": 3,
        "win_rate": "66.7",
        "won_value": "40000.00",
    }
    owners = by(data["groups"], "owner")
    assert (owners["ed"]["win_rate"], owners["ed"]["won_value"]) == ("100.0", "10000.00")
    assert (owners["al"]["won"], owners["al"]["lost"], owners["al"]["win_rate"]) == (1, 1, "50.0")
    # Feb 20 - Mar 3 only: A won (Feb 20), F won (Mar 3); C (Feb 17) is outside
    later = report(history, "win-rate", "--from", "2026-02-18", "--to", "2026-03-06")
    assert (later["summary"]["won"], later["summary"]["lost"]) == (2, 0)


def test_win_rate_by_type_reads_the_imported_type(crm: Crm, tmp_path: Path) -> None:
    source = tmp_path / "deals.csv"
    source.write_text(
        "first_name,last_name,email,source,Type\n"
        "Ann,One,ann@example.com,web,Managed services\n"
        "Bob,Two,bob@example.com,web,Cabling\n"
        "Cy,Three,cy@example.com,web,Cabling\n"
    )
    crm.ok("lead", "import", str(source), CRM_NOW=at("02-02"))
    for lead_id in (1, 2, 3):
        score(crm, lead_id, at("02-02"))
        move(crm, lead_id, "qualification", at("02-03"))
    move(crm, 1, "closed_lost", at("02-04"), "--lost-reason", "price")
    move(crm, 2, "closed_lost", at("02-04"), "--lost-reason", "timing")
    groups = by(report(crm, "win-rate", "--by", "type")["groups"], "type")
    assert {k: (v["won"], v["lost"]) for k, v in groups.items()} == {
        "Managed services": (0, 1),
        "Cabling": (0, 1),  # Cy is still open
    }
    # the opportunity type set in the CRM (lead.type) is what counts
    crm.ok("lead", "edit", "2", "--type", "Hardware", CRM_NOW=at("02-05"))
    groups = by(report(crm, "win-rate", "--by", "type")["groups"], "type")
    assert {k: (v["won"], v["lost"]) for k, v in groups.items()} == {
        "Managed services": (0, 1),
        "Hardware": (0, 1),  # no closed Cabling deal is left: Cy is still open
    }
    assert crm("report", "win-rate", "--by", "colour").code == 2


def test_sources_leads_conversions_and_won_value(history: Crm) -> None:
    data = report(history, "sources")
    rows = by(data["sources"], "source")
    assert [rows["web"][k] for k in ("leads", "opportunities", "customers", "won_value")] == [
        4,
        4,
        2,
        "40000.00",
    ]
    assert rows["web"]["conversion"] == "50.0"
    assert [rows["referral"][k] for k in ("leads", "customers", "won_value")] == [2, 0, "0.00"]
    campaigns = report(history, "sources", "--by", "campaign")["sources"]
    assert [(r["campaign"], r["leads"]) for r in campaigns] == [("(none)", 6)]


def test_response_times_and_sla_per_rep(history: Crm) -> None:
    data = report(history, "response")
    reps = by(data["reps"], "rep")
    # ed: A 30 min, B 120 min (late), E 45 min
    assert [reps["ed"][k] for k in ("leads", "responded", "within_sla", "late")] == [3, 3, 2, 1]
    assert (reps["ed"]["sla_percent"], reps["ed"]["median_minutes"]) == ("66.7", "45.0")
    assert reps["ed"]["mean_minutes"] == "65.0"
    # al: F 10 min, C 20 min; D never answered and past due
    assert [reps["al"][k] for k in ("leads", "responded", "within_sla", "late")] == [3, 2, 2, 1]
    assert (reps["al"]["median_minutes"], reps["al"]["mean_minutes"]) == ("15.0", "15.0")
    summary = data["summary"]
    assert summary["standard"] == "1h business"
    assert (summary["within_sla"], summary["late"], summary["sla_percent"]) == (4, 2, "66.7")
    # all five answered: 10, 20, 30, 45, 120 minutes
    assert (summary["median_minutes"], summary["mean_minutes"]) == ("30.0", "45.0")


def test_activity_counts_and_points_against_quota(history: Crm) -> None:
    data = report(history, "activity", "--month", "2026-02")
    reps = by(data["reps"], "rep")
    # ed: call A (4), email B (2), meeting A (10); al: call C (4)
    assert [reps["ed"][k] for k in ("calls", "emails", "meetings", "points")] == [1, 1, 1, 16]
    assert [reps["al"][k] for k in ("calls", "emails", "meetings", "points")] == [1, 0, 0, 4]
    assert (reps["ed"]["quota"], reps["ed"]["quota_percent"]) == (500, "3.2")
    assert reps["boss"]["points"] == 0
    assert data["summary"] == {
        "month": "2026-02",
        "points": 20,
        "quota": 1500,
        "quota_percent": "1.3",
        "reps_at_quota": 0,
    }
    march = by(report(history, "activity")["reps"], "rep")  # this month: E's call
    assert (march["ed"]["calls"], march["ed"]["points"], march["al"]["points"]) == (1, 4, 0)


def test_forecast_weighs_open_deals_and_adds_what_was_won(history: Crm) -> None:
    data = report(history, "forecast", "--quarter", "2026-Q1")
    reps = by(data["reps"], "rep")
    # ed: B 20000 x 60 % + E 8000 x 20 % open; A 10000 won; target 40000 (own quarterly)
    ed = reps["ed"]
    assert [ed[k] for k in ("deals", "pipeline", "weighted", "won", "forecast", "target")] == [
        2,
        "28000.00",
        "13600.00",
        "10000.00",
        "23600.00",
        "40000.00",
    ]
    assert (ed["attainment"], ed["forecast_percent"], ed["gap"]) == ("25.0", "59.0", "16400.00")
    # al: F 30000 won; target 3 x the 20000 monthly
    al = reps["al"]
    assert [al[k] for k in ("won", "forecast", "target", "attainment")] == [
        "30000.00",
        "30000.00",
        "60000.00",
        "50.0",
    ]
    assert data["summary"]["won"] == "40000.00" and data["summary"]["target"] == "160000.00"
    assert history("report", "forecast", "--quarter", "2026-Q5").code == 2


def test_dashboard_one_screen(history: Crm) -> None:
    data = history.ok("dashboard", "--format", "json").json()
    summary = data["summary"]
    # March: F won 30000; team monthly target: al, boss, ed x 20000
    assert (summary["won_deals"], summary["won_value"], summary["target"]) == (
        1,
        "30000.00",
        "60000.00",
    )
    assert summary["target_percent"] == "50.0"
    # March's first responses: E, answered in 45 minutes
    assert (summary["first_response_within"], summary["first_response_decided"]) == (1, 1)
    assert summary["first_response_sla_percent"] == "100.0"
    # overdue per rep agrees with `crm report overdue`
    overdue = history.ok("report", "overdue", "--format", "json").json()
    expected: dict[str, int] = {}
    for item in overdue:
        if item["overdue_by_seconds"] >= 0:
            name = item["owner"] or "(unassigned)"
            expected[name] = expected.get(name, 0) + 1
    assert {r["rep"]: r["overdue"] for r in data["overdue"]} == expected
    assert summary["overdue"] == sum(expected.values()) > 0
    assert [r["stage"] for r in data["funnel"]][0] == "prospecting"
    table = history.ok("dashboard").out
    assert "Pipeline funnel" in table and "Overdue obligations per rep" in table


DRAWN = set("▁▂▃▄▅▆▇█·")


def test_json_carries_numbers_and_the_table_draws_them(history: Crm) -> None:
    """Bars and sparklines are drawn by the renderer (issue 20): JSON has the figures."""
    dashboard = history.ok("dashboard", "--format", "json")
    assert not DRAWN & set(dashboard.out)
    summary = dashboard.json()["summary"]
    assert "target_bar" not in summary and summary["target_percent"] == "50.0"
    assert {"funnel", "bar"}.isdisjoint(dashboard.json()["overdue"][0])
    # the table draws won against target (50 %: 15 of 30 blocks), a bar per rep, a funnel
    table = history.ok("dashboard").out
    target = next(line for line in table.splitlines() if "target_bar" in line)
    assert target.split()[-1] == "█" * 15
    top = max(r["overdue"] for r in dashboard.json()["overdue"])
    # the rep with most overdue gets the full 20 blocks
    assert any(line.split()[1:] == [str(top), "█" * 20] for line in table.splitlines())
    for args in (("conversion", "--by", "source"), ("win-rate", "--by", "owner"), ("sources",)):
        out = history.ok("report", *args, "--format", "json").out
        assert not DRAWN & set(out), args
    for name in ("response", "activity"):
        assert not DRAWN & set(history.ok("report", name, "--format", "json").out), name


def test_html_table_draws_each_groups_trend(history: Crm, tmp_path: Path) -> None:
    page = tmp_path / "sources.html"
    history.ok("report", "sources", "--html", str(page))
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", page.read_text())
    assert any(cell and set(cell) <= DRAWN and "█" in cell for cell in cells)


def test_csv_is_the_main_section(history: Crm) -> None:
    out = history.ok("report", "win-rate", "--by", "source", "--format", "csv").out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["source"], r["won"], r["lost"]) for r in rows] == [("web", "2", "1")]


def test_table_shows_funnel_bars_and_sparklines(history: Crm) -> None:
    out = history.ok("report", "pipeline").out
    assert "█" in out and "Prospecting" in out  # the policy's name for the stage (issue 20)
    trend = history.ok("report", "sources").out
    assert any(ch in trend for ch in "▁▂▃▄▅▆▇█")
    # each source's trend: one block per week, drawn from the leads per week the row carries
    web = next(line for line in trend.splitlines() if line.startswith("web "))
    spark = web.split()[-1]
    assert set(spark) <= DRAWN and "█" in spark  # scaled to the source's busiest week


def test_html_page_is_self_contained_and_escaped(history: Crm, tmp_path: Path) -> None:
    history.ok(
        "lead", "add", "--first", "X", "--last", "Y", "--email", "x@example.com",
        "--source", "<b>fair</b> & co", CRM_NOW=at("03-04"),
    )  # fmt: skip
    page = tmp_path / "sources.html"
    run = history.ok("report", "sources", "--html", str(page))
    assert run.out == "" and "wrote" in run.err
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "<table>" in html
    assert "&lt;b&gt;fair&lt;/b&gt; &amp; co" in html and "<b>fair" not in html
    lowered = html.lower()
    assert "<script" not in lowered and "src=" not in lowered and "<link" not in lowered
    assert "http" not in lowered.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_every_report_renders_in_every_format(history: Crm, tmp_path: Path) -> None:
    names = ["pipeline", "conversion", "velocity", "win-rate", "sources", "response"]
    names += ["activity", "forecast"]
    for name in names:
        for fmt in ("table", "json", "csv"):
            history.ok("report", name, "--format", fmt)
        history.ok("report", name, "--html", str(tmp_path / f"{name}.html"))
        history.ok("report", name, "--as-of", "2026-02-20", "--format", "json")


def test_dashboard_as_of_the_first_of_a_month_shows_an_empty_month(history: Crm) -> None:
    """`--as-of 2026-03-01` is midnight of the 1st: the month has not begun, so the dashboard
    shows it empty (it used to refuse: its month began at --as-of, an empty period)."""
    data = history.ok("dashboard", "--as-of", "2026-03-01", "--format", "json").json()
    assert data["from"] == data["to"] == data["as_of"]
    assert data["from"].startswith("2026-03-01T00:00")
    assert (data["summary"]["month"], data["summary"]["won_deals"]) == ("2026-03", 0)
    # a report's own --from/--to still may not be empty
    one_error = history("report", "pipeline", "--from", "2026-02-01", "--to", "2026-01-01")
    assert one_error.code == 2 and "--from: must be before --to" in one_error.err


def test_viewers_may_read_reports(history: Crm) -> None:
    assert history.ok("report", "pipeline", "--format", "json", user="vi").json()
    assert history.ok("dashboard", "--format", "json", user="vi").json()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "conversion", "--from", "someday"], "--from: cannot read 'someday'"),
        (["report", "conversion", "--from", "2026-03-01", "--to", "2026-02-01"], "--from: must"),
        (["report", "velocity", "--as-of", "2027-01-01"], "--as-of: lies in the future"),
        (["report", "win-rate", "--bucket", "day"], "--bucket: 'day' is not a bucket"),
        (["report", "conversion", "--by", "type"], "--by: 'type' is not a grouping"),
        (["report", "activity", "--month", "2026-13"], "--month: '2026-13' is not a month"),
        (["report", "forecast", "--quarter", "Q1"], "--quarter: 'Q1' is not a quarter"),
        (["report", "pipeline", "--owner", "nobody"], "--owner"),
        (["report", "pipeline", "--format", "ids"], "--format: reports have no ids"),
        (["report", "pipeline", "--html", "/no/such/dir/x.html"], "--html: cannot write"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_or_3(history: Crm, args: list[str], message: str) -> None:
    run = history(*args)
    assert run.code in (2, 3), run.err
    assert message in run.err and run.err.count("\n") == 1 and run.out == ""


def test_targets_are_validated(crm: Crm, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[targets]\nmonthly = -5\n")
    run = crm("policy", "check", str(bad))
    assert run.code == 2
    assert "targets.monthly: must be 0 or more" in run.err
    # the shape is checked first: an unknown key is reported before any value
    bad.write_text("[targets]\nmonthly = 5\n[targets.reps.ed]\nweekly = 3\n")
    run = crm("policy", "check", str(bad))
    assert run.code == 2 and "targets.reps.ed.weekly: unknown key" in run.err
    explained = crm.ok("policy", "show", "--explain").out
    assert "targets.monthly" in explained


def test_campaign_scoped_users_see_only_their_leads(history: Crm) -> None:
    history.ok("campaign", "add", "spring")
    history.ok("user", "add", "sc", "--role", "viewer")
    history.ok("user", "scope", "sc", "--campaign", "spring")
    data = history.ok("report", "pipeline", "--format", "json", user="sc").json()
    assert data["summary"]["open_deals"] == 0 and data["summary"]["won_value"] == "0.00"


def test_money_is_exact(history: Crm) -> None:
    history.ok("advance", "6", "needs_analysis", "--amount", "0.20", CRM_NOW=at("03-05"))
    data = report(history, "pipeline")
    assert by(data["stages"], "stage")["needs_analysis"]["value"] == "0.20"
    # B 20000 x 60 % + E 0.20 x 40 %
    assert Decimal(data["summary"]["weighted_value"]) == Decimal("12000.08")


@pytest.mark.parametrize("seed", range(6))
def test_medians_read_in_sql_match_the_plain_median(seed: int) -> None:
    """Per-group medians (`medians`) and the median of every value (`Query.middle`, as the
    response report reads it) equal the plain median, for odd and even counts, ties and
    one-value groups."""
    import random
    from types import SimpleNamespace

    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from crmcli.rules.analytics import median
    from crmcli.services.analytics import Query, medians

    rng = random.Random(seed)
    rows = [
        (k, float(rng.choice([rng.randint(0, 50), rng.randint(0, 5000)])))
        for k in range(rng.randint(1, 6))
        for _ in range(rng.randint(1, 40))
    ]
    engine = create_engine("sqlite://")
    with Session(engine) as session:
        session.execute(text("CREATE TABLE t (k INTEGER, v REAL)"))
        session.execute(text("INSERT INTO t VALUES (:k, :v)"), [{"k": k, "v": v} for k, v in rows])
        q = Query(SimpleNamespace(session=session))
        per_group = medians(q, "SELECT k, v FROM t")
        for key, (n, _mean, middle, _top) in per_group.items():
            assert (n, middle) == (
                sum(1 for k, _ in rows if k == key),
                median([v for k, v in rows if k == key]),
            )
        overall = q.middle("SELECT v FROM t ORDER BY v", len(rows))
    assert overall == median([v for _k, v in rows])
