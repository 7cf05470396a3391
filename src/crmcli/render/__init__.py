"""The one place output is rendered: Rich table, JSON, CSV or ids. Data to stdout only."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

PIPED_WIDTH = 200  # wide enough that piped tables are not wrapped mid-word


def _console():
    from rich.console import Console

    width = None if sys.stdout.isatty() else PIPED_WIDTH
    return Console(file=sys.stdout, width=width, highlight=False, soft_wrap=False)


def json_value(value: Any, tz: tzinfo | None) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat() if tz else value.isoformat()
    if isinstance(value, date):  # contract ends, close dates
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: json_value(v, tz) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v, tz) for v in value]
    return value


def text_value(value: Any, tz: tzinfo | None, *, for_table: bool) -> str:
    if value is None:
        return ""
    if type(value) is str:  # the common case first: tables print thousands of cells
        return value
    if isinstance(value, datetime):
        local = value.astimezone(tz) if tz else value
        return local.strftime("%Y-%m-%d %H:%M") if for_table else local.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(text_value(v, tz, for_table=for_table) for v in value)
    if isinstance(value, dict):
        return json.dumps(json_value(value, tz), ensure_ascii=False)
    return str(value)


# a cell starting with one of these is a formula to a spreadsheet (OWASP: CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# values the program computed, never text someone typed: a negative amount stays a number
_NOT_TEXT = (bool, int, float, Decimal, datetime, date)


def csv_cell(value: Any, tz: tzinfo | None = None) -> str:
    """One CSV cell: text a spreadsheet would run as a formula (`=HYPERLINK(…)`, `+SUM`,
    `@cmd`, `-2+3`) gets a leading `'`, so it shows as the text it is; numbers and times
    keep their sign and shape. Decided by the value's type, not by how its text looks."""
    if type(value) is str:  # the common case first: reports write millions of cells
        return "'" + value if value.startswith(FORMULA_START) else value
    text = text_value(value, tz, for_table=False)
    if isinstance(value, _NOT_TEXT) or not text.startswith(FORMULA_START):
        return text
    return "'" + text


class CsvWriter:
    """The one writer of every CSV the program prints or writes (reports, lists, exports,
    rejects files): csv.writer's quoting, "\n" line ends, every cell through csv_cell."""

    def __init__(self, stream: Any, *, tz: tzinfo | None = None) -> None:
        self._writer = csv.writer(stream, lineterminator="\n")
        self._tz = tz

    def writerow(self, values: Iterable[Any]) -> None:
        tz = self._tz
        self._writer.writerow([csv_cell(value, tz) for value in values])


def emit(
    rows: Sequence[dict[str, Any]],
    *,
    fmt: str,
    columns: Sequence[str] | None = None,
    table_columns: Sequence[str] | None = None,
    title: str | None = None,
    tz: tzinfo | None = None,
    empty: str = "nothing to show",
    labels: Any = None,
) -> None:
    """Write rows in the chosen format. `table_columns` narrows what the table shows;
    `labels` (render.terminal.Labels) formats money, percentages and stage names in it."""
    columns = list(columns or (rows[0].keys() if rows else []))
    if fmt == "json":
        payload = [{c: json_value(r.get(c), tz) for c in columns} for r in rows]
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    elif fmt == "csv":
        writer = CsvWriter(sys.stdout, tz=tz)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c) for c in columns])
    elif fmt == "ids":
        for row in rows:
            sys.stdout.write(f"{row['id']}\n")
    else:
        if not rows:
            note(empty)
            return
        _table(rows, table_columns or columns, title=title, tz=tz, labels=labels)


def emit_stream(
    rows: Iterable[Sequence[Any] | dict[str, Any]],
    *,
    fmt: str,
    columns: Sequence[str],
    tz: tzinfo | None = None,
) -> int:
    """Write json/csv/ids row by row as they arrive (reports over millions of rows); rows are
    dicts or tuples in `columns` order. Returns the number of rows written."""
    count = 0
    write = sys.stdout.write
    if fmt == "json":
        keys = [encode_basestring(c) + ": " for c in columns]
        write("[")
        for row in rows:
            values = [row.get(c) for c in columns] if isinstance(row, dict) else row
            line = ", ".join([k + _json_scalar(v, tz) for k, v in zip(keys, values, strict=True)])
            write(("\n{" if count == 0 else ",\n{") + line + "}")
            count += 1
        write("\n]\n" if count else "]\n")
    elif fmt == "csv":
        writer = CsvWriter(sys.stdout, tz=tz)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c) for c in columns] if isinstance(row, dict) else row)
            count += 1
    elif fmt == "ids":
        for row in rows:
            write(f"{row['id'] if isinstance(row, dict) else row[0]}\n")
            count += 1
    else:
        raise ValueError(f"emit_stream does not draw tables ({fmt})")
    return count


