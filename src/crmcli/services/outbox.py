"""The outbox: sequences queue rendered messages (`crm tick`, and a new lead's welcome when it
is added or imported), meetings queue their confirmation and reminders, and `crm outbox send`
delivers them: email through SMTP, a rep's reminder as an in-app notification.

Delivery never sends a message twice: each message is marked `sending` and committed before
the SMTP transaction, and marked `sent` (with its email activity) after. A row still
`sending` at the next run means the program stopped in between; it is reported and left for
a person to check (`crm outbox retry ID` sends it again, `crm outbox cancel ID` closes it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from crmcli.errors import BadInput, NotFound, PolicyRefusal
from crmcli.rules import messaging, reminders
from crmcli.services import scope
from crmcli.services.lookups import load_lead
from crmcli.services.workspace import Tx
from crmcli.store.models import (
    Activity,
    Lead,
    Notification,
    OutboxMessage,
    ScoreEvent,
    StageChange,
    User,
)

if TYPE_CHECKING:
    from crmcli.services.smtp import SmtpSettings
    from crmcli.services.workspace import Workspace

PENDING = ("queued", "failed")
FIELDS = (
    "id",
    "lead_id",
    "sequence",
    "step",
    "template",
    "channel",
    "to_address",
    "subject",
    "body",
    "scheduled_at",
    "status",
    "attempts",
    "last_error",
    "next_attempt_at",
    "sending_started_at",
    "sent_at",
    "message_id",
    "activity_id",
    "meeting_id",
    "created_at",
)
UNKNOWN = "unknown — check the mail server"
MEETING = "meeting"  # the `sequence` of a meeting's messages (they name it in meeting_id)


def row(message: OutboxMessage) -> dict[str, Any]:
    return {name: getattr(message, name) for name in FIELDS}


# --- what a lead has done (human activity only) -----------------------------------------


def is_automated(activity: Activity) -> bool:
    return bool(activity.details.get("automated"))


def histories(tx: Tx, leads: list[Lead]) -> dict[int, messaging.LeadHistory]:
    """Each lead's history for the sequences, read in a few queries per 500 leads."""
    found: dict[int, messaging.LeadHistory] = {}
    for start in range(0, len(leads), 500):
        chunk = leads[start : start + 500]
        ids = [lead.id for lead in chunk]
        activities: dict[int, list[Activity]] = defaultdict(list)
        for activity in tx.session.exec(
            select(Activity)
            .where(col(Activity.lead_id).in_(ids), col(Activity.type).not_in(("note", "task")))
            .order_by(col(Activity.at))
        ):
            if not is_automated(activity):
                activities[activity.lead_id].append(activity)  # type: ignore[index]
        changes: dict[int, list[datetime]] = defaultdict(list)
        for lead_id, at in tx.session.exec(
            select(StageChange.lead_id, StageChange.at).where(
                col(StageChange.lead_id).in_(ids), col(StageChange.from_stage).is_not(None)
            )
        ):
            changes[lead_id].append(at)
        scores: dict[int, list[ScoreEvent]] = defaultdict(list)
        for event in tx.session.exec(
            select(ScoreEvent)
            .where(col(ScoreEvent.lead_id).in_(ids))
            .order_by(col(ScoreEvent.at).desc())
        ):
            scores[event.lead_id].append(event)
        for lead in chunk:
            found[lead.id] = _history(  # type: ignore[index]
                tx,
                lead,
                activities[lead.id],
                changes[lead.id],
                scores[lead.id],  # type: ignore[index]
            )
    return found


def _history(
    tx: Tx,
    lead: Lead,
    activities: list[Activity],
    changes: list[datetime],
    scores: list[ScoreEvent],
) -> messaging.LeadHistory:
    outbound = [a.at for a in activities if a.direction != "inbound" and a.status == "logged"]
    return messaging.LeadHistory(
        acquired_at=lead.acquired_at,
        created_at=lead.created_at,
        status=lead.status,
        open=reachable(lead) and not _closed(tx, lead),
        nurture_since=_nurture_since(tx, lead, scores),
        first_touch=outbound[0] if outbound else None,
        last_activity=activities[-1].at if activities else None,
        inbound=tuple(a.at for a in activities if a.direction == "inbound"),
        calls=tuple(a.at for a in activities if a.type == "call"),
        stage_changes=tuple(changes),
    )


def reachable(lead: Lead) -> bool:
    """A lead that may get automated messages: has an address, has not opted out (a
    forgotten lead has no address left)."""
    return bool(lead.email) and lead.opted_out_at is None


