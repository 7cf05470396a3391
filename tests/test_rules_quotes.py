"""Quote money and approval rules as pure functions: exact Decimal arithmetic, no float."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcli.errors import BadInput
from crmcli.rules import quotes as q
from crmcli.rules.calendar import BusinessCalendar
from crmcli.rules.policy import default_policy, parse_policy
from crmcli.store.types import Fixed, Money

POLICY = default_policy()
D = Decimal


def line(qty: str, price: str, discount: str = "0") -> q.Line:
    return q.Line(D(qty), D(price), D(discount))


@pytest.mark.parametrize(
    ("qty", "price", "discount", "mode", "expected"),
    [
        # 2.5 x 99.99 = 249.975 -> 249.98; 7.5% of it = 18.74850 -> 18.75
        ("2.5", "99.99", "7.5", ROUND_HALF_UP, ("249.98", "18.75", "231.23")),
        # 5% of 0.50 = 0.025: half-up gives 0.03, banker's rounding 0.02
        ("1", "0.50", "5", ROUND_HALF_UP, ("0.50", "0.03", "0.47")),
        ("1", "0.50", "5", ROUND_HALF_EVEN, ("0.50", "0.02", "0.48")),
        # 0.125 x 1.00 = 0.125: half-up 0.13, half-even 0.12
        ("0.125", "1.00", "0", ROUND_HALF_UP, ("0.13", "0.00", "0.13")),
        ("0.125", "1.00", "0", ROUND_HALF_EVEN, ("0.12", "0.00", "0.12")),
        ("3", "1250", "100", ROUND_HALF_UP, ("3750.00", "3750.00", "0.00")),
    ],
)
def test_line_amounts_round_each_step_to_cents(qty, price, discount, mode, expected) -> None:
    amounts = q.line_amounts(line(qty, price, discount), "USD", mode)
    # equal as text too: the exponent is the currency's (cents), not whatever fell out
    assert tuple(map(str, (amounts.subtotal, amounts.discount, amounts.total))) == expected


def test_currencies_without_cents_round_to_whole_units() -> None:
    amounts = q.line_amounts(line("3", "333", "10"), "JPY")
    assert (str(amounts.subtotal), str(amounts.discount), str(amounts.total)) == (
        "999",
        "100",
        "899",
    )
    assert q.currency_places("JPY") == 0 and q.currency_places("EUR") == 2


def test_totals_are_sums_of_rounded_lines() -> None:
    lines = [line("1", "0.333"), line("1", "0.333"), line("1", "0.333")]
    result = q.totals(lines, "USD")
    # each line rounds to 0.33; the quote adds the rounded lines, never re-rounds a sum
    assert result.total == D("0.99") and result.subtotal == D("0.99")
    assert q.totals([], "USD").total == D("0.00")


quantities = st.decimals(min_value=D("0.001"), max_value=D(10000), places=3)
prices = st.decimals(min_value=D(0), max_value=D(1000000), places=2)
discounts = st.decimals(min_value=D(0), max_value=D(100), places=2)


@given(
    st.lists(st.tuples(quantities, prices, discounts), max_size=12),
    st.sampled_from([ROUND_HALF_UP, ROUND_HALF_EVEN]),
)
def test_total_is_always_the_sum_of_the_rounded_lines(rows, mode) -> None:
    lines = [q.Line(qty, price, pct) for qty, price, pct in rows]
    result = q.totals(lines, "USD", mode)
    assert result.total == sum((a.total for a in result.lines), D(0))
    assert result.subtotal - result.discount == result.total
    for amounts in result.lines:
        assert amounts.subtotal - amounts.discount == amounts.total
        assert D(0) <= amounts.discount <= amounts.subtotal
    for value in (result.subtotal, result.discount, result.total):
        assert type(value) is Decimal  # never float
        assert value.as_tuple().exponent == -2  # whole cents
    # stored as integer cents and read back exactly
    money = Money()
    assert money.process_result_value(money.process_bind_param(result.total, None), None) == (
        result.total
    )


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (lambda t: q.parse_price(t, "USD"), "1,250.50", "1250.50"),
        (lambda t: q.parse_price(t, "USD"), "0", "0.00"),
        (lambda t: q.parse_price(t, "JPY"), "1500", "1500"),
        (q.parse_quantity, "2.5", "2.500"),
        (q.parse_discount, "12.5%", "12.50"),
        (q.parse_discount, "100", "100.00"),
    ],
)
def test_parsing_is_exact(parse, text, expected) -> None:
    value = parse(text)
    assert type(value) is Decimal and str(value) == expected


@pytest.mark.parametrize(
    ("parse", "text", "needle"),
    [
        (lambda t: q.parse_price(t, "USD"), "abc", "--price: 'abc' is not a number"),
        (lambda t: q.parse_price(t, "USD"), "NaN", "--price: 'NaN' is not a number"),
        (lambda t: q.parse_price(t, "USD"), "inf", "--price: 'inf' is not a number"),
        (lambda t: q.parse_price(t, "USD"), "1.005", "--price: 1.005 has too many decimals"),
        (lambda t: q.parse_price(t, "JPY"), "1.5", "use whole numbers"),
        (lambda t: q.parse_price(t, "USD"), "-5", "--price: -5 is too small"),
        (lambda t: q.parse_price(t, "USD"), "1e20", "--price: 1e20 is too large"),
        (q.parse_quantity, "0", "--qty: 0 is too small; give more than 0"),
        (q.parse_quantity, "1.0005", "--qty: 1.0005 has too many decimals"),
        (q.parse_discount, "101", "--discount: 101 is too large"),
        (q.parse_discount, "ten", "--discount: 'ten' is not a number"),
    ],
)
def test_bad_numbers_name_the_option(parse, text, needle) -> None:
    with pytest.raises(BadInput) as caught:
        parse(text)
    assert needle in caught.value.message


def test_currency_check() -> None:
    assert q.check_currency(" eur ") == "EUR"
    with pytest.raises(BadInput, match="--currency: 'XYZ' is not an ISO 4217"):
        q.check_currency("xyz")
    with pytest.raises(BadInput, match="KWD has 3 decimal places"):
        q.check_currency("KWD")


RULES = q.ApprovalRules(max_discount=D(15), max_total=D(50000), currency="USD")


@pytest.mark.parametrize(
    ("lines", "currency", "needles"),
    [
        ([line("1", "100", "15")], "USD", []),  # at the limit is within it
        ([line("1", "100", "15.01")], "USD", ["line 1 discount 15.01% is above 15%"]),
        (
            [line("1", "100"), line("1", "100", "20")],
            "USD",
            ["line 2 discount 20% is above 15% (policy quotes.approval.max_discount)"],
        ),
        ([line("1", "50000")], "USD", []),
        ([line("1", "50000.01")], "USD", ["total 50,000.01 USD is above 50,000 USD"]),
        # 60,000 before the discount, 48,000 after it: only the discount needs approval
        ([line("2", "30000", "20")], "USD", ["line 1 discount 20%"]),
        ([line("1", "10")], "EUR", ["the total is in EUR, not USD"]),
    ],
)
def test_approval_reasons(lines, currency, needles) -> None:
    reasons = q.approval_reasons(lines, q.totals(lines, currency), currency, RULES)
    assert len(reasons) == len(needles)
    for reason, needle in zip(reasons, needles, strict=True):
        assert needle in reason


def test_approval_rules_come_from_the_policy_exactly() -> None:
    policy = parse_policy("[quotes.approval]\nmax_discount = 12.5\nmax_total = 1000.10\n")
    rules = q.ApprovalRules.from_policy(policy)
    assert rules.max_discount == D("12.5") and rules.max_total == D("1000.10")
    assert q.ApprovalRules.from_policy(POLICY) == RULES


def test_expiry_is_computed_from_the_valid_until_day() -> None:
    until = date(2026, 4, 5)
    assert q.effective_status("sent", until, date(2026, 4, 5)) == "sent"  # valid that day
    assert q.effective_status("sent", until, date(2026, 4, 6)) == "expired"
    assert q.effective_status("accepted", until, date(2027, 1, 1)) == "accepted"
    assert q.effective_status("rejected", until, date(2027, 1, 1)) == "rejected"


FRIDAY = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)  # 16:30 in New York


def facts(**changes) -> q.QuoteFacts:
    values = {
        "id": 1,
        "number": "Q-0001",
        "label": "Analytical Engines",
        "status": "submitted",
        "submitted_at": FRIDAY,
        "approval_needed": True,
    }
    return q.QuoteFacts(**(values | changes))


def test_quote_approval_obligation() -> None:
    calendar = BusinessCalendar.from_policy(POLICY)
    (due,) = q.quote_approval(facts(), POLICY, calendar)
    # 8 business hours: half an hour on Friday, then Monday 09:00 + 7.5 h
    assert due.due_at == datetime(2026, 3, 9, 20, 30, tzinfo=UTC)
    assert due.title == "approve quote Q-0001: Analytical Engines" and due.met_at is None
    decided = FRIDAY.replace(hour=22)
    (met,) = q.quote_approval(
        facts(status="approved", decided_at=decided, decided_by="boss"), POLICY, calendar
    )
    assert met.met_at == decided and met.met_by == "boss" and met.key == due.key
    assert q.quote_approval(facts(approval_needed=False), POLICY, calendar) == []
    assert q.quote_approval(facts(submitted_at=None, status="draft"), POLICY, calendar) == []
    assert q.quote_approval(facts(status="draft"), POLICY, calendar) == []  # taken back


def test_fixed_decimal_column_is_exact() -> None:
    column = Fixed(3)
    stored = column.process_bind_param(D("2.125"), None)
    assert stored == 2125 and type(stored) is int
    assert column.process_result_value(stored, None) == D("2.125")
    assert column.process_bind_param(None, None) is None
