"""Verifying the audit log, anchoring its head, and erasing a person on request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import col, select

from crmcli.errors import BadInput, NotFound
from crmcli.limits import loads_json
from crmcli.services import audit
from crmcli.services.leads import LEAD_FIELDS, get_lead
from crmcli.services.lookups import load_lead
from crmcli.services.workspace import Tx
from crmcli.store.models import AuditEvent, Lead


def verify(tx: Tx, anchors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Everything the audit log vouches for, each problem prefixed with the check that
    found it: the chain (hashes, links, seal digests), its head kept outside it, every
    anchored head, every audited row against its latest seal, and every readable personal
    value against the keyed hash its event sealed."""
    from crmcli.services import seals
    from crmcli.store.pg_security import can_read

    chain = audit.verify_chain(tx.session)
    problems: list[str] = list(chain["problems"])
    for anchor in anchors or []:
        problems += _check_anchor(tx, anchor, chain["events"])
    # On PostgreSQL the rows and the personal-data keys behind the seals are an admin's to
    # read (others see their campaigns only, and no keys): they check the chain and anchors
    full = can_read(tx.session.connection(), "personal_key")
    sealed = seals.verify(tx.session) if full else seals.Verified()
    problems += [f"seals: {finding}" for finding in sealed.findings]
    if sealed.total > len(sealed.findings):
        problems.append(f"seals: … and {sealed.total - len(sealed.findings)} more records")
    if full:
        problems += audit.verify_personal(tx.session)
    found = {problem.split(":", 1)[0] for problem in problems}
    skipped = () if full else ("seals", "personal values")
    return {
        "ok": not problems,
        "events": chain["events"],
        "head": chain["head"],
        "first_broken": chain["first_broken"],
        "anchors": len(anchors or []),
        "records_sealed": sealed.rows,
        "records_changed_outside": [
            finding.spec.describe(finding.record_id) for finding in sealed.findings
        ],
        "checks": {
            check: "skipped (an admin's check on PostgreSQL)"
            if check in skipped
            else "problem"
            if check in found
            else "ok"
            for check in ("chain", "head", "anchor", "seals", "personal values")
        },
        "problems": problems,
    }


def _check_anchor(tx: Tx, anchor: dict[str, Any], present: int) -> list[str]:
    count, head = anchor["events"], anchor["head"]
    where = f"the head anchored at {anchor.get('at')} ({count} events, {head[:12]}…)"
    if count > present:
        return [
            f"anchor: the chain is shorter than {where}: {present} events present; "
            "events were deleted"
        ]
    event = (
        tx.session.exec(
            select(AuditEvent).order_by(col(AuditEvent.id)).offset(count - 1).limit(1)
        ).first()
        if count
        else None
    )
    if count and (event is None or event.hash != head):
        return [f"anchor: the chain no longer extends {where}: the log was rewritten"]
    return []


def anchor(tx: Tx) -> dict[str, Any]:
    """The head to keep outside the database: the chain's event count (the head's sequence
    number, as `audit_head` records it) and last hash."""
    chain = audit.verify_chain(tx.session)
    return {
        "head": chain["head"],
        "events": chain["events"],
        "at": tx.now.isoformat(),
        "chain_ok": chain["ok"],
    }


def read_anchors(path: Path) -> list[dict[str, Any]]:
    from crmcli.files import ANCHOR_LIMIT, read_text

    anchors = []
    lines = read_text(path, option="--anchor", limit=ANCHOR_LIMIT).splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = loads_json(line)
            anchors.append(
                {"head": str(item["head"]), "events": int(item["events"]), "at": item.get("at")}
            )
        except (ValueError, KeyError, TypeError):
            raise BadInput(
                f"--anchor: {path}:{number} is not an anchor line written by crm audit anchor"
            ) from None
    return anchors


ERASE_LEAD = {"first_name": "", "last_name": "", "email": None, "phone": None, "title": None}


