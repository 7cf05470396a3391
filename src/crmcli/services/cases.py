"""Service cases: open, move through the status machine, comment, attach, list, show.

Every change is audited and brings the case's SLA obligations (case.ack, case.resolve)
up to date, so they show in `crm report overdue` and my day like every other deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from crmcli.clock import read_when
from crmcli.errors import BadInput, NotFound, PolicyRefusal
from crmcli.limits import checked_integer, whole_number
from crmcli.rules import cases as rules
from crmcli.rules.attachments import size_limit
from crmcli.rules.policy import CASE_SEVERITIES
from crmcli.services.attachments import BlobStore
from crmcli.services.lookups import user_by_name
from crmcli.services.obligations import sync
from crmcli.services.workspace import Tx
from crmcli.store.models import (
    Account,
    CaseAttachment,
    CaseComment,
    CasePause,
    Contact,
    Obligation,
    ServiceCase,
    User,
)

# how far ahead --at may lie (clocks differ between machines)
FUTURE_SKEW = timedelta(minutes=5)
ACTIVE = ("open", "acknowledged", "waiting")

CASE_FIELDS = (
    "id",
    "title",
    "severity",
    "status",
    "account_id",
    "account",
    "contact_id",
    "contact",
    "product",
    "warranty",
    "owner",
    "opened_at",
    "ack_due_at",
    "resolve_due_at",
    "sla_state",
    "updated_at",
)
DETAIL_FIELDS = (
    *CASE_FIELDS,
    "opened_by",
    "acknowledged_at",
    "acknowledged_by",
    "resolved_at",
    "resolved_by",
    "resolution",
    "closed_at",
    "closed_by",
    "created_at",
)
SLA_FIELDS = ("rule", "state", "due_at", "met_at", "met_by", "overdue_by", "remaining")
COMMENT_FIELDS = ("id", "at", "author", "internal", "text")
ATTACHMENT_FIELDS = ("id", "name", "media_type", "size", "sha256", "added_by", "added_at", "path")
PAUSE_FIELDS = ("kind", "started_at", "started_by", "ended_at", "ended_by", "reason")


@dataclass
class CaseFilter:
    status: str | None = None  # a status, or "active" (open, acknowledged, waiting)
    severity: str | None = None
    owner: str | None = None  # a user name or "me"
    account_id: int | None = None


# --- reading -----------------------------------------------------------------------------


def load_case(tx: Tx, case_id: int) -> ServiceCase:
    case = tx.session.get(ServiceCase, case_id)
    if case is None:
        raise NotFound(f"case {case_id} not found; list cases with: crm case list")
    return case


def _names(tx: Tx, cases: list[ServiceCase]) -> dict[str, dict[int, str]]:
    def lookup(model: Any, ids: set[int], label: Any) -> dict[int, str]:
        if not ids:
            return {}
        rows = tx.session.exec(select(model).where(col(model.id).in_(sorted(ids))))
        return {row.id: label(row) for row in rows}

    return {
        "account": lookup(Account, {c.account_id for c in cases if c.account_id}, _account_name),
        "contact": lookup(Contact, {c.contact_id for c in cases if c.contact_id}, _contact_name),
        "owner": lookup(User, {c.owner_id for c in cases if c.owner_id}, lambda u: u.name),
    }


def _account_name(account: Account) -> str:
    return account.name


def _contact_name(contact: Contact) -> str:
    return f"{contact.first_name} {contact.last_name}".strip()


def _obligations(tx: Tx, case_ids: list[int]) -> dict[int, dict[str, Obligation]]:
    found: dict[int, dict[str, Obligation]] = {}
    for start in range(0, len(case_ids), 500):
        rows = tx.session.exec(
            select(Obligation).where(
                Obligation.record_type == "case",
                col(Obligation.record_id).in_(case_ids[start : start + 500]),
                col(Obligation.status).in_(("open", "met", "paused")),
            )
        )
        for row in rows:
            found.setdefault(row.record_id, {})[row.rule] = row
    return found


def sla_state(obligation: Obligation, now: datetime) -> str:
    """met, met_late, paused, overdue or due."""
    if obligation.status == "met":
        late = obligation.met_at is not None and obligation.met_at > obligation.due_at
        return "met_late" if late else "met"
    if obligation.status == "paused":
        return "paused"
    return "overdue" if obligation.due_at <= now else "due"


def _sla_summary(states: list[str]) -> str:
    """One word for a case's SLA: overdue, paused, breached, met or on_track."""
    for word, when in (
        ("overdue", "overdue"),
        ("paused", "paused"),
        ("breached", "met_late"),
    ):
        if when in states:
            return word
    return "met" if states and all(s == "met" for s in states) else "on_track"


