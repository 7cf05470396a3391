"""Lead routing (seed 003 §IV.3): geography, then expertise, then availability.

Pure: the service gathers the facts about a lead and the reps; this module decides who gets it
and says why, in words a rep or a sales-ops admin can check.

Who may own a lead at all (hard rules):
- editors and admins; viewers never own leads;
- a rep scoped to campaigns takes only leads of those campaigns (SPEC §7);
- territory: a rep's "US" covers every lead whose country is US; "US-NY" covers US leads in
  region NY only. A lead with no country is covered by no territory. A rep with no
  territories is a generalist who may take any lead, but only ranks after territory reps;
- availability: not away today, and open load below capacity (capacity None = unlimited).

Who is preferred among those (in this order):
1. territory fit: a territory naming the lead's region, then one naming its country, then a
   generalist (the specific territory was set up on purpose, so it wins over the country-wide);
2. expertise: a skill equal to the lead's industry (case-insensitive);
3. round robin: the rep whose last assignment is oldest (never assigned first), then by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from crmcli.roles import article

OWNER_ROLES = ("editor", "admin")

REGION_FIT, COUNTRY_FIT, GENERALIST_FIT, NO_FIT = 2, 1, 0, -1


@dataclass(frozen=True)
class LeadFacts:
    """What routing needs to know about a lead."""

    id: int
    country: str | None = None
    region: str | None = None
    industry: str | None = None
    campaign: str | None = None

    @property
    def location(self) -> str:
        """ "US-NY", "US", or "no country" — how the lead's place is named in reasons."""
        if not self.country:
            return "no country"
        return f"{self.country}-{self.region}" if self.region else self.country


@dataclass(frozen=True)
class Rep:
    """A candidate owner as routing sees them."""

    name: str
    role: str = "editor"
    territories: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    capacity: int | None = None  # open leads the rep can carry; None = unlimited
    load: int = 0  # open leads the rep owns now
    away_until: date | None = None  # set when the rep is away today: the last day away
    last_assigned_at: datetime | None = None
    # orders assignments made at the same instant (a batch assigns in lead id order)
    last_assigned_lead: int = 0
    campaigns: tuple[str, ...] = ()  # empty: every campaign

    @property
    def load_text(self) -> str:
        return f"{self.load}/{self.capacity}" if self.capacity is not None else f"{self.load}"


@dataclass(frozen=True)
class Decision:
    """Who gets one lead: `rep` (None when nobody can), a one-line `reason`, the full chain."""

    lead_id: int
    rep: str | None
    reason: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """Decisions for many leads in order, and every rep as they stand afterwards."""

    decisions: tuple[Decision, ...]
    reps: tuple[Rep, ...]  # sorted by name; loads and last assignments updated


def territory_fit(lead: LeadFacts, rep: Rep) -> tuple[int, str | None]:
    """How well the rep's territories cover the lead, and the territory that does."""
    if not rep.territories:
        return GENERALIST_FIT, None
    country = (lead.country or "").upper()
    region = (lead.region or "").upper()
    best: tuple[int, str | None] = (NO_FIT, None)
    for territory in sorted(rep.territories):
        t_country, _, t_region = territory.upper().partition("-")
        if not country or t_country != country:
            continue
        if t_region and t_region == region:
            return REGION_FIT, territory
        if not t_region and best[0] == NO_FIT:
            best = (COUNTRY_FIT, territory)
    return best


def has_skill(lead: LeadFacts, rep: Rep) -> bool:
    industry = (lead.industry or "").strip().lower()
    return bool(industry) and industry in {s.strip().lower() for s in rep.skills}


def ownership_refusal(lead: LeadFacts, rep: Rep) -> str | None:
    """Why the rep may not own this lead at all (role, campaign scope), or None."""
    if rep.role not in OWNER_ROLES:
        return f"{rep.name} is {article(rep.role)}; only editors and admins own leads"
    if rep.campaigns and lead.campaign not in rep.campaigns:
        scope = ", ".join(sorted(rep.campaigns))
        where = f"campaign {lead.campaign}" if lead.campaign else "no campaign"
        return f"{rep.name} works only campaign {scope} (the lead is in {where})"
    return None


def unavailability(rep: Rep) -> str | None:
    """Why the rep cannot take a lead today (away, full), or None."""
    if rep.away_until is not None:
        return f"{rep.name} is away until {rep.away_until.isoformat()}"
    if rep.capacity is not None and rep.load >= rep.capacity:
        return f"{rep.name} is at capacity {rep.load_text}"
    return None


def concerns(lead: LeadFacts, rep: Rep) -> list[str]:
    """What routing would have held against a rep chosen by hand (warnings, not refusals)."""
    found = []
    if rep.away_until is not None:
        found.append(f"{rep.name} is away until {rep.away_until.isoformat()}")
    if rep.capacity is not None and rep.load >= rep.capacity:
        found.append(f"{rep.name} is at capacity {rep.load_text}")
    if territory_fit(lead, rep)[0] == NO_FIT:
        found.append(f"{rep.name} covers {', '.join(sorted(rep.territories))}, not {lead.location}")
    return found


def away_until(periods: Iterable[tuple[date, date]], today: date) -> date | None:
    """The last day of an unbroken absence that includes today (periods are inclusive)."""
    end: date | None = None
    for starts_on, ends_on in sorted(periods):
        if end is None:
            if starts_on <= today <= ends_on:
                end = ends_on
        elif starts_on <= end + timedelta(days=1):
            end = max(end, ends_on)
        else:
            break
    return end


def route(lead: LeadFacts, reps: Iterable[Rep]) -> Decision:
    """Who should get this lead, and why (or why nobody can)."""
    return _decide(lead, _index(reps))


