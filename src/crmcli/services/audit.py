"""The append-only audit log, kept as a SHA-256 hash chain.

Personal values (names, emails, phones, notes) never enter the chain in clear: an event
stores a keyed hash (HMAC-SHA256 with a per-record key) and the readable value sits in
`audit_personal`. Forgetting a person deletes the key and the values; the chain, which only
ever hashed the keyed hashes, still verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlmodel import Session, col, select

from crmcli.records import LEAD_AUDITED
from crmcli.store.models import AuditEvent

GENESIS = "0" * 64
SEALED = "hmac:"
ERASED = "(erased)"
# what a login that may not read the personal values sees instead (viewers on PostgreSQL)
WITHHELD = "(sealed)"
# fields whose values are personal data, per audited record type
PERSONAL: dict[str, frozenset[str]] = {
    "lead": frozenset({"first_name", "last_name", "email", "phone", "title", "name"}),
    "contact": frozenset({"first_name", "last_name", "email", "phone", "title", "name"}),
    "activity": frozenset(
        {"subject", "notes", "details", "attendees", "topics", "issues", "action_items"}
    ),
    # a case's words may name people: sealed like activity notes, so they stay erasable
    "case": frozenset({"title", "text", "resolution", "reason", "name"}),
}


_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """Values as they are stored in an event's `changes` (and hashed)."""
    if type(value) in _PLAIN:  # most values: no conversion (a bulk import makes millions)
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return value


def event_hash(event: AuditEvent) -> str:
    return content_hash(
        event.at,
        event.actor,
        event.command,
        event.record_type,
        event.record_id,
        event.action,
        event.changes,
        event.prev_hash,
        login=event.login,
        policy=event.policy,
    )


def content_hash(
    at: datetime,
    actor: str,
    command: str,
    record_type: str,
    record_id: int | None,
    action: str,
    changes: dict[str, Any],
    prev_hash: str,
    **optional: Any,
) -> str:
    """An event's hash from its fields (`event_hash` of a stored event; bulk writers that
    hold no AuditEvent instances call it, or `event_hasher`, directly). `optional` fields
    enter the hashed content only when they are not None."""
    hasher = event_hasher(at, actor, command, **optional)
    return hasher(record_type, record_id, action, canonical(changes), prev_hash)


def _content(fields: dict[str, str]) -> str:
    """The one definition of an event's hashed content: the canonical JSON object (keys
    sorted, no spaces, non-ASCII as is) of its fields, given here already encoded."""
    return "{" + ",".join(f"{_STRING(k)}:{v}" for k, v in sorted(fields.items())) + "}"


# the fields that differ between the events of one writer's command (the rest is fixed)
_VARYING = ("record_type", "record_id", "action", "changes", "prev_hash")


@lru_cache(maxsize=64)
def _template(fixed: tuple[tuple[str, str], ...]) -> str:
    """`_content` as a str.format template with the varying fields as {0}…{4}. (A NUL marks
    their places: JSON text never holds one unescaped.)"""
    marks = {name: f"\0{i}\0" for i, name in enumerate(_VARYING)}
    text = _content({**dict(fixed), **marks}).replace("{", "{{").replace("}", "}}")
    for i, mark in enumerate(marks.values()):
        text = text.replace(mark, f"{{{i}}}")
    return text


def event_hasher(
    at: datetime, actor: str, command: str, **optional: Any
) -> Callable[[str, int | None, str, str, str], str]:
    """hash(record_type, record_id, action, changes in canonical JSON, prev_hash) of events
    written at `at` by `actor` with `command`: `content_hash` without encoding the fixed
    fields again for each event (a bulk import hashes millions)."""
    fixed = {"at": _STRING(at.isoformat()), "actor": _STRING(actor), "command": _STRING(command)}
    fixed |= {name: canonical(value) for name, value in optional.items() if value is not None}
    template = _template(tuple(sorted(fixed.items()))).format
    sha256 = hashlib.sha256

    def hasher(
        record_type: str, record_id: int | None, action: str, changes: str, prev_hash: str
    ) -> str:
        content = template(
            _STRING(record_type),
            "null" if record_id is None else int(record_id),
            _STRING(action),
            changes,
            _STRING(prev_hash),
        )
        return sha256(content.encode()).hexdigest()

    return hasher


