"""Activities: calls, meetings, emails, chats, notes and tasks, with their points.

`record_activity` is the one way an activity is stored, audited and the lead's obligations
refreshed; the log/schedule functions below validate input and build on it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col, select

from crmcli.clock import Direction, read_when
from crmcli.errors import BadInput, NotFound, PolicyRefusal
from crmcli.rules import schedule
from crmcli.rules.durations import parse_duration
from crmcli.services import scope
from crmcli.services.lookups import load_lead, user_by_name
from crmcli.services.obligations import OUTBOUND, counts_as_touch, refresh_lead
from crmcli.services.workspace import Tx
from crmcli.store.models import Activity, Contact, Lead, User

CALL_OUTCOMES = ("connected", "voicemail", "no-answer")
# how far ahead an --at may lie for something that already happened (clocks differ)
FUTURE_SKEW = timedelta(minutes=5)
# the longest block one item may hold: more is a typo (30d for 30m) that would block weeks
MAX_DURATION = timedelta(hours=24)

ACTIVITY_FIELDS = (
    "id",
    "lead_id",
    "user",
    "type",
    "direction",
    "outcome",
    "subject",
    "notes",
    "details",
    "at",
    "due_at",
    "duration_minutes",
    "status",
    "done_at",
    "done_by",
    "points",
    "parent_id",
    "created_at",
)
AGENDA_FIELDS = (
    "id",
    "kind",
    "start",
    "end",
    "duration_minutes",
    "lead_id",
    "lead",
    "subject",
    "overdue",
)
POINTS_FIELDS = (
    "kind",
    "points_each",
    "count",
    "points",
    "recommended",
    "recommended_points",
    "quota",
)


# --- the core ---------------------------------------------------------------------------


def record_activity(
    tx: Tx,
    *,
    lead: Lead | None,
    type: str,
    user: User | None = None,
    at: datetime | None = None,
    direction: str | None = None,
    outcome: str | None = None,
    subject: str | None = None,
    notes: str | None = None,
    details: dict[str, Any] | None = None,
    due_at: datetime | None = None,
    duration_minutes: int | None = None,
    status: str = "logged",
    parent_id: int | None = None,
    points_as: str | None = None,
    contact: Contact | None = None,
) -> Activity:
    """Store one activity, audit it and bring the lead's obligations up to date (or, for
    an activity with an account's `contact` and no lead, the account's).

    Points come from the policy's [activities.points] for `points_as` (e.g. a CharTec
    activity such as "discovery_meeting") or else for the activity type; tasks earn their
    points when done.
    """
    user = user or tx.actor
    # open tasks earn on completion; automated messages (the outbox) are nobody's work
    automated = bool((details or {}).get("automated"))
    points = 0 if status == "open" or automated else _points_for(tx, points_as or type)
    activity = Activity(
        lead_id=lead.id if lead else None,
        contact_id=contact.id if contact is not None and lead is None else None,
        user_id=user.id,  # type: ignore[arg-type]
        type=type,
        direction=direction,
        outcome=outcome,
        subject=subject,
        notes=notes,
        details={**(details or {}), **({"points_as": points_as} if points_as else {})},
        at=at or tx.now,
        due_at=due_at,
        duration_minutes=duration_minutes,
        status=status,
        points=points,
        parent_id=parent_id,
        created_at=tx.now,
    )
    tx.session.add(activity)
    tx.session.flush()
    created = {
        "lead_id": activity.lead_id,
        "contact_id": activity.contact_id,
        "user": user.name,
        "type": type,
        "direction": direction,
        "outcome": outcome,
        "subject": subject,
        "at": activity.at,
        "due_at": due_at,
        "status": status,
        "points": points,
    }
    tx.audit(
        "activity",
        activity.id,
        "create",
        {k: [None, v] for k, v in created.items() if v is not None},
    )
    if lead is not None:
        _lead_touched(tx, lead, activity)
    elif activity.contact_id is not None:
        from crmcli.services.accounts import refresh_account_id

        refresh_account_id(tx, contact.account_id)  # type: ignore[union-attr]
    return activity


def _lead_touched(tx: Tx, lead: Lead, activity: Activity) -> None:
    """An outbound contact that happened may be the lead's first response; obligations follow."""
    if (
        activity.type in OUTBOUND
        and activity.direction != "inbound"
        and activity.status == "logged"
        and counts_as_touch(tx, activity)
        and (lead.first_response_at is None or activity.at < lead.first_response_at)
    ):
        lead.first_response_at = activity.at
    lead.updated_at = tx.now
    tx.session.add(lead)
    refresh_lead(tx, lead)
    if lead.account_id is not None and activity.type in ("meeting", "task"):
        # a QBR held, an onboarding task done: the account's obligations follow
        from crmcli.services.accounts import refresh_account_id

        refresh_account_id(tx, lead.account_id)


