"""Quotes: lines, totals, the approval workflow, sending, acceptance with a PO.

Statuses: draft -> submitted -> approved | rejected -> sent -> accepted; any of draft,
submitted, approved and sent becomes `expired` once its valid-until day has passed (computed,
never stored, so the clock alone decides). Lines change only in draft; changing a rejected
quote takes it back to draft. Every change is audited as record type "quote".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import col, select

from crmcli.clock import parse_date
from crmcli.errors import BadInput, NotFound, NotPermitted, PolicyRefusal
from crmcli.roles import article, role_allows
from crmcli.rules import quotes as rules
from crmcli.rules.gates import check_move, is_outcome
from crmcli.rules.policy import QuoteApprovalSettings
from crmcli.services import scope
from crmcli.services.lookups import load_lead
from crmcli.services.workspace import Tx
from crmcli.store.models import Lead, Quote, QuoteApproval, QuoteLine, User

QUOTE_FIELDS = (
    "id",
    "number",
    "lead_id",
    "lead",
    "kind",
    "status",
    "currency",
    "valid_until",
    "subtotal",
    "discount",
    "discount_pct",
    "total",
    "approval_needed",
    "approval_reasons",
    "owner",
    "created_by",
    "created_at",
    "submitted_at",
    "submitted_by",
    "sent_at",
    "accepted_at",
    "po_number",
    "updated_at",
)
LIST_FIELDS = (
    "id",
    "number",
    "lead_id",
    "lead",
    "status",
    "currency",
    "total",
    "valid_until",
    "owner",
    "approval_needed",
)
LINE_FIELDS = (
    "line",
    "product",
    "sku",
    "quantity",
    "unit_price",
    "discount_pct",
    "subtotal",
    "discount",
    "total",
)
APPROVAL_FIELDS = ("decided_at", "decided_by", "decision", "reason")
_REF = re.compile(r"^(?:q-?)?0*(\d{1,9})$", re.IGNORECASE)


def number(quote_id: int) -> str:
    return f"Q-{quote_id:04d}"


def parse_ref(text: str | int, field: str = "QUOTE") -> int:
    """`7`, `Q-7`, `Q-0007` or `q0007` -> 7."""
    found = _REF.match(str(text).strip())
    if not found or int(found.group(1)) == 0:
        raise BadInput(f"{field}: {text!r} is not a quote number; write e.g. Q-0007 or 7")
    return int(found.group(1))


def load_quote(tx: Tx, ref: str | int, field: str = "QUOTE") -> Quote:
    """The quote, if it exists and its lead is in the acting user's scope (else NotFound)."""
    quote_id = parse_ref(ref, field)
    quote = tx.session.get(Quote, quote_id)
    lead = tx.session.get(Lead, quote.lead_id) if quote else None
    if quote is None or lead is None or not scope.in_scope(tx, lead.campaign_id):
        where = "" if field == "QUOTE" else f"{field}: "
        raise NotFound(
            f"{where}quote {number(quote_id)} not found; list quotes with: crm quote list"
        )
    return quote


def today(tx: Tx) -> date:
    return tx.now.astimezone(tx.policy.timezone).date()


def status_of(tx: Tx, quote: Quote) -> str:
    return rules.effective_status(quote.status, quote.valid_until, today(tx))


def _lines(tx: Tx, quote: Quote) -> list[QuoteLine]:
    query = select(QuoteLine).where(QuoteLine.quote_id == quote.id)
    return list(tx.session.exec(query.order_by(col(QuoteLine.position))))


def _rule_lines(lines: list[QuoteLine]) -> list[rules.Line]:
    return [
        rules.Line(line.quantity, line.unit_price, line.discount_pct, line.product, line.sku)
        for line in lines
    ]


def _totals(tx: Tx, quote: Quote, lines: list[QuoteLine]) -> rules.Totals:
    # a quote keeps the rounding it was made with: a later policy never changes its amounts
    mode = rules.ROUNDINGS[(quote.extra or {}).get("rounding", _policy_rounding(tx))]
    return rules.totals(_rule_lines(lines), quote.currency, mode)


