"""Pure rules: durations, policy parsing, validation, duplicate detection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcli.clock import now, parse_when
from crmcli.errors import BadInput
from crmcli.rules import dedupe
from crmcli.rules.durations import format_duration, parse_duration
from crmcli.rules.policy import PolicyInvalid, default_policy, default_policy_toml, parse_policy
from crmcli.rules.validation import (
    check_complete,
    normalise_email,
    normalise_lead,
    normalise_phone,
    normalise_territory,
)

NY = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1800),
        ("1h", 3600),
        ("2d", 172800),
        ("1w", 604800),
        ("1d12h", 129600),
        ("48H", 172800),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1", "1x", "h1", "1.5h", "-1h", "one hour"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="30m, 1h, 2d or 1w"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10_000), st.sampled_from("mhdw"))
def test_duration_round_trip(count: int, unit: str) -> None:
    seconds = count * {"m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    if seconds > 3650 * 86400:  # durations stop at ten years
        with pytest.raises(ValueError, match="longer than 3650d"):
            parse_duration(f"{count}{unit}")
        return
    delta = parse_duration(f"{count}{unit}")
    assert delta.total_seconds() == seconds
    assert format_duration(delta)  # always something printable


def test_format_duration() -> None:
    assert format_duration(timedelta(days=1, hours=2, minutes=5)) == "1d 2h"
    assert format_duration(timedelta(minutes=-45)) == "-45m"
    assert format_duration(timedelta(0)) == "0m"


def test_default_policy_round_trips() -> None:
    policy = parse_policy(default_policy_toml())
    assert policy.data == default_policy().data
    assert policy.rule("lead.first_response").after == timedelta(hours=1)
    assert policy.rule("lead.first_response").clock == "business"
    assert policy.band_for(0) == "nurture"
    assert policy.band_for(29) == "nurture"
    assert policy.band_for(30) == "scheduled_follow_up"
    assert policy.band_for(89) == "immediate_sales"
    assert policy.band_for(100) == "immediate_executive"
    assert policy.first_stage == "prospecting"
    assert policy.timezone == NY


def test_partial_policy_merges_over_defaults() -> None:
    policy = parse_policy('[rules."lead.follow_up"]\nafter = "24h"\n')
    assert policy.rule("lead.follow_up").after == timedelta(hours=24)
    assert policy.rule("lead.entry").after == timedelta(hours=24)


def test_policy_issues_carry_lines_in_order() -> None:
    text = '[dedupe]\nname_threshold = 120\n\n[business_hours]\nstart = "25:00"\n'
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(text, source="p.toml")
    rendered = sorted(i.render("p.toml") for i in caught.value.issues)
    assert rendered == [
        "p.toml:2: dedupe.name_threshold: 120 is out of range; use 0-100",
        "p.toml:5: business_hours.start: '25:00' is not a time; write HH:MM like 09:00",
    ]


def test_email_normalisation() -> None:
    assert normalise_email(" Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
    with pytest.raises(BadInput, match="^email: 'a@b' is not a valid email"):
        normalise_email("a@b")


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("(212) 555-0100", "US", "+12125550100"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
    ],
)
def test_phone_normalisation(raw: str, region: str, e164: str) -> None:
    assert normalise_phone(raw, region=region) == e164


def test_phone_rejects_impossible_numbers() -> None:
    with pytest.raises(BadInput, match="^phone: '555' is not a valid phone number for region US"):
        normalise_phone("555", region="US")


def test_territories() -> None:
    assert normalise_territory("us-ny") == "US-NY"
    assert normalise_territory("GB") == "GB"
    with pytest.raises(BadInput, match="--territory"):
        normalise_territory("USA-New York")


def test_normalise_lead_keeps_only_given_fields() -> None:
    out = normalise_lead(
        {"first_name": "  Ada  ", "source": " Web ", "employees": "1,200"}, phone_region="US"
    )
    assert out == {"first_name": "Ada", "source": "web", "employees": 1200}


def test_check_complete_names_the_missing_field() -> None:
    with pytest.raises(BadInput, match="^source:"):
        check_complete({"first_name": "A", "email": "a@example.com"})


@given(
    st.dictionaries(
        st.sampled_from(["first_name", "last_name", "company", "title", "industry", "source"]),
        st.text(max_size=40),
    )
)
def test_normalise_lead_never_crashes_on_text(raw: dict) -> None:
    try:
        out = normalise_lead(raw, phone_region="US")
    except BadInput as exc:  # the one refusal free text can earn (NUL cannot even be stored)
        assert "control character" in exc.message
        return
    assert set(out) == set(raw)
    assert all(v is None or (v == v.strip() and "  " not in v) for v in out.values())


def test_company_key_ignores_case_punctuation_and_legal_suffixes() -> None:
    assert dedupe.company_key("ACME, Inc.") == dedupe.company_key("Acme") == "acme"
    assert dedupe.company_key("Müller GmbH") == "muller"
    assert dedupe.company_key(None) == ""


@given(st.text(max_size=60))
def test_fold_is_idempotent(text: str) -> None:
    once = dedupe.fold(text)
    assert dedupe.fold(once) == once
    assert once == once.strip()


def _lead(i: int, **kw) -> dict:
    return {
        "id": i,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "Analytical",
        "email": f"{i}@example.com",
        "phone": None,
    } | kw


def test_find_duplicates_reasons_and_order() -> None:
    candidate = _lead(None, email="1@example.com", phone="+12125550100")  # type: ignore[arg-type]
    existing = [
        _lead(1),
        _lead(2, email="x@example.com", phone="+12125550100"),
        _lead(3, email="y@example.com", first_name="Adah"),
        _lead(4, email="z@example.com", first_name="Grace", last_name="Hopper"),
    ]
    matches = dedupe.find_duplicates(candidate, existing, name_threshold=90, company_threshold=85)
    assert [(m.record_id, m.reason) for m in matches] == [
        (1, "same email"),
        (2, "same phone"),
        (3, "similar name and company"),
    ]


def test_a_name_without_company_is_not_enough() -> None:
    candidate = _lead(None, company=None, email="new@example.com")  # type: ignore[arg-type]
    assert (
        dedupe.find_duplicates(
            candidate, [_lead(1, company=None)], name_threshold=90, company_threshold=85
        )
        == []
    )


def test_a_record_is_not_its_own_duplicate() -> None:
    assert (
        dedupe.find_duplicates(_lead(1), [_lead(1)], name_threshold=90, company_threshold=85) == []
    )


def test_parse_when_reads_naive_times_in_the_given_zone() -> None:
    assert parse_when("2026-03-06 16:30", default_tz=NY) == datetime(2026, 3, 6, 21, 30, tzinfo=UTC)
    assert parse_when("03/06/2026 4:30 PM", default_tz=NY) == datetime(
        2026, 3, 6, 21, 30, tzinfo=UTC
    )
    assert parse_when("06.03.2026 16:30", default_tz=NY, day_first=True).month == 3
    assert parse_when("2026-03-06T16:30:00+01:00", default_tz=NY).hour == 15
    with pytest.raises(BadInput, match="^--at: cannot read 'later'"):
        parse_when("later", default_tz=NY)


def test_crm_now_sets_the_clock(monkeypatch) -> None:
    monkeypatch.setenv("CRM_NOW", "2026-03-06T16:30:00-05:00")
    assert now() == datetime(2026, 3, 6, 21, 30, tzinfo=UTC)
    monkeypatch.setenv("CRM_NOW", "whenever")
    with pytest.raises(BadInput, match="^CRM_NOW"):
        now()
    monkeypatch.delenv("CRM_NOW")
    assert abs((now() - datetime.now(UTC)).total_seconds()) < 5
