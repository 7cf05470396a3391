"""Tables for a person at a terminal: columns that fit the width, colour from the theme,
money, percentages and stage names as people read them.

Every column has a priority and a minimum width (COLUMNS, else inferred from its values):
when the row does not fit, the lowest-priority columns drop and a footer names them
(`crm --wide …` shows them all); free text truncates with "…"; ids, rule ids, dates,
numbers, emails and stage names are never cut or wrapped. Piped output does not come here.
"""

from __future__ import annotations

import functools
import textwrap
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from crmcli.render import theme

GAP = 2  # spaces between columns
ELLIPSIS = "…"
TEXT_MIN_WIDTH = 10  # a truncated text column keeps at least this many cells
# set once per invocation by the root callback (crm --wide): show every column
_WIDE: ContextVar[bool] = ContextVar("crm_wide", default=False)


def set_wide(wide: bool) -> None:
    _WIDE.set(wide)


@dataclass(frozen=True)
class Column:
    """How a column behaves at a terminal: `priority` 0 is never dropped, higher numbers
    drop first; `text` columns may be truncated to `min_width`, others never shrink."""

    priority: int
    text: bool = False
    min_width: int = TEXT_MIN_WIDTH


_KEY = Column(0)
COLUMNS: dict[str, Column] = {
    # what a row is: never dropped
    "id": _KEY,
    "rule": _KEY,
    "record": _KEY,
    "stage": _KEY,
    "kind": Column(5),
    "due_at": Column(3),
    "overdue_by": Column(2),
    "when": Column(3),
    "at": Column(3),
    # who and what
    "first_name": Column(10),
    "last_name": Column(10),
    "name": Column(10, text=True),
    "company": Column(15, text=True, min_width=12),
    "title": Column(12, text=True),
    "subject": Column(12, text=True, min_width=16),
    "summary": Column(30, text=True, min_width=16),
    "changes": Column(30, text=True, min_width=20),
    "notes": Column(60, text=True),
    "status": Column(20),
    "owner": Column(25),
    "actor": Column(25),
    "action": Column(8),
    "command": Column(40, text=True),
    "login": Column(65),
    "count": Column(5),
    "value": Column(8),
    "weighted": Column(12),
    "probability": Column(40),
    "share": Column(35),
    "per_next": Column(50),
    "funnel": Column(32),
    "trend": Column(45),
    "score": Column(30),
    "band": Column(60),
    "email": Column(50),
    "phone": Column(55),
    "campaign": Column(70, text=True),
    "source": Column(75),
    "acquired_at": Column(80),
    "created_at": Column(85),
    "updated_at": Column(90),
}

MONEY = frozenset({"value", "weighted", "amount", "total", "subtotal", "target", "revenue"})
MONEY_SUFFIXES = ("_value", "_amount", "_total", "_revenue")
PERCENT = frozenset({"share", "probability", "rate", "attainment"})
PERCENT_SUFFIXES = ("_percent", "_rate")


@dataclass(frozen=True)
class Labels:
    """What the policy says about showing values: its currency and locale, and the display
    names of its stages."""

    currency: str = ""
    locale: str = "en_US"  # the policy has no locale key yet: separators as in the US
    stages: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, policy: Any) -> Labels:
        return cls(
            currency=policy.quotes.currency,
            stages={s["key"]: s.get("name", s["key"]) for s in policy.stages},
        )


def is_money(column: str) -> bool:
    return column in MONEY or column.endswith(MONEY_SUFFIXES)


def is_percent(column: str) -> bool:
    return column in PERCENT or column.endswith(PERCENT_SUFFIXES)


