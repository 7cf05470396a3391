"""Pure routing rules: territory → expertise → availability, round robin, the batch planner."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import examples
from crmcli.rules import routing
from crmcli.rules.routing import LeadFacts, Rep

NOW = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)
TODAY = date(2026, 3, 6)
NY_SAAS = LeadFacts(1, country="US", region="NY", industry="SaaS")


def test_region_territory_beats_country_beats_generalist() -> None:
    reps = [Rep("gen"), Rep("us", territories=("US",)), Rep("ny", territories=("US-NY",))]
    decision = routing.route(NY_SAAS, reps)
    assert decision.rep == "ny"
    assert decision.reasons[0] == "territory US-NY matches region NY"
    assert decision.reason == "territory US-NY; closer territory than us"
    assert routing.route(NY_SAAS, reps[:2]).rep == "us"
    assert routing.route(NY_SAAS, reps[:1]).rep == "gen"


@pytest.mark.parametrize(
    ("lead", "territory", "fit"),
    [
        (LeadFacts(1, country="US", region="NY"), "US-NY", routing.REGION_FIT),
        (LeadFacts(1, country="US", region="ny"), "US-NY", routing.REGION_FIT),
        (LeadFacts(1, country="US", region="NY"), "US", routing.COUNTRY_FIT),
        (LeadFacts(1, country="US"), "US", routing.COUNTRY_FIT),
        (LeadFacts(1, country="US"), "US-NY", routing.NO_FIT),
        (LeadFacts(1, country="US", region="CA"), "US-NY", routing.NO_FIT),
        (LeadFacts(1, country="DE", region="BY"), "US", routing.NO_FIT),
        (LeadFacts(1), "US", routing.NO_FIT),
        (LeadFacts(1, region="NY"), "US-NY", routing.NO_FIT),
    ],
)
def test_territory_fit(lead: LeadFacts, territory: str, fit: int) -> None:
    assert routing.territory_fit(lead, Rep("r", territories=(territory,)))[0] == fit
    assert routing.territory_fit(lead, Rep("g"))[0] == routing.GENERALIST_FIT


def test_the_most_specific_of_a_reps_territories_counts() -> None:
    rep = Rep("r", territories=("US", "US-NY", "DE"))
    assert routing.territory_fit(NY_SAAS, rep) == (routing.REGION_FIT, "US-NY")
    assert routing.territory_fit(LeadFacts(2, country="US", region="TX"), rep) == (
        routing.COUNTRY_FIT,
        "US",
    )


def test_skill_matching_is_case_insensitive_and_ranks_after_territory() -> None:
    reps = [
        Rep("anna", territories=("US",)),
        Rep("bob", territories=("US",), skills=("saas",)),
        Rep("cy", skills=("SAAS",)),
    ]
    decision = routing.route(NY_SAAS, reps)
    assert decision.rep == "bob"
    assert decision.reasons[1] == "skill saas matches industry"
    assert decision.reason == "territory US; skill match, anna has none"
    # a generalist's skill never beats a territory
    assert routing.route(NY_SAAS, [reps[0], reps[2]]).rep == "anna"


def test_lead_without_industry_or_country() -> None:
    decision = routing.route(LeadFacts(3), [Rep("us", territories=("US",)), Rep("gen")])
    assert decision.rep == "gen"
    assert decision.reasons[:2] == (
        "generalist: no rep covers no country",
        "the lead has no industry",
    )
    nobody = routing.route(LeadFacts(3), [Rep("us", territories=("US",))])
    assert nobody.rep is None
    assert nobody.reasons == (
        "the lead has no country, so no territory covers it",
        "no rep without territories (a generalist) to take it",
    )


def test_nobody_covers_the_location() -> None:
    decision = routing.route(
        LeadFacts(4, country="DE", region="BY"), [Rep("maria", territories=("US-NY",))]
    )
    assert decision.rep is None
    assert decision.reasons[0] == "no rep covers DE-BY"
    assert decision.reason.startswith("nobody eligible: no rep covers DE-BY")


def test_away_and_full_reps_are_skipped_and_named() -> None:
    reps = [
        Rep("maria", territories=("US-NY",), away_until=date(2026, 3, 10)),
        Rep("devon", territories=("US",), capacity=20, load=20),
        Rep("gen", capacity=5, load=1),
    ]
    decision = routing.route(NY_SAAS, reps)
    assert decision.rep == "gen"
    assert decision.reasons[0] == "generalist: no rep covering US-NY is available"
    assert decision.reasons[1:] == (
        "nobody as well placed has skill saas",
        "load 1/5",
        "only available rep",
        "passed over: devon is at capacity 20/20",
        "passed over: maria is away until 2026-03-10",
    )
    nobody = routing.route(NY_SAAS, reps[:2])
    assert nobody.rep is None
    assert nobody.reasons == ("devon is at capacity 20/20", "maria is away until 2026-03-10")


def test_passed_over_lists_better_placed_unavailable_reps() -> None:
    reps = [
        Rep("maria", territories=("US-NY",), away_until=date(2026, 3, 10)),
        Rep("nia", territories=("US-NY",)),
        Rep("gen", capacity=1, load=1),  # ranks below nia: not worth a mention
    ]
    decision = routing.route(NY_SAAS, reps)
    assert decision.rep == "nia"
    assert decision.reasons[-2:] == (
        "only available rep",
        "passed over: maria is away until 2026-03-10",
    )
    assert not any("gen" in reason for reason in decision.reasons)


def test_capacity_zero_and_unlimited() -> None:
    assert routing.route(NY_SAAS, [Rep("z", capacity=0)]).rep is None
    decision = routing.route(NY_SAAS, [Rep("u", load=999)])
    assert decision.rep == "u"
    assert "load 999 (no cap)" in decision.reasons


def test_only_editors_and_admins_own_leads() -> None:
    reps = [Rep("vi", role="viewer"), Rep("ad", role="admin", territories=("US",))]
    assert routing.route(NY_SAAS, reps).rep == "ad"
    nobody = routing.route(NY_SAAS, reps[:1])
    assert nobody.rep is None
    assert all("vi" not in reason for reason in nobody.reasons)
    assert routing.ownership_refusal(NY_SAAS, reps[0]) == (
        "vi is a viewer; only editors and admins own leads"
    )


def test_campaign_scoped_reps_take_only_their_campaigns() -> None:
    scoped = Rep("sc", territories=("US",), campaigns=("Expo",))
    assert routing.route(replace(NY_SAAS, campaign="Expo"), [scoped]).rep == "sc"
    nobody = routing.route(NY_SAAS, [scoped])
    assert nobody.rep is None
    assert "sc works only campaign Expo (the lead is in no campaign)" in nobody.reasons


def test_round_robin_oldest_assignment_first_then_name() -> None:
    earlier, later = NOW - timedelta(days=2), NOW - timedelta(days=1)
    reps = [
        Rep("a", last_assigned_at=later),
        Rep("b", last_assigned_at=earlier),
        Rep("c", last_assigned_at=earlier, last_assigned_lead=5),
    ]
    decision = routing.route(NY_SAAS, reps)
    assert decision.rep == "b"
    assert decision.reasons[-1] == "least recently assigned"
    fresh = routing.route(NY_SAAS, [*reps, Rep("z")])
    assert fresh.rep == "z"
    assert fresh.reasons[-1] == "least recently assigned (never before)"
    tie = routing.route(NY_SAAS, [Rep("y"), Rep("x")])
    assert tie.rep == "x"
    assert tie.reasons[-1] == "first by name among equals (with y)"


def test_plan_rotates_through_equal_reps_and_counts_loads() -> None:
    reps = [Rep("a", capacity=2), Rep("b"), Rep("c")]
    leads = [LeadFacts(i, country="US") for i in range(1, 8)]
    plan = routing.plan(leads, reps, now=NOW)
    assert [d.rep for d in plan.decisions] == ["a", "b", "c", "a", "b", "c", "b"]
    after = {rep.name: rep for rep in plan.reps}
    assert (after["a"].load, after["b"].load, after["c"].load) == (2, 3, 2)
    assert after["b"].last_assigned_at == NOW and after["b"].last_assigned_lead == 7
    assert "passed over: a is at capacity 2/2" in plan.decisions[-1].reasons


def test_plan_leaves_a_lead_nobody_can_take() -> None:
    plan = routing.plan(
        [LeadFacts(1, country="US"), LeadFacts(2, country="FR"), LeadFacts(3, country="US")],
        [Rep("us", territories=("US",), capacity=1)],
        now=NOW,
    )
    assert [d.rep for d in plan.decisions] == ["us", None, None]
    assert plan.decisions[1].reasons[0] == "no rep covers FR"
    assert plan.decisions[2].reasons == ("us is at capacity 1/1",)


def test_duplicate_rep_names_are_a_bug() -> None:
    with pytest.raises(ValueError, match="two reps named"):
        routing.route(NY_SAAS, [Rep("a"), Rep("a")])


@pytest.mark.parametrize(
    ("periods", "expected"),
    [
        ([], None),
        ([(date(2026, 3, 1), date(2026, 3, 5))], None),  # over
        ([(date(2026, 3, 7), date(2026, 3, 9))], None),  # not yet
        ([(date(2026, 3, 6), date(2026, 3, 6))], date(2026, 3, 6)),
        ([(date(2026, 3, 1), date(2026, 3, 10))], date(2026, 3, 10)),
        # back-to-back and overlapping periods make one absence
        (
            [(date(2026, 3, 7), date(2026, 3, 9)), (date(2026, 3, 2), date(2026, 3, 6))],
            date(2026, 3, 9),
        ),
        (
            [(date(2026, 3, 5), date(2026, 3, 12)), (date(2026, 3, 1), date(2026, 3, 7))],
            date(2026, 3, 12),
        ),
        (
            [(date(2026, 3, 6), date(2026, 3, 7)), (date(2026, 3, 9), date(2026, 3, 20))],
            date(2026, 3, 7),
        ),
    ],
)
def test_away_until(periods, expected) -> None:
    assert routing.away_until(periods, TODAY) == expected


def test_concerns_for_a_hand_picked_rep() -> None:
    rep = Rep("maria", territories=("US-NY",), capacity=2, load=2, away_until=date(2026, 3, 9))
    assert routing.concerns(LeadFacts(1, country="DE"), rep) == [
        "maria is away until 2026-03-09",
        "maria is at capacity 2/2",
        "maria covers US-NY, not DE",
    ]
    assert routing.concerns(LeadFacts(1, country="DE"), replace(rep, away_until=None)) == [
        "maria is at capacity 2/2",
        "maria covers US-NY, not DE",
    ]
    assert routing.concerns(NY_SAAS, Rep("g")) == []


# --- properties ----------------------------------------------------------------------------

TERRITORIES = ["US", "US-NY", "US-CA", "DE", "DE-BY"]
INDUSTRIES = [None, "saas", "fintech", "SaaS"]

leads_st = st.builds(
    LeadFacts,
    id=st.integers(1, 10_000),
    country=st.sampled_from([None, "US", "DE", "FR"]),
    region=st.sampled_from([None, "NY", "CA", "BY"]),
    industry=st.sampled_from(INDUSTRIES),
    campaign=st.sampled_from([None, "Expo"]),
)


@st.composite
def reps_st(draw: st.DrawFn) -> list[Rep]:
    names = draw(st.lists(st.sampled_from("abcdefgh"), min_size=0, max_size=6, unique=True))
    reps = []
    for name in names:
        capacity = draw(st.none() | st.integers(0, 4))
        reps.append(
            Rep(
                name,
                role=draw(st.sampled_from(["viewer", "editor", "admin"])),
                territories=tuple(draw(st.lists(st.sampled_from(TERRITORIES), max_size=2))),
                skills=tuple(draw(st.lists(st.sampled_from(["saas", "fintech"]), max_size=2))),
                capacity=capacity,
                load=draw(st.integers(0, 5)),
                away_until=draw(st.none() | st.just(date(2026, 3, 9))),
                last_assigned_at=draw(
                    st.none() | st.sampled_from([NOW - timedelta(days=d) for d in (1, 2, 3)])
                ),
                last_assigned_lead=draw(st.integers(0, 3)),
                campaigns=draw(st.sampled_from([(), ("Expo",)])),
            )
        )
    return reps


def _lead_batch(leads: list[LeadFacts]) -> list[LeadFacts]:
    return [replace(lead, id=i) for i, lead in enumerate(leads, start=1)]


@settings(max_examples=examples(200))
@given(leads_st, reps_st(), st.randoms(use_true_random=False))
def test_route_is_deterministic_and_ignores_candidate_order(lead, reps, rnd) -> None:
    first = routing.route(lead, reps)
    assert routing.route(lead, reps) == first
    shuffled = list(reps)
    rnd.shuffle(shuffled)
    assert routing.route(lead, shuffled) == first
    assert first.reason and first.reasons


@settings(max_examples=examples(200))
@given(leads_st, reps_st())
def test_chosen_rep_is_eligible(lead, reps) -> None:
    decision = routing.route(lead, reps)
    if decision.rep is None:
        eligible = [
            r
            for r in reps
            if routing.ownership_refusal(lead, r) is None
            and routing.unavailability(r) is None
            and routing.territory_fit(lead, r)[0] != routing.NO_FIT
        ]
        assert eligible == []
        return
    rep = next(r for r in reps if r.name == decision.rep)
    assert rep.role in routing.OWNER_ROLES
    assert rep.away_until is None
    assert rep.capacity is None or rep.load < rep.capacity
    assert routing.territory_fit(lead, rep)[0] != routing.NO_FIT
    assert not rep.campaigns or lead.campaign in rep.campaigns


@settings(max_examples=examples(200))
@given(st.lists(leads_st, max_size=15), reps_st(), st.randoms(use_true_random=False))
def test_plan_never_overfills_never_uses_away_reps_and_ignores_order(leads, reps, rnd) -> None:
    leads = _lead_batch(leads)
    plan = routing.plan(leads, reps, now=NOW)
    by_name = {r.name: r for r in reps}
    given_to: dict[str, int] = {}
    for decision in plan.decisions:
        if decision.rep is not None:
            given_to[decision.rep] = given_to.get(decision.rep, 0) + 1
    for name, count in given_to.items():
        rep = by_name[name]
        assert rep.away_until is None
        assert rep.capacity is None or rep.load + count <= rep.capacity
    after = {r.name: r for r in plan.reps}
    assert sorted(after) == sorted(by_name)
    for name, rep in by_name.items():
        assert after[name].load == rep.load + given_to.get(name, 0)
    shuffled = list(reps)
    rnd.shuffle(shuffled)
    assert routing.plan(leads, shuffled, now=NOW) == plan


@settings(max_examples=examples(100))
@given(st.lists(leads_st, max_size=10), reps_st())
def test_plan_equals_one_lead_at_a_time(leads, reps) -> None:
    """A dry-run plan is what assigning the leads one by one would do."""
    leads = _lead_batch(leads)
    plan = routing.plan(leads, reps, now=NOW)
    current = {r.name: r for r in reps}
    for lead, planned in zip(leads, plan.decisions, strict=True):
        decision = routing.route(lead, current.values())
        assert decision == planned
        if decision.rep is not None:
            rep = current[decision.rep]
            current[decision.rep] = replace(
                rep, load=rep.load + 1, last_assigned_at=NOW, last_assigned_lead=lead.id
            )
    assert tuple(current[name] for name in sorted(current)) == plan.reps


@given(st.integers(1, 6), st.integers(0, 40))
def test_equal_reps_share_leads_evenly(rep_count: int, lead_count: int) -> None:
    reps = [Rep(f"r{i}") for i in range(rep_count)]
    leads = [LeadFacts(i, country="US") for i in range(1, lead_count + 1)]
    plan = routing.plan(leads, reps, now=NOW)
    loads = [rep.load for rep in plan.reps]
    assert sum(loads) == lead_count
    assert max(loads) - min(loads) <= 1


def test_round_robin_survives_across_batches() -> None:
    reps = [Rep("a"), Rep("b"), Rep("c")]
    first = routing.plan([LeadFacts(1), LeadFacts(2)], reps, now=NOW)
    second = routing.plan([LeadFacts(3), LeadFacts(4)], first.reps, now=NOW)
    assert [d.rep for d in first.decisions + second.decisions] == ["a", "b", "c", "a"]


def test_shuffled_names_do_not_change_the_winner() -> None:
    reps = [Rep(name) for name in "qwertyuiop"]
    expected = routing.route(NY_SAAS, reps).rep
    for seed in range(5):
        random.Random(seed).shuffle(reps)
        assert routing.route(NY_SAAS, reps).rep == expected == "e"