def canonical(value: Any) -> str:
    """A JSON value as an event's hashed content holds it (keys sorted, no spaces)."""
    return _CANONICAL.encode(value)


def canonical_field(name: str, value: Any) -> tuple[str, str]:
    """(name, `"name":value` as `canonical` writes it inside an object); a pair [None, text
    or number] without the encoder's per-call cost (a new lead has some twenty)."""
    if type(value) is list and len(value) == 2 and value[0] is None:
        new = value[1]
        kind = type(new)
        if kind is str:
            return name, f"{_STRING(name)}:[null,{_STRING(new)}]"
        if kind is int:
            return name, f"{_STRING(name)}:[null,{new}]"
    return name, f"{_STRING(name)}:{_CANONICAL.encode(value)}"


def canonical_fields(fields: Iterable[str]) -> str:
    """`canonical` of an object from its `canonical_field` texts, given in name order."""
    return "{" + ",".join(fields) + "}"


def append(
    session: Session,
    *,
    at: datetime,
    actor: str,
    command: str,
    record_type: str,
    record_id: int | None,
    action: str,
    changes: dict[str, Any],
    login: str | None = None,
    policy: str | None = None,
) -> AuditEvent:
    head = session.exec(select(AuditEvent.hash).order_by(col(AuditEvent.id).desc()).limit(1))
    changes = jsonable(changes)
    personal = {
        field: values
        for field, values in changes.items()
        if field in PERSONAL.get(record_type, ()) and record_id is not None
    }
    if personal:
        key = personal_key(session, record_type, record_id, at=at)  # type: ignore[arg-type]
        changes = {**changes, **{f: _seal_pair(key, v) for f, v in personal.items()}}
    event = AuditEvent(
        at=at,
        actor=actor,
        command=command,
        record_type=record_type,
        record_id=record_id,
        action=action,
        changes=changes,
        prev_hash=head.first() or GENESIS,
        hash="",
        login=login,
        policy=policy,
    )
    event.hash = event_hash(event)
    session.add(event)
    session.flush()
    if personal:
        from crmcli.store.models import AuditPersonal

        for field, values in personal.items():
            old, new = values if isinstance(values, list) and len(values) == 2 else (None, values)
            session.add(
                AuditPersonal(event_id=event.id, field=field, old=_text(old), new=_text(new))
            )
        session.flush()
    return event


# json.dumps(value, **options) builds an encoder per call; these are the same encoders, made
# once (an import seals and hashes millions of values). A string encodes alone.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_SORTED = json.JSONEncoder(sort_keys=True, ensure_ascii=False)
_PLAIN_JSON = json.JSONEncoder(ensure_ascii=False)
_STRING = json.encoder.encode_basestring  # what those encoders make of a str


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return _STRING(value) if type(value) is str else _PLAIN_JSON.encode(value)


def seal(key: bytes, value: Any) -> str | None:
    """The keyed hash a personal value is recorded as (None stays None)."""
    if value is None:
        return None
    data = (_STRING(value) if type(value) is str else _SORTED.encode(value)).encode()
    return SEALED + hmac.digest(key, data, "sha256").hex()


def _seal_pair(key: bytes, values: Any) -> Any:
    if isinstance(values, list) and len(values) == 2:
        return [seal(key, values[0]), seal(key, values[1])]
    return seal(key, values)


