"""Service-level deadlines with a clock that stops: pure functions, no I/O.

A case's SLA counts time from when it was opened. While the case waits on the customer (or
stands resolved until reopened) the clock stops, so the deadline moves out by the stopped
time — measured on the SLA's own clock: on a business clock, a pause from Friday 16:00 to
Monday 10:00 stops two business hours (16–17 and 9–10), not 66 hours. A pause that starts
after the deadline has passed moves nothing: a breach cannot be undone by waiting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crmcli.rules.calendar import BusinessCalendar
from crmcli.rules.durations import parse_duration
from crmcli.rules.policy import CASE_SEVERITIES, Policy

PHASES = ("ack", "resolve")


@dataclass(frozen=True)
class Target:
    """How long a phase of a case may take, and on which clock."""

    after: timedelta
    clock: str  # business | calendar


@dataclass(frozen=True)
class Pause:
    started_at: datetime
    ended_at: datetime | None = None  # None: still paused


@dataclass(frozen=True)
class Deadline:
    """When the SLA falls due; while a pause is open, `due_at` is None and `remaining` is
    the clock time that will be left when it ends."""

    due_at: datetime | None
    paused_since: datetime | None = None
    remaining: timedelta | None = None

    @property
    def paused(self) -> bool:
        return self.due_at is None


def target(policy: Policy, severity: str, phase: str) -> Target:
    """The policy's target for `phase` (ack or resolve) of a case of `severity`: the
    severity's own entry in [cases.sla], else the rule case.<phase>."""
    if severity not in CASE_SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}")
    if phase not in PHASES:
        raise ValueError(f"unknown SLA phase {phase!r}")
    spec = policy.rule(f"case.{phase}")
    entry = policy.cases.sla.get(severity, {})
    after = parse_duration(entry[phase]) if entry.get(phase) else spec.after
    if after is None:
        raise ValueError(f"rule case.{phase} has no `after` duration")
    return Target(after, entry.get(f"{phase}_clock") or spec.clock)


def add(start: datetime, duration: timedelta, clock: str, calendar: BusinessCalendar) -> datetime:
    """`duration` of `clock` time after `start`."""
    if clock == "business":
        return calendar.add(start, duration)
    return (start + duration).astimezone(UTC)


def elapsed(start: datetime, end: datetime, clock: str, calendar: BusinessCalendar) -> timedelta:
    """`clock` time between two instants (zero when `end` is not after `start`)."""
    if clock == "business":
        return calendar.elapsed(start, end)
    return max(end - start, timedelta(0))


def merged(pauses: Iterable[Pause], start: datetime) -> list[Pause]:
    """Pauses in time order, overlaps joined, anything before `start` cut off."""
    result: list[Pause] = []
    for pause in sorted(pauses, key=lambda p: p.started_at):
        begin = max(pause.started_at, start)
        end = pause.ended_at
        if end is not None and end <= begin:
            continue
        if result and (result[-1].ended_at is None or begin <= result[-1].ended_at):
            last = result[-1]
            if last.ended_at is not None:
                later = None if end is None else max(end, last.ended_at)
                result[-1] = Pause(last.started_at, later)
            continue
        result.append(Pause(begin, end))
    return result


def deadline(
    start: datetime,
    target: Target,
    pauses: Iterable[Pause],
    calendar: BusinessCalendar,
) -> Deadline:
    """When `target` falls due for a clock started at `start` and stopped during `pauses`.

    Walks the running stretches between pauses, spending the target's time; the deadline
    is where it runs out. A pause that begins at or after that point changes nothing.
    """
    remaining = target.after
    cursor = start
    for pause in merged(pauses, start):
        due = add(cursor, remaining, target.clock, calendar)
        if due <= pause.started_at:
            return Deadline(due)
        remaining = max(
            remaining - elapsed(cursor, pause.started_at, target.clock, calendar), timedelta(0)
        )
        if pause.ended_at is None:
            return Deadline(None, paused_since=pause.started_at, remaining=remaining)
        cursor = pause.ended_at
    return Deadline(add(cursor, remaining, target.clock, calendar))


def stopped(
    start: datetime, pauses: Iterable[Pause], clock: str, calendar: BusinessCalendar, now: datetime
) -> timedelta:
    """How much `clock` time the pauses stopped since `start` (an open pause counts to now)."""
    return sum(
        (elapsed(p.started_at, p.ended_at or now, clock, calendar) for p in merged(pauses, start)),
        timedelta(0),
    )
