"""Keeping stored obligations in step with records (rules in rules/obligations.py).

`refresh_lead` also settles the lead's tasks with its obligations, each change audited: a
score band's task met by a touch is done; a closed lead's open tasks are cancelled; a
reminder whose obligation ended is closed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select

from crmcli.rules import closing, touches
from crmcli.rules import obligations as rules
from crmcli.services.workspace import Tx
from crmcli.store.models import Account, Activity, AuditEvent, Contact, Lead, Obligation, User

OUTBOUND = ("call", "email", "chat", "meeting")
# tasks that are the account's work, not the lead's: a closing leaves them
ACCOUNT_WORK = ("account.onboarding",)


def counts_as_touch(tx: Tx, activity: Activity) -> bool:
    """Automated messages (the outbox) are touches only if the policy says they count."""
    return not activity.details.get("automated") or tx.policy.outbox.automated_touches_count


def touch_of(tx: Tx, activity: Activity, by: str) -> rules.Touch | None:
    """The activity as a touch (what the policy's [touches] says it is), or None."""
    kinds = touches.classify(
        tx.policy.touches,
        activity.type,
        direction=activity.direction,
        outcome=activity.outcome,
        status=activity.status,
    )
    if not kinds:
        return None
    return rules.Touch(activity.at, by, activity.type, kinds, activity.id, activity.direction)


def lead_activities(tx: Tx, lead: Lead) -> list[tuple[Activity, str]]:
    """The lead's activities with their users' names, oldest first."""
    query = (
        select(Activity, User.name)
        .join(User, col(User.id) == Activity.user_id)
        .where(Activity.lead_id == lead.id)
        .order_by(col(Activity.at))
    )
    return list(tx.session.exec(query).all())  # type: ignore[arg-type]


def lead_facts(
    tx: Tx, lead: Lead, activities: list[tuple[Activity, str]] | None = None
) -> rules.LeadFacts:
    rows = [
        (activity, by)
        for activity, by in (lead_activities(tx, lead) if activities is None else activities)
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
        touches=tuple(t for a, by in rows if (t := touch_of(tx, a, by)) is not None),
        label=", ".join(
            part for part in (f"{lead.first_name} {lead.last_name}".strip(), lead.company) if part
        ),
        customer_since=customer_since(tx, lead),
        updated_at=lead.updated_at,
        close_date=lead.close_date,
        closed_at=_closed_at(tx, lead),
        weekly_update_at=lead.weekly_update_at,
        tasks=tuple(
            rules.Task(
                a.id,  # type: ignore[arg-type]
                a.subject or "task",
                a.due_at,
                a.status,
                a.done_at,
                a.done_by,
                a.details.get("serves"),
                created_at=a.created_at,
                meets=_band_task_meets(tx, a),
                met_with=a.details.get("met_with"),
            )
            for a, _by in rows
            if a.type == "task" and a.due_at is not None
        ),
    )


def _band_task_meets(tx: Tx, task: Activity) -> frozenset[str]:
    """What meets a score band's task: band.contact or band.follow_up of [touches.meets]."""
    band = task.details.get("score_band")
    if not band:
        return frozenset()
    action = task.details.get("band_action") or next(
        (b.action for b in tx.policy.bands if b.name == band), None
    )
    if action not in ("contact", "follow_up"):
        return frozenset()
    return touches.meets(tx.policy.touches, f"band.{action}")


def account_messages(tx: Tx, account: Account) -> tuple[rules.Touch, ...]:
    """Touches with the account's contacts that are not leads (logged on no lead), oldest
    first: mail from a customer's contact and the answers to it."""
    contacts = select(Contact.id).where(Contact.account_id == account.id)
    rows = tx.session.exec(
        select(Activity, User.name)
        .join(User, col(User.id) == Activity.user_id)
        .where(col(Activity.contact_id).in_(contacts), col(Activity.lead_id).is_(None))
        .order_by(col(Activity.at))
    ).all()
    return tuple(
        t for a, by in rows if counts_as_touch(tx, a) and (t := touch_of(tx, a, by)) is not None
    )


def customer_since(tx: Tx, lead: Lead) -> datetime | None:
    """When the lead, or the account it belongs to, first won business (else None)."""
    since = None
    if lead.account_id is not None:
        account = tx.session.get(Account, lead.account_id)
        since = account.won_at if account is not None else None
        if since is None:  # won before accounts kept their won date
            won = select(Lead.stage_entered_at).where(
                Lead.account_id == lead.account_id, Lead.status == "won"
            )
            since = min((at for at in tx.session.exec(won) if at is not None), default=None)
    if lead.status == "won":
        own = lead.stage_entered_at or lead.updated_at
        since = min(since, own) if since is not None else own
    return since


def _closed_at(tx: Tx, lead: Lead) -> datetime | None:
    """When a closed lead closed: it entered its outcome stage, or, for a status such as
    nurture or inactive, the latest audit event that set it."""
    outcome = (tx.policy.stage(lead.stage) or {}).get("outcome")
    if closing.reason_for(lead.status, outcome) is None:
        return None
    if outcome and lead.stage_entered_at is not None:
        return lead.stage_entered_at
    events = tx.session.exec(
        select(AuditEvent.at, AuditEvent.changes)
        .where(AuditEvent.record_type == "lead", AuditEvent.record_id == lead.id)
        .order_by(col(AuditEvent.id).desc())
    )
    for at, changes in events:
        status = changes.get("status")
        if isinstance(status, list) and len(status) == 2 and status[1] == lead.status:
            return at
    return lead.updated_at


def refresh_lead(tx: Tx, lead: Lead) -> list[Obligation]:
    """Recompute a lead's obligations, store the difference, and settle its tasks."""
    activities = lead_activities(tx, lead)
    facts = lead_facts(tx, lead, activities)
    due = rules.obligations("lead", facts, tx.policy, tx.calendar)
    open_tasks = [a for a, _by in activities if a.type == "task" and a.status == "open"]
    # the tasks first: a task a touch just met is no longer the lead's next step, which the
    # obligations stored below must already know (else a missing next step goes unseen)
    settled = _settle_tasks(tx, open_tasks, due, facts.closure(tx.policy))
    if settled:
        facts = lead_facts(tx, lead, lead_activities(tx, lead))
    updated = weekly_update(tx, lead, facts)
    if settled or updated is not facts:
        due = rules.obligations("lead", updated, tx.policy, tx.calendar)
    closure = updated.closure(tx.policy)
    return sync(tx, "lead", lead.id, due, owner_id=lead.owner_id, closure=closure)  # type: ignore[arg-type]


def _settle_tasks(
    tx: Tx, tasks: list[Activity], due: list[rules.Due], closure: closing.Closure | None
) -> bool:
    """Tasks follow the obligations: a band task met by a touch is done; a closed lead's
    tasks from before its closing are cancelled; a reminder whose obligation ended closes.
    Returns whether any task changed."""
    met = {
        item.detail["task"]: item
        for item in due
        if item.rule == "task.due" and item.met_with is not None and item.met_at is not None
    }
    owed = {(item.rule, item.key): item.status for item in due}
    changed = False
    for task in tasks:
        if task.id in met:
            _met_by_touch(tx, task, met[task.id])
        elif task.details.get("obligation") is not None:
            # a reminder lives as long as its obligation, as it is about to be stored
            close_served(tx, task, owed=owed)
        elif (
            closure is not None
            and task.details.get("serves") not in ACCOUNT_WORK
            and task.created_at <= closure.at
        ):
            _cancel_task(tx, task, f"lead {closure.reason}")
        changed = changed or task.status != "open"
    tx.session.flush()
    return changed


def _met_by_touch(tx: Tx, task: Activity, item: rules.Due) -> None:
    task.status, task.done_at, task.done_by = "done", item.met_at, item.met_by
    task.details = {**task.details, "met_with": item.met_with}
    tx.session.add(task)
    tx.audit(
        "activity",
        task.id,
        "done",
        {
            "status": ["open", "done"],
            "done_at": [None, item.met_at],
            "done_by": [None, item.met_by],
            "met_with": [None, item.met_with],
        },
    )


def _cancel_task(tx: Tx, task: Activity, reason: str) -> None:
    task.status = "cancelled"
    tx.session.add(task)
    tx.audit(
        "activity", task.id, "update", {"status": ["open", "cancelled"], "reason": [None, reason]}
    )


def close_served(
    tx: Tx, task: Activity, *, owed: dict[tuple[str, str], str] | None = None
) -> str | None:
    """Close an open reminder task (created by `crm tick` for a rule's obligation) once that
    obligation is no longer open: done if it was met, else cancelled. `owed`: the record's
    obligations as just computed ({(rule, key): status}; one it lacks is no longer owed),
    when they are not stored yet. Returns the new status (None: not a reminder, or its
    obligation is still open)."""
    obligation_id = task.details.get("obligation")
    if task.status != "open" or not task.details.get("serves") or obligation_id is None:
        return None
    obligation = tx.session.get(Obligation, obligation_id)
    status = None if obligation is None else obligation.status
    if obligation is not None and owed is not None:
        status = owed.get((obligation.rule, obligation.key), "cancelled")
    if status == "open":
        return None
    task.status = "done" if status == "met" else "cancelled"
    task.done_at, task.done_by = tx.now, tx.actor.name
    tx.session.add(task)
    tx.audit("activity", task.id, "update", {"status": ["open", task.status]})
    return task.status


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
    tx: Tx,
    record_type: str,
    record_id: int,
    due: list[rules.Due],
    *,
    owner_id: int | None,
    closure: closing.Closure | None = None,
) -> list[Obligation]:
    """Store a record's obligations: update the ones it had, add new ones (not one that is
    over before it was ever stored), and end the ones no rule reports any more (cancelled,
    or as the record's closing decides)."""
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
        row = stored.pop((item.rule, item.key), None)
        if row is None and item.status in closing.ENDED:
            continue
        row = row or Obligation(
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
        if row.status in (closing.OPEN, closing.PAUSED):
            ended = None
            if closure is not None:
                ended = closing.ending(
                    closure,
                    rule=row.rule,
                    arose_at=row.started_at,
                    due_at=row.due_at,
                    detail=row.detail,
                )
            row.status = ended or closing.CANCELLED
            why = closure.reason if ended and closure else "no longer applies"
            row.detail = rules.ended_detail(row.detail, tx.now, why)
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
        "detail": {**item.detail, "met_with": item.met_with}
        if item.met_with is not None
        else item.detail,
        "status": item.status,
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