def personal_key(
    session: Session,
    record_type: str,
    record_id: int,
    *,
    at: datetime | None = None,
    create: bool = True,
) -> bytes | None:
    """The record's secret for keyed hashes; made on first use (None once forgotten)."""
    from crmcli.store.models import PersonalKey

    row = session.get(PersonalKey, (record_type, record_id))
    if row is None:
        if not create:
            return None
        row = PersonalKey(
            record_type=record_type,
            record_id=record_id,
            key=secrets.token_hex(32),
            created_at=at or datetime.now().astimezone(),
        )
        session.add(row)
        session.flush()
    return bytes.fromhex(row.key)


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for every field whose value changed."""
    return {k: [old.get(k), v] for k, v in new.items() if old.get(k) != v}


@dataclass
class EventView:
    """An audit event as people read it: personal values in clear (or "(erased)")."""

    id: int
    at: datetime
    actor: str
    command: str
    record_type: str
    record_id: int | None
    action: str
    changes: dict[str, Any]
    login: str | None = None
    policy: str | None = None


def history(session: Session, record_type: str, record_id: int) -> list[EventView]:
    """A record's events with personal values readable again ("(erased)" once forgotten).

    The returned events are detached copies: changing them changes nothing stored.
    """
    query = (
        select(AuditEvent)
        .where(AuditEvent.record_type == record_type, AuditEvent.record_id == record_id)
        .order_by(col(AuditEvent.id))
    )
    return reveal(session, list(session.exec(query)))


def history_rows(session: Session, record_type: str, record_id: int) -> list[dict[str, Any]]:
    """A record's history as rows for `show` commands: at, actor, command, action, changes."""
    return [
        {
            "at": e.at,
            "actor": e.actor,
            "command": e.command,
            "action": e.action,
            "changes": e.changes,
        }
        for e in history(session, record_type, record_id)
    ]


def reveal(session: Session, events: list[AuditEvent]) -> list[EventView]:
    """Copies of `events` with sealed personal values replaced by the stored originals
    ("(sealed)" where the server does not let this login read them)."""
    from crmcli.store.models import AuditPersonal
    from crmcli.store.pg_security import can_read

    readable = can_read(session.connection(), "audit_personal")
    ids = [e.id for e in events if any(_is_sealed(v) for v in e.changes.values())]
    if not readable:
        ids = []
    values: dict[tuple[int, str], AuditPersonal] = {}
    for start in range(0, len(ids), 500):
        rows = session.exec(
            select(AuditPersonal).where(col(AuditPersonal.event_id).in_(ids[start : start + 500]))
        )
        values.update({(r.event_id, r.field): r for r in rows})
    shown = []
    for event in events:
        copy = EventView(
            event.id,
            event.at,
            event.actor,
            event.command,  # type: ignore[arg-type]
            event.record_type,
            event.record_id,
            event.action,
            {},
            event.login,
            event.policy,
        )
        changes = {}
        for field, value in event.changes.items():
            if not _is_sealed(value):
                changes[field] = value
                continue
            stored = values.get((event.id, field))  # type: ignore[arg-type]
            if not readable:
                changes[field] = _withheld(value)
            elif stored is None:
                changes[field] = [ERASED, ERASED] if isinstance(value, list) else ERASED
            elif isinstance(value, list):
                changes[field] = [_load(stored.old), _load(stored.new)]
            else:
                changes[field] = _load(stored.new)
        copy.changes = changes
        shown.append(copy)
    return shown


def _withheld(value: Any) -> Any:
    if isinstance(value, list):
        return [WITHHELD if _is_sealed(v) else v for v in value]
    return WITHHELD


def _is_sealed(value: Any) -> bool:
    if isinstance(value, list):
        return any(isinstance(v, str) and v.startswith(SEALED) for v in value)
    return isinstance(value, str) and value.startswith(SEALED)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# the record type of seal events: the seals of the rows one transaction wrote (services.seals)
SEALS = "seal"
# a seal event's list of rows its transaction found changed outside crm before writing them
OUTSIDE = "outside"
# how many findings of one kind verification lists before it only counts them
SHOWN = 20


def seal_changes(entries: list[tuple[str, int, str | None]]) -> dict[str, Any]:
    """A seal event's changes: how many rows it seals and their digest (the rows themselves
    are in `audit_seal`, see `store_seals`), so the chain covers every seal."""
    return {"records": [None, len(entries)], "digest": [None, seal_digest(entries)]}


def store_seals(
    session: Session, event_id: int, entries: list[tuple[str, int, str | None]]
) -> None:
    """The (record type, id, seal or None for a deleted row) entries of seal event `event_id`."""
    from crmcli.store.models import AuditSeal

    session.connection().execute(
        AuditSeal.__table__.insert(),  # type: ignore[attr-defined]
        [
            {"event_id": event_id, "record_type": kind, "record_id": number, "seal": value}
            for kind, number, value in entries
        ],
    )


def seal_digest(entries: Iterable[tuple[str, int, str | None]]) -> str:
    """The digest a seal event records of its entries (in any order)."""
    digest = hashlib.sha256()
    for kind, number, value in sorted(entries, key=lambda entry: (entry[0], entry[1])):
        digest.update(f"{kind}:{number}={value or '-'}\n".encode())
    return digest.hexdigest()


