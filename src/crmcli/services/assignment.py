"""Who owns a lead: assignment by hand or by the routing rules, and reps' away periods.

Assigning starts the 48-hour follow-up clock (seed 003 §IV.4): `assigned_at` is set to now and
the lead's obligations are recomputed. The routing itself is pure (rules/routing.py); this
module gathers its facts (loads, away periods, last assignments, campaign scope) and applies
its decisions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlmodel import col, func, select

from crmcli.clock import in_range
from crmcli.errors import BadInput, NotPermitted, PolicyRefusal
from crmcli.roles import article
from crmcli.rules import routing
from crmcli.services.lookups import load_lead, user_by_name
from crmcli.services.obligations import open_obligations, refresh_lead
from crmcli.services.workspace import Tx
from crmcli.store.models import Campaign, Lead, Obligation, User, UserAway, UserCampaign

# a lead is open (counts in a rep's load, can be routed) unless its status is one of these
CLOSED_STATUSES = ("won", "lost")


def is_open() -> Any:
    """The one definition of an open lead, as a SQL condition."""
    return col(Lead.status).not_in(CLOSED_STATUSES)


@dataclass
class BatchResult:
    """What `assign --unassigned` did (or, in a dry run, would do)."""

    dry_run: bool
    assignments: list[dict[str, Any]]
    reps: list[dict[str, Any]]
    assigned: int = 0
    left: int = 0
    details: list[str] = field(default_factory=list)

    def refusal(self) -> PolicyRefusal | None:
        """Exit 5 only when leads were waiting and not one of them could be assigned."""
        if self.left and not self.assigned:
            return PolicyRefusal(
                f"no lead assigned: none of the {self.left} open unassigned leads has an "
                "eligible rep (routing policy of seed 003: territory, expertise, availability)",
                details=self.details,
            )
        return None


def today(tx: Tx) -> date:
    return tx.now.astimezone(tx.policy.timezone).date()


def assign_lead(
    tx: Tx, lead_id: int, *, to: str | None = None, explain: bool = False
) -> dict[str, Any]:
    """Give the lead to `to` (a user name or "me"), or to the rep routing picks.

    Raises NotFound (lead or user), NotPermitted (the lead is outside the actor's campaigns),
    PolicyRefusal (the user may not own leads; nobody eligible; routing a closed lead).
    """
    lead = load_lead(tx, lead_id)
    _check_actor_scope(tx, lead)
    facts = _lead_facts(tx, [lead])[0]
    warnings: list[str] = []
    if to is not None:
        user = user_by_name(tx, tx.actor.name if to == "me" else to, field="--to")
        rep = _reps(tx, [user], moving=lead)[0]
        refusal = _refusal(user, facts, rep)
        if refusal:
            raise PolicyRefusal(f"--to: {refusal}")
        warnings = routing.concerns(facts, rep)
        reasons = (f"assigned by hand by {tx.actor.name}", *warnings)
        reason = reasons[0] + (f" despite: {'; '.join(warnings)}" if warnings else "")
    else:
        if lead.status in CLOSED_STATUSES:
            raise PolicyRefusal(
                f"lead {lead_id} is closed ({lead.status}); routing is for open leads — "
                "hand it over with --to USER"
            )
        decision = routing.route(facts, _reps(tx, _owner_candidates(tx), moving=lead))
        if decision.rep is None:
            raise PolicyRefusal(
                f"lead {lead_id}: {decision.reason} (routing policy of seed 003: territory, "
                "then expertise, then availability)",
                details=[f"  {line}" for line in decision.reasons] if explain else [],
            )
        user = user_by_name(tx, decision.rep)
        reasons, reason = decision.reasons, decision.reason
    row = _apply(tx, lead, user, reasons)
    row["reason"] = "; ".join(reasons) if explain else reason
    row["reasons"] = list(reasons)
    row["warnings"] = warnings
    return row


def _refusal(user: User, lead: routing.LeadFacts, rep: routing.Rep) -> str | None:
    """Why `user` may not own the lead at all: deactivated, or `routing.ownership_refusal`."""
    if not user.active:
        return f"{user.name} is deactivated"
    return routing.ownership_refusal(lead, rep)


def ownership_refusal(tx: Tx, user: User, campaign_id: int | None) -> str | None:
    """Why `user` may not own a lead of this campaign (deactivated, a viewer, scoped to other
    campaigns), as `assign --to` decides it; None when they may."""
    rep = routing.Rep(
        name=user.name,
        role=user.role,
        campaigns=_campaigns(tx, [user.id]).get(user.id, ()),  # type: ignore[list-item, arg-type]
    )
    lead = routing.LeadFacts(id=0, campaign=_campaign_name(tx, campaign_id))
    return _refusal(user, lead, rep)


def give_owners(
    tx: Tx, owners: dict[int, User], *, reason: str, marks: dict[str, Any] | None = None
) -> None:
    """Make each lead's named owner its owner, as `assign --to` does (the follow-up clock
    starts, audited with `reason` and `marks`); the caller checked `ownership_refusal`."""
    for lead_id, user in owners.items():
        lead = tx.session.get(Lead, lead_id)
        if lead is not None:
            _apply(tx, lead, user, [reason], marks=marks)


def assign_unassigned(
    tx: Tx,
    *,
    dry_run: bool = False,
    explain: bool = False,
    among: Any = None,
    marks: dict[str, Any] | None = None,
) -> BatchResult:
    """Route every open lead without an owner, in id order; a dry run writes nothing.
    `among`: a SELECT of the lead ids to consider (an import's new leads); `marks`: more
    fields for each assignment's audit event."""
    query = select(Lead).where(col(Lead.owner_id).is_(None), is_open()).order_by(col(Lead.id))
    if among is not None:
        query = query.where(col(Lead.id).in_(among))
    scope = _actor_scope(tx)
    leads = [
        lead
        for lead in tx.session.exec(query)
        if not scope or _campaign_name(tx, lead.campaign_id) in scope
    ]
    users = _owner_candidates(tx)
    before = _reps(tx, users)
    plan = routing.plan(_lead_facts(tx, leads), before, now=tx.now)
    by_name = {u.name: u for u in users}
    result = BatchResult(dry_run, [], [])
    for lead, decision in zip(leads, plan.decisions, strict=True):
        if decision.rep is None:
            result.left += 1
            result.details.append(f"  lead {lead.id}: {decision.reason}")
            row = _row(lead, None, previous=None)
        else:
            result.assigned += 1
            user = by_name[decision.rep]
            if dry_run:
                row = _row(lead, user.name, previous=None)
            else:
                row = _apply(tx, lead, user, decision.reasons, marks=marks)
        row["reason"] = "; ".join(decision.reasons) if explain else decision.reason
        row["reasons"] = list(decision.reasons)
        result.assignments.append(row)
    after = {rep.name: rep for rep in plan.reps}
    for rep in before:
        planned = after[rep.name]
        result.reps.append(
            {
                "rep": rep.name,
                "capacity": rep.capacity,
                "load_before": rep.load,
                "load_after": planned.load,
                "assigned": planned.load - rep.load,
                "availability": routing.unavailability(rep) or "available",
            }
        )
    return result


def _apply(
    tx: Tx,
    lead: Lead,
    user: User,
    reasons: Iterable[str],
    *,
    marks: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make `user` the owner: starts the follow-up clock, audited with the reasons (and
    `marks`: an import's batch, which its undo looks for)."""
    previous = _name_of(tx, lead.owner_id)
    if lead.owner_id == user.id:
        # already theirs: a no-op, so the follow-up clock keeps running from the first time
        row = _row(lead, user.name, previous=previous)
        row["changed"] = False
        row["follow_up_due"] = _follow_up_due(open_obligations(tx, "lead", lead.id))  # type: ignore[arg-type]
        return row
    lead.owner_id = user.id
    lead.assigned_at = tx.now
    lead.updated_at = tx.now
    tx.session.add(lead)
    tx.session.flush()
    reason = "; ".join(reasons)
    changes = {"owner": [previous, user.name], "reason": [None, reason], **(marks or {})}
    tx.audit("lead", lead.id, "assign", changes)
    obligations = refresh_lead(tx, lead)
    row = _row(lead, user.name, previous=previous)
    row["follow_up_due"] = _follow_up_due(obligations)
    return row


def _follow_up_due(obligations: Iterable[Obligation]) -> Any:
    """When the new owner must have followed up (seed 003: 48 hours after assignment)."""
    return next(
        (o.due_at for o in obligations if o.rule == "lead.follow_up" and o.status == "open"),
        None,
    )


def _row(lead: Lead, owner: str | None, *, previous: str | None) -> dict[str, Any]:
    return {
        "lead": lead.id,
        "name": " ".join(p for p in (lead.first_name, lead.last_name) if p),
        "owner": owner,
        "previous_owner": previous,
        "changed": owner is not None and owner != previous,
        "reason": "",
        "reasons": [],
        "warnings": [],
        "assigned_at": lead.assigned_at if lead.owner_id is not None else None,
        "follow_up_due": None,
    }


def _name_of(tx: Tx, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = tx.session.get(User, user_id)
    return user.name if user else None


def _owner_candidates(tx: Tx) -> list[User]:
    """Who automatic routing may pick: editors, and admins set up as reps.

    An admin with no territory, skill or capacity (the user `crm init` registered) manages
    the CRM; routing would otherwise hand them every lead no territory rep covers.
    """
    query = (
        select(User)
        .where(col(User.active).is_(True), col(User.role).in_(routing.OWNER_ROLES))
        .order_by(col(User.name))
    )
    return [
        user
        for user in tx.session.exec(query)
        if user.role != "admin" or user.territories or user.skills or user.capacity is not None
    ]


def _campaigns(tx: Tx, user_ids: list[int]) -> dict[int, tuple[str, ...]]:
    rows = tx.session.exec(
        select(UserCampaign.user_id, Campaign.name)
        .join(Campaign, col(Campaign.id) == UserCampaign.campaign_id)
        .where(col(UserCampaign.user_id).in_(user_ids))
    ).all()
    scope: dict[int, list[str]] = {}
    for user_id, name in rows:
        scope.setdefault(user_id, []).append(name)
    return {user_id: tuple(sorted(names)) for user_id, names in scope.items()}


def _actor_scope(tx: Tx) -> tuple[str, ...]:
    """The acting user's campaigns; empty when they may touch every lead."""
    return _campaigns(tx, [tx.actor.id]).get(tx.actor.id, ())  # type: ignore[list-item, arg-type]


def _check_actor_scope(tx: Tx, lead: Lead) -> None:
    scope = _actor_scope(tx)
    if scope and _campaign_name(tx, lead.campaign_id) not in scope:
        raise NotPermitted(
            f"lead {lead.id} is outside your campaigns; {tx.actor.name} works only "
            f"campaign {', '.join(scope)}"
        )


def _campaign_name(tx: Tx, campaign_id: int | None) -> str | None:
    if campaign_id is None:
        return None
    campaign = tx.session.get(Campaign, campaign_id)
    return campaign.name if campaign else None


def _lead_facts(tx: Tx, leads: list[Lead]) -> list[routing.LeadFacts]:
    return [
        routing.LeadFacts(
            id=lead.id,  # type: ignore[arg-type]
            country=lead.country,
            region=lead.region,
            industry=lead.industry,
            campaign=_campaign_name(tx, lead.campaign_id),
        )
        for lead in leads
    ]


def _reps(tx: Tx, users: list[User], *, moving: Lead | None = None) -> list[routing.Rep]:
    """Routing's view of these users today: open load, away, last assignment, scope.

    `moving` is a lead about to change hands: it does not count in its current owner's load.
    """
    ids = [u.id for u in users if u.id is not None]
    loads = dict(
        tx.session.exec(
            select(Lead.owner_id, func.count())
            .where(col(Lead.owner_id).in_(ids), is_open())
            .group_by(col(Lead.owner_id))
        ).all()
    )
    if moving is not None and moving.owner_id in loads and moving.status not in CLOSED_STATUSES:
        loads[moving.owner_id] -= 1
    last: dict[int, tuple[Any, int]] = {}
    for owner_id, assigned_at, lead_id in tx.session.exec(
        select(Lead.owner_id, Lead.assigned_at, Lead.id).where(
            col(Lead.owner_id).in_(ids), col(Lead.assigned_at).is_not(None)
        )
    ):
        if owner_id not in last or (assigned_at, lead_id) > last[owner_id]:
            last[owner_id] = (assigned_at, lead_id)
    day = today(tx)
    periods: dict[int, list[tuple[date, date]]] = {}
    for away in tx.session.exec(
        select(UserAway).where(col(UserAway.user_id).in_(ids), UserAway.ends_on >= day)
    ):
        periods.setdefault(away.user_id, []).append((away.starts_on, away.ends_on))
    scope = _campaigns(tx, ids)
    reps = []
    for user in users:
        last_at, last_lead = last.get(user.id, (None, 0))  # type: ignore[arg-type]
        reps.append(
            routing.Rep(
                name=user.name,
                role=user.role,
                territories=tuple(user.territories),
                skills=tuple(user.skills),
                capacity=user.capacity,
                load=loads.get(user.id, 0),
                away_until=routing.away_until(periods.get(user.id, []), day),  # type: ignore[arg-type]
                last_assigned_at=last_at,
                last_assigned_lead=last_lead,
                campaigns=scope.get(user.id, ()),  # type: ignore[arg-type]
            )
        )
    return reps


# --- out of office ------------------------------------------------------------------------


def parse_day(text: str, *, field: str) -> date:
    """An ISO date (2026-03-09) or a common US/EU form dateutil reads."""
    raw = text.strip()
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        from dateutil import parser

        try:
            day = parser.parse(raw).date()
        except (ValueError, OverflowError, parser.ParserError):
            raise BadInput(
                f"{field}: cannot read {text!r} as a date; use ISO like 2026-03-09"
            ) from None
    return in_range(day, field=field)


def _away_user(tx: Tx, name: str) -> User:
    user = user_by_name(tx, tx.actor.name if name == "me" else name)
    if tx.actor.role != "admin" and tx.actor.id != user.id:
        raise NotPermitted(
            f"only an admin or {user.name} can change {user.name}'s away dates; "
            f"{tx.actor.name} is {article(tx.actor.role)}"
        )
    return user


def _away_row(user: User, away: UserAway, day: date) -> dict[str, Any]:
    return {
        "id": away.id,
        "user": user.name,
        "starts_on": away.starts_on.isoformat(),
        "ends_on": away.ends_on.isoformat(),
        "days": (away.ends_on - away.starts_on).days + 1,
        "current": away.starts_on <= day <= away.ends_on,
    }


def set_away(tx: Tx, name: str, starts: str, ends: str | None = None) -> dict[str, Any]:
    """Record that `name` is away from `starts` to `ends` inclusive (default: one day).

    An admin may do this for anyone; an editor for themself. Audited on the user.
    """
    user = _away_user(tx, name)
    starts_on = parse_day(starts, field="FROM")
    ends_on = parse_day(ends, field="TO") if ends else starts_on
    if ends_on < starts_on:
        raise BadInput(
            f"TO: {ends_on.isoformat()} is before FROM {starts_on.isoformat()}; "
            "give the last day away"
        )
    day = today(tx)
    if ends_on < day:
        raise BadInput(
            f"TO: {ends_on.isoformat()} is in the past (today is {day.isoformat()}); "
            "away periods are for today or later"
        )
    existing = tx.session.exec(
        select(UserAway).where(
            UserAway.user_id == user.id,
            UserAway.starts_on == starts_on,
            UserAway.ends_on == ends_on,
        )
    ).first()
    if existing is not None:
        return _away_row(user, existing, day)
    away = UserAway(user_id=user.id, starts_on=starts_on, ends_on=ends_on)  # type: ignore[arg-type]
    tx.session.add(away)
    tx.session.flush()
    span = {"from": starts_on.isoformat(), "to": ends_on.isoformat()}
    tx.audit("user", user.id, "away", {"away": [None, span]})
    return _away_row(user, away, day)


def clear_away(tx: Tx, name: str) -> list[dict[str, Any]]:
    """Remove the user's current and future away periods (past ones stay as history)."""
    user = _away_user(tx, name)
    day = today(tx)
    cleared = list(
        tx.session.exec(
            select(UserAway)
            .where(UserAway.user_id == user.id, UserAway.ends_on >= day)
            .order_by(col(UserAway.starts_on))
        )
    )
    rows = [_away_row(user, away, day) for away in cleared]
    for away in cleared:
        tx.session.delete(away)
    tx.session.flush()
    if rows:
        spans = [{"from": r["starts_on"], "to": r["ends_on"]} for r in rows]
        tx.audit("user", user.id, "away_clear", {"away": [spans, None]})
    return rows


def list_away(tx: Tx, name: str) -> list[dict[str, Any]]:
    """The user's away periods, current and future first, then the past (newest first)."""
    user = user_by_name(tx, tx.actor.name if name == "me" else name)
    day = today(tx)
    periods = tx.session.exec(select(UserAway).where(UserAway.user_id == user.id)).all()
    upcoming = sorted((p for p in periods if p.ends_on >= day), key=lambda p: p.starts_on)
    past = sorted((p for p in periods if p.ends_on < day), key=lambda p: p.starts_on, reverse=True)
    return [_away_row(user, p, day) for p in [*upcoming, *past]]
