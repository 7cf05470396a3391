"""Moving leads through the pipeline: gates, stage history, conversion to opportunity."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlmodel import col, select

from crmcli.errors import BadInput, PolicyRefusal
from crmcli.rules import deals, dedupe
from crmcli.rules.gates import (
    GateFacts,
    check_move,
    is_outcome,
    next_stage,
    normalise_type,
    opportunity_types,
    type_required,
)
from crmcli.services import audit, stage_facts
from crmcli.services.lookups import load_lead
from crmcli.services.obligations import open_obligations, refresh_lead
from crmcli.services.workspace import Tx
from crmcli.store.models import (
    Account,
    Activity,
    Contact,
    Lead,
    Obligation,
    ScoreEvent,
    StageChange,
)


@dataclass
class Move:
    """Values a user may give with `crm advance`."""

    po_number: str | None = None
    lost_reason: str | None = None
    quote_ref: str | None = None
    close_date: date | None = None
    amount: Decimal | None = None
    prospect_said_no: bool = False
    type: str | None = None  # opportunity type (seed 004)
    extra: dict[str, Any] = field(default_factory=dict)


def gate_facts(tx: Tx, lead: Lead, move: Move | None = None) -> GateFacts:
    move = move or Move()
    open_task = tx.session.exec(
        select(Activity.id).where(
            Activity.lead_id == lead.id, Activity.type == "task", Activity.status == "open"
        )
    ).first()
    from crmcli.services.quotes import gate_quote

    # the quote gate counts only real quotes in the CRM (seed 002), never a typed reference
    quote = gate_quote(tx, lead.id, move.quote_ref)  # type: ignore[arg-type]
    return GateFacts(
        stage=lead.stage,
        score=lead.score,
        quote_ref=quote.ref,
        po_number=move.po_number or lead.po_number or quote.po_number,
        lost_reason=move.lost_reason or lead.lost_reason,
        has_next_step=open_task is not None,
        prospect_said_no=move.prospect_said_no or lead.prospect_said_no,
        amount=move.amount if move.amount is not None else lead.amount,
    )


def _check_stage(tx: Tx, stage: str) -> str:
    keys = tx.policy.stage_keys()
    if stage not in keys:
        raise BadInput(
            f"STAGE: {stage!r} is not a stage of the policy; use one of {', '.join(keys)}"
        )
    return stage


NURTURE = "nurture"  # not a stage: a status that takes a record out of the active pipeline


def advance(tx: Tx, lead_id: int, stage: str, move: Move) -> dict[str, Any]:
    lead = load_lead(tx, lead_id)
    if stage == NURTURE and NURTURE not in tx.policy.stage_keys():
        return nurture(tx, lead, reason="moved to nurture (crm advance)")
    target = _check_stage(tx, stage)
    if move.amount is not None and move.amount < 0:
        raise BadInput("--amount: must not be negative")
    from crmcli.services.quotes import priced_quotes, today

    if move.close_date is not None:
        deals.check_close_date(move.close_date, today(tx))
    if lead.stage == target:
        hint = ""
        if lead.kind == "opportunity" and not is_outcome(tx.policy, target):
            hint = f"; change its amount or close date with: crm lead edit {lead_id} --amount …"
        raise BadInput(f"STAGE: lead {lead_id} is already in {target}{hint}")
    kind = normalise_type(tx.policy, move.type) if move.type is not None else None
    priced = None
    if move.amount is None and deals.priced_from(tx.policy, target):
        # past the stage that needs a quote, the deal is worth its quote (issue 18)
        currency = tx.policy.quotes.currency
        priced = deals.quote_amount(
            priced_quotes(tx, lead.id),  # type: ignore[arg-type]
            currency,
            amount_event=_amount_event(tx, lead.id),  # type: ignore[arg-type]
        )
        if priced is not None:
            move.amount = priced.total
    facts = gate_facts(tx, lead, move)
    result = check_move(tx.policy, facts, target)
    if not result.allowed:
        raise PolicyRefusal(
            f"stage gate: lead {lead_id} cannot enter {target}: {result.reasons[0]}",
            details=[f"  also: {r}" for r in result.reasons[1:]],
        )
    if kind is None and type_required(tx.policy, target):
        allowed = opportunity_types(tx.policy)
        if lead.type not in allowed:
            raise PolicyRefusal(
                f"stage gate: lead {lead_id} cannot enter {target}: an opportunity needs a "
                f"type (policy pipeline.opportunity_types); give --type with one of "
                f"{', '.join(allowed)}"
            )
    requires = (tx.policy.stage(target) or {}).get("requires", [])
    if "quote" in requires:
        move.quote_ref = facts.quote_ref  # the quote the proposal rests on
    if "po_number" in requires and not move.po_number:
        move.po_number = facts.po_number  # e.g. the PO of an accepted quote
    before = _snapshot(lead)
    if kind is not None:
        lead.type = kind
    for name in ("po_number", "lost_reason", "quote_ref", "close_date", "amount"):
        value = getattr(move, name)
        if value is not None:
            setattr(lead, name, value)
    if move.prospect_said_no:
        lead.prospect_said_no = True
    reactivated = lead.status == NURTURE and not is_outcome(tx.policy, target)
    spent = int((tx.now - lead.stage_entered_at).total_seconds()) if lead.stage_entered_at else None
    tx.session.add(
        StageChange(
            lead_id=lead.id,
            from_stage=lead.stage,
            to_stage=target,
            seconds_in_from=spent,
            at=tx.now,
            actor=tx.actor.name,
        )
    )
    lead.stage, lead.stage_entered_at, lead.updated_at = target, tx.now, tx.now
    if reactivated:  # a nurtured record moved on is back in the active pipeline
        if lead.kind == "opportunity":
            lead.status = "qualified"
        else:
            lead.status = "contacted" if lead.first_response_at else "new"
    converted = update_status(tx, lead)
    tx.session.add(lead)
    stage_facts.refresh_session(tx.session, [lead.id])
    changes = audit.diff(before, _snapshot(lead))
    if result.skipped:
        changes["skipped"] = [None, list(result.skipped)]
    tx.audit("lead", lead.id, "advance", changes)
    refresh_lead(tx, lead)
    from crmcli.services.accounts import lead_changed

    lead_changed(tx, lead)  # a won account starts onboarding; a renewal may be opened
    return _moved(lead, spent, list(result.skipped), converted, priced)


def _amount_event(tx: Tx, lead_id: int) -> int | None:
    """The audit event that last set the lead's amount (by hand, or from a quote)."""
    from crmcli.store.models import AuditEvent

    events = tx.session.exec(
        select(AuditEvent.id, AuditEvent.changes)
        .where(AuditEvent.record_type == "lead", AuditEvent.record_id == lead_id)
        .order_by(col(AuditEvent.id).desc())
    )
    return next((event_id for event_id, changes in events if "amount" in changes), None)


