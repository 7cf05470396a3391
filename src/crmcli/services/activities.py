"""Activities: calls, meetings, emails, chats, notes and tasks, with their points."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crmcli.services.obligations import OUTBOUND, refresh_lead
from crmcli.services.workspace import Tx
from crmcli.store.models import Activity, Lead, User


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
) -> Activity:
    """Store one activity, audit it and bring the lead's obligations up to date.

    Points come from the policy's [activities.points] for `points_as` (e.g. a CharTec
    activity such as "discovery_meeting") or else for the activity type; tasks earn their
    points when done.
    """
    user = user or tx.actor
    points_table = tx.policy.data["activities"]["points"]
    points = 0 if status == "open" else int(points_table.get(points_as or type, 0))
    activity = Activity(
        lead_id=lead.id if lead else None,
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
    tx.audit(
        "activity",
        activity.id,
        "create",
        {
            k: [None, v]
            for k, v in {
                "lead_id": activity.lead_id,
                "user": user.name,
                "type": type,
                "direction": direction,
                "outcome": outcome,
                "subject": subject,
                "at": activity.at,
                "due_at": due_at,
                "status": status,
                "points": points,
            }.items()
            if v is not None
        },
    )
    if lead is not None:
        if (
            type in OUTBOUND
            and direction != "inbound"
            and status == "logged"
            and (lead.first_response_at is None or activity.at < lead.first_response_at)
        ):
            lead.first_response_at = activity.at
        lead.updated_at = tx.now
        tx.session.add(lead)
        refresh_lead(tx, lead)
    return activity