def _rows(tx: Tx, cases: list[ServiceCase]) -> list[dict[str, Any]]:
    names = _names(tx, cases)
    obligations = _obligations(tx, [c.id for c in cases])  # type: ignore[misc]
    rows = []
    for case in cases:
        mine = obligations.get(case.id, {})  # type: ignore[arg-type]
        ack, resolve = mine.get("case.ack"), mine.get("case.resolve")
        row = {name: getattr(case, name, None) for name in DETAIL_FIELDS}
        row |= {
            "account": names["account"].get(case.account_id),  # type: ignore[arg-type]
            "contact": names["contact"].get(case.contact_id),  # type: ignore[arg-type]
            "owner": names["owner"].get(case.owner_id),  # type: ignore[arg-type]
            "ack_due_at": ack.due_at if ack else None,
            "resolve_due_at": resolve.due_at if resolve and resolve.status != "paused" else None,
            "sla_state": _sla_summary([sla_state(o, tx.now) for o in mine.values()]),
        }
        rows.append(row)
    return rows


def list_cases(tx: Tx, where: CaseFilter) -> list[dict[str, Any]]:
    query = select(ServiceCase).order_by(col(ServiceCase.id))
    if where.status:
        if where.status == "active":
            query = query.where(col(ServiceCase.status).in_(ACTIVE))
        elif where.status in rules.STATUSES:
            query = query.where(ServiceCase.status == where.status)
        else:
            raise BadInput(
                f"--status: {where.status!r} is not a status; use "
                f"{', '.join(rules.STATUSES)} or active"
            )
    if where.severity:
        query = query.where(ServiceCase.severity == _severity(where.severity))
    if where.owner:
        name = tx.actor.name if where.owner == "me" else where.owner
        query = query.where(ServiceCase.owner_id == user_by_name(tx, name, field="--owner").id)
    if where.account_id is not None:
        query = query.where(ServiceCase.account_id == where.account_id)
    return [{k: row[k] for k in CASE_FIELDS} for row in _rows(tx, list(tx.session.exec(query)))]


def get_case(tx: Tx, case_id: int) -> dict[str, Any]:
    return _rows(tx, [load_case(tx, case_id)])[0]


def show_case(tx: Tx, case_id: int, blobs: BlobStore) -> dict[str, Any]:
    """The case with its SLA state, comments, attachments, clock stops and history."""
    from crmcli.services import audit

    case = get_case(tx, case_id)
    slas = []
    for rule_id, row in sorted(_obligations(tx, [case_id]).get(case_id, {}).items()):
        state = sla_state(row, tx.now)
        remaining = row.detail.get("remaining_seconds") if state == "paused" else None
        if state == "due":
            remaining = int((row.due_at - tx.now).total_seconds())
        slas.append(
            {
                "rule": rule_id,
                "state": state,
                "due_at": None if state == "paused" else row.due_at,
                "met_at": row.met_at,
                "met_by": row.met_by,
                "overdue_by": _overdue_by(row, state, tx.now),
                "remaining": _duration(remaining),
            }
        )
    comments = tx.session.exec(
        select(CaseComment).where(CaseComment.case_id == case_id).order_by(col(CaseComment.id))
    )
    files = tx.session.exec(
        select(CaseAttachment)
        .where(CaseAttachment.case_id == case_id)
        .order_by(col(CaseAttachment.id))
    )
    pauses = tx.session.exec(
        select(CasePause).where(CasePause.case_id == case_id).order_by(col(CasePause.id))
    )
    history = [
        {"at": e.at, "actor": e.actor, "action": e.action, "changes": e.changes}
        for e in audit.history(tx.session, "case", case_id)
    ]
    return {
        "case": case,
        "sla": slas,
        "comments": [{k: getattr(c, k) for k in COMMENT_FIELDS} for c in comments],
        "attachments": [
            {
                **{k: getattr(a, k) for k in ATTACHMENT_FIELDS if k != "path"},
                "path": str(blobs.path_for(a.sha256)),
            }
            for a in files
        ],
        "pauses": [{k: getattr(p, k) for k in PAUSE_FIELDS} for p in pauses],
        "history": history,
    }


