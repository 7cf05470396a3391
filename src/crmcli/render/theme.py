"""The one colour theme: what each colour means, decided from a cell's raw value.

Styles are Rich style strings; the console drops colour under NO_COLOR and when stdout is not
a terminal (unless FORCE_COLOR), so nothing here checks the environment.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

TITLE = "bold"
HEADER = "bold"
RULE = "dim"
FOOTER = "dim"
TOTAL = "bold"
# overdue severity, by how late an obligation is (negative: not due yet)
DUE_SOON = "yellow"
OVERDUE = "red"
BADLY_OVERDUE = "bold red"
BADLY_OVERDUE_AFTER = 86400  # seconds: a day late is bad whatever the rule
POSITIVE = "green"
NEGATIVE = "red"
# stages and statuses: won is good news, lost and stalled are not, new work stands out
STATE = {
    "closed_won": "green",
    "won": "green",
    "closed_lost": "dim red",
    "lost": "dim red",
    "nurture": "dim",
    "inactive": "dim",
    "new": "cyan",
    "qualified": "blue",
    "open": "cyan",
    "breached": "red",
    "overdue": "red",
    "met": "green",
    "met_late": "yellow",
}
STATE_COLUMNS = frozenset({"stage", "status", "outcome"})
DELTA_PREFIXES = ("delta", "change")


def row_style(row: dict[str, Any]) -> str | None:
    """A whole row's colour: overdue severity for obligations, bold for totals."""
    late = row.get("overdue_by_seconds")
    if isinstance(late, int | float):
        if late <= 0:
            return DUE_SOON
        return BADLY_OVERDUE if late >= BADLY_OVERDUE_AFTER else OVERDUE
    if any(row.get(key) == "total" for key in ("stage", "name", "owner", "rep")):
        return TOTAL
    return None


def cell_style(column: str, value: Any) -> str | None:
    """One cell's colour: a stage or status by meaning, a delta by its sign."""
    if column in STATE_COLUMNS and isinstance(value, str):
        return STATE.get(value)
    if column.startswith(DELTA_PREFIXES) and isinstance(value, int | float | Decimal):
        if value > 0:
            return POSITIVE
        if value < 0:
            return NEGATIVE
    return None