def read_head(session: Session) -> tuple[int, str] | None:
    """(events, hash) the `audit_head` row records, kept by a trigger on every event insert
    (None: the row is gone)."""
    from crmcli.store.models import AuditHead

    row = session.exec(select(AuditHead.events, AuditHead.hash).where(AuditHead.id == 1)).first()
    return None if row is None else (int(row[0]), row[1])


def verify_chain(session: Session) -> dict[str, Any]:
    """Recompute every event's hash and link and every seal event's digest, then compare
    the chain with its head kept outside it. `reason` is the first problem; `problems` all
    of them, each prefixed with the check that found it (chain:, head:)."""
    from crmcli.store.models import AuditSeal

    previous = GENESIS
    count = 0
    first_broken: int | None = None
    problems: list[str] = []

    def broken(event_id: int | None, reason: str) -> None:
        nonlocal first_broken
        if first_broken is None:
            first_broken = event_id
        if len(problems) < SHOWN:
            problems.append(f"chain: {reason}")

    seal_rows = _stream(
        session,
        select(
            AuditSeal.event_id, AuditSeal.record_type, AuditSeal.record_id, AuditSeal.seal
        ).order_by(col(AuditSeal.event_id), col(AuditSeal.record_type), col(AuditSeal.record_id)),
    )
    pending = next(seal_rows, None)
    query = select(AuditEvent).order_by(col(AuditEvent.id)).execution_options(yield_per=2000)
    for event in session.exec(query):
        count += 1
        while pending is not None and pending[0] < event.id:  # type: ignore[operator]
            broken(pending[0], f"seal rows of event {pending[0]} have no such seal event")
            pending = _skip_event(seal_rows, pending)
        if event.prev_hash != previous:
            broken(
                event.id,
                f"event {event.id} does not follow event {count - 1}'s hash "
                "(an event was removed, reordered or inserted)",
            )
        elif event_hash(event) != event.hash:
            broken(event.id, f"event {event.id} was changed after it was written")
        entries = []
        while pending is not None and pending[0] == event.id:
            entries.append(tuple(pending[1:]))
            pending = next(seal_rows, None)
        if event.record_type == SEALS:
            for found in (event.changes.get(OUTSIDE) or [None, []])[1]:
                if len(problems) < SHOWN:
                    problems.append(
                        f"seals: {found} (found when crm next wrote it, event {event.id})"
                    )
            recorded = event.changes.get("digest", [None, None])[1]
            if seal_digest(entries) != recorded:  # type: ignore[arg-type]
                broken(
                    event.id,
                    f"seal rows of event {event.id} were changed, added or removed "
                    f"({len(entries)} rows present, {event.changes.get('records')} recorded)",
                )
        elif entries:
            broken(event.id, f"seal rows of event {event.id} have no such seal event")
        previous = event.hash
    while pending is not None:
        broken(pending[0], f"seal rows of event {pending[0]} have no such seal event")
        pending = _skip_event(seal_rows, pending)
    head = read_head(session)
    if head is None:
        problems.append(
            "head: the audit_head row is missing; the chain cannot be checked for completeness"
        )
    elif head[0] > count:
        problems.append(
            f"head: the chain is shorter than its recorded head ({head[0]} events recorded, "
            f"{count} present): events were deleted"
        )
    elif head != (count, previous):
        problems.append(
            f"head: the chain does not end where its recorded head does ({head[0]} events, "
            f"{head[1][:12]}…; the chain has {count}, {previous[:12]}…)"
        )
    return {
        "ok": not problems,
        "events": count,
        "first_broken": first_broken,
        "head": previous,
        "reason": problems[0].split(": ", 1)[1] if problems else None,
        "problems": problems,
    }


def _stream(session: Session, query: Any) -> Iterator[tuple[Any, ...]]:
    result = session.connection().execution_options(yield_per=5000).execute(query)
    return (tuple(row) for row in result)


def _skip_event(rows: Iterator[tuple[Any, ...]], row: tuple[Any, ...]) -> tuple[Any, ...] | None:
    event_id = row[0]
    following = next(rows, None)
    while following is not None and following[0] == event_id:
        following = next(rows, None)
    return following