def _moved(
    lead: Lead,
    spent: int | None,
    skipped: list[str],
    converted: bool,
    priced: deals.PricedQuote | None,
) -> dict[str, Any]:
    """What `advance` reports of a move."""
    return {
        "id": lead.id,
        "stage": lead.stage,
        "status": lead.status,
        "kind": lead.kind,
        "type": lead.type,
        "seconds_in_previous_stage": spent,
        "skipped": skipped,
        "converted": converted,
        "account_id": lead.account_id,
        "contact_id": lead.contact_id,
        "amount": None if lead.amount is None else lead.amount.quantize(Decimal("0.01")),
        "amount_from": priced.number if priced is not None else None,
    }


def nurture(tx: Tx, lead: Lead, *, reason: str) -> dict[str, Any]:
    """Take a record out of the active pipeline into the nurture program (what the stale rule
    suggests): its stage stays, its status becomes nurture; audited with the reason."""
    if is_outcome(tx.policy, lead.stage) or lead.status in ("won", "lost"):
        raise PolicyRefusal(
            f"lead {lead.id} is closed ({lead.stage}); closed records do not move to nurture"
        )
    if lead.status == NURTURE:
        raise BadInput(f"STAGE: lead {lead.id} is already in nurture")
    old, lead.status, lead.updated_at = lead.status, NURTURE, tx.now
    tx.session.add(lead)
    tx.audit("lead", lead.id, "update", {"status": [old, NURTURE], "reason": [None, reason]})
    refresh_lead(tx, lead)
    return _moved(lead, None, [], False, None)