def _policy_rounding(tx: Tx) -> str:
    return tx.policy.quotes.rounding


def _reasons(tx: Tx, quote: Quote, lines: list[QuoteLine]) -> list[str]:
    return rules.approval_reasons(
        _rule_lines(lines),
        _totals(tx, quote, lines),
        quote.currency,
        rules.ApprovalRules.from_policy(tx.policy),
    )


def _refuse(tx: Tx, quote: Quote, allowed: tuple[str, ...], doing: str, hint: str = "") -> str:
    """Refuse (exit 5) unless the quote's status is one of `allowed`; returns the status."""
    status = status_of(tx, quote)
    if status in allowed:
        return status
    why = {
        "expired": f"expired on {quote.valid_until.isoformat()} (its valid-until date); "
        f"quote again with: crm quote new {quote.lead_id}",
        "submitted": "awaiting approval",
        "accepted": f"accepted (PO {quote.po_number})",
    }.get(status, status)
    raise PolicyRefusal(
        f"quote {number(quote.id)} cannot {doing}: it is {why}"  # type: ignore[arg-type]
        + (f"; {hint}" if hint else "")
    )


def _touch(tx: Tx, quote: Quote, action: str, changes: dict[str, Any]) -> None:
    quote.updated_at = tx.now
    tx.session.add(quote)
    tx.session.flush()
    tx.audit("quote", quote.id, action, changes)
    refresh_quote(tx, quote)


# --- creating and filling quotes ---------------------------------------------------------


@dataclass
class NewQuote:
    quote: dict[str, Any]
    qualified: bool  # the lead became an opportunity on this quote
    not_qualified_because: str | None  # the gate that kept it a lead


def new_quote(
    tx: Tx, lead_id: int, *, valid_until: str | None = None, currency: str | None = None
) -> NewQuote:
    """A draft quote for a lead or opportunity. Quoting a lead qualifies it into an
    opportunity when the policy's gates allow; otherwise the quote attaches to the lead."""
    lead = load_lead(tx, lead_id)
    if is_outcome(tx.policy, lead.stage) or lead.status in ("won", "lost"):
        raise PolicyRefusal(
            f"lead {lead_id} is closed ({lead.stage}); quotes are for open leads and opportunities"
        )
    code = rules.check_currency(currency) if currency else tx.policy.quotes.currency
    until = _valid_until(tx, valid_until)
    qualified, why_not = _qualify(tx, lead)
    quote = Quote(
        lead_id=lead.id,  # type: ignore[arg-type]
        owner_id=lead.owner_id or tx.actor.id,
        currency=code,
        valid_until=until,
        created_by=tx.actor.name,
        created_at=tx.now,
        updated_at=tx.now,
        extra={"rounding": _policy_rounding(tx)},
    )
    tx.session.add(quote)
    tx.session.flush()
    tx.audit(
        "quote",
        quote.id,
        "create",
        {
            "lead_id": [None, lead.id],
            "status": [None, "draft"],
            "currency": [None, code],
            "valid_until": [None, until.isoformat()],
        },
    )
    return NewQuote(show(tx, quote.id), qualified, why_not)  # type: ignore[arg-type]


def _valid_until(tx: Tx, text: str | None) -> date:
    if text is None:
        return today(tx) + timedelta(days=tx.policy.quotes.valid_days)
    until = parse_date(text, field="--valid-until")
    if until < today(tx):
        raise BadInput(f"--valid-until: {until.isoformat()} has passed; give today or a later date")
    return until


def _qualify(tx: Tx, lead: Lead) -> tuple[bool, str | None]:
    """Move a lead to the qualifying stage through the normal gates, if they allow."""
    if lead.kind != "lead":
        return False, None
    from crmcli.services import pipeline

    target = tx.policy.pipeline.opportunity_from
    result = check_move(tx.policy, pipeline.gate_facts(tx, lead), target)
    if not result.allowed:
        return False, result.reasons[0]
    pipeline.advance(tx, lead.id, target, pipeline.Move())  # type: ignore[arg-type]
    return True, None


