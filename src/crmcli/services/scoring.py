"""Scoring leads and acting on their band: nurture, follow-up and contact tasks, notices.

A scoring (BANT from `crm score`, or the engagement model re-run after `crm lead event`)
stores a ScoreEvent, moves the lead's score and band, audits old → new on the lead, and
applies the band's action from the policy:

- nurture: an open lead's status becomes "nurture" (the nurture program);
- follow_up: an open task due `due` later on the calendar, in business hours (the band's
  `at` and `snap`);
- contact: an open task due `due` later in business time;
- notify: a Notification for each admin ("admins") and/or the lead's owner ("owner").

A band task is met by the first touch of the kind [touches.meets] asks for (band.contact:
a conversation; band.follow_up: an attempt too), and then marked done
(services.obligations.refresh_lead).

One band task is open at a time: the current band's. A re-score that stays in the band
adds no second task and tells nobody again; a move to another band cancels the open task
of the band left (it was created by scoring, and the new band decides the next step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from crmcli.clock import read_when
from crmcli.errors import BadInput
from crmcli.rules import scoring as rules
from crmcli.rules.calendar import person_due, schedule_of
from crmcli.rules.policy import Band
from crmcli.services.activities import record_activity
from crmcli.services.lookups import load_lead
from crmcli.services.obligations import refresh_lead
from crmcli.services.workspace import Tx
from crmcli.store.models import Activity, EngagementEvent, Lead, Notification, ScoreEvent, User

NURTURE = "nurture"
# a band without `due` still gets a deadline: the defaults of the shipped policy
DEFAULT_DUE = {"follow_up": timedelta(days=3), "contact": timedelta(hours=1)}
# how far in the future an event's --at may lie (clock skew between machines)
EVENT_SKEW = timedelta(minutes=5)
TASK_SUBJECTS = {"follow_up": "Follow up ({band} band)", "contact": "Contact now ({band} band)"}
# Notification.kind by whom the band tells
NOTICE_KINDS = {"admins": "executive_contact", "owner": "lead_band"}


@dataclass
class Outcome:
    """What a band's action did to a lead."""

    action: str  # the band's action: nurture | follow_up | contact | none
    taken: str  # what happened: enrolled, task, task_open, skipped, none
    reason: str | None = None
    program: str | None = None  # "enrolled" in or "left" the nurture program
    task: Activity | None = None
    assignee: str | None = None
    notified: list[str] = field(default_factory=list)
    cancelled_tasks: list[int] = field(default_factory=list)


def score_lead(tx: Tx, lead_id: int, bant: dict[str, int]) -> dict[str, Any]:
    """Score a lead with BANT (seed 003) and apply its band; the caller checks the role."""
    score = rules.bant_score(bant, tx.policy.scoring.bant)
    lead = load_lead(tx, lead_id)
    return apply_score(tx, lead, score)


def event_kinds(tx: Tx) -> list[str]:
    return tx.policy.scoring.events


def record_event(
    tx: Tx, lead_id: int, kind: str, *, at: str | datetime | None = None
) -> dict[str, Any]:
    """Store an engagement event; under the engagement model, re-score the lead."""
    kinds = event_kinds(tx)
    key = {k.lower(): k for k in kinds}.get(kind.strip().lower())
    if key is None:
        raise BadInput(f"KIND: {kind!r} is not an engagement event; use one of {', '.join(kinds)}")
    when = tx.now
    if isinstance(at, datetime):
        when = at
    elif at:
        when = read_when(at, policy=tx.policy, field="--at", prefer="past", relative_to=tx.now)
    if when > tx.now + EVENT_SKEW:
        raise BadInput("--at: lies in the future; give when the event happened")
    lead = load_lead(tx, lead_id)
    event = EngagementEvent(lead_id=lead.id, kind=key, at=when, actor=tx.actor.name)  # type: ignore[arg-type]
    tx.session.add(event)
    tx.session.flush()
    tx.audit("lead", lead.id, "event", {"event": [None, key], "event_at": [None, when]})
    record: dict[str, Any] = {"event": event.id, "kind": key, "event_at": when}
    if tx.policy.scoring.model == "engagement":
        return {**record, **apply_score(tx, lead, engagement_for(tx, lead))}
    lead.updated_at = tx.now
    tx.session.add(lead)
    refresh_lead(tx, lead)
    return {**record, **_unscored(tx, lead)}