# --- logging what happened ------------------------------------------------------------------


def log_call(
    tx: Tx,
    lead_id: int,
    *,
    outcome: str,
    notes: str | None = None,
    at: str | datetime | None = None,
    duration: str | timedelta | None = None,
    inbound: bool = False,
    points_as: str | None = None,
) -> dict[str, Any]:
    """Log a phone call (seed 002 "Log a Call"); an outbound call is a touch of the lead."""
    result = (outcome or "").strip().lower().replace("_", "-").replace(" ", "-")
    if result not in CALL_OUTCOMES:
        raise BadInput(f"--outcome: {outcome!r} is not an outcome; use {', '.join(CALL_OUTCOMES)}")
    when = _happened_at(tx, at)
    minutes = _minutes(duration)
    kind = _points_kind(tx, points_as)
    lead = load_lead(tx, lead_id)
    activity = record_activity(
        tx,
        lead=lead,
        type="call",
        at=when,
        direction="inbound" if inbound else "outbound",
        outcome=result,
        notes=_text(notes),
        duration_minutes=minutes,
        points_as=kind,
    )
    return activity_row(tx, activity)


def log_email(
    tx: Tx,
    lead_id: int,
    *,
    subject: str | None = None,
    notes: str | None = None,
    inbound: bool = False,
    at: str | datetime | None = None,
    points_as: str | None = None,
) -> dict[str, Any]:
    """Log an email, outbound unless `inbound`."""
    return _log_message(tx, lead_id, "email", subject, notes, inbound, at, points_as)


def log_chat(
    tx: Tx,
    lead_id: int,
    *,
    notes: str | None = None,
    inbound: bool = False,
    at: str | datetime | None = None,
    points_as: str | None = None,
) -> dict[str, Any]:
    """Log a chat or text message, outbound unless `inbound`."""
    return _log_message(tx, lead_id, "chat", None, notes, inbound, at, points_as)


def _log_message(
    tx: Tx,
    lead_id: int,
    type: str,
    subject: str | None,
    notes: str | None,
    inbound: bool,
    at: str | datetime | None,
    points_as: str | None,
) -> dict[str, Any]:
    when = _happened_at(tx, at)
    kind = _points_kind(tx, points_as)
    lead = load_lead(tx, lead_id)
    activity = record_activity(
        tx,
        lead=lead,
        type=type,
        at=when,
        direction="inbound" if inbound else "outbound",
        subject=_text(subject),
        notes=_text(notes),
        points_as=kind,
    )
    return activity_row(tx, activity)


def note(tx: Tx, lead_id: int, text: str, *, at: str | datetime | None = None) -> dict[str, Any]:
    """A note on the lead: not a touch; points only if the policy gives notes any."""
    body = _text(text)
    if body is None:
        raise BadInput("text: the note is empty; write what to remember")
    when = _happened_at(tx, at)
    lead = load_lead(tx, lead_id)
    return activity_row(tx, record_activity(tx, lead=lead, type="note", at=when, notes=body))