def _snapshot(lead: Lead) -> dict[str, Any]:
    return {
        name: getattr(lead, name)
        for name in (
            "stage",
            "status",
            "kind",
            "type",
            "po_number",
            "lost_reason",
            "quote_ref",
            "close_date",
            "amount",
            "prospect_said_no",
            "account_id",
            "contact_id",
        )
    }


def update_status(tx: Tx, lead: Lead) -> bool:
    """Status and kind follow the stage; returns True when the lead became an opportunity."""
    stage = tx.policy.stage(lead.stage) or {}
    if stage.get("outcome"):
        lead.status = stage["outcome"]
    keys = tx.policy.stage_keys()
    qualifying = keys.index(tx.policy.pipeline.opportunity_from)
    if stage.get("outcome") == "lost":
        return False  # a lead lost before it qualified stays a lead: no account, no contact
    if lead.kind == "lead" and lead.stage in keys and keys.index(lead.stage) >= qualifying:
        lead.kind = "opportunity"
        if not stage.get("outcome"):
            lead.status = "qualified"
        _link_account_and_contact(tx, lead)
        return True
    return False


def _link_account_and_contact(tx: Tx, lead: Lead) -> None:
    """Odoo-style conversion: the opportunity gets an account and a contact, matched or new."""
    from crmcli.services.accounts import by_name_key
    from crmcli.services.contacts import refresh_contact

    account = by_name_key(tx, lead.company)  # indexed on the normalised name
    if account is None and lead.company:
        account = Account(
            name=lead.company,
            name_key=dedupe.company_key(lead.company),
            industry=lead.industry,
            country=lead.country,
            region=lead.region,
            owner_id=lead.owner_id,
            created_at=tx.now,
            updated_at=tx.now,
        )
        tx.session.add(account)
        tx.session.flush()
        tx.audit(
            "account",
            account.id,
            "create",
            {"name": [None, account.name], "from_lead": [None, lead.id]},
        )
    contact = None
    conditions = [
        c
        for c in (
            col(Contact.email) == lead.email if lead.email else None,
            col(Contact.phone) == lead.phone if lead.phone else None,
        )
        if c is not None
    ]
    if conditions:
        from sqlalchemy import or_

        contact = tx.session.exec(select(Contact).where(or_(*conditions))).first()
    if contact is None:
        contact = Contact(
            account_id=account.id if account else None,
            first_name=lead.first_name,
            last_name=lead.last_name,
            title=lead.title,
            email=lead.email,
            phone=lead.phone,
            verified_at=tx.now,
            created_at=tx.now,
            updated_at=tx.now,
        )
        tx.session.add(contact)
        tx.session.flush()
        tx.audit(
            "contact",
            contact.id,
            "create",
            {
                "name": [None, f"{lead.first_name} {lead.last_name}".strip()],
                "account_id": [None, contact.account_id],
                "from_lead": [None, lead.id],
            },
        )
        refresh_contact(tx, contact)
    lead.account_id = account.id if account else None
    lead.contact_id = contact.id


def stage_history(tx: Tx, lead_id: int) -> list[dict[str, Any]]:
    rows = tx.session.exec(
        select(StageChange).where(StageChange.lead_id == lead_id).order_by(col(StageChange.id))
    )
    return [
        {
            "at": r.at,
            "from": r.from_stage,
            "to": r.to_stage,
            "seconds_in_from": r.seconds_in_from,
            "actor": r.actor,
        }
        for r in rows
    ]


