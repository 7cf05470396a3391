"""Tables for a person at a terminal (issue 20 items 1, 2 and 4): the main views rendered under
a real pseudo-terminal at 80, 120 and 200 columns fit the width, never cut an id, rule id,
date, amount or stage name, and name the columns they leave out; piped output stays plain and
complete; colour follows NO_COLOR / FORCE_COLOR; money, percentages and stage names read as
people write them while JSON and CSV keep the raw values."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from crmcli.render.terminal import Column, cell_len, fit, truncate

WIDTHS = (80, 120, 200)
NOW = "2026-12-03T15:00:00+00:00"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")
MONEY = re.compile(r"\$[\d,]+\.\d{2}")
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _env(db: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CRM_") and k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")
    }
    env.update(CRM_DB=str(db), CRM_NOW=NOW, PYTHONPATH=SRC, TERM="xterm-256color", **extra)
    return env


def crm_at(db: Path, width: int, *args: str, **extra: str) -> str:
    """`crm ARGS` on a pseudo-terminal `width` columns wide; its screen output, \\r removed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 60, width, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "crmcli", *args],
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=_env(db, **extra),
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: the command finished
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert process.wait(timeout=120) == 0, stderr
    return b"".join(chunks).decode().replace("\r", "")


def crm_piped(db: Path, *args: str, **extra: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "crmcli", *args],
        capture_output=True,
        text=True,
        env=_env(db, **extra),
        timeout=120,
        check=True,
    )
    return done.stdout


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("terminal") / "crm.db"
    crm_piped(db, "init", "--example")
    return db


def _plain(screen: str) -> list[str]:
    return ANSI.sub("", screen).splitlines()


def _assert_fits(lines: list[str], width: int) -> None:
    too_wide = [line for line in lines if cell_len(line) > width]
    assert not too_wide, f"wider than {width}: {too_wide[:3]}"


def _tables(lines: list[str]) -> list[tuple[list[str], list[str], list[str]]]:
    """(header columns, row lines, columns the footer names) of each table on the screen."""
    found = []
    for k, line in enumerate(lines):
        if k and set(line) == {"─"}:
            rows, hidden = [], []
            for after in lines[k + 1 :]:
                if not after.strip() or set(after) == {"─"}:
                    break
                if after.startswith("not shown:"):
                    names = after.removeprefix("not shown:").split("(")[0]
                    hidden = [n.strip() for n in names.split(",")]
                    break
                rows.append(after)
            found.append((lines[k - 1].split(), rows, hidden))
    return found


@pytest.mark.parametrize("width", WIDTHS)
def test_lead_list_fits_and_names_what_it_leaves_out(example: Path, width: int) -> None:
    leads = json.loads(crm_piped(example, "lead", "list", "--format", "json"))
    lines = _plain(crm_at(example, width, "lead", "list"))
    _assert_fits(lines, width)
    [(header, rows, hidden)] = _tables(lines)
    every = ["id", "first_name", "last_name", "company", "stage", "status", "score", "band"]
    every += ["owner", "campaign", "source", "acquired_at"]
    assert header == [c for c in every if c in header]  # in order, dropped ones left out
    assert sorted(header + hidden) == sorted(every)
    assert header[:2] == ["id", "first_name"]
    if width == 80:
        assert "acquired_at" in hidden
    if width == 200:
        assert hidden == []
    assert len(rows) == len(leads)
    names = {"prospecting": "Prospecting", "needs_analysis": "Needs Analysis"}
    names |= {"qualification": "Qualification", "proposal": "Proposal"}
    names |= {"negotiation": "Negotiation", "closed_won": "Closed Won"}
    names |= {"closed_lost": "Closed Lost"}
    for lead, row in zip(leads, rows, strict=True):
        assert row.split()[0] == str(lead["id"])  # ids whole, in order
        assert f"  {names[lead['stage']]}  " in row  # the policy's stage name, never cut
        if "acquired_at" in header:
            assert DATE.search(row)


