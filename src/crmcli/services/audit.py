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
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
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
) -> str:
    """An event's hash from its fields (`event_hash` of a stored event; bulk writers that
    hold no AuditEvent instances call it directly)."""
    content = {
        "at": at.isoformat(),
        "actor": actor,
        "command": command,
        "record_type": record_type,
        "record_id": record_id,
        "action": action,
        "changes": changes,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(_CANONICAL.encode(content).encode()).hexdigest()


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


def verify_chain(session: Session) -> dict[str, Any]:
    """Recompute every event's hash and link; report the first broken event."""
    previous = GENESIS
    count = 0
    query = select(AuditEvent).order_by(col(AuditEvent.id)).execution_options(yield_per=2000)
    for event in session.exec(query):
        count += 1
        if event.prev_hash != previous:
            return {
                "ok": False,
                "events": count,
                "first_broken": event.id,
                "head": previous,
                "reason": f"event {event.id} does not follow event {count - 1}'s hash "
                "(an event was removed, reordered or inserted)",
            }
        if event_hash(event) != event.hash:
            return {
                "ok": False,
                "events": count,
                "first_broken": event.id,
                "head": previous,
                "reason": f"event {event.id} was changed after it was written",
            }
        previous = event.hash
    return {"ok": True, "events": count, "first_broken": None, "head": previous, "reason": None}


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
) -> list[str]:
    """Fields whose stored value differs from what the audit log says (edits outside crm)."""
    from crmcli.store.pg_security import can_read

    expected = replay(events)
    # a viewer on PostgreSQL may not read the keys: personal fields are left to an admin
    keys = can_read(session.connection(), "personal_key")
    key = personal_key(session, record_type, record_id, create=False) if keys else None
    found = []
    for field in TRACKED.get(record_type, ()):
        if field not in expected or expected[field] == ERASED:
            continue
        value = jsonable(current.get(field))
        if field in PERSONAL.get(record_type, ()):
            if not keys:
                continue
            if key is not None:
                value = seal(key, value)
        if value != expected[field]:
            found.append(field)
    return found