def log_meeting(
    tx: Tx,
    lead_id: int,
    *,
    attendees: Sequence[str],
    topics: Sequence[str] = (),
    issues: Sequence[str] = (),
    action_items: Sequence[str] = (),
    subject: str | None = None,
    notes: str | None = None,
    at: str | datetime | None = None,
    duration: str | timedelta | None = None,
    allow_overlap: bool = False,
    points_as: str | None = None,
) -> dict[str, Any]:
    """Log a meeting with its call report (seed 002: players, topics, issues, action items).

    Each action item ("text@due") becomes an open task of the meeting's rep. A meeting whose
    --at lies ahead is scheduled (status open): it earns its points when marked done. Both
    kinds are refused when they double-book the rep, unless `allow_overlap`.
    """
    players = _items(attendees)
    if not players:
        raise BadInput("--attendee: a call report names the players; give at least one --attendee")
    start = tx.now if at is None else _parse_time(tx, at, "--at")
    minutes = _minutes(duration)
    kind = _points_kind(tx, points_as)
    tasks = [_action_item(tx, raw) for raw in _items(action_items)]
    lead = load_lead(tx, lead_id)
    title = _text(subject)
    clashed = _check_clashes(
        tx,
        schedule.Slot(start, minutes, kind="meeting", title=title or "meeting", lead_id=lead.id),
        what="meeting",
        allow_overlap=allow_overlap,
    )
    report: dict[str, Any] = {
        "attendees": players,
        "topics": _items(topics),
        "issues": _items(issues),
        "action_items": [],
    }
    meeting = record_activity(
        tx,
        lead=lead,
        type="meeting",
        at=start,
        subject=title,
        notes=_text(notes),
        details={"call_report": report, **_overlap_detail(clashed)},
        duration_minutes=minutes,
        status="open" if start > tx.now + FUTURE_SKEW else "logged",
        points_as=kind,
    )
    _audit_overlap(tx, meeting, clashed)
    created = []
    for text, due_at in tasks:
        task = record_activity(
            tx,
            lead=lead,
            type="task",
            at=due_at,
            subject=text,
            due_at=due_at,
            status="open",
            parent_id=meeting.id,
        )
        created.append({"text": text, "due_at": due_at.isoformat(), "task": task.id})
    if created:
        # a new dict: the JSON column does not track changes made inside the old one
        meeting.details = {**meeting.details, "call_report": {**report, "action_items": created}}
        tx.session.add(meeting)
        tx.session.flush()
    messages = _book(tx, meeting, lead) if meeting.status == "open" else []
    return {
        **activity_row(tx, meeting),
        "tasks": [item["task"] for item in created],
        "messages": messages,
    }


def _action_item(tx: Tx, raw: str) -> tuple[str, datetime]:
    try:
        item = schedule.parse_action_item(raw)
    except ValueError as exc:
        raise BadInput(f"--action-item: {exc}") from None
    due_at = _parse_time(tx, item.due, "--action-item")
    if due_at < tx.now:
        raise BadInput(
            f"--action-item: {item.text!r} is due {_local(tx, due_at)}, in the past; "
            "give a future due"
        )
    return item.text, due_at


# --- scheduling ---------------------------------------------------------------------------


def next_step(
    tx: Tx,
    lead_id: int,
    text: str,
    *,
    due: str | datetime | None,
    duration: str | timedelta | None = None,
    allow_overlap: bool = False,
    points_as: str | None = None,
) -> dict[str, Any]:
    """Schedule the lead's next step: an open task with time allocated (seed 004).

    `due` is when the work starts; it occupies `duration` (the policy default if none).
    Refused (PolicyRefusal) when it double-books the rep, unless `allow_overlap`.
    """
    subject = _text(text)
    if subject is None:
        raise BadInput("text: say what the next step is, e.g. 'call to confirm the demo'")
    if due is None or (isinstance(due, str) and not due.strip()):
        raise BadInput("--due: give when the next step happens, e.g. '2026-03-09 10:00'")
    due_at = _parse_time(tx, due, "--due")
    if due_at < tx.now:
        raise BadInput(
            f"--due: {_local(tx, due_at)} is in the past (now {_local(tx, tx.now)}); "
            "schedule the next step ahead"
        )
    minutes = _minutes(duration) or _default_minutes(tx)
    kind = _points_kind(tx, points_as)
    lead = load_lead(tx, lead_id)
    clashed = _check_clashes(
        tx,
        schedule.Slot(due_at, minutes, kind="task", title=subject, lead_id=lead.id),
        what="next step",
        allow_overlap=allow_overlap,
    )
    task = record_activity(
        tx,
        lead=lead,
        type="task",
        at=due_at,
        subject=subject,
        details=_overlap_detail(clashed),
        due_at=due_at,
        duration_minutes=minutes,
        status="open",
        points_as=kind,
    )
    _audit_overlap(tx, task, clashed)
    return activity_row(tx, task)


