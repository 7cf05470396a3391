"""SQLite writes report lines itself on big reports: its text must equal Python's, byte for
byte (crmcli.store.sqlite_text against datetime.isoformat, json.dumps and render.CsvWriter)."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import Crm
from crmcli import render
from crmcli.store import sqlite_text as sql

ZONES = ("America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata", "UTC")
START = datetime(2019, 1, 1, tzinfo=UTC)
END = datetime(2031, 1, 1, tzinfo=UTC)
moments = st.datetimes(
    min_value=datetime(2019, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


def _one(expression: str, **params: object) -> object:
    return sqlite3.connect(":memory:").execute(f"SELECT {expression}", params).fetchone()[0]


@pytest.mark.parametrize("zone", ZONES)
def test_offset_periods_match_zoneinfo_hour_by_hour(zone: str) -> None:
    tz = ZoneInfo(zone)
    periods = sql.offset_periods(tz, START, END)
    moment = START
    while moment < END:
        expected = moment.astimezone(tz).utcoffset()
        current = [offset for since, offset in periods if since <= moment][-1]
        assert current == expected, moment
        moment += timedelta(hours=1)
    # New York changes twice a year; Lord Howe by half an hour; Kolkata never
    assert len(periods) == {"America/New_York": 25, "Europe/Berlin": 25}.get(zone, len(periods))


def test_offset_change_is_found_to_the_second() -> None:
    tz = ZoneInfo("America/New_York")
    periods = sql.offset_periods(
        tz, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    )
    assert periods[1] == (datetime(2026, 3, 8, 7, 0, tzinfo=UTC), timedelta(hours=-4))


@settings(max_examples=300, deadline=None)
@given(moment=moments, zone=st.sampled_from(ZONES))
def test_iso_local_equals_isoformat(moment: datetime, zone: str) -> None:
    tz = ZoneInfo(zone)
    expression = sql.iso_local(":stored", sql.offset_periods(tz, START, END))
    made = _one(expression, stored=sql.stored_text(moment))
    assert made == moment.astimezone(tz).isoformat()


@settings(max_examples=300, deadline=None)
@given(due=moments, now=moments)
def test_whole_seconds_since_truncates_like_python(due: datetime, now: datetime) -> None:
    made = _one(sql.whole_seconds_since(now, ":stored"), stored=sql.stored_text(due))
    assert made == int((now - due).total_seconds())


@pytest.mark.parametrize("library", [(3, 37, 2), (3, 45, 0)])
def test_whole_seconds_since_with_and_without_unixepoch(
    library: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Libraries before 3.38 have no unixepoch(): the strftime('%s') fallback agrees."""
    monkeypatch.setattr(sql.sqlite3, "sqlite_version_info", library)
    expression = sql.whole_seconds_since(datetime(2026, 3, 2, 15, 0, 0, 250, tzinfo=UTC), ":s")
    assert ("unixepoch(" in expression) == (library >= (3, 38, 0))
    due = datetime(2025, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    assert (
        _one(expression, s=sql.stored_text(due)) == 60 * 86400 + 15 * 3600
    )  # 60 days and 15 h, plus 251 µs dropped


def test_json_line_keeps_a_percent_sign_in_a_key() -> None:
    line = sql.json_line(("100% done", "n"), [(":a", "text"), (":n", "int")])
    assert _one(line, a="%s %d", n=7) == '{"100% done": "%s %d", "n": 7}'


# SQLite's text functions stop at NUL (its documented undefined case); nothing else is left out
texts = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
)


@settings(max_examples=300, deadline=None)
@given(title=texts, number=st.one_of(st.none(), st.integers(-(2**40), 2**40)))
def test_json_line_equals_json_dumps(title: str | None, number: int | None) -> None:
    line = sql.json_line(
        ("rule", "title", "n"), [("'lead.entry'", "word"), (":title", "text"), (":n", "int")]
    )
    made = _one(line, title=title, n=number)
    assert json.loads(made) == {"rule": "lead.entry", "title": title, "n": number}
    if title is None or all(ch >= " " for ch in title):  # control characters: both valid
        expected = {"rule": "lead.entry", "title": title, "n": number}
        assert made == json.dumps(expected, ensure_ascii=False)


# text that starts like a formula (render.csv_cell guards it) often, not by chance
formula_texts = st.builds(
    lambda start, rest: start + (rest or ""), st.sampled_from(render.FORMULA_START), texts
)


@settings(max_examples=300, deadline=None)
@given(cells=st.lists(st.one_of(texts, formula_texts), min_size=2, max_size=4))
def test_csv_line_equals_the_csv_writer(cells: list[str | None]) -> None:
    names = [f":c{index}" for index in range(len(cells))]
    made = _one(
        sql.csv_line([(name, "text") for name in names]),
        **{name[1:]: cell for name, cell in zip(names, cells, strict=True)},
    )
    expected = io.StringIO()
    render.CsvWriter(expected).writerow(cells)  # the one CSV writer: quoting and guard
    assert made + "\n" == expected.getvalue()