@dataclass
class LineInput:
    product: str | None
    sku: str | None
    quantity: str
    price: str
    discount: str | None = None


def add_line(tx: Tx, ref: str, line: LineInput) -> dict[str, Any]:
    quote = load_quote(tx, ref)
    product = " ".join((line.product or "").split()) or None
    sku = (line.sku or "").strip() or None
    if not product and not sku:
        raise BadInput("--product/--sku: say what is quoted with --product NAME or --sku SKU")
    quantity = rules.parse_quantity(line.quantity)
    price = rules.parse_price(line.price, quote.currency)
    discount = rules.parse_discount(line.discount) if line.discount is not None else Decimal(0)
    lines = _lines(tx, quote)
    added = QuoteLine(
        quote_id=quote.id,  # type: ignore[arg-type]
        position=len(lines) + 1,
        product=product,
        sku=sku,
        quantity=quantity,
        unit_price=price,
        discount_pct=discount,
    )
    _check_total(tx, quote, [*lines, added])
    reopened = _editable(tx, quote)
    tx.session.add(added)
    changes = {
        "line": [None, added.position],
        "product": [None, product],
        "sku": [None, sku],
        "quantity": [None, str(quantity)],
        "unit_price": [None, str(price)],
        "discount_pct": [None, str(discount)],
    }
    _retotal(tx, quote, [*lines, added], changes | reopened)
    return show(tx, quote.id)  # type: ignore[arg-type]


def remove_line(tx: Tx, ref: str, position: int) -> dict[str, Any]:
    quote = load_quote(tx, ref)
    lines = _lines(tx, quote)
    gone = next((line for line in lines if line.position == position), None)
    if gone is None:
        raise BadInput(
            f"--remove: quote {number(quote.id)} has no line {position}"  # type: ignore[arg-type]
            f" (it has {len(lines)}); see: crm quote show {number(quote.id)}"  # type: ignore[arg-type]
        )
    reopened = _editable(tx, quote)
    tx.session.delete(gone)
    kept = [line for line in lines if line is not gone]
    for new_position, line in enumerate(kept, start=1):
        line.position = new_position
        tx.session.add(line)
    changes = {
        "line": [position, None],
        "product": [gone.product, None],
        "sku": [gone.sku, None],
        "quantity": [str(gone.quantity), None],
        "unit_price": [str(gone.unit_price), None],
    }
    _retotal(tx, quote, kept, changes | reopened)
    return show(tx, quote.id)  # type: ignore[arg-type]


def _editable(tx: Tx, quote: Quote) -> dict[str, Any]:
    """Lines change only in draft; a rejected quote goes back to draft when changed."""
    status = _refuse(
        tx,
        quote,
        ("draft", "rejected"),
        "change its lines",
        "lines change only in draft (or after a rejection); quote again with: "
        f"crm quote new {quote.lead_id}",
    )
    if status == "rejected":
        quote.status = "draft"
        return {"status": ["rejected", "draft"]}
    return {}


def _check_total(tx: Tx, quote: Quote, lines: list[QuoteLine]) -> None:
    total = _totals(tx, quote, lines).subtotal
    if total > rules.MAX_AMOUNT:
        raise BadInput(
            f"--qty/--price: the quote would total {total:,} {quote.currency}, above the "
            f"{rules.MAX_AMOUNT:,} a quote can hold"
        )


def _retotal(tx: Tx, quote: Quote, lines: list[QuoteLine], changes: dict[str, Any]) -> None:
    amounts = _totals(tx, quote, lines)
    before = (quote.subtotal, quote.discount, quote.total)
    quote.subtotal, quote.discount, quote.total = amounts.subtotal, amounts.discount, amounts.total
    if before[2] != quote.total:
        changes["total"] = [str(before[2]), str(quote.total)]
    _touch(tx, quote, "line", changes)


# --- the approval workflow ---------------------------------------------------------------