# --- meetings with a lead: booked, moved, cancelled (seed 001 §7.1) ---------------------------


def schedule_meeting(
    tx: Tx,
    lead_id: int,
    *,
    at: str | datetime | None,
    duration: str | timedelta | None = None,
    subject: str | None = None,
    attendees: Sequence[str] = (),
    allow_overlap: bool = False,
    points_as: str | None = None,
) -> dict[str, Any]:
    """Book a meeting with a lead: an open meeting on the acting rep's calendar (refused when
    it double-books the rep, unless `allow_overlap`) that earns its points when held (`done`).
    Its confirmation and reminders are queued (services.outbox.book_meeting); the row's
    `messages` lists them."""
    if at is None or (isinstance(at, str) and not at.strip()):
        raise BadInput("--at: give when the meeting starts, e.g. '2026-03-10 10:00'")
    start = _parse_time(tx, at, "--at")
    _ahead(tx, start, "--at")
    minutes = _minutes(duration) or _default_minutes(tx)
    kind = _points_kind(tx, points_as)
    lead = load_lead(tx, lead_id)
    title = _text(subject)
    clashed = _check_clashes(
        tx,
        schedule.Slot(start, minutes, kind="meeting", title=title or "meeting", lead_id=lead.id),
        what="meeting",
        allow_overlap=allow_overlap,
    )
    players = _items(attendees)
    meeting = record_activity(
        tx,
        lead=lead,
        type="meeting",
        at=start,
        subject=title,
        details={**({"attendees": players} if players else {}), **_overlap_detail(clashed)},
        duration_minutes=minutes,
        status="open",
        points_as=kind,
    )
    _audit_overlap(tx, meeting, clashed)
    return {**activity_row(tx, meeting), "messages": _book(tx, meeting, lead)}


def move_meeting(
    tx: Tx,
    meeting_id: int,
    *,
    at: str | datetime | None,
    duration: str | timedelta | None = None,
    allow_overlap: bool = False,
) -> dict[str, Any]:
    """Move a booked meeting (and/or change its length): what was queued for it is cancelled
    and it is booked again, a new confirmation and reminders for the new time."""
    meeting, lead = _booked_meeting(tx, meeting_id, "moved")
    if at is None or (isinstance(at, str) and not at.strip()):
        raise BadInput("--at: give the meeting's new start, e.g. '2026-03-11 14:00'")
    start = _parse_time(tx, at, "--at")
    _ahead(tx, start, "--at")
    minutes = _minutes(duration) or meeting.duration_minutes
    if (start, minutes) == (meeting.at, meeting.duration_minutes):
        return {**activity_row(tx, meeting), "messages": [], "changed": False}
    clashed = _check_clashes(
        tx,
        schedule.Slot(
            start,
            minutes,
            id=meeting.id,
            kind="meeting",
            title=meeting.subject or "meeting",
            lead_id=lead.id,
        ),
        what="meeting",
        allow_overlap=allow_overlap,
        user_id=meeting.user_id,
    )
    changes = {"at": [meeting.at, start]}
    if minutes != meeting.duration_minutes:
        changes["duration_minutes"] = [meeting.duration_minutes, minutes]
    meeting.at, meeting.duration_minutes = start, minutes
    booking = meeting.details.get("booking", 1) + 1  # new keys for the messages of the move
    meeting.details = {**meeting.details, "booking": booking, **_overlap_detail(clashed)}
    tx.session.add(meeting)
    tx.session.flush()
    tx.audit("activity", meeting.id, "update", changes)
    _audit_overlap(tx, meeting, clashed)
    from crmcli.services import outbox

    outbox.withdraw_meeting(tx, meeting, "the meeting moved")
    _lead_touched(tx, lead, meeting)
    return {**activity_row(tx, meeting), "messages": _book(tx, meeting, lead), "changed": True}