def plan(leads: Iterable[LeadFacts], reps: Iterable[Rep], *, now: datetime) -> Plan:
    """Route leads one after another, counting each assignment in the rep's load and turn.

    A dry run and the real run both call this on the same facts, so they agree.
    """
    states = _index(reps)
    decisions = []
    for turn, lead in enumerate(leads, start=1):
        decision = _decide(lead, states)
        decisions.append(decision)
        if decision.rep is not None:
            state = states[decision.rep]
            rep = replace(
                state.rep,
                load=state.rep.load + 1,
                last_assigned_at=now,
                last_assigned_lead=lead.id,
            )
            states[decision.rep] = _State(rep, (2, turn))
    return Plan(tuple(decisions), tuple(states[name].rep for name in sorted(states)))


@dataclass(frozen=True)
class _State:
    rep: Rep
    # how recently the rep was given a lead: never (0,) < stored (1, at, lead) < this batch (2, n)
    recency: tuple


def _index(reps: Iterable[Rep]) -> dict[str, _State]:
    states: dict[str, _State] = {}
    for rep in reps:
        if rep.name in states:
            raise ValueError(f"two reps named {rep.name!r}")
        recency: tuple = (0,)
        if rep.last_assigned_at is not None:
            recency = (1, rep.last_assigned_at, rep.last_assigned_lead)
        states[rep.name] = _State(rep, recency)
    return states


@dataclass(frozen=True)
class _Candidate:
    state: _State
    fit: int
    territory: str | None
    skilled: bool

    @property
    def rank(self) -> tuple:
        return (-self.fit, not self.skilled, self.state.recency, self.state.rep.name)


def _decide(lead: LeadFacts, states: dict[str, _State]) -> Decision:
    available: list[_Candidate] = []
    blocked: list[tuple[_Candidate, str]] = []
    refused: list[str] = []
    for name in sorted(states):
        state = states[name]
        refusal = ownership_refusal(lead, state.rep)
        if refusal:
            if state.rep.role in OWNER_ROLES:  # viewers are not reps; not worth a mention
                refused.append(refusal)
            continue
        fit, territory = territory_fit(lead, state.rep)
        if fit == NO_FIT:
            continue
        candidate = _Candidate(state, fit, territory, has_skill(lead, state.rep))
        problem = unavailability(state.rep)
        if problem:
            blocked.append((candidate, problem))
        else:
            available.append(candidate)
    if not available:
        return _nobody(lead, blocked, refused)
    available.sort(key=lambda c: c.rank)
    return _chosen(lead, available, blocked)


def _nobody(lead: LeadFacts, blocked: list[tuple[_Candidate, str]], refused: list[str]) -> Decision:
    reasons: list[str] = []
    if not any(c.fit > GENERALIST_FIT for c, _ in blocked):
        if lead.country:
            reasons.append(f"no rep covers {lead.location}")
        else:
            reasons.append("the lead has no country, so no territory covers it")
        if not blocked:
            reasons.append("no rep without territories (a generalist) to take it")
    reasons += [problem for _, problem in blocked]
    reasons += refused
    shown = reasons[:3] + ([f"{len(reasons) - 3} more"] if len(reasons) > 3 else [])
    return Decision(lead.id, None, "nobody eligible: " + "; ".join(shown), tuple(reasons))


def _territory_reason(lead: LeadFacts, winner: _Candidate, others: list[_Candidate]) -> str:
    if winner.fit == REGION_FIT:
        return f"territory {winner.territory} matches region {lead.region}"
    if winner.fit == COUNTRY_FIT:
        return f"territory {winner.territory} matches country {lead.country}"
    if any(c.fit > GENERALIST_FIT for c in others):
        return f"generalist: no rep covering {lead.location} is available"
    return f"generalist: no rep covers {lead.location}"


def _skill_reason(lead: LeadFacts, winner: _Candidate) -> str:
    if not lead.industry:
        return "the lead has no industry"
    if winner.skilled:
        return f"skill {lead.industry.strip().lower()} matches industry"
    return f"nobody as well placed has skill {lead.industry.strip().lower()}"


def _decisive_reason(winner: _Candidate, available: list[_Candidate]) -> str:
    """What set the winner apart from the runner-up."""
    if len(available) == 1:
        return "only available rep"
    runner = available[1]
    other = runner.state.rep.name
    if winner.fit != runner.fit:
        return f"closer territory than {other}"
    if winner.skilled != runner.skilled:
        return f"skill match, {other} has none"
    if winner.state.recency != runner.state.recency:
        if winner.state.recency == (0,):
            return "least recently assigned (never before)"
        return "least recently assigned"
    return f"first by name among equals (with {other})"


def _chosen(
    lead: LeadFacts, available: list[_Candidate], blocked: list[tuple[_Candidate, str]]
) -> Decision:
    winner = available[0]
    territory = _territory_reason(lead, winner, [c for c, _ in blocked])
    decisive = _decisive_reason(winner, available)
    load = winner.state.rep.load_text
    reasons = [
        territory,
        _skill_reason(lead, winner),
        f"load {load}" if winner.state.rep.capacity is not None else f"load {load} (no cap)",
        decisive,
    ]
    # reps who would have ranked as high or higher had they been available
    reasons += [
        f"passed over: {problem}" for c, problem in blocked if c.rank[:2] <= winner.rank[:2]
    ]
    where = f"territory {winner.territory}" if winner.territory else "generalist"
    short = f"{where}; {decisive}"
    return Decision(lead.id, winner.state.rep.name, short, tuple(reasons))
