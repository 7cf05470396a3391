"""Keeping stored obligations in step with records (rules in rules/obligations.py)."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from crmcli.rules import obligations as rules
from crmcli.services.workspace import Tx
from crmcli.store.models import Activity, AuditEvent, Lead, Obligation, User

OUTBOUND = ("call", "email", "chat", "meeting")


def counts_as_touch(tx: Tx, activity: Activity) -> bool:
    """Automated messages (the outbox) are touches only if the policy says they count."""
    return (
        not activity.details.get("automated") or tx.policy.data["outbox"]["automated_touches_count"]
    )


def lead_facts(tx: Tx, lead: Lead) -> rules.LeadFacts:
    rows = [
        (activity, by)
        for activity, by in tx.session.exec(
            select(Activity, User.name)
            .join(User, col(User.id) == Activity.user_id)
            .where(Activity.lead_id == lead.id)
            .order_by(col(Activity.at))
        ).all()
        if counts_as_touch(tx, activity)
    ]
    created_by = tx.session.exec(
        select(AuditEvent.actor)
        .where(AuditEvent.record_type == "lead", AuditEvent.record_id == lead.id)
        .order_by(col(AuditEvent.id))
        .limit(1)
    ).first()
    return rules.LeadFacts(
        id=lead.id,  # type: ignore[arg-type]
        kind=lead.kind,
        stage=lead.stage,
        status=lead.status,
        acquired_at=lead.acquired_at,
        created_at=lead.created_at,
        created_by=created_by or tx.actor.name,
        assigned_at=lead.assigned_at,
        stage_entered_at=lead.stage_entered_at,
        touches=tuple(
            rules.Touch(a.at, by, a.type)
            for a, by in rows
            if a.type in OUTBOUND and a.direction != "inbound" and a.status == "logged"
        ),
        inbound=tuple(
            rules.Touch(a.at, by, a.type)
            for a, by in rows
            if a.type in OUTBOUND and a.direction == "inbound"
        ),
        label=", ".join(
            part for part in (f"{lead.first_name} {lead.last_name}".strip(), lead.company) if part
        ),
        is_customer=_is_customer(tx, lead),
        updated_at=lead.updated_at,
        close_date=lead.close_date,
        tasks=tuple(
            rules.Task(
                a.id,
                a.subject or "task",
                a.due_at,
                a.status,
                a.done_at,
                a.done_by,  # type: ignore[arg-type]
                a.details.get("serves"),
            )
            for a, _by in rows
            if a.type == "task" and a.due_at is not None
        ),
    )


def _is_customer(tx: Tx, lead: Lead) -> bool:
    if lead.status == "won":
        return True
    if lead.account_id is None:
        return False
    won = select(Lead.id).where(Lead.account_id == lead.account_id, Lead.status == "won")
    return tx.session.exec(won.limit(1)).first() is not None


def refresh_lead(tx: Tx, lead: Lead) -> list[Obligation]:
    """Recompute a lead's obligations and store the difference."""
    due = rules.obligations("lead", lead_facts(tx, lead), tx.policy, tx.calendar)
    return sync(tx, "lead", lead.id, due, owner_id=lead.owner_id)  # type: ignore[arg-type]


def sync(
    tx: Tx, record_type: str, record_id: int, due: list[rules.Due], *, owner_id: int | None
) -> list[Obligation]:
    stored = {
        (o.rule, o.key): o
        for o in tx.session.exec(
            select(Obligation).where(
                Obligation.record_type == record_type, Obligation.record_id == record_id
            )
        )
    }
    checking: _Drift | None = tx.session.info.get(_Drift.KEY)
    if checking is not None:  # `drift`: compare, write nothing
        checking.compare(record_type, record_id, due, owner_id, stored)
        return []
    current = []
    for item in due:
        row = stored.pop((item.rule, item.key), None) or Obligation(
            rule=item.rule,
            record_type=record_type,
            record_id=record_id,
            key=item.key,
            started_at=item.started_at,
            due_at=item.due_at,
        )
        values = _stored_form(item, owner_id)
        for key, value in values.items():
            if getattr(row, key) != value:
                setattr(row, key, value)
        tx.session.add(row)
        current.append(row)
    for row in stored.values():  # the rule no longer applies (e.g. the lead was closed)
        if row.status in ("open", "paused"):
            row.status = "cancelled"
            tx.session.add(row)
    tx.session.flush()
    return current


