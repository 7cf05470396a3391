"""`crm tick`: the daily pass that turns time passing into actions (run by cron)."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from crmcli.errors import PolicyRefusal
from crmcli.services import activities, inbox, outbox, pipeline
from crmcli.services.obligations import close_served, refresh_lead
from crmcli.services.workspace import Tx
from crmcli.store.models import Activity, Lead, Notification, Obligation, User


def tick(tx: Tx) -> list[dict[str, Any]]:
    """Reminder tasks for open cadence touches, inactive leads, stale records moved on,
    cases past their SLA told to their owners.

    Every action is audited; a second run right after the first finds nothing to do.
    """
    actions: list[dict[str, Any]] = []
    actions += _close_served_reminders(tx)
    actions += _inactive_leads(tx)  # first: going inactive ends the touches it missed
    actions += _cadence_reminders(tx)
    actions += _stale_records(tx)
    actions += inbox.cases_past_sla(tx)
    actions += outbox.enqueue(tx)  # after stage moves: a move stops a lead's sequences
    return actions


def _open(tx: Tx, rule: str) -> list[Obligation]:
    query = (
        select(Obligation)
        .where(
            Obligation.rule == rule, Obligation.status == "open", Obligation.started_at <= tx.now
        )
        .order_by(col(Obligation.record_id), col(Obligation.due_at))
    )
    return list(tx.session.exec(query))


def _inactive_leads(tx: Tx) -> list[dict[str, Any]]:
    """Leads whose cadence ran out without a reply go inactive: the touches and follow-ups
    they missed lapse, their open tasks are cancelled (services.obligations.refresh_lead)."""
    actions = []
    for obligation in _open(tx, "lead.cadence"):
        lead = tx.session.get(Lead, obligation.record_id)
        if lead is None or not obligation.detail.get("inactive"):
            continue
        if lead.status not in ("new", "contacted"):
            continue
        if outbox.finishing(tx, lead):
            continue  # the follow-up sequence finishes first: inactivity would stop its last step
        old, lead.status = lead.status, "inactive"
        tx.session.add(lead)
        tx.audit(
            "lead",
            lead.id,
            "update",
            {"status": [old, "inactive"], "reason": [None, "cadence exhausted (lead.cadence)"]},
        )
        refresh_lead(tx, lead)
        actions.append(
            {
                "action": "inactive",
                "record": f"lead {lead.id}",
                "detail": "no reply after the day 1/3/7/14 touches",
            }
        )
    return actions


def _cadence_reminders(tx: Tx) -> list[dict[str, Any]]:
    actions = []
    reminded = {
        activity.details.get("obligation")
        for activity in tx.session.exec(
            select(Activity).where(Activity.type == "task", Activity.status == "open")
        )
        if activity.details.get("serves") == "lead.cadence"
    }
    for obligation in _open(tx, "lead.cadence"):
        lead = tx.session.get(Lead, obligation.record_id)
        if lead is None:
            continue
        if obligation.id in reminded:
            continue
        if lead.owner_id is None:
            actions.append(
                {
                    "action": "skipped",
                    "record": f"lead {lead.id}",
                    "detail": f"{obligation.title}: unassigned, nobody to remind",
                }
            )
            continue
        owner = tx.session.get(User, lead.owner_id)
        task = activities.record_activity(
            tx,
            lead=lead,
            type="task",
            user=owner,
            status="open",
            at=obligation.started_at,
            due_at=obligation.due_at,
            subject=obligation.title.split(":")[0],
            details={"serves": "lead.cadence", "obligation": obligation.id},
        )
        actions.append(
            {
                "action": "task",
                "record": f"lead {lead.id}",
                "detail": f"task {task.id}: {obligation.title} for {owner.name}",
            }
        )
    return actions


def _close_served_reminders(tx: Tx) -> list[dict[str, Any]]:
    """Reminder tasks whose obligation was met (or no longer applies) are closed."""
    actions = []
    tasks = tx.session.exec(
        select(Activity).where(Activity.type == "task", Activity.status == "open")
    ).all()
    for task in tasks:
        if close_served(tx, task) is None:
            continue
        actions.append(
            {
                "action": f"task {task.status}",
                "record": f"activity {task.id}",
                "detail": "its obligation was met"
                if task.status == "done"
                else "its obligation no longer applies",
            }
        )
    tx.session.flush()
    return actions


def _stale_records(tx: Tx) -> list[dict[str, Any]]:
    move_to = tx.policy.rule_settings("opportunity.stale").get("move_to", "")
    actions = []
    for obligation in _open(tx, "opportunity.stale"):
        if obligation.due_at > tx.now:
            continue
        lead = tx.session.get(Lead, obligation.record_id)
        if lead is None:
            continue
        stage = lead.stage
        if not move_to:
            if _notify_stale(tx, lead, obligation):
                actions.append(
                    {"action": "stale", "record": f"lead {lead.id}", "detail": obligation.title}
                )
            continue
        if move_to == "nurture":
            reason = f"stale in {stage} (rules.opportunity.stale.move_to)"
            pipeline.nurture(tx, lead, reason=reason)
            actions.append(
                {"action": "nurture", "record": f"lead {lead.id}", "detail": f"stale in {stage}"}
            )
            continue
        move = pipeline.Move(lost_reason=f"stale in {stage} (rules.opportunity.stale.move_to)")
        try:
            pipeline.advance(tx, lead.id, move_to, move)  # type: ignore[arg-type]
        except PolicyRefusal as refusal:
            if _notify_stale(tx, lead, obligation):
                actions.append(
                    {
                        "action": "stale",
                        "record": f"lead {lead.id}",
                        "detail": f"not moved to {move_to}: {refusal.message}",
                    }
                )
            continue
        actions.append(
            {"action": move_to, "record": f"lead {lead.id}", "detail": f"stale in {stage}"}
        )
    return actions


def _notify_stale(tx: Tx, lead: Lead, obligation: Obligation) -> bool:
    """Tell the owner (or the admins, if unowned) once per stay in a stage."""
    kind = f"stale:{lead.stage}"
    told = tx.session.exec(
        select(Notification.id).where(Notification.lead_id == lead.id, Notification.kind == kind)
    ).first()
    if told is not None:
        return False
    recipients = (
        [lead.owner_id]
        if lead.owner_id
        else [user.id for user in tx.session.exec(select(User).where(User.role == "admin"))]
    )
    for user_id in recipients:
        tx.session.add(
            Notification(
                user_id=user_id,
                lead_id=lead.id,
                kind=kind,
                message=obligation.title,
                created_at=tx.now,
                record_type="lead",
                record_id=lead.id,
            )
        )
    tx.audit("lead", lead.id, "flag", {"stale": [None, lead.stage]})
    return True