def _closed(tx: Tx, lead: Lead) -> bool:
    return lead.status in ("won", "lost") or "outcome" in (tx.policy.stage(lead.stage) or {})


def _nurture_since(tx: Tx, lead: Lead, scores: list[ScoreEvent]) -> datetime | None:
    """When the lead's current stay in a nurture-action band began (scores newest first)."""
    nurture = {band.name for band in tx.policy.bands if band.action == "nurture"}
    if lead.kind != "lead" or lead.band not in nurture:
        return None
    since = None
    for event in scores:
        if event.band not in nurture:
            break
        since = event.at
    return since


# --- queueing (crm tick; a new lead's welcome when it is added or imported) ------------------


def arrival(tx: Tx) -> messaging.Arrival | None:
    """What an import needs to queue each new lead's welcome in bulk (None: no sequence
    starts on acquisition)."""
    sequences = {
        name: sequence
        for name, sequence in tx.policy.sequences.items()
        if sequence.get("trigger") == "acquired"
    }
    if not sequences:
        return None
    return messaging.Arrival(
        sequences=sequences,
        templates=tx.policy.templates,
        expire=tx.policy.outbox.expire,
        values=sender_values(
            tx.policy, None, smtp_policy=tx.stored_policy, admin=tx.actor.role == "admin"
        ),
    )


def enqueue(tx: Tx, leads: list[Lead] | None = None) -> list[dict[str, Any]]:
    """Queue every due step of every sequence (of `leads` only, if given: a lead just added
    gets its welcome at once); cancel what a reply, call, stage change, opt-out or closing
    stopped. Running it again queues nothing new (one row per step)."""
    return list(_walk(tx, queue=True, only=leads))


def cancel_stopped(tx: Tx) -> int:
    """Before sending: cancel what a reply, call or stage change since the tick stopped."""
    return len(list(_walk(tx, queue=False)))


def _walk(tx: Tx, *, queue: bool, only: list[Lead] | None = None) -> Iterator[dict[str, Any]]:
    sequences = tx.policy.sequences
    expire = tx.policy.outbox.expire
    ids = None if only is None else [lead.id for lead in only]
    pending: dict[int, list[OutboxMessage]] = defaultdict(list)
    query = select(OutboxMessage).where(col(OutboxMessage.status).in_(PENDING))
    if ids is not None:
        query = query.where(col(OutboxMessage.lead_id).in_(ids))
    for message in tx.session.exec(query):
        pending[message.lead_id].append(message)
    leads: dict[int, Lead] = {}
    if queue and sequences:
        if only is None:
            query = select(Lead).where(
                col(Lead.email).is_not(None),
                col(Lead.opted_out_at).is_(None),
                col(Lead.status).not_in(("won", "lost")),
            )
            leads = {lead.id: lead for lead in tx.session.exec(query)}  # type: ignore[misc]
        else:
            leads = {lead.id: lead for lead in only if reachable(lead)}  # type: ignore[misc]
    for lead_id in set(pending) - set(leads):
        leads[lead_id] = tx.session.get(Lead, lead_id)  # type: ignore[assignment]
    facts = histories(tx, [leads[lead_id] for lead_id in sorted(leads)])
    meetings = _meetings(tx, [m for messages in pending.values() for m in messages])
    existing: set[tuple[int, str, str]] | None = None
    for lead_id in sorted(leads):
        lead = leads[lead_id]
        plans = {
            name: messaging.plan(sequence, facts[lead_id], tx.now, expire)
            for name, sequence in sequences.items()
        }
        yield from _cancel_stopped(tx, lead, pending.get(lead_id, []), plans, meetings)
        if queue and any(plan.steps for plan in plans.values()):
            if existing is None:  # every step ever queued: one read, not one per lead
                steps = select(OutboxMessage.lead_id, OutboxMessage.sequence, OutboxMessage.step)
                if ids is not None:
                    steps = steps.where(col(OutboxMessage.lead_id).in_(ids))
                existing = set(tx.session.exec(steps).all())
            yield from _queue_steps(tx, lead, plans, existing)


def _meetings(tx: Tx, messages: list[OutboxMessage]) -> dict[int, Activity]:
    ids = sorted({m.meeting_id for m in messages if m.meeting_id is not None})
    found: dict[int, Activity] = {}
    for start in range(0, len(ids), 500):
        query = select(Activity).where(col(Activity.id).in_(ids[start : start + 500]))
        found.update({meeting.id: meeting for meeting in tx.session.exec(query)})  # type: ignore[misc]
    return found