def engagement_for(tx: Tx, lead: Lead) -> rules.Score:
    """The lead's engagement-model score from its firmographics and all its events."""
    counts = dict(
        tx.session.exec(
            select(EngagementEvent.kind, func.count())
            .where(EngagementEvent.lead_id == lead.id)
            .group_by(col(EngagementEvent.kind))
        ).all()
    )
    firmographics = rules.Firmographics(lead.employees, lead.industry, lead.title)
    return rules.engagement_score(firmographics, counts, tx.policy.scoring.engagement)


def apply_score(tx: Tx, lead: Lead, score: rules.Score) -> dict[str, Any]:
    """Store a scoring, move the lead to its band, audit it and take the band's action."""
    band = rules.band_for(tx.policy.bands, score.total)
    previous_model = tx.session.exec(
        select(ScoreEvent.model)
        .where(ScoreEvent.lead_id == lead.id)
        .order_by(col(ScoreEvent.id).desc())
        .limit(1)
    ).first()
    before = {"score": lead.score, "band": lead.band, "status": lead.status}
    event = ScoreEvent(
        lead_id=lead.id,  # type: ignore[arg-type]
        model=score.model,
        score=score.total,
        band=band.name,
        breakdown=score.breakdown,
        at=tx.now,
        actor=tx.actor.name,
    )
    tx.session.add(event)
    lead.score = score.total
    lead.band = band.name
    lead.updated_at = tx.now
    tx.session.add(lead)
    tx.session.flush()
    outcome = _take_action(tx, lead, band, previous_band=before["band"], score_event=event)
    after = {"score": lead.score, "band": lead.band, "status": lead.status}
    changes: dict[str, Any] = {k: [before[k], v] for k, v in after.items() if before[k] != v}
    if not changes:
        changes["score"] = [before["score"], lead.score]  # a re-score is news even if equal
    if previous_model != score.model:
        changes["model"] = [previous_model, score.model]
    if outcome.program == "enrolled":
        changes["program"] = [None, NURTURE]
    elif outcome.program == "left":
        changes["program"] = [NURTURE, None]
    tx.audit("lead", lead.id, "score", changes)
    tx.session.add(lead)
    refresh_lead(tx, lead)
    return _scored(tx, lead, event, band, before, outcome)


def _is_closed(tx: Tx, lead: Lead) -> bool:
    stage = tx.policy.stage(lead.stage) or {}
    return "outcome" in stage or lead.status in ("won", "lost")


def _band_tasks(tx: Tx, lead: Lead) -> list[Activity]:
    """The lead's open tasks that a scoring created (they carry their band in details)."""
    tasks = tx.session.exec(
        select(Activity).where(
            Activity.lead_id == lead.id, Activity.type == "task", Activity.status == "open"
        )
    )
    return [task for task in tasks if task.details.get("score_band")]


def _take_action(
    tx: Tx, lead: Lead, band: Band, *, previous_band: str | None, score_event: ScoreEvent
) -> Outcome:
    if _is_closed(tx, lead):
        return Outcome(band.action, "skipped", reason=f"lead {lead.id} is closed ({lead.status})")
    outcome = Outcome(band.action, "none")
    if band.action != NURTURE and lead.status == NURTURE:
        lead.status = "contacted" if lead.first_response_at else "new"
        outcome.program = "left"
    open_tasks = _band_tasks(tx, lead)
    for task in open_tasks:
        if task.details["score_band"] != band.name:
            _cancel(tx, task, band)
            outcome.cancelled_tasks.append(task.id)  # type: ignore[arg-type]
    fired = False
    if band.action == NURTURE:
        if lead.kind != "lead":
            outcome.taken = "skipped"
            outcome.reason = f"lead {lead.id} is already an opportunity; its stage decides"
        elif lead.status != NURTURE:
            lead.status = NURTURE
            outcome.taken = outcome.program = "enrolled"
            fired = True
    elif band.action in TASK_SUBJECTS:
        current = [t for t in open_tasks if t.details["score_band"] == band.name]
        if current:
            outcome.taken, outcome.task = "task_open", current[0]
        else:
            outcome.task, outcome.assignee = _band_task(tx, lead, band, score_event)
            outcome.taken = "task"
            fired = True
    else:
        fired = band.name != previous_band
    if fired and band.notify:
        outcome.notified = _notify(tx, lead, band, outcome.task)
    return outcome