def cancel_meeting(tx: Tx, meeting_id: int, *, reason: str | None = None) -> dict[str, Any]:
    """Cancel a booked meeting: off the rep's calendar, its queued messages cancelled, and the
    lead told if they had been (services.outbox.meeting_cancelled). Again is a no-op."""
    meeting = _meeting(tx, meeting_id)
    if meeting.status == "cancelled":
        return {**activity_row(tx, meeting), "messages": [], "changed": False}
    meeting, lead = _booked_meeting(tx, meeting_id, "cancelled")
    why = _text(reason)
    meeting.status = "cancelled"
    meeting.details = {**meeting.details, **({"cancel_reason": why} if why else {})}
    tx.session.add(meeting)
    tx.session.flush()
    changes: dict[str, Any] = {"status": ["open", "cancelled"]}
    if why:
        changes["reason"] = [None, why]
    tx.audit("activity", meeting.id, "update", changes)
    from crmcli.services import outbox

    messages = outbox.meeting_cancelled(tx, meeting, lead)
    _lead_touched(tx, lead, meeting)
    return {**activity_row(tx, meeting), "messages": messages, "changed": True}


def _book(tx: Tx, meeting: Activity, lead: Lead) -> list[dict[str, Any]]:
    from crmcli.services import outbox

    return outbox.book_meeting(tx, meeting, lead)


def _meeting(tx: Tx, meeting_id: int) -> Activity:
    activity = tx.session.get(Activity, meeting_id)
    lead = tx.session.get(Lead, activity.lead_id) if activity and activity.lead_id else None
    if activity is None or (lead is not None and not scope.in_scope(tx, lead.campaign_id)):
        raise NotFound(f"meeting {meeting_id} not found; see your meetings with: crm agenda")
    if activity.type != "meeting":
        raise BadInput(f"activity {meeting_id} is a {activity.type}, not a meeting")
    return activity


def _booked_meeting(tx: Tx, meeting_id: int, verb: str) -> tuple[Activity, Lead]:
    """An open meeting with a lead, to be moved or cancelled."""
    meeting = _meeting(tx, meeting_id)
    if meeting.status == "cancelled":
        raise PolicyRefusal(
            f"meeting {meeting_id} was cancelled; book a new one with: crm meeting schedule"
        )
    if meeting.status != "open":
        raise PolicyRefusal(
            f"meeting {meeting_id} was held {_local(tx, meeting.done_at or meeting.at)}; "
            f"a held meeting is not {verb}"
        )
    lead = tx.session.get(Lead, meeting.lead_id) if meeting.lead_id else None
    if lead is None:
        raise BadInput(f"meeting {meeting_id} is with no lead; only a lead's meetings are booked")
    return meeting, lead


def _ahead(tx: Tx, start: datetime, field: str) -> None:
    if start <= tx.now:
        raise BadInput(
            f"{field}: {_local(tx, start)} is not ahead (now {_local(tx, tx.now)}); book the "
            "meeting for a later time, or log one that was held with: crm log-meeting"
        )


@dataclass(frozen=True)
class DoneResult:
    activity: dict[str, Any]
    changed: bool
    message: str


