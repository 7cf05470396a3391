"""From export files to lead fields and back: header auto-mapping (Salesforce, HubSpot, our
own names), `--map` overrides, export dates, country names, spreadsheet-safe cells. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from crmcli.errors import BadInput
from crmcli.records import LEAD_EDITABLE

# what a column can fill; everything else is kept in the lead's `extra`
IMPORT_FIELDS = (*LEAD_EDITABLE, "campaign", "acquired_at")
EXTRA = "extra"  # `--map "Col=extra"` keeps a column in `extra` even if its name is known

# header (normalised: lower-case words) -> field; earlier aliases win when several match
_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("first name", "firstname", "first", "given name"),
    "last_name": ("last name", "lastname", "last", "surname", "family name"),
    "company": ("company", "company name", "account name", "organization", "organisation"),
    "title": ("title", "job title"),
    "email": ("email", "email address", "e mail", "work email"),
    "phone": (
        "phone",
        "phone number",
        "business phone",
        "work phone",
        "mobile",
        "mobile phone",
        "mobile phone number",
    ),
    "source": ("lead source", "source", "original source", "original source type"),
    "industry": ("industry",),
    "employees": (
        "no of employees",
        "number of employees",
        "employees",
        "num employees",
        "employee count",
    ),
    "country": ("country", "country region", "country code"),
    "region": ("state province", "state region", "state", "province", "region"),
    "campaign": ("campaign", "campaign name"),
    "acquired_at": (
        "created date",
        "create date",
        "created at",
        "created",
        "date created",
        "acquired at",
        "acquired",
    ),
}
_RANK = {
    alias: (name, rank) for name, aliases in _ALIASES.items() for rank, alias in enumerate(aliases)
}


def normalise_header(header: str) -> str:
    """'No. of Employees' -> 'no of employees'; 'first_name' -> 'first name'."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", header.replace("\ufeff", "").lower()).split())


@dataclass
class Mapping:
    """Which column fills which field; the rest go to `extra` under their header."""

    fields: dict[int, str]  # column index -> lead field
    extra: dict[int, str]  # column index -> header kept in `extra`
    headers: list[str] = field(default_factory=list)

    @property
    def unknown(self) -> list[str]:
        return list(self.extra.values())


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """`--map "Col=field"` values -> {normalised column: field}."""
    overrides: dict[str, str] = {}
    for item in items:
        column, sep, target = item.partition("=")
        target = target.strip().lower()
        if not sep or not column.strip() or not target:
            raise BadInput(f"--map: {item!r} is not Column=field, e.g. --map 'Mobile=phone'")
        if target not in (*IMPORT_FIELDS, EXTRA):
            raise BadInput(
                f"--map: {target!r} is not a lead field; use one of {', '.join(IMPORT_FIELDS)} "
                f"or {EXTRA}"
            )
        overrides[normalise_header(column)] = target
    return overrides


def map_headers(headers: Sequence[str], overrides: dict[str, str] | None = None) -> Mapping:
    """Map a file's headers to lead fields: `--map` first, then the best known alias.

    Two columns for one field: the better alias fills it, the other is kept in `extra`.
    """
    overrides = dict(overrides or {})
    names = [h.replace("\ufeff", "").strip() for h in headers]
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        key = normalise_header(name)
        if not key:
            raise BadInput(f"header: column {index + 1} has no name; name it or remove the column")
        if key in seen:
            raise BadInput(
                f"header: columns {seen[key] + 1} and {index + 1} are both called {name!r}; "
                "rename one"
            )
        seen[key] = index
    unused = set(overrides) - set(seen)
    if unused:
        raise BadInput(
            f"--map: no column {sorted(unused)[0]!r} in the file; its columns are "
            + ", ".join(names)
        )
    fields: dict[int, str] = {}
    best: dict[str, tuple[int, int]] = {}  # field -> (rank, column)
    for index, name in enumerate(names):
        key = normalise_header(name)
        target = overrides.get(key)
        if target == EXTRA:
            continue
        if target is not None:
            best[target] = (-1, index)  # an explicit --map beats every alias
            continue
        if key in _RANK:
            target, rank = _RANK[key]
            if target not in best or rank < best[target][0]:
                best[target] = (rank, index)
    for target, (_rank, index) in best.items():
        fields[index] = target
    extra = {i: names[i] for i in range(len(names)) if i not in fields}
    return Mapping(fields=fields, extra=extra, headers=names)


def field_for_key(key: str, overrides: dict[str, str] | None = None) -> str | None:
    """A JSONL key's field (None: keep it in `extra`)."""
    normal = normalise_header(key)
    target = (overrides or {}).get(normal)
    if target is not None:
        return None if target == EXTRA else target
    found = _RANK.get(normal)
    return found[0] if found else None


# common English country names in exports -> ISO 3166 codes (codes themselves pass through)
COUNTRY_NAMES = {
    "united states": "US",
    "united states of america": "US",
    "usa": "US",
    "u s a": "US",
    "u s": "US",
    "america": "US",
    "canada": "CA",
    "mexico": "MX",
    "united kingdom": "GB",
    "uk": "GB",
    "great britain": "GB",
    "england": "GB",
    "ireland": "IE",
    "germany": "DE",
    "deutschland": "DE",
    "france": "FR",
    "spain": "ES",
    "italy": "IT",
    "netherlands": "NL",
    "the netherlands": "NL",
    "belgium": "BE",
    "switzerland": "CH",
    "austria": "AT",
    "sweden": "SE",
    "norway": "NO",
    "denmark": "DK",
    "finland": "FI",
    "poland": "PL",
    "portugal": "PT",
    "australia": "AU",
    "new zealand": "NZ",
    "india": "IN",
    "japan": "JP",
    "china": "CN",
    "singapore": "SG",
    "brazil": "BR",
}


def country_code(value: str) -> str:
    """'United States' -> 'US'; anything else unchanged (validation judges it)."""
    return COUNTRY_NAMES.get(normalise_header(value), value)


# the export formats seen most (Salesforce: 09/01/2026 01:35 PM); anything else -> dateutil
_SLASHED = re.compile(
    r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:,?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?$"
)


def export_datetime(text: str, *, tz: tzinfo, day_first: bool) -> datetime | None:
    """A naive `MM/DD/YYYY [hh:mm[:ss] [AM|PM]]` (or DD/MM with `day_first`) in `tz`, read as
    dateutil reads it; None when the text is not in that form or ambiguous for this shortcut
    (the caller then asks dateutil)."""
    found = _SLASHED.match(text)
    if not found:
        return None
    first, second, year, hour, minute, second_s, meridiem = found.groups()
    month, day = (int(second), int(first)) if day_first else (int(first), int(second))
    hours = int(hour) if hour else 0
    if month > 12 or hours > 23 or (meridiem and not 1 <= hours <= 12):
        return None  # dateutil swaps or refuses these; let it decide
    if meridiem:
        hours = hours % 12 + (12 if meridiem.lower() == "pm" else 0)
    try:
        return datetime(
            int(year), month, day, hours, int(minute or 0), int(second_s or 0), tzinfo=tz
        )
    except ValueError:
        return None
