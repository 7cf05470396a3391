"""Quotes as pure policy: exact money, approval thresholds, statuses, the approval obligation.

Money is Decimal from the command line to the database (integer minor units), never float.
A line's amounts are rounded once each, to the currency's minor unit, with the policy's
rounding (`quotes.rounding`, half-up by default); the quote's totals are sums of the rounded
line amounts, so the document always adds up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from typing import Any

from crmcli.errors import BadInput
from crmcli.rules.calendar import BusinessCalendar, due_after
from crmcli.rules.obligations import Due, rule
from crmcli.rules.policy import Policy

ROUNDINGS = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}
STATUSES = ("draft", "submitted", "approved", "rejected", "sent", "accepted", "expired")
# statuses a quote can leave by passing its valid-until date
EXPIRABLE = ("draft", "submitted", "approved", "sent")
# statuses that show a real quote exists (the Proposal gate, seed 002)
PRESENTED = ("submitted", "approved", "sent", "accepted")
QTY_PLACES = 3
DISCOUNT_PLACES = 2
# amounts are stored as integer minor units in a 64-bit column; stay far below its limit
MAX_AMOUNT = Decimal(10) ** 13
MAX_CURRENCY_PLACES = 2  # the database stores cents (store/types.Money)
HUNDRED = Decimal(100)


@cache
def currency_places(code: str) -> int:
    """The currency's minor unit (2 for USD, 0 for JPY) from the CLDR data in babel."""
    from babel.numbers import get_currency_precision

    return get_currency_precision(code)


def currency_problem(code: Any) -> str | None:
    """Why `code` cannot be a quote currency, or None when it can."""
    from babel.numbers import is_currency

    if not isinstance(code, str) or not is_currency(code):
        return f"{code!r} is not an ISO 4217 currency code; use e.g. USD, EUR, GBP, JPY"
    if currency_places(code) > MAX_CURRENCY_PLACES:
        return (
            f"{code} has {currency_places(code)} decimal places; quotes support currencies "
            f"with at most {MAX_CURRENCY_PLACES}"
        )
    return None


def check_currency(text: str, field: str = "--currency") -> str:
    code = text.strip().upper()
    problem = currency_problem(code)
    if problem:
        raise BadInput(f"{field}: {problem}")
    return code


def policy_decimal(value: int | float | str) -> Decimal:
    """A number from the policy file (TOML gives int or float) as an exact Decimal: the
    float's shortest repr is what the file said, so 12.5 stays 12.5."""
    return Decimal(str(value))


def parse_decimal(
    text: str,
    *,
    field: str,
    places: int,
    example: str,
    minimum: Decimal = Decimal(0),
    maximum: Decimal = MAX_AMOUNT,
    allow_minimum: bool = True,
) -> Decimal:
    """A user's number: digits with an optional decimal point and thousands commas; never
    rounded, so more decimals than `places` is an error rather than a silent change."""
    raw = text.strip().replace(",", "").replace("_", "")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise BadInput(f"{field}: {text!r} is not a number; write e.g. {example}") from None
    if not value.is_finite():
        raise BadInput(f"{field}: {text!r} is not a number; write e.g. {example}")
    if value < minimum or (value == minimum and not allow_minimum):
        relation = "at least" if allow_minimum else "more than"
        raise BadInput(f"{field}: {text.strip()} is too small; give {relation} {minimum}")
    if value > maximum:
        raise BadInput(f"{field}: {text.strip()} is too large; give at most {maximum:,}")
    step = Decimal(1).scaleb(-places)
    if value != value.quantize(step):
        unit = "whole numbers" if places == 0 else f"at most {places} decimal places"
        raise BadInput(f"{field}: {text.strip()} has too many decimals; use {unit}")
    return value.quantize(step)


def parse_price(text: str, currency: str) -> Decimal:
    return parse_decimal(text, field="--price", places=currency_places(currency), example="1250.00")


def parse_quantity(text: str) -> Decimal:
    return parse_decimal(
        text,
        field="--qty",
        places=QTY_PLACES,
        example="3 or 2.5",
        maximum=Decimal(10) ** 9,
        allow_minimum=False,
    )


def parse_discount(text: str) -> Decimal:
    return parse_decimal(
        text.strip().removesuffix("%"),
        field="--discount",
        places=DISCOUNT_PLACES,
        example="10 or 12.5 (percent)",
        maximum=HUNDRED,
    )


def round_money(amount: Decimal, currency: str, mode: str = ROUND_HALF_UP) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-currency_places(currency)), rounding=mode)