def _band_task(tx: Tx, lead: Lead, band: Band, score_event: ScoreEvent) -> tuple[Activity, str]:
    due = band.due if band.due is not None else DEFAULT_DUE[band.action]
    # "contact now" counts the hours the team is at work; a follow-up is scheduled in days,
    # landing in business hours
    if band.action == "contact":
        due_at = tx.calendar.add(tx.now, due)
    else:
        schedule = schedule_of({"at": band.at, "snap": band.snap})
        due_at = person_due(tx.calendar, tx.now, due, schedule)  # type: ignore[arg-type]
    assignee = tx.session.get(User, lead.owner_id) if lead.owner_id else None
    assignee = assignee or tx.actor
    task = record_activity(
        tx,
        lead=lead,
        type="task",
        user=assignee,
        status="open",
        subject=TASK_SUBJECTS[band.action].format(band=band.name),
        due_at=due_at,
        details={
            "score_band": band.name,
            "band_action": band.action,
            "score_event": score_event.id,
        },
    )
    return task, assignee.name


def _cancel(tx: Tx, task: Activity, band: Band) -> None:
    task.status = "cancelled"
    tx.session.add(task)
    tx.audit(
        "activity",
        task.id,
        "update",
        {"status": ["open", "cancelled"], "reason": [None, f"lead moved to the {band.name} band"]},
    )


def _notify(tx: Tx, lead: Lead, band: Band, task: Activity | None) -> list[str]:
    recipients: dict[int, tuple[User, str]] = {}
    if "owner" in band.notify and lead.owner_id:
        owner = tx.session.get(User, lead.owner_id)
        if owner is not None and owner.active:
            recipients[owner.id] = (owner, NOTICE_KINDS["owner"])  # type: ignore[index]
    if "admins" in band.notify:
        admins = tx.session.exec(
            select(User)
            .where(User.role == "admin", col(User.active).is_(True))
            .order_by(col(User.id))
        )
        for admin in admins:
            recipients[admin.id] = (admin, NOTICE_KINDS["admins"])  # type: ignore[index]
    name = " ".join(p for p in (lead.first_name, lead.last_name) if p) or f"lead {lead.id}"
    who = f"{name}, {lead.company}" if lead.company else name
    message = f"lead {lead.id} ({who}) scored {lead.score}: {band.name} band"
    if task is not None and task.due_at is not None:
        due = task.due_at.astimezone(tx.policy.timezone).strftime("%Y-%m-%d %H:%M")
        message += f"; {task.subject} due {due}"
    notified = []
    for user, kind in recipients.values():
        notice = Notification(
            user_id=user.id,  # type: ignore[arg-type]
            lead_id=lead.id,
            kind=kind,
            message=message,
            created_at=tx.now,
            record_type="lead",
            record_id=lead.id,
        )
        tx.session.add(notice)
        tx.session.flush()
        tx.audit(
            "notification",
            notice.id,
            "create",
            {"user": [None, user.name], "kind": [None, kind], "lead_id": [None, lead.id]},
        )
        notified.append(user.name)
    return notified


def _scored(
    tx: Tx,
    lead: Lead,
    event: ScoreEvent,
    band: Band,
    before: dict[str, Any],
    outcome: Outcome,
) -> dict[str, Any]:
    task = outcome.task
    return {
        "id": lead.id,
        "scored": True,
        "model": event.model,
        "policy_model": tx.policy.scoring.model,
        "score": event.score,
        "band": band.name,
        "previous_score": before["score"],
        "previous_band": before["band"],
        "breakdown": event.breakdown,
        "action": outcome.action,
        "action_taken": outcome.taken,
        "reason": outcome.reason,
        "nurture": outcome.program,
        "task": None
        if task is None
        else {
            "id": task.id,
            "subject": task.subject,
            "due_at": task.due_at,
            "assignee": outcome.assignee or _user_name(tx, task.user_id),
            "new": outcome.taken == "task",
        },
        "notified": outcome.notified,
        "cancelled_tasks": outcome.cancelled_tasks,
        "status": lead.status,
        "score_event": event.id,
        "at": event.at,
        "actor": event.actor,
    }


def _unscored(tx: Tx, lead: Lead) -> dict[str, Any]:
    """An event under the BANT model: stored for the record, the score is left alone."""
    return {
        "id": lead.id,
        "scored": False,
        "model": None,
        "policy_model": tx.policy.scoring.model,
        "score": lead.score,
        "band": lead.band,
        "status": lead.status,
    }


def _user_name(tx: Tx, user_id: int) -> str | None:
    user = tx.session.get(User, user_id)
    return user.name if user else None
