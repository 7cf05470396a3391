"""Validation and normalisation of contact data (SPEC §3), shared by add, edit and import."""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Any

from crmcli.errors import BadInput
from crmcli.limits import MAX_COUNT

_TERRITORY = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # (whitespace is collapsed by clean_text first)
MAX_FIELD_LENGTH = 300  # a name, company or title longer than this is a pasted document


def check_text(field: str, value: str | None) -> str | None:
    """Refuse control characters (PostgreSQL cannot even store NUL) and runaway lengths."""
    if value is None:
        return None
    if found := _CONTROL.search(value):
        raise BadInput(
            f"{field}: contains the control character U+{ord(found.group()):04X}; remove it"
        )
    if len(value) > MAX_FIELD_LENGTH:
        raise BadInput(
            f"{field}: {len(value)} characters is too long; keep it to {MAX_FIELD_LENGTH}"
        )
    return value


def clean_text(value: Any) -> str | None:
    """Strip surrounding and collapse inner whitespace; empty becomes None."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def normalise_email(raw: str, *, field: str = "email") -> str:
    """The address as email-validator normalises it (no DNS), lower-cased.

    The common address (plain ASCII `local@domain`) takes a shortcut with the same result:
    email-validator's own dot-atom pattern for the local part and one full validation per
    distinct domain (the costly part: IDNA), cached. Anything else, and every error, goes
    through the full `validate_email` call, so messages are the library's.
    """
    text = raw.strip()
    fast = _fast_email(text)
    if fast is not None:
        return fast
    return _full_email(text, raw, field)


def _full_email(text: str, raw: str, field: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise BadInput(f"{field}: {raw!r} is not a valid email address ({exc})") from None
    # stored lower-case so duplicate checks compare like with like
    return result.normalized.lower()


def _fast_email(text: str) -> str | None:
    """`_full_email`'s result for a plain ASCII address, or None (take the full path)."""
    if not text.isascii() or len(text) > _EMAIL_MAX or text.count("@") != 1:
        return None
    local, domain = text.split("@")
    if not _dot_atom().fullmatch(local):
        return None
    domains = _email_domain(domain.lower())
    if domains is None:
        return None
    normal, ascii_domain = domains
    address = f"{local}@{normal}"
    if len(address.encode()) > _EMAIL_MAX or len(local) + 1 + len(ascii_domain) > _EMAIL_MAX:
        return None
    return address.lower()


_EMAIL_MAX = 254  # RFC 5321 (email-validator's EMAIL_MAX_LENGTH)


@cache
def _dot_atom() -> re.Pattern[str]:
    from email_validator.rfc_constants import DOT_ATOM_TEXT

    return DOT_ATOM_TEXT


@lru_cache(maxsize=1 << 14)
def _email_domain(domain: str) -> tuple[str, str] | None:
    """(normalised, IDNA ASCII) form of a valid domain; None if email-validator refuses it.
    Lower-cased first: domains are case-insensitive, and the cache then holds one entry."""
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.domain, result.ascii_domain


def normalise_phone(raw: str, *, region: str, field: str = "phone") -> str:
    """E.164 form of a valid number (phonenumbers), once per distinct text and region."""
    result = _phone(raw, region)
    if result is None:
        raise BadInput(
            f"{field}: {raw!r} is not a valid phone number for region {region}; "
            "write it with its country code, like +1 212 555 0100"
        )
    return result


EXTENSION = ";ext="  # RFC 3966: '+18667350901;ext=1352', exact-matchable and searchable


# the forms `_phone` gave: each is valid as it is, in any region (E.164 starts with its
# country code), so normalising one again (an import's row checked, then its lead) is a
# look-up, not a second parse (phonenumbers is most of an import's checking time)
_GIVEN: set[str] = set()


def _phone(raw: str, region: str) -> str | None:
    """E.164, with its extension kept RFC 3966 style (colleagues on one main line are
    different people)."""
    if raw in _GIVEN:
        return raw
    result = _parse_phone(raw, region)
    if result is not None and len(_GIVEN) < 1 << 16:
        _GIVEN.add(result)
    return result


@lru_cache(maxsize=1 << 14)
def _parse_phone(raw: str, region: str) -> str | None:
    import phonenumbers

    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164}{EXTENSION}{number.extension}" if number.extension else e164


@cache
def _regions() -> frozenset[str]:
    import phonenumbers

    return frozenset(phonenumbers.SUPPORTED_REGIONS)


@cache
def _countries() -> frozenset[str]:
    """ISO 3166 alpha-2 codes: phonenumbers' regions and the territories without a
    numbering plan of their own (pycountry: Bouvet Island, Antarctica, …)."""
    import pycountry

    return _regions() | {country.alpha_2 for country in pycountry.countries}


def normalise_country(raw: str, *, field: str = "country") -> str:
    code = raw.strip().upper()
    if code not in _countries():
        raise BadInput(f"{field}: {raw!r} is not an ISO 3166 country code; use two letters like US")
    return code


def normalise_territory(raw: str) -> str:
    code = raw.strip().upper()
    if not _TERRITORY.match(code):
        raise BadInput(
            f"--territory: {raw!r} is not a territory; write a country (US) or a country and "
            "region (US-NY)"
        )
    return code


