"""SQLite expressions that format values exactly as crmcli's Python output does.

Reports over millions of rows are bound by Python's cost per row, not by the query, so on
SQLite they let the database write each JSON or CSV line. These builders return SQL text for
column expressions the caller controls (never user input); values come in as bind parameters.
The Python writers in crmcli.render stay the reference: tests compare the two byte for byte.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo

from crmcli.render import FORMULA_START

# SQLAlchemy stores SQLite datetimes as naive UTC text in this shape (26 characters).
STORED = "%Y-%m-%d %H:%M:%S.%f"
_STEP = timedelta(hours=6)  # no zone changes its offset twice within six hours


def stored_text(moment: datetime) -> str:
    """An aware datetime as SQLite holds it (naive UTC text, sortable)."""
    return moment.astimezone(UTC).strftime(STORED)


def offset_periods(tz: tzinfo, start: datetime, end: datetime) -> list[tuple[datetime, timedelta]]:
    """The UTC offsets `tz` uses between two instants: [(from_utc, offset), …], oldest
    first; the first period also covers everything before `start`."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)

    def offset(moment: datetime) -> timedelta:
        return moment.astimezone(tz).utcoffset() or timedelta(0)

    periods = [(start, offset(start))]
    here = start
    while here < end:
        there = min(here + _STEP, end)
        if offset(there) != periods[-1][1]:
            # zone changes happen on whole seconds: bisect in seconds since `here`
            low, high = 0, int((there - here).total_seconds()) + 1
            while high - low > 1:
                middle = (low + high) // 2
                moment = here + timedelta(seconds=middle)
                low, high = (middle, high) if offset(moment) == periods[-1][1] else (low, middle)
            changed = (here + timedelta(seconds=high)).replace(microsecond=0)
            periods.append((changed, offset(there)))
        here = there
    return periods


def _offset_suffix(offset: timedelta) -> str:
    """The '+HH:MM' (or '+HH:MM:SS') that datetime.isoformat() appends."""
    sign = "-" if offset < timedelta(0) else "+"
    seconds = abs(int(offset.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


def iso_local(column: str, periods: Sequence[tuple[datetime, timedelta]]) -> str:
    """`column` (stored UTC text) as datetime.astimezone(tz).isoformat() writes it."""
    micro = f"substr({column}, 21)"
    fraction = f"CASE {micro} WHEN '000000' THEN '' ELSE '.' || {micro} END"
    whole = f"substr({column}, 1, 19)"  # SQLite would round .9995 s up to the next second

    def local(offset: timedelta) -> str:
        shift = int(offset.total_seconds())
        return (
            f"strftime('%Y-%m-%dT%H:%M:%S', {whole}, '{shift:+d} seconds') || {fraction}"
            f" || '{_offset_suffix(offset)}'"
        )

    newest_first = list(reversed(periods))
    branches = " ".join(
        f"WHEN {column} >= '{stored_text(since)}' THEN {local(offset)}"
        for since, offset in newest_first[:-1]
    )
    oldest = local(newest_first[-1][1])
    return f"(CASE {branches} ELSE {oldest} END)" if branches else f"({oldest})"


def whole_seconds_since(now: datetime, column: str) -> str:
    """int((now - column).total_seconds()) in exact integer arithmetic (truncating to 0)."""
    now = now.astimezone(UTC)
    epoch = int(now.replace(microsecond=0).timestamp())
    return (
        f"((({epoch} - {_epoch_seconds(f'substr({column}, 1, 19)')}) * 1000000"
        f" + ({now.microsecond} - CAST(substr({column}, 21) AS INTEGER))) / 1000000)"
    )


def _epoch_seconds(text: str) -> str:
    """Whole seconds since 1970 of a 'YYYY-MM-DD HH:MM:SS' UTC text: unixepoch() where the
    library has it (3.38+, and a third of strftime's cost), else strftime('%s')."""
    if sqlite3.sqlite_version_info >= (3, 38, 0):
        return f"unixepoch({text})"
    return f"CAST(strftime('%s', {text}) AS INTEGER)"


# cell kinds: "text" (any text or NULL), "word" (an identifier the program made: never
# needs escaping), "int" (integer or NULL), "time" (SQL yielding an ISO datetime text)


def _printf(template: str, arguments: Sequence[str]) -> str:
    """printf() of one SQL literal template: one call builds the line (a chain of ||
    copies it once per piece, which costs more than the values themselves)."""
    return f"printf({_literal(template)}, {', '.join(arguments)})"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def json_line(keys: Sequence[str], cells: Sequence[tuple[str, str]]) -> str:
    """One JSON object as render.emit_stream writes it: '{"key": value, …}'."""
    template, arguments = [], []
    for key, (sql, kind) in zip(keys, cells, strict=True):
        value, argument = {
            "text": ("%s", f"json_quote({sql})"),
            "word": ('"%s"', sql),
            "int": ("%s", f"COALESCE({sql}, 'null')"),
            "time": ('"%s"', sql),
        }[kind]
        template.append(f'"{key.replace("%", "%%")}": {value}')
        arguments.append(argument)
    return _printf("{" + ", ".join(template) + "}", arguments)


def _csv_quoted() -> str:
    """The characters that make csv.writer (QUOTE_MINIMAL, "\\n" line ends) quote a cell,
    asked of the csv module itself: its rule for carriage returns varies by version."""
    quoted = ""
    for char in (",", '"', "\n", "\r"):
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow([char, ""])
        quoted += char if out.getvalue().startswith('"') else ""
    return quoted


_CSV_QUOTED = _csv_quoted()


# the first characters render.csv_cell guards, as code points for SQLite's unicode()
_FORMULA_CODES = ", ".join(str(ord(char)) for char in FORMULA_START)
assert max(FORMULA_START) < "A"  # csv_line's shortcut below relies on it


def csv_line(cells: Sequence[tuple[str, str]]) -> str:
    """One CSV record as render.CsvWriter writes it: csv.writer's quoting (QUOTE_MINIMAL, no
    line terminator) and a `'` before text a spreadsheet would run as a formula."""

    def cell(sql: str, kind: str) -> str:
        if kind != "text":  # numbers, times and the program's words are never formulas
            return f"COALESCE({sql}, '')"
        # one GLOB per cell for the characters that make csv.writer quote a cell, and a
        # look at the first character (the guard's "'" never needs quoting); every formula
        # start sorts before 'A', so most cells cost one comparison more, not a call
        formula = f"unicode({sql}) IN ({_FORMULA_CODES})"
        guard = f"(CASE WHEN {formula} THEN '''' ELSE '' END)"
        quoted = f"'\"' || {guard} || replace({sql}, '\"', '\"\"') || '\"'"
        special = f"'*[{_CSV_QUOTED}]*'"
        return (
            f"(CASE WHEN {sql} GLOB {special} THEN {quoted}"
            f" WHEN {sql} < 'A' AND {formula} THEN '''' || {sql} ELSE COALESCE({sql}, '') END)"
        )

    return _printf(",".join("%s" for _ in cells), [cell(sql, kind) for sql, kind in cells])
