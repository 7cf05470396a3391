"""A user's notifications (`crm inbox`): who is told what, listing, acknowledging.

Producers: scoring tells the admins of an executive-band lead (services/scoring.py), `crm
tick` tells an owner of a stale record and of a case past its SLA, and a quote that needs
approval tells each user who may approve it (until it is decided). Every notice is audited
as record type "notification"; so is each acknowledgement.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import col, select

from crmcli.errors import BadInput, NotFound
from crmcli.services import scope
from crmcli.services.workspace import Tx
from crmcli.store.models import Lead, Notification, Obligation, User

INBOX_FIELDS = ("id", "at", "kind", "record_type", "record_id", "message", "read_at")
QUOTE_APPROVAL = "quote_approval"
CASE_SLA = "case_sla"  # kind "case_sla:<rule>", one per case and rule
CASE_RULES = ("case.ack", "case.resolve")


def notify(
    tx: Tx,
    users: Iterable[User],
    *,
    kind: str,
    message: str,
    record_type: str,
    record_id: int,
    lead_id: int | None = None,
) -> list[str]:
    """A notice for each of `users` (once each), audited; returns their names."""
    told: list[str] = []
    for user in {u.id: u for u in users if u.active}.values():
        notice = Notification(
            user_id=user.id,  # type: ignore[arg-type]
            lead_id=lead_id,
            kind=kind,
            message=message,
            created_at=tx.now,
            record_type=record_type,
            record_id=record_id,
        )
        tx.session.add(notice)
        tx.session.flush()
        tx.audit(
            "notification",
            notice.id,
            "create",
            {
                "user": [None, user.name],
                "kind": [None, kind],
                "record": [None, f"{record_type} {record_id}"],
            },
        )
        told.append(user.name)
    return told


def admins(tx: Tx) -> list[User]:
    query = select(User).where(User.role == "admin", col(User.active).is_(True))
    return list(tx.session.exec(query.order_by(col(User.id))))


def _mine(tx: Tx) -> Any:
    """The acting user's notices they may see (campaign scope: only their leads')."""
    query = select(Notification).where(Notification.user_id == tx.actor.id)
    allowed = scope.campaign_scope(tx)
    if allowed is not None:
        visible = select(Lead.id).where(col(Lead.campaign_id).in_(sorted(allowed)))
        query = query.where(
            col(Notification.lead_id).is_(None) | col(Notification.lead_id).in_(visible)
        )
    return query


def inbox(tx: Tx, *, include_read: bool = False) -> list[dict[str, Any]]:
    """The acting user's notices, newest first: unread ones (and read ones too if asked)."""
    query = _mine(tx)
    if not include_read:
        query = query.where(col(Notification.read_at).is_(None))
    notices = tx.session.exec(
        query.order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
    )
    return [
        {
            "id": n.id,
            "at": n.created_at,
            "kind": n.kind,
            "record_type": n.record_type,
            "record_id": n.record_id,
            "message": n.message,
            "read_at": n.read_at,
        }
        for n in notices
    ]


def unread(tx: Tx) -> int:
    from sqlalchemy import func

    query = _mine(tx).where(col(Notification.read_at).is_(None))
    return tx.session.exec(select(func.count()).select_from(query.subquery())).one()


def ack(tx: Tx, ids: list[int], *, everything: bool = False) -> list[int]:
    """Mark the acting user's notices read (all unread ones with `everything`); returns the
    ids newly read. An id that is not one of theirs is not found (exit 3)."""
    if everything == bool(ids):
        raise BadInput("ID: give the notices to acknowledge, or --all (not both)")
    query = _mine(tx).where(col(Notification.read_at).is_(None))
    if ids:
        found = {n.id for n in tx.session.exec(_mine(tx).where(col(Notification.id).in_(ids)))}
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFound(
                f"notification {missing[0]} is not in your inbox; list it with: crm inbox --all"
            )
        query = query.where(col(Notification.id).in_(ids))
    read = list(tx.session.exec(query.order_by(col(Notification.id))))
    _read(tx, read, reason=None)
    return [n.id for n in read]  # type: ignore[misc]


def _read(tx: Tx, notices: list[Notification], *, reason: str | None) -> None:
    for notice in notices:
        notice.read_at = tx.now
        tx.session.add(notice)
        changes: dict[str, Any] = {"read_at": [None, tx.now]}
        if reason:
            changes["reason"] = [None, reason]
        tx.audit("notification", notice.id, "read", changes)
    tx.session.flush()


def settle(tx: Tx, *, kind: str, record_type: str, record_id: int, reason: str) -> None:
    """Unread notices about something that no longer waits (a quote decided) are read."""
    waiting = tx.session.exec(
        select(Notification).where(
            Notification.kind == kind,
            Notification.record_type == record_type,
            Notification.record_id == record_id,
            col(Notification.read_at).is_(None),
        )
    ).all()
    _read(tx, list(waiting), reason=reason)


# --- producers ---------------------------------------------------------------------------------


def quote_waiting(tx: Tx, quote: Any, approvers: list[User], label: str) -> list[str]:
    """A submitted quote that needs approval: tell each user who may approve it."""
    total = f"{quote.total:,.2f} {quote.currency}"
    why = (quote.approval_reasons or ["it needs approval"])[0]
    return notify(
        tx,
        approvers,
        kind=QUOTE_APPROVAL,
        message=f"quote {label} ({total}) waits for your approval: {why}",
        record_type="quote",
        record_id=quote.id,
        lead_id=quote.lead_id,
    )


def cases_past_sla(tx: Tx) -> list[dict[str, Any]]:
    """`crm tick`: tell a case's owner (the admins, if it has none) once per case and SLA
    that its acknowledgement or resolution is overdue."""
    from crmcli.store.models import Account, ServiceCase

    overdue = tx.session.exec(
        select(Obligation, ServiceCase)
        .join(ServiceCase, col(ServiceCase.id) == Obligation.record_id)
        .where(
            Obligation.record_type == "case",
            col(Obligation.rule).in_(CASE_RULES),
            Obligation.status == "open",
            Obligation.due_at <= tx.now,
        )
        .order_by(col(Obligation.due_at), col(Obligation.id))
    ).all()
    told = {
        (n.record_id, n.kind)
        for n in tx.session.exec(
            select(Notification).where(
                Notification.record_type == "case", col(Notification.kind).startswith(CASE_SLA)
            )
        )
    }
    actions = []
    for obligation, case in overdue:
        kind = f"{CASE_SLA}:{obligation.rule}"
        if (case.id, kind) in told:
            continue
        owner = tx.session.get(User, case.owner_id) if case.owner_id else None
        account = tx.session.get(Account, case.account_id) if case.account_id else None
        what = "acknowledged" if obligation.rule == "case.ack" else "resolved"
        due = obligation.due_at.astimezone(tx.policy.timezone).strftime("%Y-%m-%d %H:%M")
        about = f" ({account.name}, {case.severity})" if account else f" ({case.severity})"
        names = notify(
            tx,
            [owner] if owner is not None and owner.active else admins(tx),
            kind=kind,
            message=f"case {case.id}{about} was not {what} by its SLA ({obligation.rule}, "
            f"due {due})",
            record_type="case",
            record_id=case.id,  # type: ignore[arg-type]
        )
        told.add((case.id, kind))
        actions.append(
            {
                "action": "notify",
                "record": f"case {case.id}",
                "detail": f"past {obligation.rule}: told {', '.join(names) or 'nobody'}",
            }
        )
    return actions