def forget_lead(tx: Tx, lead_id: int) -> dict[str, Any]:
    """Erase a lead's personal data (and its contact's and activities'), keep the facts."""
    from crmcli.services.obligations import refresh_lead
    from crmcli.store.models import Activity, Contact, Notification, Obligation

    lead = load_lead(tx, lead_id)
    for field, value in ERASE_LEAD.items():
        setattr(lead, field, value)
    lead.extra = {}
    lead.last_key = ""
    lead.updated_at = tx.now
    tx.session.add(lead)
    records = [("lead", lead_id)]
    activities = tx.session.exec(select(Activity).where(Activity.lead_id == lead_id)).all()
    for activity in activities:
        activity.subject, activity.notes, activity.details = None, None, {}
        tx.session.add(activity)
        records.append(("activity", activity.id))  # type: ignore[arg-type]
    if lead.contact_id is not None:
        contact = tx.session.get(Contact, lead.contact_id)
        if contact is not None:
            _erase_contact(tx, contact)
            records.append(("contact", contact.id))  # type: ignore[arg-type]
            records += _erase_contact_activities(tx, contact.id)  # type: ignore[arg-type]
    from crmcli.services import outbox

    records += outbox.forget_lead(tx, lead_id)  # queued messages cancelled, texts erased
    erased_values = _erase_audited_values(tx, records)
    for notice in tx.session.exec(select(Notification).where(Notification.lead_id == lead_id)):
        notice.message = audit.ERASED
        tx.session.add(notice)
    tx.session.flush()
    refresh_lead(tx, lead)  # obligation titles carry the name
    for obligation in tx.session.exec(
        select(Obligation).where(Obligation.record_type == "lead", Obligation.record_id == lead_id)
    ):
        obligation.title = obligation.title.split(": ", 1)[0]  # "first response: <name>"
        tx.session.add(obligation)
    tx.audit(
        "lead",
        lead_id,
        "forget",
        {
            "erased": [None, sorted(ERASE_LEAD)],
            "records": [None, [f"{t} {i}" for t, i in records]],
        },
    )
    return {
        "id": lead_id,
        "records": len(records),
        "values_erased": erased_values,
        "erased_fields": sorted(ERASE_LEAD),
    }


def _erase_contact(tx: Tx, contact: Any) -> None:
    from crmcli.services.contacts import refresh_contact
    from crmcli.store.models import Obligation

    contact.first_name, contact.last_name = "", ""
    contact.email = contact.phone = contact.title = None
    contact.updated_at = tx.now
    tx.session.add(contact)
    tx.session.flush()
    refresh_contact(tx, contact)  # nothing left to verify: contact.verify is cancelled
    for obligation in tx.session.exec(
        select(Obligation).where(
            Obligation.record_type == "contact", Obligation.record_id == contact.id
        )
    ):
        obligation.title = obligation.title.split(": ", 1)[0]  # the title carries the name
        tx.session.add(obligation)


def _erase_contact_activities(tx: Tx, contact_id: int) -> list[tuple[str, int]]:
    """Erase the texts of activities logged on the contact itself (mail from an account's
    contact who is no lead); returns them as records."""
    from crmcli.services import mail_attachments
    from crmcli.store.models import Activity, EmailMessage

    records: list[tuple[str, int]] = []
    for activity in tx.session.exec(select(Activity).where(Activity.contact_id == contact_id)):
        activity.subject, activity.notes, activity.details = None, None, {}
        tx.session.add(activity)
        records.append(("activity", activity.id))  # type: ignore[arg-type]
    ids = [record_id for _type, record_id in records]
    digests: set[str] = set()
    for email in tx.session.exec(
        select(EmailMessage).where(col(EmailMessage.activity_id).in_(ids))
    ):  # the message's sender and its attached files go too
        digests |= {item["sha256"] for item in email.attachments if "sha256" in item}
        email.from_address, email.attachments = None, []
        tx.session.add(email)
    mail_attachments.forget(tx, digests)
    return records


