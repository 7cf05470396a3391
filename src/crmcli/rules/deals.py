"""Opportunity fields a rep keeps right (issue 18): amount, close date, probability, which
quote a deal is worth, and what counts as its weekly update. Pure: no database, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from crmcli.errors import BadInput
from crmcli.rules.policy import Policy

# the largest amount a deal may have: far above any real deal, far below what the
# database's whole cents can hold (hostile input is bad input, never an overflow)
MAX_AMOUNT = Decimal("1000000000000")
# quote statuses whose total the customer has seen approved: the deal is worth it
PRICED = ("accepted", "sent", "approved")


def parse_amount(text: str, *, field: str = "--amount") -> Decimal:
    """A deal value as typed ("18,500.50"): exact, not negative, at most 2 decimals."""
    hint = "write e.g. 12500.00"
    try:
        value = Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        raise BadInput(f"{field}: {text!r} is not an amount; {hint}") from None
    if not value.is_finite():
        raise BadInput(f"{field}: {text!r} is not an amount; {hint}")
    if value < 0:
        raise BadInput(f"{field}: must not be negative")
    if value >= MAX_AMOUNT:
        raise BadInput(f"{field}: {text!r} is too large; give the deal's value, e.g. 12500.00")
    cents = value.quantize(Decimal("0.01"))
    if value != cents:
        raise BadInput(f"{field}: {text!r} has more than 2 decimals; round it to cents")
    return cents


def check_close_date(value: date, today: date, *, field: str = "--close-date") -> date:
    """A close date is when the deal is expected to close: today or later."""
    if value < today:
        raise BadInput(
            f"{field}: {value.isoformat()} is in the past (today is {today.isoformat()}); "
            "give the date the deal is now expected to close"
        )
    return value


def parse_probability(text: str | int, *, field: str = "--probability") -> int:
    """A win probability in whole percent, 0-100 ("60" or "60%")."""
    raw = str(text).strip().removesuffix("%").strip()
    if not raw.isdigit() or int(raw) > 100:
        raise BadInput(f"{field}: {text!r} is not a percentage; give a whole number 0-100")
    return int(raw)


@dataclass(frozen=True)
class PricedQuote:
    number: str
    status: str  # as the clock reads it (expired ones are not priced)
    total: Decimal
    currency: str
    priced_event: int = 0  # the audit event that last submitted, approved, sent or accepted it


def quote_amount(
    quotes: Sequence[PricedQuote], currency: str, *, amount_event: int | None = None
) -> PricedQuote | None:
    """The quote a deal is worth: the newest accepted one, else the newest sent or approved
    one, in the policy's currency (no exchange rates to convert another); None when the
    deal's amount was set by hand (audit event `amount_event`) after that quote was priced:
    the rep's figure then stands. `quotes` newest first."""
    usable = [q for q in quotes if q.currency == currency and q.status in PRICED]
    found = next((q for q in usable if q.status == "accepted"), usable[0] if usable else None)
    if found is None or (amount_event is not None and amount_event > found.priced_event):
        return None
    return found


def priced_from(policy: Policy, target: str) -> bool:
    """Whether a move into `target` enters or passes the first stage that requires a quote
    (then the deal is worth its quote): never for a lost outcome."""
    keys = policy.stage_keys()
    quoted = [i for i, s in enumerate(policy.stages) if "quote" in s.get("requires", [])]
    if not quoted or target not in keys:
        return False
    stage = policy.stages[keys.index(target)]
    return stage.get("outcome") != "lost" and keys.index(target) >= quoted[0]


def is_weekly_update(
    *, next_step_dues: Iterable[datetime], close_date: date | None, now: datetime, today: date
) -> bool:
    """An activity or edit is the opportunity's weekly update (seed 002: "updated weekly with
    a clear Next Step and realistic Close Date") only if it leaves both a next step scheduled
    ahead and a close date not in the past."""
    has_next_step = any(due >= now for due in next_step_dues)
    return has_next_step and close_date is not None and close_date >= today