def done(tx: Tx, task_id: int) -> DoneResult:
    """Complete an open task (or hold a scheduled meeting): awards its points, audited.

    Done twice is a no-op that says so (`changed` False): scripts may repeat it safely.
    """
    activity = tx.session.get(Activity, task_id)
    lead = tx.session.get(Lead, activity.lead_id) if activity and activity.lead_id else None
    if activity is None or (lead is not None and not scope.in_scope(tx, lead.campaign_id)):
        raise NotFound(f"task {task_id} not found; see your open tasks with: crm agenda")
    label = f"{activity.type} {task_id}"
    if activity.type not in ("task", "meeting"):
        raise BadInput(
            f"{label} is a logged {activity.type}, not a task or scheduled meeting; "
            "only those are marked done"
        )
    if activity.status == "cancelled":
        raise PolicyRefusal(f"{label} was cancelled; schedule a new one with: crm next-step")
    if activity.status != "open":
        when = activity.done_at or activity.at
        by = f" by {activity.done_by}" if activity.done_by else ""
        state = "done" if activity.type == "task" else "held"
        return DoneResult(
            activity_row(tx, activity),
            changed=False,
            message=f"{label} is already {state} ({_local(tx, when)}{by}); nothing changed",
        )
    if activity.type == "meeting" and activity.at > tx.now + FUTURE_SKEW:
        raise PolicyRefusal(
            f"{label} starts {_local(tx, activity.at)}; mark it done once it has started"
        )
    before = {"status": activity.status, "done_at": None, "done_by": None, "points": 0}
    # a held meeting is a logged meeting (a touch of the lead); a task is done
    activity.status = "done" if activity.type == "task" else "logged"
    activity.done_at = tx.now
    activity.done_by = tx.actor.name
    activity.points = _points_for(tx, activity.details.get("points_as") or activity.type)
    tx.session.add(activity)
    tx.session.flush()
    after = {
        "status": activity.status,
        "done_at": activity.done_at,
        "done_by": activity.done_by,
        "points": activity.points,
    }
    tx.audit(
        "activity",
        activity.id,
        "done",
        {k: [before[k], v] for k, v in after.items() if before[k] != v},
    )
    if activity.type == "meeting":
        from crmcli.services import outbox

        outbox.withdraw_meeting(tx, activity, "the meeting was held")
    if activity.lead_id is not None:
        lead = tx.session.get(Lead, activity.lead_id)
        if lead is not None:
            _lead_touched(tx, lead, activity)
    title = f" {activity.subject!r}" if activity.subject else ""
    return DoneResult(
        activity_row(tx, activity),
        changed=True,
        message=f"done: {label}{title} (+{activity.points} points)",
    )


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PointsReport:
    user: str
    month: str
    summary: schedule.PointsSummary

    def rows(self) -> list[dict[str, Any]]:
        """One row per activity kind, then a `total` row holding the quota."""
        rows: list[dict[str, Any]] = [{**asdict(row), "quota": None} for row in self.summary.rows]
        recommended = [r.recommended_points for r in self.summary.rows]
        rows.append(
            {
                "kind": "total",
                "points_each": None,
                "count": self.summary.count,
                "points": self.summary.total,
                "recommended": sum(r.recommended or 0 for r in self.summary.rows)
                if any(r.recommended is not None for r in self.summary.rows)
                else None,
                "recommended_points": sum(p for p in recommended if p is not None)
                if any(p is not None for p in recommended)
                else None,
                "quota": self.summary.quota,
            }
        )
        return rows

    @property
    def headline(self) -> str:
        summary = self.summary
        left = f"{summary.remaining} to go" if summary.remaining else "quota met"
        return (
            f"{self.user}, {self.month}: {summary.total} of {summary.quota} points "
            f"({summary.percent}%); {left}"
        )


def points(tx: Tx, user: str | None = None, month: str | None = None) -> PointsReport:
    """A rep's activity points in a month (default: this month, in the policy's timezone).

    Logged activities count in the month they happened; tasks in the month they were done.
    """
    rep = _rep(tx, user)
    try:
        label, start, end = schedule.month_bounds(month, now=tx.now, tz=tx.policy.timezone)
    except ValueError as exc:
        raise BadInput(f"--month: {exc}") from None
    query = select(Activity).where(
        Activity.user_id == rep.id,
        or_(
            and_(Activity.status == "logged", col(Activity.at) >= start, col(Activity.at) < end),
            and_(
                Activity.status == "done",
                col(Activity.done_at) >= start,
                col(Activity.done_at) < end,
            ),
        ),
    )
    earned = [
        (a.details.get("points_as") or a.type, a.points)
        for a in tx.session.exec(query)
        if not a.details.get("automated")  # the outbox's messages are not the rep's activity
    ]
    settings = tx.policy.activities
    summary = schedule.points_summary(
        earned,
        points_table=settings.points,
        # [activities.recommended]: monthly counts per kind (none unless the policy has them)
        recommended=settings.recommended,
        quota=settings.monthly_quota,
    )
    return PointsReport(rep.name, label, summary)


