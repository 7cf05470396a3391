"""The quarterly audit of seed 003 §VI as pure functions: which period, which leads, and
whether each sampled lead kept the policy (§IV: entered within 24 h, answered within the
SLA, followed up within 48 h of assignment, every status change logged).

The facts come from stored obligations, stage changes and audit events; nothing here reads
the database or the clock.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from crmcli.errors import BadInput
from crmcli.limits import FIRST_YEAR, LAST_YEAR
from crmcli.rules.durations import format_duration
from crmcli.rules.policy import Policy

PASS, FAIL, PENDING, NOT_APPLICABLE = "pass", "fail", "pending", "n/a"
# the checks of one sampled lead, in the order the auditor reads them
CHECKS = ("entered", "responded", "followed_up", "changes_logged")

_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*q([1-4])\s*$", re.IGNORECASE)


# --- the sample ------------------------------------------------------------------------------


def draw_sample(candidates: Iterable[int], size: int, seed: int) -> list[int]:
    """`size` ids drawn from `candidates` with `random.Random(seed)`, in id order.

    The draw runs over the sorted, de-duplicated ids, so the same population and seed give
    the same sample whatever order the database returned them in; a `size` at least the
    population's returns all of it.
    """
    if size < 0:
        raise ValueError("a sample size cannot be negative")
    population = sorted(set(candidates))
    if size >= len(population):
        return population
    return sorted(random.Random(seed).sample(population, size))


# --- the period ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quarter:
    """A calendar quarter in the policy's timezone: [starts_at, ends_before)."""

    year: int
    number: int  # 1..4
    tz: tzinfo

    @property
    def label(self) -> str:
        return f"{self.year}Q{self.number}"

    @property
    def starts_at(self) -> datetime:
        return datetime(self.year, 3 * (self.number - 1) + 1, 1, tzinfo=self.tz)

    @property
    def ends_before(self) -> datetime:
        return self.following().starts_at

    def following(self) -> Quarter:
        if self.number == 4:
            return Quarter(self.year + 1, 1, self.tz)
        return Quarter(self.year, self.number + 1, self.tz)

    def preceding(self) -> Quarter:
        if self.number == 1:
            return Quarter(self.year - 1, 4, self.tz)
        return Quarter(self.year, self.number - 1, self.tz)

    def contains(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_before


def quarter_of(moment: datetime, tz: tzinfo) -> Quarter:
    local = moment.astimezone(tz)
    return Quarter(local.year, (local.month - 1) // 3 + 1, tz)


def parse_quarter(text: str | None, *, now: datetime, tz: tzinfo) -> Quarter:
    """ "2026Q3" (or "2026-q3") as a quarter in `tz`; None is the last complete quarter.

    A quarter that has not begun is refused: nothing in it can have been touched yet.
    """
    current = quarter_of(now, tz)
    if text is None:
        return current.preceding()
    found = _QUARTER.match(text)
    if not found:
        raise BadInput(f"--quarter: {text!r} is not a quarter; write e.g. 2026Q3")
    if not FIRST_YEAR <= int(found.group(1)) <= LAST_YEAR:
        raise BadInput(f"--quarter: {text!r} is out of range; give a year {FIRST_YEAR}-{LAST_YEAR}")
    quarter = Quarter(int(found.group(1)), int(found.group(2)), tz)
    if quarter.starts_at > now:
        raise BadInput(
            f"--quarter: {quarter.label} has not begun (now is in {current.label}); "
            f"give {current.label} or an earlier quarter"
        )
    return quarter


# --- the checks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObligationFacts:
    """A stored obligation of a policy rule (lead.entry, lead.first_response, …)."""

    status: str  # open | met | cancelled | lapsed
    started_at: datetime
    due_at: datetime
    met_at: datetime | None = None
    ended_at: datetime | None = None  # when it was cancelled or lapsed, if known


@dataclass(frozen=True)
class StageMove:
    """A row of the lead's stage history (the stage_change table)."""

    id: int
    to_stage: str
    at: datetime


@dataclass(frozen=True)
class LoggedStage:
    """An audit event on the lead that records it entering `stage`."""

    event_id: int
    stage: str
    at: datetime


@dataclass(frozen=True)
class LeadAuditFacts:
    lead_id: int
    entry: ObligationFacts | None  # lead.entry
    first_response: ObligationFacts | None  # lead.first_response
    follow_up: ObligationFacts | None  # lead.follow_up
    assigned: bool
    stage_moves: tuple[StageMove, ...] = ()
    logged_stages: tuple[LoggedStage, ...] = ()


@dataclass(frozen=True)
class CheckResult:
    outcome: str  # pass | fail | pending | n/a
    detail: str = ""


@dataclass(frozen=True)
class LeadAudit:
    lead_id: int
    checks: dict[str, CheckResult]
    unlogged: tuple[StageMove, ...] = ()

    @property
    def verdict(self) -> str:
        """fail if any check failed, pending if any is still running, else pass."""
        outcomes = {result.outcome for result in self.checks.values()}
        for outcome in (FAIL, PENDING):
            if outcome in outcomes:
                return outcome
        return PASS


def check_labels(policy: Policy) -> dict[str, str]:
    """What each check means under this policy, for headers and findings."""
    response = policy.rule_settings("lead.first_response")
    clock = " business" if response.get("clock") == "business" else ""
    entry, follow_up = policy.rule_settings("lead.entry"), policy.rule_settings("lead.follow_up")
    return {
        "entered": f"entered within {entry['after']}",
        "responded": f"responded within SLA ({response['after']}{clock})",
        "followed_up": f"followed up within {follow_up['after']}",
        "changes_logged": "every status change logged",
    }


def evaluate(facts: LeadAuditFacts, now: datetime, tz: tzinfo = UTC) -> LeadAudit:
    """Every check of one sampled lead, as of `now`; times in findings are shown in `tz`."""
    unlogged = unlogged_moves(facts.stage_moves, facts.logged_stages)
    if not facts.stage_moves:
        logged = CheckResult(NOT_APPLICABLE, "no stage history")
    elif unlogged:
        logged = CheckResult(
            FAIL,
            "not in the audit log: "
            + ", ".join(
                f"stage change {m.id} to {m.to_stage} at {_when(m.at, tz)}" for m in unlogged
            ),
        )
    else:
        logged = CheckResult(PASS)
    if facts.follow_up is None and not facts.assigned:
        followed = CheckResult(NOT_APPLICABLE, "never assigned")
    else:
        followed = deadline_kept(facts.follow_up, now, tz, facts.stage_moves)
    return LeadAudit(
        facts.lead_id,
        {
            "entered": deadline_kept(facts.entry, now, tz, facts.stage_moves, verb="entered"),
            "responded": deadline_kept(facts.first_response, now, tz, facts.stage_moves),
            "followed_up": followed,
            "changes_logged": logged,
        },
        tuple(unlogged),
    )


def deadline_kept(
    obligation: ObligationFacts | None,
    now: datetime,
    tz: tzinfo = UTC,
    stage_moves: tuple[StageMove, ...] = (),
    *,
    verb: str = "done",
) -> CheckResult:
    """pass when met by its due time; fail when met late or overdue; pending before due."""
    if obligation is None:
        return CheckResult(NOT_APPLICABLE, "no obligation recorded")
    due = obligation.due_at
    if obligation.met_at is not None:
        if obligation.met_at <= due:
            return CheckResult(PASS)
        return CheckResult(FAIL, f"{verb} {format_duration(obligation.met_at - due)} late")
    if obligation.status == "lapsed":
        return CheckResult(FAIL, f"never done; fell due {_when(due, tz)}, then lapsed")
    if obligation.status == "cancelled":
        # withdrawn (the lead closed, converted or moved on) before it fell due: nothing owed;
        # one still owed when it fell due was breached
        moved_in_time = any(obligation.started_at < m.at <= due for m in stage_moves)
        ended_in_time = obligation.ended_at is not None and obligation.ended_at <= due
        if moved_in_time or ended_in_time or due > now:
            return CheckResult(NOT_APPLICABLE, "withdrawn: the lead moved on before it fell due")
        return CheckResult(FAIL, f"never done; fell due {_when(due, tz)}, later withdrawn")
    if due < now:
        return CheckResult(FAIL, f"not done; overdue by {format_duration(now - due)}")
    return CheckResult(PENDING, f"due {_when(due, tz)}")


def unlogged_moves(moves: Iterable[StageMove], logged: Iterable[LoggedStage]) -> list[StageMove]:
    """Stage changes no audit event accounts for, oldest first.

    Each audit event accounts for one stage change: first one into the same stage at the
    same instant (how the program writes them); then a later event recording that stage
    accounts for a change entered after the fact (backdated history such as the example
    data). A row added by direct SQL has no event of its own, so it stays unaccounted.
    """
    ordered = sorted(moves, key=lambda m: (m.at, m.id))
    exact = Counter((event.stage, event.at) for event in logged)
    later: list[StageMove] = []
    for move in ordered:
        key = (move.to_stage, move.at)
        if exact[key]:
            exact[key] -= 1
        else:
            later.append(move)
    # the events not used above, each usable once, earliest first
    spare = sorted((at, stage) for (stage, at), count in exact.items() for _ in range(count))
    missing = []
    for move in later:
        found = next(
            (i for i, (at, stage) in enumerate(spare) if stage == move.to_stage and at >= move.at),
            None,
        )
        if found is None:
            missing.append(move)
        else:
            del spare[found]
    return missing


def _when(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z").strip()