def submit(tx: Tx, ref: str) -> dict[str, Any]:
    """Lock the lines; a quote the policy lets through is approved at once, one that needs
    approval waits for an approver (and owes the quote.approval obligation)."""
    quote = load_quote(tx, ref)
    status = _refuse(tx, quote, ("draft", "rejected"), "be submitted")
    lines = _lines(tx, quote)
    if not lines:
        raise PolicyRefusal(
            f"quote {number(quote.id)} has no lines; add one with: "  # type: ignore[arg-type]
            f"crm quote line {number(quote.id)} --product NAME --qty N --price AMOUNT"  # type: ignore[arg-type]
        )
    reasons = _reasons(tx, quote, lines)
    quote.approval_needed, quote.approval_reasons = bool(reasons), reasons
    quote.submitted_at, quote.submitted_by = tx.now, tx.actor.name
    quote.status = "submitted" if reasons else "approved"
    _touch(
        tx,
        quote,
        "submit",
        {
            "status": [status, quote.status],
            "approval_needed": [None, bool(reasons)],
            "approval_reasons": [None, reasons],
        },
    )
    if reasons:  # it waits: everyone who may decide finds it in `crm inbox`
        from crmcli.services.inbox import quote_waiting

        lead = tx.session.get(Lead, quote.lead_id)
        label = number(quote.id) + (f" for {lead.company}" if lead and lead.company else "")  # type: ignore[arg-type]
        quote_waiting(tx, quote, approvers(tx, quote), label)
    return show(tx, quote.id)  # type: ignore[arg-type]


def decide(tx: Tx, ref: str, decision: str, reason: str) -> dict[str, Any]:
    """An approver approves or rejects a submitted quote, with a reason."""
    quote = load_quote(tx, ref)
    reason = " ".join((reason or "").split())
    if not reason:
        raise BadInput(f"--reason: say why the quote is {decision}")
    _check_approver(tx, quote)
    # an expired quote can still be rejected (it clears the approver's queue), not approved
    allowed = ("submitted", "expired") if decision == "rejected" else ("submitted",)
    _refuse(tx, quote, allowed, "be " + decision, _decision_hint(quote))
    if quote.status != "submitted":
        raise PolicyRefusal(
            f"quote {number(quote.id)} cannot be {decision}: it was never submitted"  # type: ignore[arg-type]
        )
    tx.session.add(
        QuoteApproval(
            quote_id=quote.id,  # type: ignore[arg-type]
            decision=decision,
            reason=reason,
            decided_by=tx.actor.name,
            decided_at=tx.now,
            submitted_at=quote.submitted_at,
        )
    )
    quote.status = decision
    _touch(
        tx,
        quote,
        {"approved": "approve", "rejected": "reject"}[decision],
        {"status": ["submitted", decision], "reason": [None, reason]},
    )
    from crmcli.services.inbox import QUOTE_APPROVAL, settle

    settle(
        tx,
        kind=QUOTE_APPROVAL,
        record_type="quote",
        record_id=quote.id,  # type: ignore[arg-type]
        reason=f"{decision} by {tx.actor.name}",
    )
    return show(tx, quote.id)  # type: ignore[arg-type]


def _decision_hint(quote: Quote) -> str:
    if quote.status == "draft":
        return f"submit it first: crm quote submit {number(quote.id)}"  # type: ignore[arg-type]
    return ""


def _approval_settings(tx: Tx) -> QuoteApprovalSettings:
    return tx.policy.quotes.approval


def _check_approver(tx: Tx, quote: Quote) -> None:
    settings = _approval_settings(tx)
    actor = tx.actor
    named = actor.name in settings.approvers
    if not (named or role_allows(actor.role, settings.approver_role)):
        raise NotPermitted(
            f"approving quotes needs the {settings.approver_role} role or a place in policy "
            f"quotes.approval.approvers; {actor.name} is {article(actor.role)}"
        )
    if not settings.self_approval and actor.name in _interested(tx, quote):
        raise PolicyRefusal(
            f"{actor.name} submitted or owns quote {number(quote.id)}; another approver "  # type: ignore[arg-type]
            "must decide (policy quotes.approval.self_approval is off)"
        )