def formatter(column: str, labels: Labels | None) -> Callable[[Any], str | None] | None:
    """How `column` shows to a person, decided once per column (a table has thousands of
    cells): money with currency and grouping, percentages with "%", counts grouped, stage
    keys as the policy's names; the function returns None where the generic text will do,
    and None instead of a function when the column needs nothing."""
    if labels is None:
        return None
    if column == "stage":
        stages = labels.stages
        return lambda value: stages.get(value) if isinstance(value, str) else None
    if column == "id" or column.endswith("_id"):
        return None
    locale, currency = labels.locale, labels.currency  # babel loads on the first number

    if is_money(column):
        # amounts are Decimal here; an int or float under a money name is a count or points
        return lambda value: (
            number_style(locale, currency).money(value) if type(value) is Decimal else None
        )
    if is_percent(column):
        return lambda value: (
            number_style(locale, currency).percent(value)
            if isinstance(value, int | float | Decimal) and not isinstance(value, bool)
            else None
        )
    # small numbers (scores, counts) print as they are: no separator to add
    return lambda value: (
        number_style(locale, currency).number(value, 0)
        if type(value) is int and not -1000 < value < 1000
        else None
    )


def display_value(column: str, value: Any, labels: Labels | None) -> str | None:
    """One value as a person reads it in `column` (see formatter), or None."""
    show = formatter(column, labels)
    return show(value) if show and value is not None else None


@dataclass(frozen=True)
class NumberStyle:
    """A locale's separators and a currency's symbol, read from babel (CLDR) once, so a
    thousand-row table formats with str methods rather than a babel call per cell."""

    group: str
    decimal: str
    prefix: str  # around the amount: "$" + "1,234.50" + "", or "" + "1.234,50" + " €"
    suffix: str
    digits: int  # the currency's minor unit

    def number(self, value: float | Decimal, places: int) -> str:
        text = f"{value:,.{places}f}"
        if places and "." in text:
            text = text.rstrip("0").rstrip(".")  # 57.7, 10 (not 10.0)
        return text.translate({ord(","): self.group, ord("."): self.decimal})

    def percent(self, value: float | Decimal) -> str:
        return self.number(value, 1) + "%"

    def money(self, value: float | Decimal) -> str:
        text = f"{abs(value):,.{self.digits}f}"
        text = text.translate({ord(","): self.group, ord("."): self.decimal})
        return ("-" if value < 0 else "") + self.prefix + text + self.suffix


@functools.cache
def number_style(locale: str, currency: str) -> NumberStyle:
    from babel import Locale
    from babel.numbers import format_currency, get_currency_precision

    parsed = Locale.parse(locale)
    group = parsed.number_symbols["latn"]["group"]
    decimal = parsed.number_symbols["latn"]["decimal"]
    if not currency:
        return NumberStyle(group, decimal, "", "", 2)
    digits = get_currency_precision(currency)
    sample = format_currency(1, currency, locale=parsed)
    core = "1" + (decimal + "0" * digits if digits else "")
    prefix, _, suffix = sample.partition(core)
    return NumberStyle(group, decimal, prefix, suffix, digits)