@pytest.mark.parametrize("width", WIDTHS)
def test_overdue_never_cuts_rule_ids_or_dates(example: Path, width: int) -> None:
    due = json.loads(crm_piped(example, "report", "overdue", "--format", "json"))
    lines = _plain(crm_at(example, width, "report", "overdue"))
    _assert_fits(lines, width)
    tables = _tables(lines)
    rows = [row for _header, table_rows, _hidden in tables for row in table_rows]
    assert len(rows) == len(due)
    for item, row in zip(due, rows, strict=True):
        assert row.split()[0] == item["rule"]
        assert f"{item['record_type']} {item['record_id']}" in row
        assert item["due_at"][:16].replace("T", " ") in row
    for header, _rows, hidden in tables:
        assert header[:2] == ["rule", "record"]
        assert "due_at" in header and "overdue_by" in header
        assert sorted(header + hidden) == sorted(
            ["rule", "record", "title", "due_at", "overdue_by"]
        )


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("view", [("report", "pipeline"), ("dashboard",), ("--as", "maria")])
def test_reports_and_my_day_fit(example: Path, width: int, view: tuple[str, ...]) -> None:
    lines = _plain(crm_at(example, width, *view))
    _assert_fits(lines, width)
    for line in lines:
        for amount in MONEY.findall(line):  # amounts whole: $ then grouped digits, 2 decimals
            assert re.fullmatch(r"\$\d{1,3}(,\d{3})*\.\d{2}", amount)
    for _header, rows, _hidden in _tables(lines):
        assert rows


def test_pipeline_at_80_keeps_values_whole_and_says_what_it_dropped(example: Path) -> None:
    report = json.loads(crm_piped(example, "report", "pipeline", "--format", "json"))
    stages = report["stages"]
    lines = _plain(crm_at(example, 80, "report", "pipeline"))
    [(header, rows, hidden)] = [t for t in _tables(lines) if t[0][0] == "stage"]
    assert header[:3] == ["stage", "count", "value"]
    assert hidden  # 80 columns cannot hold the whole funnel table
    assert "crm --wide" in "\n".join(lines)
    for stage, row in zip(stages, rows, strict=True):
        assert row.startswith(stage["name"])
        assert f"${float(stage['value']):,.2f}" in row
    wide = _plain(crm_at(example, 80, "--wide", "report", "pipeline"))
    [(header, _rows, hidden)] = [t for t in _tables(wide) if t[0][0] == "stage"]
    assert hidden == [] and "funnel" in header


@pytest.mark.parametrize("where", ["before", "after"])
def test_wide_shows_every_column_given_before_or_after_the_command(
    example: Path, where: str
) -> None:
    args = ["--wide", "lead", "list"] if where == "before" else ["lead", "list", "--wide"]
    lines = _plain(crm_at(example, 80, *args))
    [(header, rows, hidden)] = _tables(lines)
    assert hidden == [] and header[-1] == "acquired_at"
    assert all("…" not in row for row in rows)


def test_piped_tables_are_plain_and_complete(example: Path) -> None:
    out = crm_piped(example, "lead", "list")
    assert "\x1b[" not in out and "…" not in out and "not shown" not in out
    header = out.splitlines()[0].split()
    assert header[-3:] == ["campaign", "source", "acquired_at"]
    assert "Rheinwerk Maschinenbau" in out and "Webinar: Pipeline Hygiene" in out


def test_colour_means_severity_and_follows_no_color(example: Path) -> None:
    coloured = crm_at(example, 120, "report", "overdue")
    row_colours = {
        m for m in re.findall(r"\x1b\[([0-9;]*)m(?:lead|case|quote|opportunity|account)", coloured)
    }
    assert "1;31" in row_colours  # badly overdue: bold red
    assert coloured.count("\x1b[1m") >= 1  # bold title and header
    plain = crm_at(example, 120, "report", "overdue", NO_COLOR="1")
    assert not re.search(r"\x1b\[[0-9;]*3[0-7]m", plain)  # NO_COLOR: no colour, bold may stay
    assert _plain(plain) == _plain(coloured)
    forced = crm_piped(example, "lead", "list", FORCE_COLOR="1")
    assert "\x1b[" in forced and "not shown" not in forced  # colour into a pipe, all columns
    assert "\x1b[" not in crm_piped(example, "report", "overdue")


def test_json_and_csv_keep_raw_values(example: Path) -> None:
    report = json.loads(crm_piped(example, "report", "pipeline", "--format", "json"))
    stage = report["stages"][1]
    assert stage["stage"] == "qualification" and stage["value"] == "63500.00"
    assert "$" not in json.dumps(report)
    csv_text = crm_piped(example, "report", "pipeline", "--format", "csv")
    assert "qualification" in csv_text and "$" not in csv_text and "%" not in csv_text


# --- the layout itself, pure ---------------------------------------------------------------