# what joins finished lines, per format (emit_lines adds the brackets and the header)
LINE_SEPARATORS = {"json": b",\n", "csv": b"\n"}


def emit_lines(
    segments: Iterable[tuple[int, Iterable[bytes]]], *, fmt: str, columns: Sequence[str]
) -> int:
    """Write finished JSON-object or CSV lines (UTF-8, made by the database) as emit_stream
    would write the rows they came from. `segments` are (count, chunks): `count` lines
    joined by LINE_SEPARATORS[fmt], in chunks. Returns the number of lines. Bytes straight to
    stdout's buffer: decoding and re-encoding a million lines costs more than writing them."""
    separator = LINE_SEPARATORS.get(fmt)
    if separator is None:
        raise ValueError(f"emit_lines writes json or csv, not {fmt}")
    sys.stdout.flush()
    out = sys.stdout.buffer
    if fmt == "json":
        out.write(b"[")
        first = b"\n"  # "[", then the lines one a line, then "]"
    else:
        header = io.StringIO()
        CsvWriter(header).writerow(columns)
        out.write(header.getvalue().encode())
        first = b""
    count = 0
    for lines, chunks in segments:
        if not lines:
            continue
        out.write(separator if count else first)
        for chunk in chunks:
            out.write(chunk)
        count += lines
    if fmt == "json":
        out.write(b"\n]\n" if count else b"]\n")
    elif count:
        out.write(b"\n")
    out.flush()
    return count