def cell_len(text: str) -> int:
    """Terminal cells `text` takes: East Asian wide characters take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def truncate(text: str, width: int) -> str:
    if cell_len(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        size = cell_len(ch)
        if used + size > width - 1:
            break
        out.append(ch)
        used += size
    return "".join(out) + ELLIPSIS


def column_for(name: str, position: int, values: Sequence[Any]) -> Column:
    """The declared behaviour of `name`, else one inferred from its values: text with
    spaces may truncate; a single token (an id, an email, a date, a number) never does."""
    known = COLUMNS.get(name)
    if known:
        return known
    if position == 0:
        return _KEY  # a table's first column says what each row is
    text = any(isinstance(v, str) and " " in v.strip() for v in values)
    computed = all(
        isinstance(v, int | float | Decimal | datetime | date | timedelta | None) for v in values
    )
    priority = 50 + position if not computed else 40 + position
    return Column(priority, text=text)


@dataclass(frozen=True)
class Layout:
    shown: list[int]  # indexes of the columns shown, in order
    widths: list[int]  # their widths
    dropped: list[str]  # names of the columns left out


def fit(
    headers: Sequence[str],
    cells: Sequence[Sequence[str]],
    specs: Sequence[Column],
    width: int,
    *,
    wide: bool = False,
) -> Layout:
    """Which columns to show at `width` and how wide each is. Pure: unit-tested directly."""
    natural = [
        max([cell_len(h), *(cell_len(line[i]) for line in cells)]) for i, h in enumerate(headers)
    ]
    minimum = [
        min(natural[i], max(specs[i].min_width, cell_len(h))) if specs[i].text else natural[i]
        for i, h in enumerate(headers)
    ]
    shown = list(range(len(headers)))
    if wide:
        return Layout(shown, natural, [])

    def needed(indexes: list[int]) -> int:
        return sum(minimum[i] for i in indexes) + GAP * (len(indexes) - 1)

    while len(shown) > 1 and needed(shown) > width:
        # the lowest priority goes first; of equals, the rightmost
        drop = max(shown, key=lambda i: (specs[i].priority, i))
        shown.remove(drop)
    widths = {i: minimum[i] for i in shown}
    spare = width - needed(shown)
    # what is left widens the truncated text columns, the most important first
    for i in sorted(shown, key=lambda i: (specs[i].priority, i)):
        step = min(natural[i] - widths[i], max(spare, 0))
        widths[i] += step
        spare -= step
    if len(shown) == 1 and specs[shown[0]].text:
        widths[shown[0]] = min(widths[shown[0]], max(width, 1))
    dropped = [headers[i] for i in range(len(headers)) if i not in shown]
    return Layout(shown, [widths[i] for i in shown], dropped)


def table_lines(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    cells: Sequence[Sequence[str]],
    *,
    title: str | None,
    width: int,
) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """The table as lines with their style spans (start, end, style), fitted to `width`."""
    specs = [column_for(c, i, [r.get(c) for r in rows]) for i, c in enumerate(columns)]
    layout = fit(columns, cells, specs, width, wide=_WIDE.get())
    numeric = [
        all(
            isinstance(r.get(columns[i]), int | float | Decimal) or r.get(columns[i]) is None
            for r in rows
        )
        and any(r.get(columns[i]) is not None for r in rows)
        and columns[i] != "id"
        for i in layout.shown
    ]
    lines: list[tuple[str, list[tuple[int, int, str]]]] = []
    for text in textwrap.wrap(title or "", max(width, 20)):
        lines.append((text, [(0, len(text), theme.TITLE)]))

    def join(values: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
        parts, bounds, at = [], [], 0
        for k, (value, w) in enumerate(zip(values, layout.widths, strict=True)):
            value = truncate(value, w)
            pad = " " * (w - cell_len(value))
            value = pad + value if numeric[k] else value + pad
            bounds.append((at, at + len(value)))
            parts.append(value)
            at += len(value) + GAP
        return (" " * GAP).join(parts).rstrip(), bounds

    header, _ = join([columns[i] for i in layout.shown])
    lines.append((header, [(0, len(header), theme.HEADER)]))
    rule = "─" * min(width, sum(layout.widths) + GAP * (len(layout.widths) - 1))
    lines.append((rule, [(0, len(rule), theme.RULE)]))
    for row, line in zip(rows, cells, strict=True):
        text, bounds = join([line[i] for i in layout.shown])
        spans = []
        style = theme.row_style(row)
        if style:
            spans.append((0, len(text), style))
        for (start, end), i in zip(bounds, layout.shown, strict=True):
            cell = theme.cell_style(columns[i], row.get(columns[i]))
            if cell:
                spans.append((start, min(end, len(text)), cell))
        lines.append((text, spans))
    if layout.dropped:
        footer = f"not shown: {', '.join(layout.dropped)} (crm --wide … shows every column)"
        for text in textwrap.wrap(footer, max(width, 20), break_on_hyphens=False):
            lines.append((text, [(0, len(text), theme.FOOTER)]))
    lines.append(("", []))  # a blank line before whatever follows
    return lines