def _cancel_stopped(
    tx: Tx,
    lead: Lead,
    messages: list[OutboxMessage],
    plans: dict[str, messaging.Plan],
    meetings: dict[int, Activity],
) -> list[dict[str, Any]]:
    actions = []
    for message in messages:
        if message.meeting_id is not None:
            reason = _why_stop_meeting(tx, lead, message, meetings.get(message.meeting_id))
        else:
            reason = _why_stop(lead, message, plans)
        if reason:
            _set_status(tx, message, "cancelled", reason)
            actions.append(
                {
                    "action": "message cancelled",
                    "record": f"lead {lead.id}",
                    "detail": f"outbox {message.id} ({message.sequence}): {reason}",
                }
            )
    return actions


def _why_stop(lead: Lead, message: OutboxMessage, plans: dict[str, messaging.Plan]) -> str | None:
    if lead.opted_out_at is not None:
        return "the lead opted out"
    if not lead.email:
        return "the lead has no email address"
    plan = plans.get(message.sequence)
    if plan is None:
        return "the sequence is no longer in the policy"
    if plan.anchor is None:
        return "the lead left the sequence"
    if plan.stopped:
        return f"{plan.stopped} stopped the sequence"
    if not message.step.startswith(f"{plan.anchor:%Y%m%dT%H%M%S}/"):
        return "the sequence started over"
    return None


def _why_stop_meeting(
    tx: Tx, lead: Lead, message: OutboxMessage, meeting: Activity | None
) -> str | None:
    """A meeting's message waits while the meeting stands as booked and lies ahead; its
    cancellation notice waits while the meeting's time lies ahead."""
    if message.channel == "email" and lead.opted_out_at is not None:
        return "the lead opted out"
    if message.channel == "email" and not lead.email:
        return "the lead has no email address"
    if meeting is None:
        return "the meeting is gone"
    notice = message.step.endswith("/cancel")
    if meeting.status == "cancelled" and not notice:
        return "the meeting was cancelled"
    if meeting.status not in ("open", "cancelled"):
        return "the meeting was held"
    if not message.step.startswith(f"{_booking(meeting)}/"):
        return "the meeting moved"
    if meeting.at <= tx.now:
        return "the meeting's time has come"
    return None


def _queue_steps(
    tx: Tx, lead: Lead, plans: dict[str, messaging.Plan], existing: set[tuple[int, str, str]]
) -> list[dict[str, Any]]:
    actions = []
    for name, plan in plans.items():
        for step in plan.steps:
            if (lead.id, name, step.key) in existing:
                continue
            message = _queue(tx, lead, name, step)
            if message.status == "failed":
                actions.append(
                    {
                        "action": "message failed",
                        "record": f"lead {lead.id}",
                        "detail": f"outbox {message.id}: {name}: {message.last_error}",
                    }
                )
                continue
            actions.append(
                {
                    "action": "message queued",
                    "record": f"lead {lead.id}",
                    "detail": f"outbox {message.id}: {name} {step.template} for "
                    f"{message.scheduled_at.astimezone(tx.policy.timezone):%Y-%m-%d %H:%M}",
                }
            )
    return actions


def _queue(
    tx: Tx,
    lead: Lead,
    sequence: str,
    step: messaging.Step,
    values: dict[str, dict[str, Any]] | None = None,
    meeting_id: int | None = None,
) -> OutboxMessage:
    """The step's message, rendered now; a template that fails for this lead (or breaks a
    rendering limit) gives a `failed` message saying why, never sent until retried."""
    values = values or template_values(tx, lead)
    try:
        composed = messaging.compose(
            tx.policy.templates, sequence, step, values, tx.now, tx.calendar
        )
    except messaging.TemplateProblem as exc:
        template = tx.policy.templates[step.template]
        composed = messaging.Composed(
            sequence=sequence,
            step=step.key,
            template=step.template,
            channel=template.get("channel") or "email",
            subject="",
            body="",
            scheduled_at=messaging.send_at(step, tx.now, tx.calendar),
        )
        to = lead.email or ""
        return _store(tx, lead.id, composed, to, meeting_id, problem=str(exc))  # type: ignore[arg-type]
    return _store(tx, lead.id, composed, lead.email, meeting_id)  # type: ignore[arg-type]


def _store(
    tx: Tx,
    lead_id: int,
    composed: messaging.Composed,
    to: str,
    meeting_id: int | None = None,
    *,
    problem: str | None = None,
) -> OutboxMessage:
    message = OutboxMessage(
        lead_id=lead_id,
        sequence=composed.sequence,
        step=composed.step,
        template=composed.template,
        channel=composed.channel,
        to_address=to,
        subject=composed.subject,
        body=composed.body,
        scheduled_at=composed.scheduled_at,
        created_at=tx.now,
        meeting_id=meeting_id,
    )
    tx.session.add(message)
    tx.session.flush()  # its id, for the reason below
    changes = created_event(lead_id, composed, meeting_id)
    if problem:
        message.status = "failed"
        message.last_error = _failure(message, lead_id, problem)
        tx.session.flush()
        changes["status"] = [None, "failed"]
        changes["reason"] = [None, message.last_error]
    tx.audit("outbox", message.id, "create", changes)
    return message