def _overdue_by(row: Obligation, state: str, now: datetime) -> str | None:
    if state == "overdue":
        return _duration(int((now - row.due_at).total_seconds()))
    if state == "met_late" and row.met_at is not None:
        return _duration(int((row.met_at - row.due_at).total_seconds()))
    return None


def _duration(seconds: int | None) -> str | None:
    from crmcli.rules.durations import format_duration

    return None if seconds is None else format_duration(timedelta(seconds=seconds))


# --- obligations -------------------------------------------------------------------------


def case_facts(
    tx: Tx,
    case: ServiceCase,
    *,
    pauses: list[CasePause] | None = None,
    account_names: dict[int, str] | None = None,
) -> rules.CaseFacts:
    """What the SLA rules need of a case; `pauses` and `account_names` may come preloaded
    (refreshing every case)."""
    if pauses is None:
        pauses = list(
            tx.session.exec(
                select(CasePause).where(CasePause.case_id == case.id).order_by(col(CasePause.id))
            )
        )
    label = ""
    if case.account_id:
        if account_names is None:
            account = tx.session.get(Account, case.account_id)
            account_names = {case.account_id: account.name} if account else {}
        label = account_names.get(case.account_id, "")
    elif case.contact_id:
        label = f"contact {case.contact_id}"  # not the name: titles are not erased data
    return rules.CaseFacts(
        id=case.id,  # type: ignore[arg-type]
        title=case.title,
        severity=case.severity,
        status=case.status,
        opened_at=case.opened_at,
        acknowledged_at=case.acknowledged_at,
        acknowledged_by=case.acknowledged_by,
        resolved_at=case.resolved_at,
        resolved_by=case.resolved_by,
        pauses=tuple(rules.PauseFact(p.kind, p.started_at, p.ended_at) for p in pauses),
        label=label,
    )


def refresh_case(tx: Tx, case: ServiceCase, facts: rules.CaseFacts | None = None) -> None:
    from crmcli.rules import obligations

    facts = facts or case_facts(tx, case)
    due = obligations.obligations("case", facts, tx.policy, tx.calendar)
    sync(tx, "case", case.id, due, owner_id=case.owner_id)  # type: ignore[arg-type]


def refresh_all_cases(tx: Tx) -> int:
    """Recompute every case's SLA obligations (after a policy change); returns how many."""
    pauses: dict[int, list[CasePause]] = {}
    for pause in tx.session.exec(select(CasePause).order_by(col(CasePause.id))):
        pauses.setdefault(pause.case_id, []).append(pause)
    names = {a.id: a.name for a in tx.session.exec(select(Account))}
    everything = tx.session.exec(select(ServiceCase).order_by(col(ServiceCase.id))).all()
    for case in everything:
        facts = case_facts(tx, case, pauses=pauses.get(case.id, []), account_names=names)  # type: ignore[arg-type]
        refresh_case(tx, case, facts)
    return len(everything)


# --- changing ----------------------------------------------------------------------------


def _severity(text: str) -> str:
    value = text.strip().lower()
    if value not in CASE_SEVERITIES:
        raise BadInput(f"--severity: {text!r} is not a severity; use {', '.join(CASE_SEVERITIES)}")
    return value


def _required(text: str | None, option: str, example: str) -> str:
    value = (text or "").strip()
    if not value:
        raise BadInput(f"{option}: must not be empty; e.g. {option} {example!r}")
    return value