def _erase_audited_values(tx: Tx, records: list[tuple[str, int]]) -> int:
    """Delete the readable personal values of the records' audit events, and their keys."""
    from crmcli.store.models import AuditPersonal, PersonalKey

    erased = 0
    for record_type, record_id in records:
        event_ids = select(AuditEvent.id).where(
            AuditEvent.record_type == record_type, AuditEvent.record_id == record_id
        )
        for row in tx.session.exec(
            select(AuditPersonal).where(col(AuditPersonal.event_id).in_(event_ids))
        ):
            tx.session.delete(row)
            erased += 1
        key = tx.session.get(PersonalKey, (record_type, record_id))
        if key is not None:
            tx.session.delete(key)
    return erased


def forget_contact(tx: Tx, contact_id: int) -> dict[str, Any]:
    """Erase a contact, and every lead that is the same person (linked to the contact)."""
    from crmcli.services.scope import in_scope
    from crmcli.store.models import Contact

    contact = tx.session.get(Contact, contact_id)
    leads = list(tx.session.exec(select(Lead).where(Lead.contact_id == contact_id)))
    if contact is None or any(not in_scope(tx, lead.campaign_id) for lead in leads):
        raise NotFound(f"contact {contact_id} not found")
    results = [forget_lead(tx, lead.id) for lead in leads]  # type: ignore[arg-type]
    if not results:
        _erase_contact(tx, contact)
        records = [("contact", contact_id), *_erase_contact_activities(tx, contact_id)]
        values = _erase_audited_values(tx, records)
        tx.session.flush()
        tx.audit(
            "contact",
            contact_id,
            "forget",
            {"erased": [None, ["email", "first_name", "last_name", "phone", "title"]]},
        )
    else:
        values = sum(r["values_erased"] for r in results)
    return {"id": contact_id, "leads": [r["id"] for r in results], "values_erased": values}


def export_personal(tx: Tx, lead_id: int) -> dict[str, Any]:
    """Everything crm holds about the person behind a lead (a data-subject export)."""
    from crmcli.store.models import Activity

    lead = get_lead(tx, lead_id)
    load_lead(tx, lead_id)
    activities = tx.session.exec(
        select(Activity).where(Activity.lead_id == lead_id).order_by(col(Activity.at))
    ).all()
    return {
        "lead": {k: lead[k] for k in LEAD_FIELDS},
        "activities": [
            {
                "id": a.id,
                "type": a.type,
                "at": a.at,
                "subject": a.subject,
                "notes": a.notes,
                "details": a.details,
                "status": a.status,
            }
            for a in activities
        ],
        "history": [
            {"at": e.at, "actor": e.actor, "action": e.action, "changes": e.changes}
            for e in audit.history(tx.session, "lead", lead_id)
        ],
        "exported_at": tx.now,
    }


def audit_log(
    tx: Tx,
    *,
    user: str | None,
    start: Any,
    end: Any,
    record: tuple[str, int] | None = None,
    seals: bool = False,
) -> list[dict[str, Any]]:
    query = select(AuditEvent).order_by(col(AuditEvent.id))
    if not seals:
        query = query.where(AuditEvent.record_type != audit.SEALS)
    if user:
        query = query.where(AuditEvent.actor == user)
    if start is not None:
        query = query.where(AuditEvent.at >= start)
    if end is not None:
        query = query.where(AuditEvent.at < end)
    if record is not None:
        query = query.where(AuditEvent.record_type == record[0], AuditEvent.record_id == record[1])
    events = audit.reveal(tx.session, list(tx.session.exec(query)))
    return [
        {
            "id": e.id,
            "at": e.at,
            "actor": e.actor,
            "login": e.login,
            "command": e.command,
            "record": f"{e.record_type} {e.record_id}"
            if e.record_id is not None
            else e.record_type,
            "action": e.action,
            "changes": e.changes,
            "policy": e.policy,
        }
        for e in events
    ]