def _failure(message: OutboxMessage, lead_id: int, problem: str) -> str:
    return (
        f"template {message.template!r} failed for lead {lead_id}: {problem}; fix it in the "
        f"policy, then: crm outbox retry {message.id}"
    )


def created_event(
    lead_id: int, composed: messaging.Composed, meeting_id: int | None = None
) -> dict[str, Any]:
    """The audit event's changes when a message is queued (the bulk import writes them too)."""
    changes: dict[str, Any] = {
        "lead_id": [None, lead_id],
        "sequence": [None, composed.sequence],
        "template": [None, composed.template],
        "scheduled_at": [None, composed.scheduled_at],
    }
    if meeting_id is not None:
        changes["meeting_id"] = [None, meeting_id]
    return changes


def _render_into(tx: Tx, message: OutboxMessage, lead: Lead) -> str | None:
    """Render the message's template for `lead` (and its meeting) into it; why it failed,
    or None."""
    template = tx.policy.templates.get(message.template)
    if template is None:
        return f"template {message.template!r} is no longer in the policy"
    values = template_values(tx, lead)
    if message.meeting_id is not None:
        meeting = tx.session.get(Activity, message.meeting_id)
        if meeting is None:
            return "the meeting is gone"
        values["meeting"] = meeting_values(tx, meeting)
    try:
        subject = messaging.render(template.get("subject", ""), values).strip()
        body = messaging.render(template["body"], values)
    except messaging.TemplateProblem as exc:
        return _failure(message, lead.id, str(exc))  # type: ignore[arg-type]
    message.subject, message.body = subject, body
    return None


def _unrendered(message: OutboxMessage) -> bool:
    """Never rendered: its template failed when it was queued (then it may have been
    cancelled too); a retry renders it first, never sends it empty."""
    return message.attempts == 0 and not message.body and not message.subject


def template_values(tx: Tx, lead: Lead) -> dict[str, dict[str, Any]]:
    owner = tx.session.get(User, lead.owner_id) if lead.owner_id else None
    return {
        "lead": messaging.lead_values(
            {name: getattr(lead, name, None) for name in messaging.FIELDS["lead"]}
        ),
        **sender_values(
            tx.policy, owner, smtp_policy=tx.stored_policy, admin=tx.actor.role == "admin"
        ),
    }


def sender_values(
    policy: Any, owner: User | None, *, smtp_policy: Any, admin: bool = True
) -> dict[str, dict[str, Any]]:
    """The owner.* and sender.* fields: the owner's signature, or [outbox] signature; the
    sender's address from `smtp_policy` (the stored one)."""
    from crmcli.services.smtp import settings_from

    fallback = policy.outbox.signature
    return {
        "owner": {
            "name": owner.name if owner else "",
            "signature": (owner.signature if owner and owner.signature else fallback),
        },
        # the stored [smtp]: a --policy file never changes who the mail is from
        "sender": {"address": settings_from(smtp_policy, admin=admin).address},
    }


def finishing(tx: Tx, lead: Lead) -> list[str]:
    """The no-reply sequences whose last step the lead still has to get: `crm tick` marks it
    inactive (which ends them) only once they are done (rules.messaging.finishing)."""
    sequences = {
        name: sequence
        for name, sequence in tx.policy.sequences.items()
        if sequence.get("trigger") == "no_reply" and sequence.get("steps")
    }
    if not sequences:
        return []
    history = histories(tx, [lead])[lead.id]  # type: ignore[index]
    expire = tx.policy.outbox.expire
    settled: dict[str, set[str]] = defaultdict(set)
    for sequence, step, status, next_attempt_at in tx.session.exec(
        select(
            OutboxMessage.sequence,
            OutboxMessage.step,
            OutboxMessage.status,
            OutboxMessage.next_attempt_at,
        ).where(OutboxMessage.lead_id == lead.id, col(OutboxMessage.sequence).in_(list(sequences)))
    ):
        if status in ("sent", "cancelled") or (status == "failed" and next_attempt_at is None):
            settled[sequence].add(step)
    return [
        name
        for name, sequence in sequences.items()
        if messaging.finishing(sequence, history, tx.now, expire, settled[name])
    ]