def _interested(tx: Tx, quote: Quote) -> set[str]:
    """Who may not approve the quote without self-approval: its submitter and owner."""
    names = {quote.submitted_by} if quote.submitted_by else set()
    owner = tx.session.get(User, quote.owner_id) if quote.owner_id else None
    if owner is not None:
        names.add(owner.name)
    return names


def approvers(tx: Tx, quote: Quote) -> list[User]:
    """Who may decide the quote: the named approvers (editors or admins) in the policy's
    order, then the users (by id) with the approver role; never its submitter or owner
    without self-approval."""
    settings = _approval_settings(tx)
    excluded = set() if settings.self_approval else _interested(tx, quote)
    users = tx.session.exec(select(User).where(User.active).order_by(col(User.id))).all()
    by_name = {user.name: user for user in users}
    named = [by_name[name] for name in settings.approvers if name in by_name]
    found = [u for u in named if u.name not in excluded and role_allows(u.role, "editor")]
    role = settings.approver_role
    found += [
        u for u in users if role_allows(u.role, role) and u.name not in excluded and u not in found
    ]
    return found


def approval_owner(tx: Tx, quote: Quote) -> int | None:
    """Who owns the quote.approval deadline: the first named approver who may decide, else
    the first user (by id) with the approver role who may; else the quote's owner."""
    found = approvers(tx, quote)
    return found[0].id if found else quote.owner_id


def send(tx: Tx, ref: str) -> dict[str, Any]:
    """Mark the quote sent to the customer: an approved quote, or a draft the policy lets
    through without approval (refused, exit 5, while an approval is needed and missing)."""
    quote = load_quote(tx, ref)
    label = number(quote.id)  # type: ignore[arg-type]
    status = status_of(tx, quote)
    changes: dict[str, Any] = {}
    if status == "draft":
        lines = _lines(tx, quote)
        if not lines:
            raise PolicyRefusal(f"quote {label} has no lines; add one with: crm quote line {label}")
        reasons = _reasons(tx, quote, lines)
        if reasons:
            raise PolicyRefusal(
                f"quote {label} needs approval before it is sent: {reasons[0]}; submit it: "
                f"crm quote submit {label}",
                details=[f"  also: {r}" for r in reasons[1:]],
            )
        quote.approval_needed, quote.approval_reasons = False, []
        quote.submitted_at, quote.submitted_by = tx.now, tx.actor.name
        changes["approval_needed"] = [None, False]
    elif status == "submitted":
        raise PolicyRefusal(
            f"quote {label} needs approval before it is sent and has none yet: "
            f"{(quote.approval_reasons or ['see crm quote show'])[0]}; an approver runs: "
            f"crm quote approve {label} --reason TEXT"
        )
    else:
        _refuse(
            tx,
            quote,
            ("approved",),
            "be sent",
            f"change it and submit again: crm quote submit {label}" if status == "rejected" else "",
        )
    changes["status"] = [quote.status, "sent"]
    quote.status, quote.sent_at, quote.sent_by = "sent", tx.now, tx.actor.name
    _touch(tx, quote, "send", changes)
    return show(tx, quote.id)  # type: ignore[arg-type]


@dataclass
class Accepted:
    quote: dict[str, Any]
    closed: dict[str, Any] | None  # the pipeline move, when the opportunity was closed


def accept(tx: Tx, ref: str, po_number: str, *, close: bool = True) -> Accepted:
    """Record the customer's order (its PO number) on a sent quote and, unless told not to,
    close the opportunity as won through the pipeline's normal gate."""
    quote = load_quote(tx, ref)
    po = " ".join((po_number or "").split())
    if not po:
        raise BadInput("--po: give the customer's purchase order number, e.g. --po PO-4471")
    label = number(quote.id)  # type: ignore[arg-type]
    _refuse(tx, quote, ("sent",), "be accepted", f"send it first: crm quote send {label}")
    quote.status, quote.accepted_at, quote.po_number = "accepted", tx.now, po
    _touch(tx, quote, "accept", {"status": ["sent", "accepted"], "po_number": [None, po]})
    closed = _close_won(tx, quote, po) if close else None
    return Accepted(show(tx, quote.id), closed)  # type: ignore[arg-type]


