"""`crm report cases`: open cases by age and severity and SLA attainment, checked against
four cases whose figures are worked out by hand below (NOW is Friday 2026-03-06 16:30 in
New York; default SLAs: urgent 30m/4h, high 1h/8h, low and normal 2 business hours/24h)."""

from __future__ import annotations

from conftest import Crm


def at(text: str) -> str:
    """A New York wall-clock time as CRM_NOW (UTC, EST is UTC-5 until 8 March)."""
    day, clock = text.split()
    hour, minute = clock.split(":")
    return f"{day}T{int(hour) + 5:02d}:{minute}:00Z"


def build(crm: Crm) -> None:
    crm.ok("account", "add", "--name", "Orbit Water")

    def case(severity: str, opened: str) -> str:
        run = crm.ok("case", "open", "account:1", "--title", f"{severity} issue",
                     "--severity", severity, "--at", opened, CRM_NOW=at(opened))  # fmt: skip
        return run.out.strip()

    # 1 urgent, Fri 10:00: acked 10:10 (due 10:30), resolved 13:00 (due 14:00): both in time
    one = case("urgent", "2026-03-06 10:00")
    crm.ok("case", "ack", one, CRM_NOW=at("2026-03-06 10:10"))
    crm.ok("case", "resolve", one, "--resolution", "reset", CRM_NOW=at("2026-03-06 13:00"))
    # 2 high, Mon 09:00: acked 11:00 (due 10:00, late); resolve due Mon 17:00: missed, open
    two = case("high", "2026-03-02 09:00")
    crm.ok("case", "ack", two, CRM_NOW=at("2026-03-02 11:00"))
    # 3 normal, Fri 15:00: ack due 17:00 and resolve due Sat 15:00, neither decided yet
    case("normal", "2026-03-06 15:00")
    # 4 low, Sun 1 Feb 09:00: ack due Mon 11:00 (business hours), acked Mon 10:00 in time;
    # resolve due Mon 2 Feb 09:00 (24 calendar hours): missed, still open after 33 days
    four = case("low", "2026-02-01 09:00")
    crm.ok("case", "ack", four, CRM_NOW=at("2026-02-02 10:00"))


def test_open_cases_by_age_and_sla_attainment(crm: Crm) -> None:
    build(crm)
    data = crm.ok("report", "cases", "--format", "json").json()
    open_rows = {r["severity"]: r for r in data["open"]}
    assert (open_rows["urgent"]["open"], open_rows["high"]["d3_7"]) == (0, 1)
    assert (open_rows["normal"]["under_1d"], open_rows["low"]["over_30d"]) == (1, 1)
    assert data["summary"]["open_cases"] == 3 and data["summary"]["open_over_7d"] == 1
    sla = {r["severity"]: r for r in data["sla"]}
    got = {
        s: (r["ack_decided"], r["ack_within"], r["resolve_decided"], r["resolve_within"])
        for s, r in sla.items()
    }
    assert got == {
        "urgent": (1, 1, 1, 1),
        "high": (1, 0, 1, 0),
        "normal": (0, 0, 0, 0),
        "low": (1, 1, 1, 0),
    }
    # 3 of the 6 decided deadlines were met
    assert (data["summary"]["sla_within"], data["summary"]["sla_decided"]) == (3, 6)
    assert float(data["summary"]["sla_percent"]) == 50.0
    dashboard = crm.ok("dashboard", "--format", "json").json()["summary"]
    # this month (March): cases 1-3; decided 4 (urgent 2, high 2), met 2
    assert (dashboard["case_sla_within"], dashboard["case_sla_decided"]) == (2, 4)


def test_as_of_rebuilds_what_was_open_then(crm: Crm) -> None:
    build(crm)
    then = crm.ok("report", "cases", "--as-of", "2026-03-06 12:00", "--format", "json").json()
    counts = {r["severity"]: r["open"] for r in then["open"]}
    # at noon the urgent case was still open and the normal one not yet reported
    assert counts == {"urgent": 1, "high": 1, "normal": 0, "low": 1}
    csv_text = crm.ok("report", "cases", "--format", "csv").out
    assert csv_text.splitlines()[0].startswith("severity,open,under_1d")


def test_report_cases_refuses_bad_dates(crm: Crm) -> None:
    run = crm("report", "cases", "--from", "someday")
    assert run.code == 2 and "--from" in run.err and run.err.count("\n") == 1


def test_case_ages_read_as_day_ranges_in_the_table(crm: Crm) -> None:
    build(crm)
    table = crm.ok("report", "cases", "--format", "table").out
    header = next(line for line in table.splitlines() if line.startswith("severity  open"))
    assert header.split()[2:] == [
        "<",
        "1",
        "d",
        "1–3",
        "d",
        "3–7",
        "d",
        "7–30",
        "d",
        "≥",
        "30",
        "d",
    ]
    assert "d1_3" not in table and "d1 3" not in table
    page = crm.ok("report", "cases", "--html", "-").out
    assert "<th class=num>1–3 d</th>" in page
