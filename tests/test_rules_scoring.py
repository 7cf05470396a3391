"""Pure scoring rules: BANT (seed 003), the engagement model (seed 000), bands."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcli.errors import BadInput
from crmcli.rules.policy import DEFAULT_POLICY, default_policy
from crmcli.rules.scoring import (
    BANT_TERMS,
    Firmographics,
    band_for,
    bant_score,
    demographic_points,
    employees_points,
    engagement_score,
    event_points,
    phrase_points,
)

BANT_MAXIMA = DEFAULT_POLICY["scoring"]["bant"]
ENGAGEMENT = DEFAULT_POLICY["scoring"]["engagement"]
DEMOGRAPHICS = ENGAGEMENT["demographics"]
KINDS = list(ENGAGEMENT["events"])
BANDS = default_policy().bands

# --- BANT ---------------------------------------------------------------------------------


def test_bant_breakdown_names_every_criterion() -> None:
    score = bant_score({"budget": 20, "authority": 15, "need": 25, "timeline": 10}, BANT_MAXIMA)
    assert score.model == "bant"
    assert score.total == 70
    assert score.breakdown == {"budget": 20, "authority": 15, "need": 25, "timeline": 10}
    assert list(score.breakdown) == list(BANT_TERMS)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"budget": 30, "authority": 0, "need": 0, "timeline": 0},
            "--budget: 30 is out of range; give 0-25",
        ),
        (
            {"budget": 0, "authority": -1, "need": 0, "timeline": 0},
            "--authority: -1 is out of range; give 0-25",
        ),
        (
            {"budget": 0, "authority": 0, "need": 26, "timeline": 0},
            "--need: 26 is out of range; give 0-25",
        ),
        ({"budget": 0, "authority": 0, "need": 0}, "--timeline: missing; give 0-25"),
        (
            {"budget": 0, "authority": 0, "need": 0, "timeline": None},
            "--timeline: missing; give 0-25",
        ),
        (
            {"budget": 2.5, "authority": 0, "need": 0, "timeline": 0},
            "--budget: 2.5 is not a whole number; give 0-25",
        ),
        (
            {"budget": True, "authority": 0, "need": 0, "timeline": 0},
            "--budget: True is not a whole number; give 0-25",
        ),
        (
            {"budget": 0, "authority": 0, "need": 0, "timeline": 0, "fit": 3},
            "--fit: not a BANT criterion; use budget, authority, need, timeline",
        ),
    ],
)
def test_bant_rejects_bad_values_naming_the_flag(values: dict, message: str) -> None:
    with pytest.raises(BadInput) as raised:
        bant_score(values, BANT_MAXIMA)
    assert raised.value.message == message
    assert raised.value.exit_code == 2


def test_bant_uses_the_policy_maxima() -> None:
    weighted = {"budget": 40, "authority": 30, "need": 20, "timeline": 10}
    score = bant_score({"budget": 40, "authority": 30, "need": 20, "timeline": 10}, weighted)
    assert score.total == 100
    with pytest.raises(BadInput, match="--timeline: 11 is out of range; give 0-10"):
        bant_score({"budget": 0, "authority": 0, "need": 0, "timeline": 11}, weighted)


def test_bant_total_is_capped_when_maxima_add_up_to_more_than_100() -> None:
    generous = dict.fromkeys(BANT_TERMS, 50)
    score = bant_score(dict.fromkeys(BANT_TERMS, 50), generous)
    assert score.total == 100
    assert sum(score.breakdown.values()) == 200  # the breakdown still shows what was given


bant_points = st.integers(min_value=0, max_value=25)


@given(bant_points, bant_points, bant_points, bant_points)
def test_bant_total_is_the_sum_within_0_100(b: int, a: int, n: int, t: int) -> None:
    score = bant_score({"budget": b, "authority": a, "need": n, "timeline": t}, BANT_MAXIMA)
    assert score.total == b + a + n + t
    assert 0 <= score.total <= 100
    assert all(0 <= points <= 25 for points in score.breakdown.values())


@given(
    st.sampled_from(BANT_TERMS),
    st.one_of(st.integers(max_value=-1), st.integers(min_value=26)),
)
def test_bant_out_of_range_always_names_the_flag(term: str, bad: int) -> None:
    values = dict.fromkeys(BANT_TERMS, 10) | {term: bad}
    with pytest.raises(BadInput) as raised:
        bant_score(values, BANT_MAXIMA)
    assert raised.value.message == f"--{term}: {bad} is out of range; give 0-25"


# --- demographics ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "points"),
    [
        ("CEO", 10),
        ("Co-Founder & CTO", 10),
        ("VP of Sales", 8),
        ("Head of IT", 8),
        ("Marketing Director", 7),
        ("Account Manager", 5),
        ("Directory Services Lead", 0),  # "director" is a word, not a prefix
        ("Intern", 0),
        ("", 0),
        (None, 0),
    ],
)
def test_title_points_match_whole_words_case_insensitively(title: str | None, points: int) -> None:
    assert phrase_points(title, DEMOGRAPHICS["titles"]) == points


@pytest.mark.parametrize(
    ("industry", "points"),
    [("SaaS", 10), ("fintech", 10), ("Healthcare IT", 8), ("Logistics", 5), ("Retail", 0)],
)
def test_industry_points(industry: str, points: int) -> None:
    assert phrase_points(industry, DEMOGRAPHICS["industries"]) == points


def test_phrases_of_several_words_match_as_a_whole() -> None:
    table = {"financial services": 9, "vice president": 8}
    assert phrase_points("Financial-Services", table) == 9
    assert phrase_points("Senior Vice  President, Ops", table) == 8
    assert phrase_points("Financial analyst", table) == 0


@pytest.mark.parametrize(
    ("employees", "points"),
    [(None, 0), (0, 5), (49, 5), (50, 10), (999, 10), (1000, 15), (10_000_001, 0)],
)
def test_employee_bands_are_inclusive(employees: int | None, points: int) -> None:
    assert employees_points(employees, DEMOGRAPHICS["employees"]) == points


def test_demographic_terms() -> None:
    lead = Firmographics(employees=120, industry="SaaS", title="VP Sales")
    assert demographic_points(lead, DEMOGRAPHICS) == {"employees": 10, "industry": 10, "title": 8}
    assert demographic_points(Firmographics(), DEMOGRAPHICS) == {
        "employees": 0,
        "industry": 0,
        "title": 0,
    }


# --- engagement model -------------------------------------------------------------------------


def test_event_points_are_capped_per_kind() -> None:
    web = ENGAGEMENT["events"]["web-visit"]
    assert [event_points(n, web) for n in range(6)] == [0, 5, 10, 15, 20, 20]
    assert event_points(3, {"group": "behaviour", "points": 7}) == 21  # no max: the group caps


def test_engagement_breakdown_is_self_describing() -> None:
    lead = Firmographics(employees=120, industry="SaaS", title="VP Sales")
    score = engagement_score(lead, {"web-visit": 2, "email-open": 1, "demo-request": 1}, ENGAGEMENT)
    assert score.model == "engagement"
    assert score.breakdown == {
        "demographics": {"employees": 10, "industry": 10, "title": 8},
        "behaviour": {"web-visit": 10, "download": 0, "email-open": 5},
        "engagement": {"demo-request": 20, "pricing-inquiry": 0, "form": 0},
        "subtotals": {"demographics": 25, "behaviour": 15, "engagement": 20},
        "counts": {"web-visit": 2, "email-open": 1, "demo-request": 1},
    }
    assert score.total == 60


def test_engagement_groups_are_capped_25_50_25() -> None:
    lead = Firmographics(employees=5000, industry="fintech", title="CEO")
    counts = {kind: 10 for kind in KINDS}
    score = engagement_score(lead, counts, ENGAGEMENT)
    assert score.breakdown["subtotals"] == {"demographics": 25, "behaviour": 50, "engagement": 25}
    assert score.total == 100


def test_unknown_event_kinds_count_for_nothing() -> None:
    score = engagement_score(Firmographics(), {"tweet": 40, "web-visit": 0}, ENGAGEMENT)
    assert score.total == 0
    assert score.breakdown["counts"] == {}


def test_a_policy_can_reweight_the_engagement_model() -> None:
    settings = copy.deepcopy(ENGAGEMENT)
    settings["caps"] = {"demographics": 0, "behaviour": 100, "engagement": 0}
    settings["events"] = {"webinar": {"group": "behaviour", "points": 30, "max": 90}}
    lead = Firmographics(employees=5000, industry="saas", title="CEO")
    score = engagement_score(lead, {"webinar": 5}, settings)
    assert score.breakdown["behaviour"] == {"webinar": 90}
    assert score.breakdown["subtotals"] == {"demographics": 0, "behaviour": 90, "engagement": 0}
    assert score.total == 90


counts_strategy = st.dictionaries(
    st.sampled_from(KINDS), st.integers(min_value=0, max_value=50), max_size=len(KINDS)
)
firmographics_strategy = st.builds(
    Firmographics,
    employees=st.none() | st.integers(min_value=0, max_value=20_000_000),
    industry=st.none() | st.sampled_from([*DEMOGRAPHICS["industries"], "Retail", "SaaS / fintech"]),
    title=st.none() | st.text(max_size=30) | st.sampled_from(["CEO", "VP Sales", "cto & founder"]),
)
events_strategy = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d", "e"]),
    st.fixed_dictionaries(
        {
            "group": st.sampled_from(["demographics", "behaviour", "engagement"]),
            "points": st.integers(min_value=-5, max_value=60),
        },
        optional={"max": st.integers(min_value=-5, max_value=200)},
    ),
    min_size=1,
)
caps_strategy = st.fixed_dictionaries(
    {
        g: st.integers(min_value=0, max_value=150)
        for g in ("demographics", "behaviour", "engagement")
    }
)


def _check_bounds(score, settings) -> None:
    assert 0 <= score.total <= 100
    for group, subtotal in score.breakdown["subtotals"].items():
        assert 0 <= subtotal <= settings["caps"][group]
        assert subtotal <= sum(score.breakdown[group].values())
    for kind, event in settings["events"].items():
        points = score.breakdown[event["group"]][kind]
        assert points >= 0
        if "max" in event:
            assert points <= max(0, event["max"])


@given(firmographics_strategy, counts_strategy)
def test_engagement_is_within_bounds_per_group(lead: Firmographics, counts: dict) -> None:
    score = engagement_score(lead, counts, ENGAGEMENT)
    _check_bounds(score, ENGAGEMENT)
    for term in ("employees", "industry", "title"):
        assert 0 <= score.breakdown["demographics"][term] <= 15


@given(firmographics_strategy, counts_strategy, counts_strategy)
def test_engagement_is_monotone_in_added_events(
    lead: Firmographics, base: dict, extra: dict
) -> None:
    more = {kind: base.get(kind, 0) + extra.get(kind, 0) for kind in KINDS}
    before = engagement_score(lead, base, ENGAGEMENT)
    after = engagement_score(lead, more, ENGAGEMENT)
    assert after.total >= before.total
    for group, subtotal in before.breakdown["subtotals"].items():
        assert after.breakdown["subtotals"][group] >= subtotal


@given(
    events_strategy,
    caps_strategy,
    st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e", "zz"]), st.integers(0, 20)),
    st.sampled_from(["a", "b", "c", "d", "e"]),
)
def test_any_policy_keeps_bounds_and_monotonicity(events, caps, counts, added) -> None:
    settings = {"caps": caps, "events": events, "demographics": DEMOGRAPHICS}
    lead = Firmographics(employees=2000, industry="saas", title="CEO")
    before = engagement_score(lead, counts, settings)
    _check_bounds(before, settings)
    after = engagement_score(lead, counts | {added: counts.get(added, 0) + 1}, settings)
    _check_bounds(after, settings)
    assert after.total >= before.total


# --- bands ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "band", "action"),
    [
        (0, "nurture", "nurture"),
        (29, "nurture", "nurture"),
        (30, "scheduled_follow_up", "follow_up"),
        (59, "scheduled_follow_up", "follow_up"),
        (60, "immediate_sales", "contact"),
        (89, "immediate_sales", "contact"),
        (90, "immediate_executive", "contact"),
        (100, "immediate_executive", "contact"),
    ],
)
def test_seed_003_bands(total: int, band: str, action: str) -> None:
    found = band_for(BANDS, total)
    assert (found.name, found.action) == (band, action)


def test_executive_band_notifies_admins_within_the_hour() -> None:
    executive = band_for(BANDS, 95)
    assert executive.notify == ("admins",)
    assert executive.due is not None and executive.due.total_seconds() == 3600


def test_a_total_outside_every_band_is_a_policy_bug() -> None:
    with pytest.raises(ValueError, match="no scoring band covers 101"):
        band_for(BANDS, 101)


@given(st.integers(min_value=0, max_value=100))
def test_every_total_falls_in_exactly_one_band(total: int) -> None:
    matching = [b for b in BANDS if b.min <= total <= b.max]
    assert len(matching) == 1
    assert band_for(BANDS, total) == matching[0]
