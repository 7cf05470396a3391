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
        weekly_update_at=lead.weekly_update_at,
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
    facts = weekly_update(tx, lead, lead_facts(tx, lead))
    due = rules.obligations("lead", facts, tx.policy, tx.calendar)
    return sync(tx, "lead", lead.id, due, owner_id=lead.owner_id)  # type: ignore[arg-type]


def weekly_update(tx: Tx, lead: Lead, facts: rules.LeadFacts) -> rules.LeadFacts:
    """Keep `lead.weekly_update_at`: set when the record becomes an opportunity, and when
    this command changed it (an activity or edit) leaving a next step scheduled ahead and a
    close date not in the past (rules.deals.is_weekly_update). A note alone is not enough."""
    from dataclasses import replace

    from crmcli.rules.deals import is_weekly_update

    if lead.kind != "opportunity" or rules.is_closed(facts, tx.policy):
        return facts
    if lead.weekly_update_at is not None and not (
        lead.updated_at == tx.now
        and is_weekly_update(
            next_step_dues=[t.due_at for t in facts.tasks if t.status == "open"],
            close_date=lead.close_date,
            now=tx.now,
            today=tx.now.astimezone(tx.policy.timezone).date(),
        )
    ):
        return facts
    # a record that just became an opportunity (or was made one elsewhere: example data, a
    # restore) counts from its last update
    first = lead.weekly_update_at is None
    lead.weekly_update_at = (lead.updated_at or tx.now) if first else tx.now
    tx.session.add(lead)
    return replace(facts, weekly_update_at=lead.weekly_update_at)


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
        values: dict[str, Any] = {
            "owner_id": owner_id,
            "title": item.title,
            "started_at": item.started_at,
            "due_at": item.due_at,
            "detail": item.detail,
            "status": "met" if item.met_at else ("paused" if item.paused else "open"),
            "met_at": item.met_at,
            "met_by": item.met_by,
        }
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