def test_fit_drops_lowest_priority_first_and_truncates_text() -> None:
    headers = ["id", "title", "email", "source"]
    cells = [["12", "a long title that goes on", "someone@example.com", "web"]]
    specs = [Column(0), Column(10, text=True), Column(50), Column(75)]
    layout = fit(headers, cells, specs, 40)
    assert [headers[i] for i in layout.shown] == ["id", "title", "email"]
    assert layout.dropped == ["source"]
    assert sum(layout.widths) + 2 * (len(layout.widths) - 1) <= 40
    assert layout.widths[2] == len("someone@example.com")  # never shrunk
    everything = fit(headers, cells, specs, 40, wide=True)
    assert everything.dropped == [] and len(everything.shown) == 4


def test_truncate_counts_terminal_cells() -> None:
    assert truncate("Northwind Traders", 10) == "Northwind…"
    assert truncate("short", 10) == "short"
    assert cell_len(truncate("日本語のテキスト", 7)) <= 7


def test_money_percent_and_counts_follow_currency_and_locale() -> None:
    from decimal import Decimal

    from crmcli.render.terminal import Labels, display_value

    us = Labels(currency="USD", stages={"needs_analysis": "Needs Analysis"})
    assert display_value("value", Decimal("283300.00"), us) == "$283,300.00"
    assert display_value("won_value", Decimal("-1234.5"), us) == "-$1,234.50"
    assert display_value("target_percent", 0.0, us) == "0%"
    assert display_value("share", Decimal("57.7"), us) == "57.7%"
    assert display_value("count", 12345, us) == "12,345"
    assert display_value("id", 12345, us) is None  # ids are never grouped
    assert display_value("stage", "needs_analysis", us) == "Needs Analysis"
    de = Labels(currency="EUR", locale="de_DE")
    assert display_value("value", Decimal("1234.5"), de) == "1.234,50\xa0€"
    yen = Labels(currency="JPY", locale="ja_JP")
    assert display_value("amount", Decimal("1500"), yen) == "￥1,500"
    assert display_value("total", 172, us) is None  # a count under a money name stays a count
    assert display_value("quota", 2500, us) == "2,500"  # points, grouped, no currency


def test_my_day_says_how_long_is_left_today(example: Path) -> None:
    lines = _plain(crm_at(example, 80, "--as", "maria"))
    headers = [header for header, _rows, _hidden in _tables(lines)]
    assert ["rule", "record", "title", "due_at", "overdue_by"] in headers
    assert ["rule", "record", "title", "due_at", "due_in"] in headers
    [(_h, rows, _hidden)] = [t for t in _tables(lines) if t[0][-1] == "due_in"]
    assert rows and not any("due in" in row for row in rows)


def test_history_shows_every_time_in_local_minutes(crm) -> None:  # noqa: ANN001
    lead = crm.add_lead(acquired="2026-03-01T14:30:00+00:00")
    table = crm.ok("history", str(lead)).out
    assert "acquired_at: - → 2026-03-01 09:30" in table  # UTC 14:30 in New York
    assert not re.search(r"\d{2}:\d{2}:\d{2}|\+00:00", table)  # no raw stored stamps
    raw = crm.ok("history", str(lead), "--format", "json").json()
    assert any("+00:00" in json.dumps(event["changes"]) for event in raw)  # JSON unchanged


def test_theme_gives_severity_state_and_sign_their_colours() -> None:
    from decimal import Decimal

    from crmcli.render import theme

    assert theme.row_style({"overdue_by_seconds": -600}) == theme.DUE_SOON
    assert theme.row_style({"overdue_by_seconds": 3600}) == theme.OVERDUE
    assert theme.row_style({"overdue_by_seconds": 2 * 86400}) == theme.BADLY_OVERDUE
    assert theme.row_style({"stage": "total", "count": 3}) == theme.TOTAL
    assert theme.row_style({"stage": "proposal"}) is None
    assert theme.cell_style("stage", "closed_won") == "green"
    assert theme.cell_style("status", "lost") == "dim red"
    assert theme.cell_style("delta_value", Decimal("-5")) == theme.NEGATIVE
    assert theme.cell_style("change", 3) == theme.POSITIVE
    assert theme.cell_style("title", "closed_won") is None  # only stage/status columns


def test_control_characters_in_cells_never_reach_the_terminal() -> None:
    from crmcli.render import _one_line

    assert _one_line("Acme\x1b[31m Red\nCorp") == "Acme [31m Red Corp"
    assert _one_line("  ███  ") == "  ███  "  # spaces that shape a bar stay
