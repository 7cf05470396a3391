"""Duplicate detection: exact on normalised email/phone, fuzzy on name + company."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_COMPANY_SUFFIXES = {
    "inc",
    "incorporated",
    "llc",
    "ltd",
    "limited",
    "corp",
    "corporation",
    "co",
    "company",
    "gmbh",
    "ag",
    "sa",
    "sarl",
    "bv",
    "nv",
    "plc",
    "pty",
    "srl",
    "spa",
    "oy",
    "ab",
    "as",
}


@lru_cache(maxsize=1 << 14)  # names and companies repeat across a file
def fold(text: str | None) -> str:
    """Lower-case ASCII letters and digits separated by single spaces."""
    if not text:
        return ""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_text.lower()).split())


@lru_cache(maxsize=1 << 14)
def company_key(company: str | None) -> str:
    words = [w for w in fold(company).replace("&", " and ").split() if w not in _COMPANY_SUFFIXES]
    return " ".join(words)


@lru_cache(maxsize=1 << 14)
def last_key(last_name: str | None) -> str:
    """Blocking key for names: the first three letters of the folded last name."""
    return fold(last_name).replace(" ", "")[:3]


def blocking_keys(lead: dict[str, Any]) -> dict[str, str]:
    return {
        "company_key": company_key(lead.get("company")),
        "last_key": last_key(lead.get("last_name")),
    }


def full_name(lead: dict[str, Any]) -> str:
    """The folded 'first last' that names are compared by."""
    return fold(f"{lead.get('first_name') or ''} {lead.get('last_name') or ''}")


def similar(one: str, other: str, threshold: float) -> bool:
    """Two folded names (or company keys) at least `threshold` (0-100) alike."""
    from rapidfuzz import fuzz

    return bool(one and other) and fuzz.token_sort_ratio(one, other) >= threshold


@dataclass(frozen=True)
class Match:
    record_id: int
    # "same email" | "same phone" (and a similar name) | "similar name and company" |
    # "same phone, different name" (a colleague on one line: not the same person)
    reason: str
    score: float

    @property
    def same_person(self) -> bool:
        """Identity evidence: same email, or same phone and a similar name, or a similar
        name at a similar company. Only these merge or propose a change."""
        return self.reason != SHARED_PHONE

    @property
    def proposes(self) -> bool:
        """Evidence strong enough to ask a human about a changed name, company, email or
        phone: the same email, or the same phone and a similar name. A similar name at a
        similar company only fills empty fields (two people can share both)."""
        return self.reason in ("same email", "same phone")


SHARED_PHONE = "same phone, different name"


def find_duplicates(
    candidate: dict[str, Any],
    existing: Iterable[dict[str, Any]],
    *,
    name_threshold: float,
    company_threshold: float,
) -> list[Match]:
    """Matches of `candidate` among `existing` (dicts with id and lead fields), best first."""
    from rapidfuzz import fuzz

    name = full_name(candidate)
    company = company_key(candidate.get("company"))
    matches: list[Match] = []
    for other in existing:
        if candidate.get("id") is not None and other["id"] == candidate["id"]:
            continue
        if candidate.get("email") and candidate["email"] == other.get("email"):
            matches.append(Match(other["id"], "same email", 100.0))
            continue
        other_name = full_name(other)
        if candidate.get("phone") and candidate["phone"] == other.get("phone"):
            # a shared line (a switchboard, a family phone) is not a person: it takes a
            # similar name too
            alike = similar(name, other_name, name_threshold)
            matches.append(Match(other["id"], "same phone" if alike else SHARED_PHONE, 100.0))
            continue
        other_company = company_key(other.get("company"))
        if not (company and other_company and name):
            continue  # a name alone is too weak to call two people the same
        company_score = fuzz.token_sort_ratio(company, other_company)
        if company_score < company_threshold:
            continue
        name_score = fuzz.token_sort_ratio(name, other_name)
        if name_score >= name_threshold:
            matches.append(
                Match(
                    other["id"],
                    "similar name and company",
                    round((name_score + company_score) / 2, 1),
                )
            )
    return sorted(matches, key=lambda m: (not m.same_person, -m.score, m.record_id))
