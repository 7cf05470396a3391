"""Closing closes the work (issue 18): which of a closed lead's obligations end, and how.

A lead closes when it is won or lost, enters the nurture program, goes inactive (its no-reply
cadence ran out) or is merged into another. The sales work that was open then ends: its
next steps, contact tasks, cadence touches and follow-ups are *cancelled* (they no longer
apply), except that an inactive lead's missed ones *lapse* (they were due before it went
inactive: a breach, counted in attainment). What outlives a closing: the customer's own
messages (`customer.response`), an inactive lead's monthly re-engagement, the record of
its entry, and a next step scheduled after the closing (a delivery on a won deal).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

# obligation statuses: the four outcomes `crm report sla` counts, and a paused clock
MET, OPEN, CANCELLED, LAPSED, PAUSED = "met", "open", "cancelled", "lapsed", "paused"
ENDED = (CANCELLED, LAPSED)
REASONS = ("won", "lost", "nurture", "inactive", "merged")
# a next step scheduled after the closing is new work (a delivery on a won deal); a closed
# lead owes no response, follow-up or cadence however it comes about (a reassignment)
SCHEDULED_LATER = frozenset({"task.due"})
# the lead's sales work; other rules (entry, customer.response) outlive its closing
WORK_RULES = frozenset(
    {
        "lead.first_response",
        "lead.follow_up",
        "lead.cadence",
        "task.due",
        "opportunity.next_step",
        "opportunity.weekly_update",
        "opportunity.stale",
    }
)


@dataclass(frozen=True)
class Closure:
    """Why and since when a lead is closed."""

    reason: str  # one of REASONS
    at: datetime


def reason_for(status: str, outcome: str | None) -> str | None:
    """Why a lead with this status (in a stage with this outcome) is closed; None if open."""
    if outcome in ("won", "lost"):
        return outcome
    if status in ("won", "lost", "nurture", "inactive"):
        return status
    return None


def ending(
    closure: Closure,
    *,
    rule: str,
    arose_at: datetime,
    due_at: datetime,
    detail: dict[str, Any] | None = None,
) -> str | None:
    """How an obligation still open at the closing ends: CANCELLED, LAPSED, or None when
    it outlives the closing. `arose_at`: when the obligation came to exist (a task's
    creation, a rule's start)."""
    if rule not in WORK_RULES or (rule in SCHEDULED_LATER and arose_at > closure.at):
        return None
    if closure.reason == "inactive":
        if rule == "lead.cadence" and (detail or {}).get("inactive"):
            return None  # the monthly re-engagement is what an inactive lead is owed
        return LAPSED if due_at <= closure.at else CANCELLED
    return CANCELLED
