"""From export files to lead fields and back: header auto-mapping (Salesforce, HubSpot, our
own names), `--map` overrides, export dates, country names, spreadsheet-safe cells. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import cache, lru_cache

from crmcli.errors import BadInput
from crmcli.records import LEAD_EDITABLE

# what a column can fill; everything else is kept in the lead's `extra`
IMPORT_FIELDS = (*LEAD_EDITABLE, "owner", "campaign", "acquired_at")
EXTRA = "extra"  # `--map "Col=extra"` keeps a column in `extra` even if its name is known
DROP = "drop"  # `--map "Col=drop"` leaves a column out altogether

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
        "mobile number",
        "cell phone",
        "other phone",
        "home phone",
        "home phone c",
        "work phone number",
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
    # the owner's name, login or email (Salesforce's OwnerId holds a Salesforce user id,
    # which names nobody here: it stays in `extra` unless `--map OwnerId=owner`)
    "owner": (
        "lead owner",
        "contact owner",
        "owner",
        "owner name",
        "lead owner name",
        "contact owner name",
        "record owner",
        "hubspot owner",
        "owner email",
    ),
    "acquired_at": (
        "created date",
        "createddate",
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


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def normalise_header(header: str) -> str:
    """'No. of Employees' -> 'no of employees'; 'first_name' -> 'first name'; Salesforce API
    names split at their capitals: 'NumberOfEmployees' -> 'number of employees'."""
    spaced = _CAMEL.sub(" ", header.replace("\ufeff", ""))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", spaced.lower()).split())


@dataclass
class Mapping:
    """Which column fills which field; the rest go to `extra` under their header."""

    fields: dict[int, str]  # column index -> lead field
    extra: dict[int, str]  # column index -> header kept in `extra`
    headers: list[str] = field(default_factory=list)
    # more phone columns (mobile, work, …), in file order: their headers in `extra`
    phones: tuple[str, ...] = ()

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
        if target not in (*IMPORT_FIELDS, EXTRA, DROP):
            raise BadInput(
                f"--map: {target!r} is not a lead field; use one of {', '.join(IMPORT_FIELDS)}, "
                f"{EXTRA} or {DROP}"
            )
        overrides[normalise_header(column)] = target
    return overrides


def unique_headers(headers: Sequence[str]) -> list[str]:
    """The file's headers, a repeated one (HubSpot adds the associated company's 'Company
    name', 'Phone Number', …) told apart by its place: 'Company name (2)'."""
    names = [h.replace("\ufeff", "").strip() for h in headers]
    seen: dict[str, int] = {}
    unique: list[str] = []
    for index, name in enumerate(names):
        key = normalise_header(name)
        if not key:
            raise BadInput(f"header: column {index + 1} has no name; name it or remove the column")
        seen[key] = seen.get(key, 0) + 1
        unique.append(name if seen[key] == 1 else f"{name} ({seen[key]})")
    return unique


def map_headers(headers: Sequence[str], overrides: dict[str, str] | None = None) -> Mapping:
    """Map a file's headers to lead fields: `--map` first, then the best known alias.

    Two columns for one field: the better alias fills it, the other is kept in `extra` (a
    second phone column is also a phone the lead may use). A repeated header is kept in
    `extra` as 'Name (2)', which `--map` can name too.
    """
    overrides = dict(overrides or {})
    names = unique_headers(headers)
    keys = [normalise_header(name) for name in names]
    # a repeated column's header as the file wrote it (HubSpot's company 'Phone Number')
    bases = [normalise_header(header) for header in headers]
    unused = set(overrides) - set(keys)
    if unused:
        raise BadInput(
            f"--map: no column {sorted(unused)[0]!r} in the file; its columns are "
            + ", ".join(names)
        )
    fields: dict[int, str] = {}
    dropped: set[int] = set()
    best: dict[str, tuple[int, int]] = {}  # field -> (rank, column)
    phones: list[int] = []
    for index, key in enumerate(keys):
        target = overrides.get(key)
        if target == DROP:
            dropped.add(index)
            continue
        if target == EXTRA:
            continue
        if target is not None:
            best[target] = (-1, index)  # an explicit --map beats every alias
            continue
        if _RANK.get(bases[index], ("",))[0] == "phone":
            phones.append(index)  # a fallback phone unless it is the phone
        if key in _RANK:
            target, rank = _RANK[key]
            if target not in best or rank < best[target][0]:
                best[target] = (rank, index)
    for target, (_rank, index) in best.items():
        fields[index] = target
    extra = {i: names[i] for i in range(len(names)) if i not in fields and i not in dropped}
    others = tuple(names[i] for i in phones if i in extra)
    return Mapping(fields=fields, extra=extra, headers=names, phones=others)


def field_for_key(key: str, overrides: dict[str, str] | None = None) -> str | None:
    """A JSONL key's field (None: keep it in `extra`; DROP: leave it out)."""
    normal = normalise_header(key)
    target = (overrides or {}).get(normal)
    if target is not None:
        return None if target == EXTRA else target
    found = _RANK.get(normal)
    return found[0] if found else None