def normalise_count(raw: Any, *, field: str) -> int:
    try:
        value = int(str(raw).strip().replace(",", ""))
    except ValueError:
        raise BadInput(f"{field}: {raw!r} is not a whole number") from None
    if value < 0:
        raise BadInput(f"{field}: {value} is negative; give 0 or more")
    if value > MAX_COUNT:
        raise BadInput(f"{field}: {value} is too large; give at most {MAX_COUNT:,}")
    return value


LEAD_TEXT_FIELDS = ("first_name", "last_name", "company", "title", "source", "industry")


def normalise_lead(raw: dict[str, Any], *, phone_region: str) -> dict[str, Any]:
    """Validate a lead's fields; returns the normalised values (only keys present in `raw`).

    Completeness is checked separately (`check_complete`) so edits can validate a subset.
    """
    out: dict[str, Any] = {}
    for key in LEAD_TEXT_FIELDS:
        if key in raw:
            out[key] = check_text(key, clean_text(raw[key]))
    if "source" in out and out["source"]:
        out["source"] = out["source"].lower()
    if "email" in raw:
        out["email"] = normalise_email(raw["email"]) if clean_text(raw["email"]) else None
    if "phone" in raw:
        phone = clean_text(raw["phone"])
        out["phone"] = normalise_phone(phone, region=phone_region) if phone else None
    if "employees" in raw:
        count = clean_text(raw["employees"])
        out["employees"] = normalise_count(count, field="employees") if count else None
    if "country" in raw:
        country = clean_text(raw["country"])
        out["country"] = normalise_country(country) if country else None
    if "region" in raw:
        region = clean_text(raw["region"])
        if region and "-" in region and len(region.split("-", 1)[0]) == 2:
            # "US-NY" style: keep the subdivision, the country belongs in `country`
            country, region = region.split("-", 1)
            out.setdefault("country", normalise_country(country, field="region"))
        out["region"] = region.upper() if region and len(region) <= 3 else region
    return out


def check_named(person: dict[str, Any], noun: str = "lead") -> None:
    if not (person.get("first_name") or person.get("last_name")):
        raise BadInput(f"name: a {noun} needs --first or --last")


def check_reachable(person: dict[str, Any], noun: str = "lead") -> None:
    if not (person.get("email") or person.get("phone")):
        raise BadInput(f"email/phone: a {noun} needs --email or --phone to be reachable")


def check_complete(lead: dict[str, Any]) -> None:
    """Name, a way to reach the lead, and a source must be present (seed 001 §2.2)."""
    check_named(lead)
    check_reachable(lead)
    if not lead.get("source"):
        raise BadInput("source: say where the lead came from with --source (e.g. web, referral)")


# what a doubtful value of an imported row is flagged as (`import_values`)
FLAG_KINDS = ("placeholder", "phone", "email", "country", "employees", "date", "source")


def import_values(
    raw: dict[str, Any], *, phone_region: str, other_phones: tuple[str, ...] = ()
) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
    """An imported row's normalised values and its flags: {field: (kind, original text)}.

    An import loses nobody: a row is refused (BadInput) only when it has neither a name nor
    an email, or no valid way to reach the person (email or phone); every other doubtful
    value (an unassigned phone, a `null` placeholder, an unknown country, a bad head count)
    is left out of the lead's fields and returned as a flag, for the caller to keep and
    raise. The phone is the first valid number of the phone column and `other_phones`.
    """
    from crmcli.rules import mapping

    raw = dict(raw)
    flags: dict[str, tuple[str, str]] = {}
    for key, value in list(raw.items()):
        if isinstance(value, str) and mapping.is_placeholder(value):
            flags[key] = ("placeholder", value.strip())
            raw[key] = None
    phones = [p for p in (clean_text(raw.get("phone")), *map(clean_text, other_phones)) if p]
    phones = [p for p in phones if not mapping.is_placeholder(p)]
    if "phone" in raw or phones:
        valid = next((e164 for p in phones if (e164 := _phone(p, phone_region))), None)
        raw["phone"] = valid
        if valid is None and phones:
            flags["phone"] = ("phone", phones[0])
    email = clean_text(raw.get("email"))
    if email:
        try:
            normalise_email(email)
        except BadInput as exc:
            if not raw.get("phone"):
                raise
            del exc
            flags["email"] = ("email", email)
            raw["email"] = None
    country = clean_text(raw.get("country"))
    if country:
        code = mapping.country_code(country)
        if code is None or code not in _countries():
            flags["country"] = ("country", country)
        raw["country"] = code if "country" not in flags else None
    region = clean_text(raw.get("region"))
    if region and raw.get("country"):
        raw["region"] = mapping.subdivision_code(raw["country"], region) or region
    count = clean_text(raw.get("employees"))
    if count:
        try:
            normalise_count(count, field="employees")
        except BadInput:
            flags["employees"] = ("employees", count)
            raw["employees"] = None
    values = normalise_lead(raw, phone_region=phone_region)
    if not (values.get("first_name") or values.get("last_name") or values.get("email")):
        raise BadInput("name/email: the row has neither a name nor an email; give one of them")
    if not (values.get("email") or values.get("phone")):
        bad = f" ({phones[0]!r} is not a valid phone number)" if phones else ""
        raise BadInput(f"email/phone: the row has no valid email or phone{bad}; give one of them")
    return values, flags
