"""How big or far a value a user gives may be (SPEC §2: overflowing numbers, dates out of
range and deep nesting are bad input, exit 2, never a crash further in).

Pure and light (the standard library only): commands import it at start-up.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

# SQLite's INTEGER is 64-bit; PostgreSQL's id columns stop sooner (store.engine reports those)
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**63 - 1
# a count stored in an integer column (employees, capacity): what every backend holds
MAX_COUNT = 2**31 - 1
# dates a CRM has any business with; room on both sides for every duration below
FIRST_YEAR = 1900
LAST_YEAR = 2999
# the longest duration anywhere (policy rules, --duration, --due-within): ten years
MAX_DURATION = timedelta(days=3650)
MAX_DURATION_TEXT = "3650d (ten years)"
# tables, arrays and objects inside each other (a policy needs 4, an import row's value 1)
MAX_NESTING = 32


def integer_problem(value: int) -> str | None:
    """Why an integer cannot be stored, or None."""
    if value > MAX_INTEGER:
        return f"{value} is too large (numbers stop at {MAX_INTEGER})"
    if value < MIN_INTEGER:
        return f"{value} is too small (numbers stop at {MIN_INTEGER})"
    return None


def whole_number(text: str) -> int | None:
    """`text` as a whole number written in ASCII digits (ids typed as text: lead:12,
    account:3), or None. `str.isdigit` is not enough: int("²") fails."""
    text = text.strip()
    if not text or not text.isascii() or not text.isdigit():
        return None
    if len(text) > 20:  # past MAX_INTEGER whatever the digits (int() of 5,000 digits fails)
        return MAX_INTEGER + 1
    return int(text)


def checked_integer(value: int, *, field: str) -> int:
    """`value`, or BadInput naming `field` when the database cannot hold it."""
    problem = integer_problem(value)
    if problem:
        from crmcli.errors import BadInput

        raise BadInput(f"{field}: {problem}")
    return value


def date_problem(value: date) -> str | None:
    """Why a date (or an instant, judged in UTC) lies outside the years crmcli works in."""
    year = value.astimezone(UTC).year if isinstance(value, datetime) else value.year
    if FIRST_YEAR <= year <= LAST_YEAR:
        return None
    return f"{value.isoformat()} is out of range; give a date in the years {FIRST_YEAR}-{LAST_YEAR}"


def duration_problem(value: timedelta) -> str | None:
    if value > MAX_DURATION:
        return f"longer than {MAX_DURATION_TEXT}; give a shorter duration"
    return None


class TooDeep(ValueError):
    """JSON or TOML whose arrays and tables nest deeper than MAX_NESTING."""

    def __init__(self, limit: int = MAX_NESTING) -> None:
        super().__init__(f"nested more than {limit} levels deep")


def loads_json(text: str | bytes, *, limit: int = MAX_NESTING) -> Any:
    """json.loads, refusing (TooDeep) what nests deeper than `limit` rather than running
    out of stack on a line of 100,000 brackets."""
    import json

    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep(limit) from None
    if isinstance(value, dict | list) and nesting_depth(value, limit) > limit:
        raise TooDeep(limit)
    return value


def loads_toml(text: str) -> dict[str, Any]:
    """tomllib.loads, with the same limit (tomllib parses by recursion too)."""
    import tomllib

    try:
        value = tomllib.loads(text)
    except RecursionError:
        raise TooDeep() from None
    if nesting_depth(value) > MAX_NESTING:
        raise TooDeep()
    return value


def nesting_depth(value: Any, limit: int = MAX_NESTING) -> int:
    """How deeply dicts and lists nest in `value` (a scalar is 0), counted without recursion;
    stops counting past `limit` (returns limit + 1), so a hostile value costs little."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        if depth > limit:
            return limit + 1
        deepest = max(deepest, depth)
        pending.extend((child, depth) for child in children)
    return deepest