def parse_target(text: str) -> tuple[str, int]:
    """`account:12`, `contact:7`, or a bare number meaning an account."""
    kind, sep, number = text.strip().partition(":")
    if not sep:
        kind, number = "account", kind
    kind = kind.strip().lower()
    record_id = whole_number(number)
    if kind not in ("account", "contact") or record_id is None:
        raise BadInput(
            f"TARGET: {text!r} is not an account or contact; write account:12, contact:7 "
            "or a bare account id"
        )
    return kind, checked_integer(record_id, field="TARGET")


def open_case(
    tx: Tx,
    *,
    target: str,
    title: str,
    severity: str,
    product: str | None = None,
    warranty: bool | None = None,
    owner: str | None = None,
    at: str | None = None,
) -> dict[str, Any]:
    kind, number = parse_target(target)
    values = {
        "title": _required(title, "--title", "Pump leaks at the seal"),
        "severity": _severity(severity),
        "product": (product or "").strip() or None,
        "warranty": warranty,
    }
    if kind == "account":
        if tx.session.get(Account, number) is None:
            raise NotFound(f"account {number} not found; give an existing account id")
        values["account_id"] = number
    else:
        contact = tx.session.get(Contact, number)
        if contact is None:
            raise NotFound(f"contact {number} not found; give an existing contact id")
        values |= {"contact_id": number, "account_id": contact.account_id}
    opened_at = tx.now
    if at:
        opened_at = read_when(at, policy=tx.policy, field="--at", prefer="past", relative_to=tx.now)
        if opened_at > tx.now + FUTURE_SKEW:
            raise BadInput("--at: lies in the future; give when the customer reported it")
    name = tx.actor.name if owner in (None, "me") else owner
    owner_user = user_by_name(tx, name, field="--owner")  # type: ignore[arg-type]
    case = ServiceCase(
        **values,
        status="open",
        owner_id=owner_user.id,
        opened_at=opened_at,
        opened_by=tx.actor.name,
        created_at=tx.now,
        updated_at=tx.now,
    )
    tx.session.add(case)
    tx.session.flush()
    created = get_case(tx, case.id)  # type: ignore[arg-type]
    audited = ("title", "severity", "status", "account_id", "contact_id", "product", "warranty")
    changes = {
        k: [None, created[k]] for k in (*audited, "owner", "opened_at") if created[k] is not None
    }
    tx.audit("case", case.id, "create", changes)
    refresh_case(tx, case)
    return get_case(tx, case.id)  # type: ignore[arg-type]


def _move(tx: Tx, case: ServiceCase, action: str, changes: dict[str, list[Any]]) -> None:
    """Apply a status change already checked, audit it with `changes`, refresh the SLA."""
    for key, (_old, new) in changes.items():
        if hasattr(case, key):
            setattr(case, key, new)
    case.updated_at = tx.now
    tx.session.add(case)
    tx.session.flush()
    tx.audit("case", case.id, action, changes)
    refresh_case(tx, case)


def _open_pause(tx: Tx, case_id: int, kind: str) -> CasePause | None:
    return tx.session.exec(
        select(CasePause).where(
            CasePause.case_id == case_id, CasePause.kind == kind, col(CasePause.ended_at).is_(None)
        )
    ).first()


def _end_pause(tx: Tx, case_id: int, kind: str) -> None:
    pause = _open_pause(tx, case_id, kind)
    if pause is not None:
        pause.ended_at, pause.ended_by = tx.now, tx.actor.name
        tx.session.add(pause)


def _start_pause(tx: Tx, case_id: int, kind: str, reason: str | None) -> None:
    tx.session.add(
        CasePause(
            case_id=case_id, kind=kind, started_at=tx.now, started_by=tx.actor.name, reason=reason
        )
    )