def _close_won(tx: Tx, quote: Quote, po: str) -> dict[str, Any] | None:
    from crmcli.services import pipeline

    lead = load_lead(tx, quote.lead_id)
    won = next((s["key"] for s in tx.policy.stages if s.get("outcome") == "won"), None)
    if won is None or lead.stage == won:
        return None
    amount = quote.total if quote.currency == tx.policy.quotes.currency else None
    try:
        return pipeline.advance(
            tx,
            lead.id,
            won,
            pipeline.Move(po_number=po, amount=amount),  # type: ignore[arg-type]
        )
    except PolicyRefusal as exc:
        raise PolicyRefusal(
            f"{exc.message}; the quote was not accepted. Move the opportunity on first, or "
            f"record the order only with: crm quote accept {number(quote.id)} --po {po} "  # type: ignore[arg-type]
            "--no-close",
            details=exc.details,
        ) from None


def example_quote(
    tx: Tx, lead: Lead, *, price: Decimal, status: str, po: str | None, discount: int = 0
) -> str:
    """A quote as the example data needs it (crm init --example): one line, already in
    `status`, as if it had been through the workflow. Returns its number."""
    owner = tx.session.get(User, lead.owner_id) if lead.owner_id else None
    by = owner.name if owner else tx.actor.name  # the rep made and submitted it
    quote = Quote(
        lead_id=lead.id,  # type: ignore[arg-type]
        owner_id=lead.owner_id,
        status=status,
        currency=tx.policy.quotes.currency,
        valid_until=_valid_until(tx, None),
        submitted_at=lead.stage_entered_at,
        submitted_by=by,
        sent_at=lead.stage_entered_at if status in ("sent", "accepted") else None,
        accepted_at=tx.now if status == "accepted" else None,
        po_number=po if status == "accepted" else None,
        created_by=by,
        created_at=lead.stage_entered_at or tx.now,
        updated_at=tx.now,
        extra={"rounding": _policy_rounding(tx)},
    )
    tx.session.add(quote)
    tx.session.flush()
    line = QuoteLine(
        quote_id=quote.id,  # type: ignore[arg-type]
        position=1,
        product="Annual subscription",
        sku="SUB-1Y",
        quantity=Decimal(1),
        unit_price=price,
        discount_pct=Decimal(discount),
    )
    tx.session.add(line)
    amounts = _totals(tx, quote, [line])
    quote.subtotal, quote.discount, quote.total = amounts.subtotal, amounts.discount, amounts.total
    quote.approval_reasons = _reasons(tx, quote, [line])
    quote.approval_needed = bool(quote.approval_reasons)
    tx.session.add(quote)
    tx.session.flush()
    tx.audit("quote", quote.id, "create", {"lead_id": [None, lead.id], "status": [None, status]})
    refresh_quote(tx, quote)
    return number(quote.id)  # type: ignore[arg-type]


# --- reading -----------------------------------------------------------------------------


def _lead_label(lead: Lead | None) -> str | None:
    if lead is None:
        return None
    name = f"{lead.first_name} {lead.last_name}".strip()
    return ", ".join(part for part in (name, lead.company) if part) or None