def agenda(tx: Tx, user: str | None = None, days: int = 7) -> list[dict[str, Any]]:
    """A rep's open tasks and scheduled meetings up to the end of the `days`-th local day.

    Overdue open items stay on the agenda (flagged) until they are done.
    """
    rep = _rep(tx, user)
    try:
        end = schedule.agenda_window(tx.now, days, tx.policy.timezone)
    except ValueError as exc:
        raise BadInput(f"--days: {exc}") from None
    query = (
        select(Activity, Lead)
        .outerjoin(Lead, col(Lead.id) == Activity.lead_id)
        .where(
            Activity.user_id == rep.id,
            Activity.status == "open",
            or_(
                and_(
                    Activity.type == "task",
                    or_(col(Activity.due_at).is_(None), col(Activity.due_at) < end),
                ),
                and_(Activity.type == "meeting", col(Activity.at) < end),
            ),
        )
    )
    default = default_duration(tx)
    rows = []
    for activity, lead in tx.session.exec(query):
        slot = _slot(activity)
        start = slot.start if slot else None
        rows.append(
            {
                "id": activity.id,
                "kind": activity.type,
                "start": start,
                "end": slot.end(default) if slot else None,
                "duration_minutes": activity.duration_minutes,
                "lead_id": activity.lead_id,
                "lead": lead_label(lead),
                "subject": activity.subject or activity.type,
                "overdue": start is not None and start < tx.now,
            }
        )
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(rows, key=lambda row: (row["start"] or far, row["id"]))


def meeting_alarms(tx: Tx) -> list[tuple[str, timedelta]]:
    """The policy's meeting reminders ([reminders] before), for the calendar's alarms."""
    from crmcli.rules.reminders import offsets

    return offsets(tx.policy.reminders.before)


def activity_row(tx: Tx, activity: Activity) -> dict[str, Any]:
    user = tx.session.get(User, activity.user_id)
    values = {name: getattr(activity, name, None) for name in ACTIVITY_FIELDS}
    return {**values, "user": user.name if user else None}


def lead_label(lead: Lead | None) -> str | None:
    if lead is None:
        return None
    name = f"{lead.first_name} {lead.last_name}".strip() or f"lead {lead.id}"
    return f"{name} ({lead.company})" if lead.company else name


# --- double-booking ---------------------------------------------------------------------------


def _slot(activity: Activity) -> schedule.Slot | None:
    """Where an open task or a meeting sits on its rep's calendar (tasks by their due)."""
    start = activity.due_at if activity.type == "task" else activity.at
    if start is None:
        return None
    return schedule.Slot(
        start,
        activity.duration_minutes,
        id=activity.id,
        kind=activity.type,
        title=activity.subject or activity.type,
        lead_id=activity.lead_id,
    )


def _scheduled(tx: Tx, user_id: int, start: datetime, end: datetime) -> list[schedule.Slot]:
    """The rep's open tasks and meetings that could overlap [start, end)."""
    # nothing lasts longer than MAX_DURATION (or the default), so earlier starts cannot reach
    earliest = start - max(MAX_DURATION, default_duration(tx))
    query = select(Activity).where(
        Activity.user_id == user_id,
        or_(
            and_(
                Activity.type == "task",
                Activity.status == "open",
                col(Activity.due_at) >= earliest,
                col(Activity.due_at) < end,
            ),
            and_(
                Activity.type == "meeting",
                Activity.status != "cancelled",
                col(Activity.at) >= earliest,
                col(Activity.at) < end,
            ),
        ),
    )
    return [slot for a in tx.session.exec(query) if (slot := _slot(a)) is not None]


def _check_clashes(
    tx: Tx,
    candidate: schedule.Slot,
    *,
    what: str,
    allow_overlap: bool,
    user_id: int | None = None,
) -> list[schedule.Slot]:
    """Clashes on the calendar of `user_id` (default: the acting user's)."""
    default = default_duration(tx)
    rep = tx.actor.id if user_id is None else user_id
    scheduled = _scheduled(tx, rep, candidate.start, candidate.end(default))  # type: ignore[arg-type]
    found = schedule.clashes(candidate, scheduled, default)
    if found and not allow_overlap:
        first, *rest = found
        raise PolicyRefusal(
            f"{what} {_span(tx, candidate)} clashes with {_describe(tx, first)}: "
            f"{schedule.NO_DOUBLE_BOOKING}; choose another time or pass --allow-overlap",
            details=[f"  also clashes with {_describe(tx, slot)}" for slot in rest],
        )
    return found