def open_obligations(tx: Tx, record_type: str, record_id: int) -> list[Obligation]:
    query = (
        select(Obligation)
        .where(
            Obligation.record_type == record_type,
            Obligation.record_id == record_id,
            Obligation.status == "open",
        )
        .order_by(col(Obligation.due_at))
    )
    return list(tx.session.exec(query))


def refresh_all(tx: Tx) -> int:
    """Recompute every record's obligations (after a policy change); returns how many."""
    from crmcli.services.accounts import refresh_every_account
    from crmcli.services.cases import refresh_all_cases
    from crmcli.services.contacts import refresh_every_contact
    from crmcli.services.quotes import refresh_all_quotes

    count = 0
    for lead in tx.session.exec(select(Lead).order_by(col(Lead.id))).all():
        refresh_lead(tx, lead)
        count += 1
    others = (refresh_every_account, refresh_every_contact, refresh_all_cases, refresh_all_quotes)
    return count + sum(refresh(tx) for refresh in others)


def _stored_form(item: rules.Due, owner_id: int | None) -> dict[str, Any]:
    """The columns an obligation row holds for `item`."""
    return {
        "owner_id": owner_id,
        "title": item.title,
        "started_at": item.started_at,
        "due_at": item.due_at,
        "detail": item.detail,
        "status": "met" if item.met_at else ("paused" if item.paused else "open"),
        "met_at": item.met_at,
        "met_by": item.met_by,
    }


class _Drift:
    """What `sync` would change, collected instead of written (see `drift`)."""

    KEY = "crm_obligation_drift"  # session.info: sync compares instead of writing

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.visited: set[tuple[str, int]] = set()

    def compare(
        self,
        record_type: str,
        record_id: int,
        due: list[rules.Due],
        owner_id: int | None,
        stored: dict[tuple[str, str], Obligation],
    ) -> None:
        from crmcli.services.audit import jsonable

        self.visited.add((record_type, record_id))
        stored = dict(stored)
        record = f"{record_type} {record_id}"
        for item in due:
            name = item.rule + (f" ({item.key})" if item.key else "")
            row = stored.pop((item.rule, item.key), None)
            if row is None:
                self.problems.append(f"{record}: {name} missing")
                continue
            differs = [
                column
                for column, value in _stored_form(item, owner_id).items()
                if column != "title"  # a label (`forget` erases the name in it), not a duty
                and getattr(row, column) != value
                and jsonable(getattr(row, column)) != jsonable(value)
            ]
            if differs:
                self.problems.append(f"{record}: {name} differs ({', '.join(differs)})")
        for (rule, key), row in stored.items():
            if row.status in ("open", "paused"):
                name = rule + (f" ({key})" if key else "")
                self.problems.append(f"{record}: {name} is stored but not owed")


def drift(tx: Tx) -> list[str]:
    """Every record's obligations computed afresh (as `refresh_all` does, writing nothing)
    against the stored ones: "RECORD: RULE missing", "… differs (columns)", "… is stored
    but not owed" (open or paused, of a record that owes no such thing, or none at all)."""
    checking = _Drift()
    tx.session.info[_Drift.KEY] = checking
    try:
        with tx.session.no_autoflush:
            refresh_all(tx)
    finally:
        del tx.session.info[_Drift.KEY]
    open_rows = select(
        Obligation.record_type, Obligation.record_id, Obligation.rule, Obligation.key
    ).where(col(Obligation.status).in_(("open", "paused")))
    for record_type, record_id, rule, key in tx.session.exec(
        open_rows.order_by(col(Obligation.id))
    ):
        if (record_type, record_id) not in checking.visited:
            name = rule + (f" ({key})" if key else "")
            checking.problems.append(f"{record_type} {record_id}: {name} is stored but not owed")
    return checking.problems
