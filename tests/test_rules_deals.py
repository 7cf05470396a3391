"""rules/deals.py: opportunity fields as pure functions (issue 18 item 4)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcli.errors import BadInput
from crmcli.rules import deals
from crmcli.rules.policy import default_policy, parse_policy

POLICY = default_policy()
NOW = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)
TODAY = date(2026, 3, 6)


def quote(number: str, status: str, total: str, event: int, currency: str = "USD"):
    return deals.PricedQuote(number, status, Decimal(total), currency, event)


def test_the_deal_is_worth_its_newest_accepted_else_sent_or_approved_quote() -> None:
    newest_first = [
        quote("Q-4", "draft", "1", 40),
        quote("Q-3", "approved", "300", 30),
        quote("Q-2", "accepted", "200", 20),
        quote("Q-1", "sent", "100", 10),
    ]
    assert deals.quote_amount(newest_first, "USD").number == "Q-2"
    assert deals.quote_amount(newest_first[:2], "USD").number == "Q-3"
    # expired, rejected, submitted or in another currency: not a price the customer has
    unpriced = [
        quote("Q-9", "expired", "9", 9),
        quote("Q-8", "rejected", "8", 8),
        quote("Q-7", "submitted", "7", 7),
        quote("Q-6", "approved", "6", 6, currency="EUR"),
    ]
    assert deals.quote_amount(unpriced, "USD") is None


def test_a_figure_set_by_hand_after_the_quote_was_priced_stands() -> None:
    quotes = [quote("Q-1", "approved", "18500.50", event=20)]
    assert deals.quote_amount(quotes, "USD", amount_event=None).number == "Q-1"
    assert deals.quote_amount(quotes, "USD", amount_event=19).number == "Q-1"
    assert deals.quote_amount(quotes, "USD", amount_event=21) is None


def test_priced_from_the_first_stage_that_requires_a_quote() -> None:
    assert [s for s in POLICY.stage_keys() if deals.priced_from(POLICY, s)] == [
        "proposal",
        "negotiation",
        "closed_won",
    ]
    no_quotes = parse_policy(
        '[pipeline]\nopportunity_from = "b"\n'
        'stages = [{key = "a"}, {key = "b"}, {key = "won", outcome = "won"}]\n'
    )
    assert not any(deals.priced_from(no_quotes, s) for s in no_quotes.stage_keys())


@pytest.mark.parametrize(
    ("text", "value"),
    [("18,500.50", "18500.50"), ("0", "0.00"), (" 12 ", "12.00"), ("999999999999.99", None)],
)
def test_amounts(text: str, value: str | None) -> None:
    assert deals.parse_amount(text) == Decimal(value or text)


@pytest.mark.parametrize("text", ["-1", "1e12", "NaN", "Infinity", "1.001", "", "ten"])
def test_bad_amounts(text: str) -> None:
    with pytest.raises(BadInput, match="^--amount: "):
        deals.parse_amount(text)


def test_probability_and_close_date() -> None:
    assert deals.parse_probability("60%") == 60 and deals.parse_probability(0) == 0
    for bad in ("101", "-1", "6.5", "x", ""):
        with pytest.raises(BadInput, match="^--probability: "):
            deals.parse_probability(bad)
    assert deals.check_close_date(TODAY, TODAY) == TODAY
    with pytest.raises(BadInput, match="2026-03-05 is in the past"):
        deals.check_close_date(TODAY - timedelta(days=1), TODAY)


@given(
    st.lists(st.integers(-72, 72).map(lambda h: NOW + timedelta(hours=h)), max_size=4),
    st.one_of(st.none(), st.integers(-5, 5).map(lambda d: TODAY + timedelta(days=d))),
)
def test_a_weekly_update_leaves_a_next_step_ahead_and_a_close_date_not_past(dues, close) -> None:
    counted = deals.is_weekly_update(next_step_dues=dues, close_date=close, now=NOW, today=TODAY)
    assert counted == (any(d >= NOW for d in dues) and close is not None and close >= TODAY)