# --- meetings: confirmation, reminders, cancellation notice ------------------------------------


def _booking(meeting: Activity) -> str:
    """The prefix of the step keys of a meeting as booked now (moving it books it again)."""
    return f"{meeting.id}.{meeting.details.get('booking', 1)}"


def meeting_values(tx: Tx, meeting: Activity) -> dict[str, str]:
    """The meeting.* fields of a meeting's templates, in the policy's timezone."""
    from crmcli.services.activities import default_duration

    tz = tx.policy.timezone
    start = meeting.at.astimezone(tz)
    minutes = meeting.duration_minutes or int(default_duration(tx).total_seconds() // 60)
    end = (meeting.at + timedelta(minutes=minutes)).astimezone(tz)
    date = f"{start:%A} {start.day} {start:%B %Y}"
    time = f"{start:%H:%M %Z}"
    return {
        "subject": meeting.subject or "Meeting",
        "start": f"{date}, {time}",
        "date": date,
        "time": time,
        "end": f"{end:%H:%M %Z}",
        "duration": _spoken(minutes),
    }


def _spoken(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    parts = [f"{hours} hour{'s' if hours != 1 else ''}"] if hours else []
    if rest or not parts:
        parts.append(f"{rest} minute{'s' if rest != 1 else ''}")
    return " ".join(parts)


def book_meeting(tx: Tx, meeting: Activity, lead: Lead) -> list[dict[str, Any]]:
    """Queue a meeting's confirmation to the lead, and its reminders to the lead and to the
    meeting's rep, per [reminders] (rules.reminders: in business hours, never late). The
    lead's need their templates and a reachable lead (an opt-out gets none); the rep's are
    in-app notifications. Returns what was queued (or skipped), for the command to show."""
    settings = tx.policy.reminders
    booking = _booking(meeting)
    to_lead = reachable(lead)
    rep = tx.session.get(User, meeting.user_id)
    to_rep = settings.rep and rep is not None and rep.active
    values: dict[str, dict[str, Any]] = {}
    if to_lead and (settings.confirmation or settings.reminder):
        values = {**template_values(tx, lead), "meeting": meeting_values(tx, meeting)}
    queued = []

    def to_the_lead(step: messaging.Step, what: str) -> None:
        message = _queue(tx, lead, MEETING, step, values, meeting.id)
        queued.append(_booked(message, f"{what} to {message.to_address}"))

    if to_lead and settings.confirmation:
        confirm = messaging.Step(f"{booking}/confirm", settings.confirmation, tx.now)
        to_the_lead(confirm, "confirmation")
    before = reminders.offsets(settings.before)
    for reminder in reminders.schedule(meeting.at, before, tx.now, tx.calendar):
        what = f"reminder {reminder.before}"
        if to_lead and settings.reminder:
            key = f"{booking}/before{reminder.before}"
            to_the_lead(messaging.Step(key, settings.reminder, reminder.send_at), what)
        if to_rep:
            message = _notify_later(tx, lead, meeting, rep, reminder)  # type: ignore[arg-type]
            queued.append(_booked(message, f"{what} to {message.to_address}"))
    return queued


def _booked(message: OutboxMessage, what: str) -> dict[str, Any]:
    if message.status == "failed":
        return {
            "outbox": message.id,
            "scheduled_at": None,
            "detail": f"{what}: {message.last_error}",
        }
    return {"outbox": message.id, "scheduled_at": message.scheduled_at, "detail": what}


def _notify_later(
    tx: Tx, lead: Lead, meeting: Activity, rep: User, reminder: reminders.Reminder
) -> OutboxMessage:
    from crmcli.services.activities import lead_label

    start = meeting.at.astimezone(tx.policy.timezone)
    text = (
        f"meeting {meeting.id} {meeting.subject or 'meeting'!r} with {lead_label(lead)} "
        f"at {start:%Y-%m-%d %H:%M}"
    )
    composed = messaging.Composed(
        sequence=MEETING,
        step=f"{_booking(meeting)}/rep-before{reminder.before}",
        template="",
        channel="notification",
        subject=f"Reminder: {text}",
        body="",
        scheduled_at=reminder.send_at,
    )
    return _store(tx, lead.id, composed, rep.name, meeting.id)  # type: ignore[arg-type]


def withdraw_meeting(tx: Tx, meeting: Activity, why: str) -> int:
    """Cancel what is still queued for a meeting (it moved, was held or cancelled)."""
    messages = tx.session.exec(
        select(OutboxMessage).where(
            OutboxMessage.meeting_id == meeting.id, col(OutboxMessage.status).in_(PENDING)
        )
    ).all()
    for message in messages:
        _set_status(tx, message, "cancelled", why)
    return len(messages)


def meeting_cancelled(tx: Tx, meeting: Activity, lead: Lead) -> list[dict[str, Any]]:
    """Withdraw a cancelled meeting's messages; tell the lead, if they had been told of it
    (a confirmation or reminder went out) and [reminders] cancellation names a template."""
    withdraw_meeting(tx, meeting, "the meeting was cancelled")
    template = tx.policy.reminders.cancellation
    told = tx.session.exec(
        select(OutboxMessage.id).where(
            OutboxMessage.meeting_id == meeting.id,
            OutboxMessage.channel == "email",
            col(OutboxMessage.status).in_(("sent", "sending")),
        )
    ).first()
    if not template or told is None or not reachable(lead) or meeting.at <= tx.now:
        return []
    values = {**template_values(tx, lead), "meeting": meeting_values(tx, meeting)}
    step = messaging.Step(f"{_booking(meeting)}/cancel", template, tx.now)
    message = _queue(tx, lead, MEETING, step, values, meeting.id)
    return [_booked(message, f"cancellation notice to {message.to_address}")]


# --- changing one message -------------------------------------------------------------------


def _set_status(tx: Tx, message: OutboxMessage, status: str, why: str | None = None) -> None:
    old = message.status
    message.status = status
    if why is not None:
        message.last_error = why
    if status != "failed":
        message.next_attempt_at = None
    tx.session.add(message)
    tx.session.flush()
    changes: dict[str, Any] = {"status": [old, status]}
    if why:
        changes["reason"] = [None, why]
    tx.audit("outbox", message.id, "update", changes)


def load(tx: Tx, message_id: int) -> OutboxMessage:
    message = tx.session.get(OutboxMessage, message_id)
    lead = tx.session.get(Lead, message.lead_id) if message else None
    if message is None or lead is None or not scope.in_scope(tx, lead.campaign_id):
        raise NotFound(f"outbox message {message_id} not found; see: crm outbox list")
    return message


def cancel(tx: Tx, message_id: int) -> tuple[dict[str, Any], bool]:
    """Cancel a queued, failed or `sending` (unknown) message; cancelling twice is a no-op."""
    message = load(tx, message_id)
    if message.status == "sent":
        raise PolicyRefusal(f"outbox {message_id} was sent {message.sent_at}; it cannot be undone")
    if message.status == "cancelled":
        return row(message), False
    _set_status(tx, message, "cancelled", f"cancelled by {tx.actor.name}")
    return row(message), True


def retry(tx: Tx, message_id: int) -> dict[str, Any]:
    """Queue a failed, cancelled or `sending` (unknown) message again, to go out now."""
    message = load(tx, message_id)
    if message.status in ("sent", "queued"):
        raise PolicyRefusal(
            f"outbox {message_id} is {message.status}; only failed, cancelled or unknown "
            "(sending) messages are retried"
        )
    lead = tx.session.get(Lead, message.lead_id)
    if lead is None or (message.channel == "email" and not reachable(lead)):
        raise PolicyRefusal(
            f"outbox {message_id}: lead {message.lead_id} opted out or was forgotten; "
            "it gets no automated messages"
        )
    if _unrendered(message):
        problem = _render_into(tx, message, lead)
        if problem:
            raise BadInput(f"outbox {message_id}: {problem}")
    message.sending_started_at = None
    message.scheduled_at = min(message.scheduled_at, tx.now)
    _set_status(tx, message, "queued", f"retry by {tx.actor.name}")
    return row(message)


def listing(
    tx: Tx, *, status: str | None = None, lead_id: int | None = None
) -> list[dict[str, Any]]:
    query = select(OutboxMessage, Lead).join(Lead, col(Lead.id) == OutboxMessage.lead_id)
    if status:
        query = query.where(OutboxMessage.status == status)
    if lead_id is not None:
        query = query.where(OutboxMessage.lead_id == lead_id)
    rows = []
    for message, lead in tx.session.exec(query.order_by(col(OutboxMessage.scheduled_at))):
        if scope.in_scope(tx, lead.campaign_id):
            values = row(message)
            if message.status == "sending":
                values["status"] = f"sending ({UNKNOWN})"
            rows.append(values)
    return rows


# --- leads that must get nothing ------------------------------------------------------------


def opt_out(tx: Tx, lead_id: int) -> tuple[dict[str, Any], bool]:
    """Record that the lead wants no automated messages; cancels what is queued for it."""
    lead = load_lead(tx, lead_id)
    if lead.opted_out_at is not None:
        return {"id": lead.id, "opted_out_at": lead.opted_out_at, "cancelled": 0}, False
    lead.opted_out_at = tx.now
    lead.updated_at = tx.now
    tx.session.add(lead)
    tx.audit("lead", lead.id, "update", {"opted_out_at": [None, tx.now]})
    # what is queued for the lead; its rep's reminders of a meeting with it stay
    cancelled = cancel_for_lead(tx, lead.id, "the lead opted out", email_only=True)  # type: ignore[arg-type]
    return {"id": lead.id, "opted_out_at": lead.opted_out_at, "cancelled": cancelled}, True


def cancel_for_lead(tx: Tx, lead_id: int, why: str, *, email_only: bool = False) -> int:
    query = select(OutboxMessage).where(
        OutboxMessage.lead_id == lead_id, col(OutboxMessage.status).in_(PENDING)
    )
    if email_only:
        query = query.where(OutboxMessage.channel == "email")
    messages = tx.session.exec(query).all()
    for message in messages:
        _set_status(tx, message, "cancelled", why)
    return len(messages)


def forget_lead(tx: Tx, lead_id: int) -> list[tuple[str, int]]:
    """`crm lead forget`: cancel what is pending and erase addresses and rendered texts."""
    cancel_for_lead(tx, lead_id, "the lead was forgotten")
    erased = []
    for message in tx.session.exec(select(OutboxMessage).where(OutboxMessage.lead_id == lead_id)):
        message.to_address, message.subject, message.body = "", "", ""
        tx.session.add(message)
        erased.append(("outbox", message.id))
    from crmcli.services import mail_attachments
    from crmcli.store.models import EmailMessage

    digests = set()
    for email in tx.session.exec(select(EmailMessage).where(EmailMessage.lead_id == lead_id)):
        digests |= {item["sha256"] for item in email.attachments if "sha256" in item}
        email.from_address = None
        email.attachments = []
        tx.session.add(email)
    mail_attachments.forget(tx, digests)
    return erased  # type: ignore[return-value]


# --- sending --------------------------------------------------------------------------------


def due(tx: Tx, limit: int | None) -> list[OutboxMessage]:
    query = (
        select(OutboxMessage)
        .where(
            col(OutboxMessage.status).in_(PENDING),
            OutboxMessage.scheduled_at <= tx.now,
            # failed: only while a next attempt is set (after max_attempts it is not)
            (OutboxMessage.status == "queued") | col(OutboxMessage.next_attempt_at).is_not(None),
            col(OutboxMessage.next_attempt_at).is_(None)
            | (OutboxMessage.next_attempt_at <= tx.now),
        )
        .order_by(col(OutboxMessage.scheduled_at), col(OutboxMessage.id))
    )
    if limit is not None:
        query = query.limit(limit)
    return list(tx.session.exec(query))


def send(
    ws: Workspace, *, limit: int | None = None, dry_run: bool = False
) -> tuple[dict[str, Any], tzinfo]:
    """Deliver due messages; returns what happened and the policy's timezone (to show it).

    Each message gets its own transactions (mark, send, record), so this takes the workspace
    rather than one Tx."""
    from crmcli.services import smtp

    def take_due(tx: Tx) -> tuple[Any, ...]:
        cancelled = cancel_stopped(tx)
        stuck = select(OutboxMessage).where(OutboxMessage.status == "sending")
        unknown = [row(m) for m in tx.session.exec(stuck)]
        opened = tx.calendar.next_open(tx.now) == tx.now.astimezone(tx.policy.timezone)
        batch = [row(m) for m in due(tx, limit)] if opened else []
        next_open = tx.calendar.next_open(tx.now)
        tz = tx.policy.timezone
        mail = [item for item in batch if item["channel"] == "email"]
        # checked only when there is mail: an install without [smtp] may run the cron chain.
        # The stored [smtp], even under an admin's --policy: a file never redirects mail
        admin = tx.actor.role == "admin"
        settings = smtp.settings_from(tx.stored_policy, require=True, admin=admin) if mail else None
        return cancelled, unknown, opened, batch, next_open, tz, mail, settings

    due_now = ws.write(take_due, dry_run=dry_run)
    cancelled, unknown, opened, batch, next_open, tz, mail, settings = due_now
    result: dict[str, Any] = {
        "cancelled": cancelled,
        "unknown": unknown,
        "held_until": None if opened else next_open,
        "sent": [],
        "failed": [],
        "would_send": batch if dry_run else [],
        "stopped": None,
        "due": 0 if dry_run else len(batch),  # what this run should have delivered
    }
    if dry_run or not batch:
        return result, tz
    for item in batch:
        if item["channel"] == "notification":  # in the app: no mail server involved
            outcome = _notify_one(ws, item["id"])
            if outcome is not None:
                result[{"sent": "sent"}.get(outcome.pop("outcome"), "failed")].append(outcome)
    if not mail:
        return result, tz
    assert settings is not None
    with smtp.Connection(settings) as connection:
        for item in mail:
            outcome = _send_one(ws, item["id"], connection, settings)
            if outcome is None:
                continue
            kind = outcome.pop("outcome")
            result[{"sent": "sent", "unknown": "unknown"}.get(kind, "failed")].append(outcome)
            if kind == "fatal":
                result["stopped"] = outcome["last_error"]
                break
    return result, tz


def _send_one(
    ws: Workspace, message_id: int, connection: Any, settings: SmtpSettings
) -> dict[str, Any] | None:
    from crmcli.services import smtp

    def mark_sending(tx: Tx) -> tuple[Any, ...] | None:
        message = tx.session.get(OutboxMessage, message_id)
        if message is None or message.status not in PENDING:
            return None  # another run took it
        message.attempts += 1
        message.sending_started_at = tx.now
        message.message_id = message.message_id or smtp.new_message_id(settings)
        _set_status(tx, message, "sending")
        email = smtp.build(message, settings, now=tx.now)
        max_attempts = tx.policy.outbox.max_attempts
        base = tx.policy.outbox.retry_after
        return email, max_attempts, base

    marked = ws.write(mark_sending)
    if marked is None:
        return None
    email, max_attempts, base = marked
    outcome, error = connection.send(email)  # committed as `sending` before this line
    return ws.write(lambda tx: _record_outcome(tx, message_id, outcome, error, max_attempts, base))


def _record_outcome(
    tx: Tx, message_id: int, outcome: str, error: str | None, max_attempts: int, base: Any
) -> dict[str, Any]:
    """What the mail server said about a message, recorded (sent, unknown or failed)."""
    message = tx.session.get(OutboxMessage, message_id)
    if outcome == "sent":
        message.sent_at = tx.now
        message.last_error = None
        activity = _log_sent(tx, message)
        message.activity_id = activity.id
        _set_status(tx, message, "sent")
    elif outcome == "unknown":  # the server may have it: never resent blindly
        message.last_error = error
        tx.session.add(message)
        tx.audit("outbox", message.id, "flag", {"unknown": [None, error]})
    else:
        retry_at = (
            tx.now + messaging.backoff(message.attempts, base)
            if message.attempts < max_attempts
            else None
        )
        _set_status(tx, message, "failed", error)
        message.next_attempt_at = retry_at
        tx.session.add(message)
    values = row(message)
    return {**values, "outcome": outcome}


def _notify_one(ws: Workspace, message_id: int) -> dict[str, Any] | None:
    """Deliver a rep's reminder: a notification of the user the message is addressed to."""
    return ws.write(lambda tx: _notify(tx, message_id))


def _notify(tx: Tx, message_id: int) -> dict[str, Any] | None:
    message = tx.session.get(OutboxMessage, message_id)
    if message is None or message.status not in PENDING:
        return None  # another run took it
    message.attempts += 1
    user = tx.session.exec(select(User).where(User.name == message.to_address)).first()
    if user is None or not user.active:
        _set_status(tx, message, "failed", f"no active user {message.to_address!r}")
        return {**row(message), "outcome": "failed"}
    tx.session.add(
        Notification(
            user_id=user.id,  # type: ignore[arg-type]
            lead_id=message.lead_id,
            kind="meeting_reminder",
            message=message.subject,
            created_at=tx.now,
        )
    )
    message.sent_at = tx.now
    message.last_error = None
    _set_status(tx, message, "sent")
    return {**row(message), "outcome": "sent"}


def _log_sent(tx: Tx, message: OutboxMessage) -> Activity:
    from crmcli.services.activities import record_activity
    from crmcli.store.models import EmailMessage

    lead = tx.session.get(Lead, message.lead_id)
    owner = tx.session.get(User, lead.owner_id) if lead and lead.owner_id else None
    activity = record_activity(
        tx,
        lead=lead,
        type="email",
        user=owner,
        direction="outbound",
        subject=message.subject,
        notes=message.body,
        details={
            "automated": True,
            "outbox": message.id,
            "sequence": message.sequence,
            "template": message.template,
            "message_id": message.message_id,
        },
    )
    tx.session.add(
        EmailMessage(
            message_id=message.message_id,  # type: ignore[arg-type]
            activity_id=activity.id,
            lead_id=message.lead_id,
            direction="outbound",
            from_address=None,
            logged_at=tx.now,
        )
    )
    return activity
