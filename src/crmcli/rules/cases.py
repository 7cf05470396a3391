"""Service cases as pure policy: the status machine and the SLA obligations (SPEC §4
case.ack, case.resolve) a case owes, registered with the obligation engine.

Status machine: open → acknowledged → (waiting ↔ acknowledged) → resolved → closed; a
resolved or closed case can be reopened (back to acknowledged: it was acknowledged once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crmcli.rules import sla
from crmcli.rules.calendar import BusinessCalendar
from crmcli.rules.obligations import Due, rule
from crmcli.rules.policy import CASE_SEVERITIES, Policy

STATUSES = ("open", "acknowledged", "waiting", "resolved", "closed")
# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "ack": (("open",), "acknowledged"),
    "wait": (("acknowledged",), "waiting"),
    "resume": (("waiting",), "acknowledged"),
    "resolve": (("acknowledged", "waiting"), "resolved"),
    "close": (("resolved",), "closed"),
    "reopen": (("resolved", "closed"), "acknowledged"),
}
# the SLA clock stands still while a case waits on the customer or stands resolved
PAUSE_KINDS = ("waiting", "resolved")

__all__ = ["CASE_SEVERITIES", "STATUSES", "TRANSITIONS", "CaseFacts", "IllegalTransition"]


class IllegalTransition(ValueError):
    """An action the case's status does not allow; the message says what is allowed."""


def allowed_actions(status: str) -> list[str]:
    return [action for action, (sources, _) in TRANSITIONS.items() if status in sources]


def next_status(case_id: int, status: str, action: str) -> str:
    """The status `action` leads to from `status`, or IllegalTransition naming the actions
    that are allowed."""
    sources, target = TRANSITIONS[action]
    if status in sources:
        return target
    options = allowed_actions(status)
    hint = " or ".join(f"crm case {a} {case_id}" for a in options) or "nothing"
    raise IllegalTransition(
        f"case {case_id} is {status}: cannot {action} it (only from {' or '.join(sources)});"
        f" from {status} you can run: {hint}"
    )


@dataclass(frozen=True)
class PauseFact:
    kind: str  # waiting | resolved
    started_at: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True)
class CaseFacts:
    id: int
    title: str
    severity: str
    status: str
    opened_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    pauses: tuple[PauseFact, ...] = ()
    label: str = ""  # the account or contact, shown in obligation titles

    def titled(self, verb: str) -> str:
        text = f"{verb} case {self.id} ({self.severity}): {self.title}"
        return f"{text} — {self.label}" if self.label else text


def _due(
    case: CaseFacts,
    policy: Policy,
    calendar: BusinessCalendar,
    *,
    phase: str,
    verb: str,
    kinds: tuple[str, ...],
    met_at: datetime | None,
    met_by: str | None,
) -> Due:
    target = sla.target(policy, case.severity, phase)
    # a pause that began when (or after) the obligation was met is not the SLA's business
    pauses = [
        sla.Pause(p.started_at, p.ended_at)
        for p in case.pauses
        if p.kind in kinds and (met_at is None or p.started_at < met_at)
    ]
    found = sla.deadline(case.opened_at, target, pauses, calendar)
    detail: dict[str, object] = {"severity": case.severity, "clock": target.clock}
    due_at = found.due_at
    if found.due_at is None:
        assert found.paused_since is not None and found.remaining is not None
        # stored while paused: the earliest the deadline can be (resumed the moment it paused)
        due_at = sla.add(found.paused_since, found.remaining, target.clock, calendar)
        detail |= {
            "paused_since": found.paused_since.isoformat(),
            "remaining_seconds": int(found.remaining.total_seconds()),
        }
    return Due(
        f"case.{phase}",
        case.titled(verb),
        case.opened_at,
        due_at,  # type: ignore[arg-type]
        met_at=met_at,
        met_by=met_by,
        detail=detail,
        paused=found.paused and met_at is None,
    )


@rule("case", "case.ack")
def case_ack(case: CaseFacts, policy: Policy, calendar: BusinessCalendar) -> list[Due]:
    return [
        _due(
            case,
            policy,
            calendar,
            phase="ack",
            verb="acknowledge",
            kinds=("waiting",),
            met_at=case.acknowledged_at,
            met_by=case.acknowledged_by,
        )
    ]


@rule("case", "case.resolve")
def case_resolve(case: CaseFacts, policy: Policy, calendar: BusinessCalendar) -> list[Due]:
    done = case.status in ("resolved", "closed")
    return [
        _due(
            case,
            policy,
            calendar,
            phase="resolve",
            verb="resolve",
            kinds=PAUSE_KINDS,
            met_at=case.resolved_at if done else None,
            met_by=case.resolved_by if done else None,
        )
    ]