def _row(tx: Tx, quote: Quote, lead: Lead | None, owner: str | None) -> dict[str, Any]:
    places = Decimal(1).scaleb(-rules.currency_places(quote.currency))
    subtotal, discount = quote.subtotal.quantize(places), quote.discount.quantize(places)
    return {
        "id": quote.id,
        "number": number(quote.id),  # type: ignore[arg-type]
        "lead_id": quote.lead_id,
        "lead": _lead_label(lead),
        "kind": lead.kind if lead else None,
        "status": status_of(tx, quote),
        "currency": quote.currency,
        "valid_until": quote.valid_until.isoformat(),
        "subtotal": subtotal,
        "discount": discount,
        "discount_pct": (discount * 100 / subtotal).quantize(Decimal("0.01"))
        if subtotal
        else Decimal("0.00"),
        "total": quote.total.quantize(places),
        "approval_needed": quote.approval_needed if quote.submitted_at else None,
        "approval_reasons": list(quote.approval_reasons or []),
        "owner": owner,
        "created_by": quote.created_by,
        "created_at": quote.created_at,
        "submitted_at": quote.submitted_at,
        "submitted_by": quote.submitted_by,
        "sent_at": quote.sent_at,
        "accepted_at": quote.accepted_at,
        "po_number": quote.po_number,
        "updated_at": quote.updated_at,
    }


def _plain(value: Decimal) -> Decimal:
    """3.000 -> 3, 2.500 -> 2.5: a quantity as people write it."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def show(tx: Tx, ref: str | int) -> dict[str, Any]:
    """A quote with its lines (and their rounded amounts) and its approval decisions."""
    quote = load_quote(tx, ref)
    lead = tx.session.get(Lead, quote.lead_id)
    owner = tx.session.get(User, quote.owner_id) if quote.owner_id else None
    record = _row(tx, quote, lead, owner.name if owner else None)
    lines = _lines(tx, quote)
    amounts = _totals(tx, quote, lines)
    record["lines"] = [
        {
            "line": line.position,
            "product": line.product,
            "sku": line.sku,
            "quantity": _plain(line.quantity),
            "unit_price": rules.round_money(line.unit_price, quote.currency),
            "discount_pct": line.discount_pct,
            "subtotal": amount.subtotal,
            "discount": amount.discount,
            "total": amount.total,
        }
        for line, amount in zip(lines, amounts.lines, strict=True)
    ]
    if status_of(tx, quote) in ("draft", "rejected") and lines:
        # what submitting now would ask for, so the rep sees it before submitting
        record["approval_reasons"] = _reasons(tx, quote, lines)
    decisions = tx.session.exec(
        select(QuoteApproval)
        .where(QuoteApproval.quote_id == quote.id)
        .order_by(col(QuoteApproval.id))
    )
    record["approvals"] = [
        {
            "decided_at": d.decided_at,
            "decided_by": d.decided_by,
            "decision": d.decision,
            "reason": d.reason,
        }
        for d in decisions
    ]
    return record


def list_quotes(
    tx: Tx, *, status: str | None = None, lead_id: int | None = None, leads: Any = None
) -> list[dict[str, Any]]:
    """Quotes, optionally of one lead (checked: exit 3 when unknown) or of the leads a
    SELECT of lead ids names (the account view)."""
    if status is not None and status not in rules.STATUSES:
        raise BadInput(f"--status: {status!r} is not a status; use {', '.join(rules.STATUSES)}")
    query = (
        select(Quote, Lead, User.name)
        .join(Lead, col(Lead.id) == Quote.lead_id)
        .outerjoin(User, col(User.id) == Quote.owner_id)
        .order_by(col(Quote.id))
    )
    if lead_id is not None:
        load_lead(tx, lead_id)
        query = query.where(Quote.lead_id == lead_id)
    if leads is not None:
        query = query.where(col(Quote.lead_id).in_(leads))
    query = scope.scoped(tx, query)
    rows = [_row(tx, quote, lead, owner) for quote, lead, owner in tx.session.exec(query)]
    return [row for row in rows if status is None or row["status"] == status]


# --- obligations and the pipeline --------------------------------------------------------


def quote_facts(tx: Tx, quote: Quote) -> rules.QuoteFacts:
    decision = None
    if quote.submitted_at is not None:
        decision = tx.session.exec(
            select(QuoteApproval)
            .where(
                QuoteApproval.quote_id == quote.id,
                QuoteApproval.submitted_at == quote.submitted_at,
            )
            .order_by(col(QuoteApproval.id).desc())
            .limit(1)
        ).first()
    lead = tx.session.get(Lead, quote.lead_id)
    return rules.QuoteFacts(
        id=quote.id,  # type: ignore[arg-type]
        number=number(quote.id),  # type: ignore[arg-type]
        # the company, never the person: obligation titles outlive `lead forget`
        label=(lead.company if lead and lead.company else f"lead {quote.lead_id}"),
        status=quote.status,
        submitted_at=quote.submitted_at,
        approval_needed=quote.approval_needed,
        decided_at=decision.decided_at if decision else None,
        decided_by=decision.decided_by if decision else None,
    )


def refresh_quote(tx: Tx, quote: Quote) -> None:
    from crmcli.rules.obligations import obligations
    from crmcli.services.obligations import sync

    due = obligations("quote", quote_facts(tx, quote), tx.policy, tx.calendar)
    sync(tx, "quote", quote.id, due, owner_id=approval_owner(tx, quote))  # type: ignore[arg-type]


def refresh_all_quotes(tx: Tx) -> int:
    """Recompute every quote's obligations (after a policy change); returns how many."""
    count = 0
    submitted = select(Quote).where(col(Quote.submitted_at).is_not(None))
    for quote in tx.session.exec(submitted.order_by(col(Quote.id))).all():
        refresh_quote(tx, quote)
        count += 1
    return count


