"""Duplicate search at scale: blocking keys, an in-memory block index, and reconciling a
duplicate's values with the record it matched. Pure; scoring is `rules.dedupe`.

A pair of records is only compared when it shares a blocking key, so the work grows with the
number of records times the (small) block size, never with all pairs. The keys mirror the
database's indexes (migration 0004), so a duplicate is found the same way whether it sits in
the database or earlier in the same file.
"""

from __future__ import annotations

import string
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from crmcli.rules import dedupe

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

# fields a duplicate may fill when the record has them empty, or conflict on
RECONCILED = (
    "first_name",
    "last_name",
    "company",
    "title",
    "email",
    "phone",
    "industry",
    "employees",
    "country",
    "region",
)
_TEXT = {"first_name", "last_name", "company", "title", "industry"}


@lru_cache(maxsize=1 << 14)  # names repeat across a file
def sql_lower(text: str | None) -> str:
    """Lower-case as SQLite's lower() does (ASCII letters only), so keys match its indexes."""
    return (text or "").translate(_ASCII_LOWER)


def block_keys(lead: dict[str, Any]) -> list[tuple[str, ...]]:
    """The blocks a lead belongs to: exact email and phone; and, for the fuzzy name+company
    match (which needs a company on both sides): same company with the same last-name key or
    first name (a typo in the name), or the same name (a typo in the company)."""
    keys: list[tuple[str, ...]] = []
    if lead.get("email"):
        keys.append(("email", lead["email"]))
    if lead.get("phone"):
        keys.append(("phone", lead["phone"]))
    company = dedupe.company_key(lead.get("company"))
    if company:
        first = sql_lower(lead.get("first_name"))
        last = sql_lower(lead.get("last_name"))
        last_key = dedupe.last_key(lead.get("last_name"))
        if last_key:
            keys.append(("company_last", company, last_key))
        if first:
            keys.append(("company_first", company, first))
        if first and last:
            keys.append(("name", last, first))
    return keys


class BlockIndex:
    """Records by blocking key; `candidates` returns those sharing a key with a record."""

    def __init__(self) -> None:
        # each block's records by identity (a record indexed again is not added twice)
        self._blocks: dict[tuple[str, ...], dict[int, dict[str, Any]]] = defaultdict(dict)

    def add(self, record: dict[str, Any], keys: Sequence[tuple[str, ...]] | None = None) -> None:
        """Index `record` (again, after its values changed: new keys are added); `keys`: its
        `block_keys`, when known."""
        blocks, marker = self._blocks, id(record)
        for key in block_keys(record) if keys is None else keys:
            blocks[key].setdefault(marker, record)

    def candidates(
        self, record: dict[str, Any], keys: Sequence[tuple[str, ...]] | None = None
    ) -> list[dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        for key in block_keys(record) if keys is None else keys:
            for other in self._blocks.get(key, {}).values():
                found.setdefault(other["id"], other)
        return list(found.values())


def best_match(
    record: dict[str, Any],
    candidates: Iterable[dict[str, Any]],
    *,
    name_threshold: float,
    company_threshold: float,
    same_person: bool = True,
) -> dedupe.Match | None:
    """The best match; `same_person`: only one with identity evidence (what an import may
    merge into), else also a shared phone under another name (what `lead dupes` lists)."""
    matches = dedupe.find_duplicates(
        record, candidates, name_threshold=name_threshold, company_threshold=company_threshold
    )
    if same_person:
        matches = [match for match in matches if match.same_person]
    return matches[0] if matches else None


def same_value(name: str, old: Any, new: Any) -> bool:
    """Equal for a person: text fields compare folded ('ADA' is 'Ada'), companies by their
    key ('Acme Inc' is 'ACME')."""
    if name == "company":
        return dedupe.company_key(str(old)) == dedupe.company_key(str(new))
    if name in _TEXT:
        return dedupe.fold(str(old)) == dedupe.fold(str(new))
    return old == new


# who the person is and how to reach them: a different value is a question for a human,
# when the match is evidence enough to ask (`dedupe.Match.proposes`)
ASKED = ("first_name", "last_name", "company", "email", "phone")
# what describes them and drifts from export to export (a title, a head count, the channel
# of this export): the lead's value stays, the first other one is noted in `extra`
NOTED = ("title", "industry", "employees", "country", "region", "source")
OTHER = "other "  # a noted value's key in `extra`: 'other title'


def reconcile(
    existing: dict[str, Any],
    incoming: dict[str, Any],
    fields: Sequence[str] = RECONCILED,
    *,
    proposes: bool = True,
    name_threshold: float | None = None,
    company_threshold: float | None = None,
) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """(enrichment, conflicts) of a duplicate: {field: [old, new]}.

    Enrichment fills fields `existing` has empty. A different value is never written over
    the old one (seed 001 §2.3): on a name, company, email or phone it is a conflict for a
    human when `proposes` (the match is the same email, or the same phone and a similar
    name) and it is not a spelling of the same (a full name `name_threshold` alike, a
    company `company_threshold` alike: 'Jon Smith' and 'John Smith'); otherwise, and on
    any descriptive field (`NOTED`: title, industry, head count,
    place, source), it is kept in `extra` as 'other FIELD' (the first one; enrichment, not a
    question). Unknown columns (`extra`) only enrich, as `extra.KEY`: they are free text of
    the export (ids, descriptions), where a different value is not a fact to decide on.
    """
    enrich: dict[str, list[Any]] = {}
    conflicts: dict[str, list[Any]] = {}
    old_extra = existing.get("extra") or {}
    spellings: set[str] = set()  # fields where the other value spells the same
    if name_threshold is not None and dedupe.similar(
        dedupe.full_name(existing), dedupe.full_name(incoming), name_threshold
    ):
        spellings |= {"first_name", "last_name"}
    if company_threshold is not None and dedupe.similar(
        dedupe.company_key(existing.get("company")),
        dedupe.company_key(incoming.get("company")),
        company_threshold,
    ):
        spellings.add("company")

    def weigh(name: str, old: Any, new: Any) -> None:
        if new in (None, ""):
            return
        if old in (None, ""):
            if name in fields:  # (a lead always has a source)
                enrich[name] = [old, new]
        elif same_value(name, old, new):
            return
        elif old_extra.get(OTHER + name) not in (None, "") and same_value(
            name, old_extra[OTHER + name], new
        ):
            return  # noted already: known, not a new question
        elif proposes and name in ASKED and name not in spellings:
            conflicts[name] = [old, new]
        elif old_extra.get(OTHER + name) in (None, ""):
            enrich[f"extra.{OTHER}{name}"] = [old_extra.get(OTHER + name), new]

    for name in (*fields, *(name for name in NOTED if name not in fields)):
        weigh(name, existing.get(name), incoming.get(name))
    for key, value in (incoming.get("extra") or {}).items():
        if old_extra.get(key) in (None, "") and value not in (None, ""):
            enrich.setdefault(f"extra.{key}", [old_extra.get(key), value])
    return enrich, conflicts


def apply(record: dict[str, Any], changes: dict[str, list[Any]]) -> None:
    """Write `changes` ({field: [old, new]}, `extra.KEY` too) into `record` in place."""
    for name, (_old, new) in changes.items():
        if name.startswith("extra."):
            record["extra"] = {**(record.get("extra") or {}), name[len("extra.") :]: new}
        else:
            record[name] = new