def _overlap_detail(clashed: list[schedule.Slot]) -> dict[str, Any]:
    return {"overlaps": [slot.id for slot in clashed]} if clashed else {}


def _audit_overlap(tx: Tx, activity: Activity, clashed: list[schedule.Slot]) -> None:
    if clashed:
        tx.audit(
            "activity",
            activity.id,
            "allow_overlap",
            {"overlaps": [None, [slot.id for slot in clashed]]},
        )


def _span(tx: Tx, slot: schedule.Slot) -> str:
    start = slot.start.astimezone(tx.policy.timezone)
    end = slot.end(default_duration(tx)).astimezone(tx.policy.timezone)
    tail = end.strftime("%H:%M") if end.date() == start.date() else end.strftime("%Y-%m-%d %H:%M")
    return f"{start:%Y-%m-%d %H:%M}–{tail}"


def _describe(tx: Tx, slot: schedule.Slot) -> str:
    lead = f", lead {slot.lead_id}" if slot.lead_id is not None else ""
    return f"{slot.kind} {slot.id} {slot.title!r} ({_span(tx, slot)}{lead})"


# --- input ------------------------------------------------------------------------------------


def _rep(tx: Tx, name: str | None) -> User:
    if name is None or name.strip() in ("", "me"):
        return tx.actor
    return user_by_name(tx, name.strip(), field="--user")


def _parse_time(
    tx: Tx, value: str | datetime, field: str, prefer: Direction = "future"
) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=tx.policy.timezone)
        return value.astimezone(UTC)
    return read_when(value, policy=tx.policy, field=field, prefer=prefer, relative_to=tx.now)


def _happened_at(tx: Tx, at: str | datetime | None) -> datetime:
    if at is None:
        return tx.now
    when = _parse_time(tx, at, "--at", prefer="past")
    if when > tx.now + FUTURE_SKEW:
        raise BadInput(
            f"--at: {_local(tx, when)} lies in the future; log what has happened, "
            "or plan it with: crm next-step"
        )
    return when


def _minutes(duration: str | timedelta | None, field: str = "--duration") -> int | None:
    if duration is None:
        return None
    try:
        length = duration if isinstance(duration, timedelta) else parse_duration(duration)
    except ValueError as exc:
        raise BadInput(f"{field}: {exc}") from None
    if length < timedelta(minutes=1):
        raise BadInput(f"{field}: give at least 1m")
    if length > MAX_DURATION:
        raise BadInput(f"{field}: {duration} is longer than a day; write e.g. 30m or 2h")
    return int(length.total_seconds() // 60)


def default_duration(tx: Tx) -> timedelta:
    # `[activities] default_duration` is read if the policy has it; else the rules' 30m
    raw = tx.policy.activities.default_duration
    return parse_duration(raw) if raw else schedule.DEFAULT_DURATION


def _default_minutes(tx: Tx) -> int:
    return int(default_duration(tx).total_seconds() // 60)


def _points_for(tx: Tx, kind: str) -> int:
    return int(tx.policy.activities.points.get(kind, 0))


def _points_kind(tx: Tx, points_as: str | None) -> str | None:
    if points_as is None:
        return None
    kind = points_as.strip().lower().replace("-", "_")
    table = tx.policy.activities.points
    if kind not in table:
        close = difflib.get_close_matches(kind, list(table), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(table)}"
        raise BadInput(
            f"--points-as: {points_as!r} is not in the policy's [activities.points]; {hint}"
        )
    return kind


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    return value.strip() or None


def _items(values: Iterable[str] | None) -> list[str]:
    return [text for value in values or () if (text := value.strip())]


def _local(tx: Tx, when: datetime) -> str:
    return when.astimezone(tx.policy.timezone).strftime("%Y-%m-%d %H:%M")