def explain(tx: Tx, lead_id: int) -> dict[str, Any]:
    """Why a lead stands where it does: score terms, band, obligations, the next gate."""
    lead = load_lead(tx, lead_id)
    policy = tx.policy
    latest = tx.session.exec(
        select(ScoreEvent)
        .where(ScoreEvent.lead_id == lead_id)
        .order_by(col(ScoreEvent.id).desc())
        .limit(1)
    ).first()
    band = policy.band(lead.score) if lead.score is not None else None
    obligations = []
    for item in open_obligations(tx, "lead", lead_id):
        spec = policy.rule_settings(item.rule) if item.rule in policy.rule_ids else {}
        setting = ", ".join(f"{k} = {v}" for k, v in spec.items() if k in ("after", "clock"))
        obligations.append(
            {
                "rule": item.rule,
                "title": item.title,
                "due_at": item.due_at,
                "overdue": item.due_at <= tx.now,
                "policy": setting or "scheduled date",
            }
        )
    upcoming = next_stage(policy, lead.stage)
    gate = None
    if lead.stage not in policy.stage_keys():
        gate = {
            "next_stage": None,
            "allowed": False,
            "blocked_by": [check_move(policy, gate_facts(tx, lead), policy.first_stage).reasons[0]],
        }
    elif upcoming and not is_outcome(policy, lead.stage):
        result = check_move(policy, gate_facts(tx, lead), upcoming)
        gate = {
            "next_stage": upcoming,
            "allowed": result.allowed,
            "blocked_by": list(result.reasons),
        }
    return {
        "id": lead.id,
        "name": f"{lead.first_name} {lead.last_name}".strip(),
        "kind": lead.kind,
        "stage": lead.stage,
        "status": lead.status,
        "score": lead.score,
        "score_model": latest.model if latest else None,
        "score_terms": _flatten(latest.breakdown) if latest else {},
        "band": band.name if band else None,
        "band_triggers": _band_triggers(band) if band else None,
        "obligations": obligations,
        "settled": settled_obligations(tx, lead_id),
        "next_gate": gate,
    }


def settled_obligations(tx: Tx, lead_id: int) -> list[dict[str, Any]]:
    """The lead's obligations that are over: met (by whom, with which activity, late or on
    time), cancelled or lapsed; latest due first."""
    rows = tx.session.exec(
        select(Obligation)
        .where(
            Obligation.record_type == "lead",
            Obligation.record_id == lead_id,
            col(Obligation.status).in_(("met", "cancelled", "lapsed")),
        )
        .order_by(col(Obligation.due_at).desc(), col(Obligation.id).desc())
    ).all()
    ids = {row.detail.get("met_with") for row in rows} - {None}
    found = tx.session.exec(select(Activity).where(col(Activity.id).in_(ids))).all() if ids else []
    activities = {a.id: a for a in found}
    return [
        {
            "rule": row.rule,
            "title": row.title,
            "due_at": row.due_at,
            "status": row.status,
            "met_at": row.met_at,
            "met_by": row.met_by,
            "met_with": _describe(activities.get(row.detail.get("met_with"))),
            "activity_id": row.detail.get("met_with"),
            "late": row.met_at > row.due_at if row.met_at is not None else None,
        }
        for row in rows
    ]


def _describe(activity: Activity | None) -> str | None:
    """ "call 3 (outbound, connected)": an activity in a few words."""
    if activity is None:
        return None
    how = ", ".join(p for p in (activity.direction, activity.outcome) if p)
    return f"{activity.type} {activity.id}" + (f" ({how})" if how else "")


def _flatten(breakdown: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in breakdown.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _band_triggers(band: Any) -> str:
    text = {
        "nurture": "enrol in the nurture program",
        "follow_up": "schedule a follow-up",
        "contact": "contact the lead",
        "none": "nothing",
    }[band.action]
    if band.due:
        from crmcli.rules.durations import format_duration

        text += f" within {format_duration(band.due)}"
    if band.notify:
        text += f"; notify {', '.join(band.notify)}"
    return text