PRICING_ACTIONS = ("submit", "approve", "send", "accept")


def priced_quotes(tx: Tx, lead_id: int) -> list[Any]:
    """The lead's quotes as `rules.deals.quote_amount` weighs them, newest first, each with
    the audit event that last priced it."""
    from sqlalchemy import func

    from crmcli.rules.deals import PricedQuote
    from crmcli.store.models import AuditEvent

    quotes = tx.session.exec(
        select(Quote).where(Quote.lead_id == lead_id).order_by(col(Quote.id).desc())
    ).all()
    priced = dict(
        tx.session.exec(
            select(AuditEvent.record_id, func.max(AuditEvent.id))
            .where(
                AuditEvent.record_type == "quote",
                col(AuditEvent.record_id).in_([q.id for q in quotes]),
                col(AuditEvent.action).in_(PRICING_ACTIONS),
            )
            .group_by(col(AuditEvent.record_id))
        ).all()
    )
    return [
        PricedQuote(number(q.id), status_of(tx, q), q.total, q.currency, priced.get(q.id, 0))  # type: ignore[arg-type]
        for q in quotes
    ]


@dataclass(frozen=True)
class GateQuote:
    ref: str | None  # the number of the lead's submitted-or-later quote
    po_number: str | None  # the PO of its accepted quote


def gate_quote(tx: Tx, lead_id: int, named: str | None = None) -> GateQuote:
    """What the lead's real quotes give its stage gates (seed 002: every quote is in the
    CRM): a quote past draft for Proposal, an accepted quote's PO for Closed Won. `named`
    (advance --quote) must be one of the lead's quotes, past draft."""
    quotes = tx.session.exec(
        select(Quote).where(Quote.lead_id == lead_id).order_by(col(Quote.id).desc())
    ).all()
    po = next((q.po_number for q in quotes if q.status == "accepted" and q.po_number), None)
    if named is None:
        ready = (q for q in quotes if status_of(tx, q) in rules.PRESENTED)
        found = next(ready, None)
        return GateQuote(number(found.id) if found else None, po)  # type: ignore[arg-type]
    quote = load_quote(tx, named, "--quote")
    label = number(quote.id)  # type: ignore[arg-type]
    if quote.lead_id != lead_id:
        raise BadInput(
            f"--quote: {label} is a quote of lead {quote.lead_id}, not of lead {lead_id}; "
            f"see: crm quote list --lead {lead_id}"
        )
    status = status_of(tx, quote)
    if status not in rules.PRESENTED:
        raise PolicyRefusal(
            f"stage gate: --quote {label} is {status}; the policy's quote requirement counts "
            "only submitted, approved, sent or accepted quotes"
            + (f": crm quote submit {label}" if status in ("draft", "rejected") else "")
        )
    return GateQuote(label, po)
