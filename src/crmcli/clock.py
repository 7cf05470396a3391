"""The one clock every "now" reads (SPEC §2: CRM_NOW makes runs deterministic)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, tzinfo

from crmcli.errors import BadInput


def now() -> datetime:
    """Current time, timezone-aware in UTC; CRM_NOW (ISO 8601) overrides the system clock."""
    fixed = os.environ.get("CRM_NOW")
    if not fixed:
        return datetime.now(UTC)
    try:
        return parse_when(fixed, default_tz=UTC, field="CRM_NOW")
    except BadInput as exc:
        raise BadInput(f"CRM_NOW: {exc.message}") from None


def parse_when(
    text: str,
    *,
    default_tz: tzinfo,
    field: str = "--at",
    day_first: bool = False,
) -> datetime:
    """Parse an ISO or common US/EU date-time; naive values are read in `default_tz`.

    Returns an aware datetime in UTC.
    """
    raw = text.strip()
    if not raw:
        raise BadInput(f"{field}: empty date; use ISO 8601 like 2026-03-06 16:30")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        from dateutil import parser  # only for the forms ISO 8601 does not cover

        try:
            value = parser.parse(raw, dayfirst=day_first)
        except (ValueError, OverflowError, parser.ParserError):
            raise BadInput(
                f"{field}: cannot read {text!r} as a date; use ISO 8601 like 2026-03-06 16:30"
            ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_tz)
    return value.astimezone(UTC)


def parse_date(text: str, *, field: str) -> date:
    """A calendar date written YYYY-MM-DD (contract ends, close dates)."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"{field}: {text!r} is not a date; write YYYY-MM-DD") from None