def verify_personal(session: Session) -> list[str]:
    """Every readable personal value in `audit_personal` against the keyed hash its event
    sealed (a forged value does not match); "personal values:" problems."""
    from crmcli.store.models import AuditPersonal, PersonalKey

    query = (
        select(
            AuditPersonal.event_id,
            AuditPersonal.field,
            AuditPersonal.old,
            AuditPersonal.new,
            AuditEvent.changes,
            PersonalKey.key,
        )
        .join(AuditEvent, col(AuditEvent.id) == AuditPersonal.event_id, isouter=True)
        .join(
            PersonalKey,
            (col(PersonalKey.record_type) == AuditEvent.record_type)
            & (col(PersonalKey.record_id) == AuditEvent.record_id),
            isouter=True,
        )
        .order_by(col(AuditPersonal.event_id), col(AuditPersonal.field))
    )
    problems: list[str] = []
    found = 0
    for event_id, field, old, new, changes, key in _stream(session, query):
        sealed = (changes or {}).get(field) if changes is not None else None
        if changes is None:
            why = "has no event"
        elif key is None:
            why = "is readable though its record's key was erased"
        elif not _is_sealed(sealed):
            why = "is not a sealed value of its event"
        else:
            secret = bytes.fromhex(key)
            pair = isinstance(sealed, list)
            expected = sealed if pair else [None, sealed]
            try:
                values = [_load(old), _load(new)]
            except ValueError:
                values = [SEALED, SEALED]  # not JSON: written by hand
            actual = [seal(secret, values[0]) if pair else None, seal(secret, values[1])]
            if actual == expected:
                continue
            why = "does not match its sealed value (forged or changed after it was written)"
        found += 1
        if len(problems) < SHOWN:
            problems.append(f"personal values: event {event_id}: {field} {why}")
    if found > len(problems):
        problems.append(f"personal values: … {found - len(problems)} more")
    return problems


# fields whose every change is audited: a difference between the row and the replayed
# events means someone changed the row outside crm
TRACKED = {"lead": LEAD_AUDITED}


def replay(events: list[AuditEvent]) -> dict[str, Any]:
    """The state a record's events say it has: each field's latest recorded value."""
    state: dict[str, Any] = {}
    for event in events:
        if event.action == "forget":
            for field in event.changes.get("erased", [None, []])[1]:
                state[field] = ERASED
            continue
        for field, values in event.changes.items():
            if isinstance(values, list) and len(values) == 2:
                state[field] = values[1]
    return state


def drift(
    session: Session,
    record_type: str,
    record_id: int,
    events: list[AuditEvent],
    current: dict[str, Any],
    *,
    fields: Iterable[str] | None = None,
    absent: Iterable[str] = (),
) -> list[str]:
    """Fields whose stored value differs from what the audit log says (edits outside crm):
    `fields` (default: the record type's TRACKED ones) that its events recorded, and the
    `absent` ones its events never set, which must still be empty."""
    from crmcli.store.pg_security import can_read

    expected = replay(events)
    for field in absent:
        expected.setdefault(field, None)
    # a viewer on PostgreSQL may not read the keys: personal fields are left to an admin
    keys = can_read(session.connection(), "personal_key")
    key = personal_key(session, record_type, record_id, create=False) if keys else None
    found = []
    for field in TRACKED.get(record_type, ()) if fields is None else fields:
        if field not in expected or expected[field] == ERASED:
            continue
        value = current.get(field)
        if field in PERSONAL.get(record_type, ()) and _is_sealed(expected[field]):
            if key is None:
                continue
            value = seal(key, jsonable(value))
        elif field in PERSONAL.get(record_type, ()) and not keys:
            continue
        if not _same(expected[field], value):
            found.append(field)
    return found


def _same(recorded: Any, value: Any) -> bool:
    """A recorded (JSON) value and a stored one, datetimes as instants, numbers by value."""
    value_json = jsonable(value)
    if recorded == value_json:
        return True
    try:
        if isinstance(value, datetime) and isinstance(recorded, str):
            return datetime.fromisoformat(recorded) == value
        if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
            return recorded is not None and Decimal(str(recorded)) == Decimal(str(value))
    except (ValueError, ArithmeticError):
        return False
    return False