def owner_key(text: str) -> str:
    """How an owner cell is compared with a user's name, login and email: case and the
    separators of names folded ('Maria Lopez', 'maria.lopez' and 'MARIA_LOPEZ' alike)."""
    return " ".join(re.split(r"[\s._-]+", text.strip().casefold())).strip()


def owner_index(users: Sequence[tuple[int, Sequence[str | None]]]) -> dict[str, int | None]:
    """{owner_key: user id} of (id, (name, login, email, …)) users; a key two users share
    names neither (None: ambiguous, so a flag rather than a guess)."""
    index: dict[str, int | None] = {}
    for user_id, names in users:
        for name in names:
            if not name or not owner_key(name):
                continue
            key = owner_key(name)
            index[key] = user_id if index.get(key, user_id) == user_id else None
    return index


def is_placeholder(text: str) -> bool:
    """An export's stand-in for nothing ('null', 'None', 'N/A'), not a value."""
    return text.strip().lower() in _PLACEHOLDERS


_PLACEHOLDERS = frozenset({"null", "none", "nil", "undefined", "n/a", "#n/a", "(none)"})


# what exports write for a country besides its ISO names and codes
COUNTRY_ALIASES = {
    "usa": "US",
    "u s a": "US",
    "u s": "US",
    "america": "US",
    "united states of america": "US",
    "uk": "GB",
    "u k": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "the netherlands": "NL",
    "holland": "NL",
    "south korea": "KR",
    "korea": "KR",
    "north korea": "KP",
    "russia": "RU",
    "vietnam": "VN",
    "iran": "IR",
    "syria": "SY",
    "laos": "LA",
    "bolivia": "BO",
    "venezuela": "VE",
    "tanzania": "TZ",
    "moldova": "MD",
    "taiwan": "TW",
    "czech republic": "CZ",
    "ivory coast": "CI",
    "cape verde": "CV",
    "swaziland": "SZ",
    "macedonia": "MK",
    "burma": "MM",
    "uae": "AE",
    "turkey": "TR",
    "palestinian territory": "PS",
    "libyan arab jamahiriya": "LY",
    "svalbard and jan mayen islands": "SJ",
    "united states virgin islands": "VI",
    "pitcairn islands": "PN",
    "saint helena": "SH",
}
_COUNTRY_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt", "sv", "da", "pl")


@cache
def _country_names() -> dict[str, str]:
    """Normalised name or code -> ISO 3166 alpha-2: pycountry's names, official and common
    names and alpha-3 codes, babel's names in the languages exports come in ('Deutschland',
    'Allemagne'), and the aliases above."""
    import pycountry
    from babel import Locale

    names: dict[str, str] = {}
    for language in _COUNTRY_LANGUAGES:
        for code, name in Locale(language).territories.items():
            if len(code) == 2 and code.isalpha():
                names.setdefault(_country_key(name), code)
    for country in pycountry.countries:
        code = country.alpha_2
        for attribute in ("name", "official_name", "common_name"):
            name = getattr(country, attribute, None)
            if name:
                names[_country_key(name)] = code
        names[country.alpha_3.lower()] = code
    names.update(COUNTRY_ALIASES)
    return names


def _country_key(name: str) -> str:
    """'Côte d'Ivoire' and 'Cote d'Ivoire', 'Bouvet Island (Bouvetoya)' and 'Bouvet Island',
    'Svalbard & Jan Mayen' and 'Svalbard and Jan Mayen' alike."""
    import unicodedata

    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return normalise_header(re.sub(r"\([^)]*\)", " ", plain).replace("&", " and "))


@lru_cache(maxsize=4096)  # an export names a few countries in every row
def country_code(value: str) -> str | None:
    """'United States', 'USA', 'Deutschland', 'DEU', 'de' -> its alpha-2 code; None when
    it names no country."""
    key = _country_key(value)
    if key in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[key]
    if len(key) == 2 and key.isalpha():
        import pycountry

        return key.upper() if pycountry.countries.get(alpha_2=key.upper()) else None
    return _country_names().get(key)


@cache
def _subdivisions(country: str) -> dict[str, str]:
    import pycountry

    found: dict[str, str] = {}
    for subdivision in pycountry.subdivisions.get(country_code=country) or ():
        code = subdivision.code.split("-", 1)[1]
        found[normalise_header(subdivision.name)] = code
        found[code.lower()] = code
    return found


def subdivision_code(country: str | None, value: str) -> str | None:
    """'New York' (US) -> 'NY'; None when the country has no subdivision of that name."""
    if not country:
        return None
    return _subdivision_code(country.upper(), value)


@lru_cache(maxsize=4096)  # … and a few dozen states or provinces
def _subdivision_code(country: str, value: str) -> str | None:
    return _subdivisions(country).get(normalise_header(value))


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