def test_csv_line_guards_text_but_not_numbers() -> None:
    line = sql.csv_line([(":t", "text"), (":n", "int"), (":w", "word")])
    assert _one(line, t="-2+3", n=-2, w="lead.entry") == "'-2+3,-2,lead.entry"
    assert _one(line, t='=HYPERLINK("x")', n=None, w="x") == '"\'=HYPERLINK(""x"")",,x'


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_overdue_report_written_by_sqlite_equals_the_python_writer(
    team: Crm, monkeypatch: pytest.MonkeyPatch, parts: int
) -> None:
    """Awkward titles (quotes, commas, line breaks, non-ASCII), an unassigned owner and due
    times on both sides of a DST change: the fast path and the row-by-row path agree, read
    in one part or split by owner across worker processes (as a big report is)."""
    monkeypatch.setattr("crmcli.services.reports._cores", lambda: parts)
    monkeypatch.setattr("crmcli.services.reports.PARALLEL_FROM", 1)
    team.ok("user", "add", "al", "--role", "editor")
    names = [("Zoë", 'O"Neil, Jr.'), ("Ann\nMarie", "Smith"), ("Bo", "Bo")]
    for number, (first, last) in enumerate(names):
        team.ok(
            "lead", "add", "--first", first, "--last", last, "--company", "Acme, Inc",
            "--email", f"p{number}@example.com", "--source", "web",
        )  # fmt: skip
    team.ok("assign", "1", "--to", "ed")
    team.ok("assign", "3", "--to", "al")
    team.ok("next-step", "2", "call back, today", "--due", "2026-03-07 11:15:30")  # -05:00
    later = {"CRM_NOW": "2026-03-17T15:00:00.5Z"}  # after the 8 March change to summer time
    outputs = {}
    for fmt in ("json", "csv"):
        outputs[fmt] = team.ok(
            "report", "overdue", "--format", fmt, "--due-within", "30d", **later
        ).out
    monkeypatch.setattr("crmcli.services.reports.overdue_lines", lambda *a, **k: None)
    for fmt in ("json", "csv"):
        slow = team.ok("report", "overdue", "--format", fmt, "--due-within", "30d", **later).out
        assert outputs[fmt] == slow
    rows = json.loads(outputs["json"])
    assert {r["owner"] for r in rows} == {"ed", "al", None}
    assert any(r["due_at"].endswith("-05:00") for r in rows)
    assert any('O"Neil' in r["title"] for r in rows)
    late = sum(1 for r in rows if r["overdue_by_seconds"] > 0)
    assert 0 < late < len(rows)  # some are only due soon
    check = team("report", "overdue", "--format", "csv", "--due-within", "30d", "--check", **later)
    assert check.code == 1 and check.err.strip() == f"crm: {late} obligations overdue"


@pytest.mark.sqlite_only
def test_overdue_report_in_parts_reads_one_snapshot_or_falls_back(
    team: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts share a snapshot taken under the write lock; while a writer holds that lock the
    report does not wait for it but reads in one part, with the same result."""
    import crmcli.store.parallel as parallel

    monkeypatch.setattr("crmcli.services.reports._cores", lambda: 2)
    monkeypatch.setattr("crmcli.services.reports.PARALLEL_FROM", 1)
    monkeypatch.setattr(parallel, "LOCK_WAIT", 0.05)
    for number, last in enumerate(("Lovelace", "Hopper", "Turing", "Noether")):
        team.add_lead(last=last, email=f"s{number}@example.com")
    team.ok("assign", "1", "--to", "ed")
    split = team.ok("report", "overdue", "--format", "json", "--due-within", "30d")
    writer = sqlite3.connect(team.db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        whole = team.ok("report", "overdue", "--format", "json", "--due-within", "30d")
    finally:
        writer.rollback()
        writer.close()
    assert whole.out == split.out and len(json.loads(split.out)) >= 4


@pytest.mark.sqlite_only
def test_a_failing_report_worker_is_a_storage_error(
    team: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crmcli.store.parallel as parallel

    monkeypatch.setattr("crmcli.services.reports._cores", lambda: 2)
    monkeypatch.setattr("crmcli.services.reports.PARALLEL_FROM", 1)
    monkeypatch.setattr(parallel, "_WORKER", "import sys; sys.exit('disk on fire')")
    team.add_lead(last="Hopper", email="a@example.com")
    team.add_lead(last="Turing", email="b@example.com")
    team.ok("assign", "1", "--to", "ed")
    result = team("report", "overdue", "--format", "csv", "--due-within", "30d")
    assert result.code == 6
    assert result.err.strip() == (
        "crm: a report worker failed (disk on fire); rerun, or report a bug"
    )