@dataclass(frozen=True)
class Line:
    quantity: Decimal
    unit_price: Decimal
    discount_pct: Decimal = Decimal(0)
    product: str | None = None
    sku: str | None = None


@dataclass(frozen=True)
class LineAmounts:
    subtotal: Decimal  # quantity x unit price, rounded
    discount: Decimal  # subtotal x discount %, rounded
    total: Decimal  # subtotal - discount


@dataclass(frozen=True)
class Totals:
    lines: tuple[LineAmounts, ...]
    subtotal: Decimal
    discount: Decimal
    total: Decimal

    @property
    def discount_pct(self) -> Decimal:
        """The whole quote's effective discount, in percent (for display)."""
        if not self.subtotal:
            return Decimal(0)
        return (self.discount * HUNDRED / self.subtotal).quantize(Decimal("0.01"))


def line_amounts(line: Line, currency: str, mode: str = ROUND_HALF_UP) -> LineAmounts:
    subtotal = round_money(line.quantity * line.unit_price, currency, mode)
    discount = round_money(subtotal * line.discount_pct / HUNDRED, currency, mode)
    return LineAmounts(subtotal, discount, subtotal - discount)


def totals(lines: Sequence[Line], currency: str, mode: str = ROUND_HALF_UP) -> Totals:
    amounts = tuple(line_amounts(line, currency, mode) for line in lines)
    zero = round_money(Decimal(0), currency, mode)
    return Totals(
        amounts,
        sum((a.subtotal for a in amounts), zero),
        sum((a.discount for a in amounts), zero),
        sum((a.total for a in amounts), zero),
    )


@dataclass(frozen=True)
class ApprovalRules:
    max_discount: Decimal  # percent; a line discounted more needs approval
    max_total: Decimal  # in `currency`; a quote above it needs approval
    currency: str

    @classmethod
    def from_policy(cls, policy: Policy) -> ApprovalRules:
        settings = policy.quotes.approval
        return cls(
            policy_decimal(settings.max_discount),
            policy_decimal(settings.max_total),
            policy.quotes.currency,
        )


def approval_reasons(
    lines: Sequence[Line], quote_totals: Totals, currency: str, approval: ApprovalRules
) -> list[str]:
    """Why the quote needs approval (empty: it does not), each naming the policy key.

    Line discounts are the only discounts, so the quote's overall discount, a weighted
    average of them, can never exceed the largest line's: checking the lines covers it.
    """
    reasons = [
        f"line {number} discount {_pct(line.discount_pct)} is above "
        f"{_pct(approval.max_discount)} (policy quotes.approval.max_discount)"
        for number, line in enumerate(lines, start=1)
        if line.discount_pct > approval.max_discount
    ]
    if currency != approval.currency:
        # no exchange rates in the CRM: a foreign-currency total cannot be compared
        reasons.append(
            f"the total is in {currency}, not {approval.currency}, so it cannot be checked "
            f"against {approval.max_total:,} {approval.currency} (policy quotes.approval.max_total)"
        )
    elif quote_totals.total > approval.max_total:
        reasons.append(
            f"total {quote_totals.total:,} {currency} is above {approval.max_total:,} "
            f"{currency} (policy quotes.approval.max_total)"
        )
    return reasons


def _pct(value: Decimal) -> str:
    return f"{value.normalize():f}%"


def effective_status(status: str, valid_until: date, today: date) -> str:
    """The stored status, or `expired` once the valid-until day has passed."""
    return "expired" if status in EXPIRABLE and today > valid_until else status


# --- the quote.approval obligation ------------------------------------------------------


@dataclass(frozen=True)
class QuoteFacts:
    id: int
    number: str
    label: str  # whom it is for (a company, not a person: titles outlive `lead forget`)
    status: str
    submitted_at: datetime | None
    approval_needed: bool
    decided_at: datetime | None = None
    decided_by: str | None = None


@rule("quote", "quote.approval")
def quote_approval(quote: QuoteFacts, policy: Policy, calendar: BusinessCalendar) -> list[Due]:
    """A submitted quote that needs approval owes a decision (approve or reject) in time."""
    if quote.submitted_at is None or not quote.approval_needed:
        return []
    if quote.decided_at is None and quote.status != "submitted":
        return []  # no decision is owed any more (e.g. the rep took it back to draft)
    title = f"approve quote {quote.number}" + (f": {quote.label}" if quote.label else "")
    return [
        Due(
            "quote.approval",
            title,
            quote.submitted_at,
            due_after(policy, calendar, quote.submitted_at, "quote.approval"),
            key=quote.submitted_at.isoformat(),  # each submission owes its own decision
            met_at=quote.decided_at,
            met_by=quote.decided_by,
        )
    ]