def change_status(tx: Tx, case_id: int, action: str, *, text: str | None = None) -> dict[str, Any]:
    """ack, wait, resume, resolve, close or reopen; `text` is the resolution (resolve) or
    the reason (wait, reopen). Illegal moves are refused (exit 5) naming what is allowed."""
    case = load_case(tx, case_id)
    try:
        status = rules.next_status(case_id, case.status, action)
    except rules.IllegalTransition as exc:
        raise PolicyRefusal(str(exc)) from None
    changes: dict[str, list[Any]] = {"status": [case.status, status]}
    me, now = tx.actor.name, tx.now
    if action == "ack":
        changes |= {"acknowledged_at": [None, now], "acknowledged_by": [None, me]}
    elif action == "wait":
        _start_pause(tx, case_id, "waiting", text)
        if text:
            changes["reason"] = [None, text]
    elif action == "resume":
        _end_pause(tx, case_id, "waiting")
    elif action == "resolve":
        resolution = _required(text, "--resolution", "Replaced the seal; tested")
        _end_pause(tx, case_id, "waiting")
        _start_pause(tx, case_id, "resolved", resolution)
        changes |= {
            "resolved_at": [None, now],
            "resolved_by": [None, me],
            "resolution": [None, resolution],
        }
    elif action == "close":
        changes |= {"closed_at": [None, now], "closed_by": [None, me]}
    elif action == "reopen":
        _end_pause(tx, case_id, "resolved")
        changes |= {
            "resolved_at": [case.resolved_at, None],
            "resolved_by": [case.resolved_by, None],
            "resolution": [case.resolution, None],
            "closed_at": [case.closed_at, None],
            "closed_by": [case.closed_by, None],
        }
        changes = {k: v for k, v in changes.items() if v[0] != v[1]}
        if text:
            changes["reason"] = [None, text]
    _move(tx, case, "update", changes)
    return get_case(tx, case_id)


def add_comment(tx: Tx, case_id: int, text: str, *, internal: bool = False) -> dict[str, Any]:
    case = load_case(tx, case_id)
    comment = CaseComment(
        case_id=case_id,
        author=tx.actor.name,
        text=_required(text, "--text", "Customer sent photos of the seal"),
        internal=internal,
        at=tx.now,
    )
    tx.session.add(comment)
    case.updated_at = tx.now
    tx.session.add(case)
    tx.session.flush()
    tx.audit(
        "case",
        case_id,
        "comment",
        {
            "comment_id": [None, comment.id],
            "text": [None, comment.text],
            "internal": [None, internal],
        },
    )
    return {k: getattr(comment, k) for k in COMMENT_FIELDS}


def attach(tx: Tx, blobs: BlobStore, case_id: int, paths: list[str]) -> list[dict[str, Any]]:
    """Store the files (checked first, all or nothing) and attach them; content already on
    this case is not attached twice (`already` is true for it)."""
    case = load_case(tx, case_id)
    settings = tx.policy.cases
    limit = size_limit(settings.max_attachment_mb)
    checked = blobs.check(paths, limit=limit, allowed=list(settings.allowed_types))
    existing = {
        a.sha256: a
        for a in tx.session.exec(select(CaseAttachment).where(CaseAttachment.case_id == case_id))
    }
    results = []
    for item in checked:
        stored = blobs.put(item, limit=limit)
        row = existing.get(stored.sha256)
        already = row is not None
        if row is None:
            row = CaseAttachment(
                case_id=case_id,
                sha256=stored.sha256,
                name=stored.name,
                media_type=stored.media_type,
                size=stored.size,
                added_by=tx.actor.name,
                added_at=tx.now,
            )
            tx.session.add(row)
            tx.session.flush()
            existing[stored.sha256] = row
            tx.audit(
                "case",
                case_id,
                "attach",
                {
                    "attachment_id": [None, row.id],
                    "name": [None, row.name],
                    "sha256": [None, row.sha256],
                    "media_type": [None, row.media_type],
                    "size": [None, row.size],
                },
            )
        results.append(
            {
                **{k: getattr(row, k) for k in ATTACHMENT_FIELDS if k != "path"},
                "path": str(blobs.path_for(row.sha256)),
                "already": already,
            }
        )
    if any(not r["already"] for r in results):
        case.updated_at = tx.now
        tx.session.add(case)
    return results
