"""The append-only audit log, kept as a SHA-256 hash chain."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from crmcli.store.models import AuditEvent

GENESIS = "0" * 64


def jsonable(value: Any) -> Any:
    """Values as they are stored in an event's `changes` (and hashed)."""
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
    content = {
        "at": event.at.isoformat(),
        "actor": event.actor,
        "command": event.command,
        "record_type": event.record_type,
        "record_id": event.record_id,
        "action": event.action,
        "changes": event.changes,
        "prev_hash": event.prev_hash,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


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
    event = AuditEvent(
        at=at,
        actor=actor,
        command=command,
        record_type=record_type,
        record_id=record_id,
        action=action,
        changes=jsonable(changes),
        prev_hash=head.first() or GENESIS,
        hash="",
    )
    event.hash = event_hash(event)
    session.add(event)
    session.flush()
    return event


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for every field whose value changed."""
    return {k: [old.get(k), v] for k, v in new.items() if old.get(k) != v}


def history(session: Session, record_type: str, record_id: int) -> list[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(AuditEvent.record_type == record_type, AuditEvent.record_id == record_id)
        .order_by(col(AuditEvent.id))
    )
    return list(session.exec(query))