def _json_scalar(value: Any, tz: tzinfo | None) -> str:
    """One JSON value, as json.dumps(..., ensure_ascii=False) writes it, without its cost."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    if kind is datetime:
        return '"' + (value.astimezone(tz) if tz else value).isoformat() + '"'
    return json.dumps(json_value(value, tz), ensure_ascii=False)


def emit_record(
    record: dict[str, Any],
    *,
    fmt: str,
    tz: tzinfo | None = None,
    title: str | None = None,
    sections: dict[str, tuple[Sequence[dict[str, Any]], Sequence[str]]] | None = None,
    labels: Any = None,
) -> None:
    """One record: key/value table (plus sub-tables), a JSON object, a CSV row, or its id."""
    sections = sections or {}
    if fmt == "json":
        payload = json_value(record, tz)
        for name, (rows, _cols) in sections.items():
            payload[name] = json_value(list(rows), tz)
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    elif fmt in ("csv", "ids"):
        emit([record], fmt=fmt, tz=tz)
    else:
        from rich import box
        from rich.table import Table

        table = Table(title=title, box=box.SIMPLE, show_header=False, title_justify="left")
        from rich.text import Text

        # keys never wrap; long values wrap at spaces, a single token (an email) folds last
        table.add_column("field", style="bold", no_wrap=True)
        table.add_column("value", overflow="fold")
        for key, value in record.items():
            table.add_row(key, Text(_cell(value, key, tz, labels)))
        _print(table)
        for name, (rows, cols) in sections.items():
            if rows:
                _table(rows, cols, title=name, tz=tz, labels=labels)


def emit_created(record: dict[str, Any], *, fmt: str, tz: tzinfo | None = None) -> None:
    """A new record: its id alone (table, ids), or the record (json, csv)."""
    if fmt in ("json", "csv"):
        emit_record(record, fmt=fmt, tz=tz)
    else:
        sys.stdout.write(f"{record['id']}\n")


def _table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    title: str | None,
    tz: tzinfo | None,
    labels: Any = None,
) -> None:
    cells = [[text_value(row.get(c), tz, for_table=True) for c in columns] for row in rows]
    if labels is not None:
        from crmcli.render.terminal import formatter

        for k, column in enumerate(columns):
            show = formatter(column, labels)
            if show is None:
                continue
            for row, line in zip(rows, cells, strict=True):
                shown = show(row.get(column))
                if shown is not None:
                    line[k] = shown
    terminal = sys.stdout.isatty()
    if not terminal and not _forced_colour():
        _plain_table(cells, columns, title=title)
        return
    from crmcli.render.terminal import table_lines

    # one line per row; spaces that shape a cell (a centred funnel bar) stay
    cells = [[_one_line(cell) for cell in line] for line in cells]
    # a terminal gets a table that fits; forced colour into a pipe keeps every column
    width = shutil.get_terminal_size().columns if terminal else sys.maxsize
    lines = table_lines(rows, columns, cells, title=title, width=width)
    _print_styled(lines)


def _one_line(cell: str) -> str:
    """A cell on one line with no control characters (an ESC in stored text must not
    reach the terminal as an escape sequence)."""
    if cell.isprintable():
        return cell
    return " ".join("".join(ch if ch.isprintable() else " " for ch in cell).split())


def _cell(value: Any, column: str, tz: tzinfo | None, labels: Any) -> str:
    from crmcli.render.terminal import display_value

    shown = display_value(column, value, labels)
    return text_value(value, tz, for_table=True) if shown is None else shown


def _forced_colour() -> bool:
    return bool(os.environ.get("FORCE_COLOR")) and not os.environ.get("NO_COLOR")


def _print_styled(lines: Sequence[tuple[str, Sequence[tuple[int, int, str]]]]) -> None:
    """Lines with style spans, through Rich so NO_COLOR, FORCE_COLOR and TERM are honoured."""
    from rich.console import Console
    from rich.text import Text

    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    if console.color_system is None and not console.is_terminal:
        sys.stdout.write("\n".join(text for text, _ in lines) + "\n")
        return
    for text, spans in lines:
        line = Text(text)
        for start, end, style in spans:
            line.stylize(style, start, end)
        console.print(line)


def _plain_table(cells: list[list[str]], columns: Sequence[str], *, title: str | None) -> None:
    """Piped tables: aligned plain text, no colour, no box drawing, one line per row."""
    cells = [[" ".join(cell.split()) for cell in line] for line in cells]
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]

    def fmt(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    out = [title] if title else []
    out += [fmt(columns), fmt(["-" * w for w in widths]), *(fmt(line) for line in cells)]
    sys.stdout.write("\n".join(out) + "\n")


def _print(renderable: Any) -> None:
    console = _console()
    if sys.stdout.isatty():
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    # piped: no colour (not a terminal) and no padding to the full width
    sys.stdout.write("\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n")


# a time as the audit log stores it: ISO 8601 in UTC, often with microseconds
_STORED_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)?")


def changes_text(changes: dict[str, Any], tz: tzinfo | None = None) -> str:
    """{"title": [None, "CTO"]} -> "title: - → CTO" for tables; stored times show as every
    other time does (local minutes in `tz`)."""

    def show(value: Any) -> str:
        if value in (None, "", []):
            return "-"
        if isinstance(value, str) and _STORED_TIME.fullmatch(value):
            stamp = datetime.fromisoformat(value)
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=UTC)
            return text_value(stamp, tz, for_table=True)
        return str(value)

    return "; ".join(f"{key}: {show(old)} → {show(new)}" for key, (old, new) in changes.items())


def with_changes_text(events: Iterable[dict[str, Any]], tz: tzinfo | None) -> list[dict[str, Any]]:
    """Audit events for a table: each one's changes as one line of text (changes_text)."""
    return [{**event, "changes": changes_text(event["changes"], tz)} for event in events]


def duration_text(seconds: int) -> str:
    """A length of time as people read it ("2d 3h"), sign dropped."""
    from datetime import timedelta

    from crmcli.rules.durations import format_duration

    return format_duration(timedelta(seconds=abs(seconds)))


def overdue_text(seconds_late: int) -> str:
    """How late an obligation is ("2d 3h"), or, before its due time, "due in 5h"."""
    text = duration_text(seconds_late)
    return text if seconds_late > 0 else f"due in {text}"


def due_in_text(seconds_late: int) -> str:
    """How long until an obligation is due ("5h"), or, past it, "2d 3h late"."""
    text = duration_text(seconds_late)
    return text if seconds_late <= 0 else f"{text} late"


def note(message: str) -> None:
    """A message for the person, not the pipe: stderr."""
    sys.stderr.write(message + "\n")


def error(message: str, details: Sequence[str] = ()) -> None:
    sys.stderr.write(f"crm: {message}\n")
    for line in details:
        sys.stderr.write(f"{line}\n")
