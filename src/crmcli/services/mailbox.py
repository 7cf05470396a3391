"""Email capture: RFC 5322 messages (.eml files, a directory of them, an mbox) logged as
email activities on the leads whose addresses they carry, once per Message-ID. Mail with an
account's contact who is no lead is logged on the contact: the account owes the customer an
answer (`customer.response`, owned by the account's owner)."""

from __future__ import annotations

import email
import email.policy
import hashlib
import mailbox
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from crmcli.errors import BadInput
from crmcli.files import MESSAGE_LIMIT, open_input, read_bytes
from crmcli.services import scope
from crmcli.services.activities import activity_row, record_activity
from crmcli.services.lookups import load_lead
from crmcli.services.workspace import Tx
from crmcli.store.models import Account, Contact, Lead, User
from crmcli.store.models import EmailMessage as LoggedEmail


@dataclass(frozen=True)
class Parsed:
    source: str  # file name, or "mbox #n"
    message_id: str
    sender: str  # normalised address, "" if none
    recipients: tuple[str, ...]
    subject: str | None
    at: datetime | None
    body: str | None
    attachments: tuple[tuple[str, str, bytes], ...] = ()


@dataclass
class ImportSummary:
    messages: int = 0
    logged: int = 0
    activities: list[int] = field(default_factory=list)
    duplicates: int = 0
    unmatched: Counter[str] = field(default_factory=Counter)
    unreadable: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "logged": self.logged,
            "activities": self.activities,
            "duplicates": self.duplicates,
            "unmatched": [
                {"address": address, "messages": count}
                for address, count in sorted(self.unmatched.items())
            ],
            "unreadable": self.unreadable,
            "notes": self.notes,
        }


def normalise(address: str) -> str:
    return address.strip().strip("<>").lower()


# --- reading ----------------------------------------------------------------------------------


def read_path(path: Path) -> Iterator[tuple[str, bytes | None, str]]:
    """(source, raw bytes or None, reason) for each message in a file, an mbox or a dir."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".eml" and p.is_file())
        if not files:
            raise BadInput(f"FILE: {path} holds no .eml files; give an mbox or .eml files")
        for file in files:
            yield from _read_eml(file)
        return
    if not path.exists():
        raise BadInput(f"FILE: {path} does not exist; give an mbox file, a .eml or a directory")
    if path.suffix.lower() == ".eml":
        yield path.name, read_bytes(path, option="FILE", limit=MESSAGE_LIMIT), ""
        return
    with open_input(path, option="FILE") as handle:  # a FIFO or a device is refused here
        if not handle.read(5) == b"From ":
            raise BadInput(
                f"FILE: {path} is not an mbox (it does not start with 'From '); "
                "give an mbox, a .eml file or a directory of .eml files"
            )
    box = mailbox.mbox(path, create=False)
    try:
        for number, key in enumerate(box.keys(), start=1):
            yield f"{path.name} #{number}", box.get_bytes(key), ""
    finally:
        box.close()


def _read_eml(path: Path) -> Iterator[tuple[str, bytes | None, str]]:
    """One file of a directory: a file that cannot be read is listed, not fatal."""
    try:
        yield path.name, read_bytes(path, option="FILE", limit=MESSAGE_LIMIT), ""
    except BadInput as exc:
        yield path.name, None, exc.message.split(": ", 1)[1]


class Unreadable(ValueError):
    """A message the email package cannot take apart."""


def parse(source: str, raw: bytes) -> Parsed:
    """The message's addresses, subject, date, body and attachments; Unreadable when its
    MIME parts nest past the parser's stack (the email package walks them by recursion)."""
    try:
        return _parse(source, raw)
    except RecursionError:
        raise Unreadable("its MIME parts nest too deeply to read") from None


def _parse(source: str, raw: bytes) -> Parsed:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    senders = _addresses(message, "from")
    recipients = tuple(
        a for header in ("to", "cc") for a in _addresses(message, header) if a not in senders
    )
    message_id = (message.get("message-id") or "").strip()
    if not message_id:  # no Message-ID: the content identifies it, so re-imports still skip it
        message_id = f"<sha256-{hashlib.sha256(raw).hexdigest()}@crmcli.invalid>"
    return Parsed(
        source=source,
        message_id=message_id,
        sender=senders[0] if senders else "",
        recipients=recipients,
        subject=(str(message.get("subject") or "").strip() or None),
        at=_date(message.get("date")),
        body=_body(message),
        attachments=tuple(_attachments(message)),
    )


def _addresses(message: EmailMessage, header: str) -> list[str]:
    values = [str(v) for v in message.get_all(header, [])]
    return [normalise(address) for _name, address in getaddresses(values) if "@" in address]


def _date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def _body(message: EmailMessage) -> str | None:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return None
    try:
        text = part.get_content()
    except (LookupError, ValueError):  # an unknown charset: keep what can be read
        text = part.get_payload(decode=True).decode("utf-8", errors="replace")  # type: ignore[union-attr]
    if part.get_content_type() == "text/html":
        text = _html_text(text)
    return text.strip() or None


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def _html_text(html: str) -> str:
    parser = _TextOnly()
    parser.feed(html)
    return " ".join(" ".join(parser.chunks).split())


def _attachments(message: EmailMessage) -> Iterator[tuple[str, str, bytes]]:
    for part in message.iter_attachments():
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            yield part.get_filename() or "attachment", part.get_content_type(), data


# --- logging ------------------------------------------------------------------------------------


class AddressBook:
    """Leads by normalised address: their own email, or their contact's; and the contacts of
    accounts that no lead stands for (for users not scoped to campaigns: accounts and
    contacts belong to none)."""

    def __init__(self, tx: Tx) -> None:
        self.leads: dict[str, list[Lead]] = {}
        self.contacts: dict[str, Contact] = {}
        for lead in tx.session.exec(select(Lead).where(col(Lead.email).is_not(None))):
            if scope.in_scope(tx, lead.campaign_id):
                self.leads.setdefault(normalise(lead.email), []).append(lead)  # type: ignore[arg-type]
        contacts = select(Contact.email, Lead).join(Lead, col(Lead.contact_id) == Contact.id)
        for address, lead in tx.session.exec(contacts.where(col(Contact.email).is_not(None))):
            known = self.leads.setdefault(normalise(address), [])
            if lead not in known and scope.in_scope(tx, lead.campaign_id):
                known.append(lead)
        if scope.campaign_scope(tx) is None:
            linked = select(Lead.contact_id).where(col(Lead.contact_id).is_not(None))
            alone = select(Contact).where(
                col(Contact.email).is_not(None),
                col(Contact.account_id).is_not(None),
                col(Contact.id).not_in(linked),
            )
            for contact in tx.session.exec(alone.order_by(col(Contact.id))):
                self.contacts.setdefault(normalise(contact.email), contact)  # type: ignore[arg-type]

    def find(self, address: str) -> list[Lead]:
        return self.leads.get(address, [])

    def contact(self, address: str) -> Contact | None:
        """The account contact (no lead) with this address, if no lead has it."""
        return None if address in self.leads else self.contacts.get(address)


def import_mail(tx: Tx, path: Path) -> ImportSummary:
    """Log every message whose sender or recipients are leads; skip Message-IDs logged
    already; count senders that match nobody."""
    book = AddressBook(tx)
    summary = ImportSummary()
    for source, raw, reason in read_path(path):
        summary.messages += 1
        if raw is None:
            summary.unreadable.append({"source": source, "reason": reason})
            continue
        try:
            parsed = parse(source, raw)
        except Unreadable as exc:  # that message only: the others are still logged
            summary.unreadable.append({"source": source, "reason": str(exc)})
            continue
        if _logged_already(tx, parsed.message_id):
            summary.duplicates += 1
            continue
        inbound = book.find(parsed.sender)
        targets = [(lead, "inbound") for lead in inbound] or [
            (lead, "outbound") for address in parsed.recipients for lead in book.find(address)
        ]
        if not targets:
            if _log_on_contacts(tx, book, parsed, summary):
                summary.logged += 1
            else:
                summary.unmatched[parsed.sender or "(no sender)"] += 1
            continue
        seen: set[int] = set()
        for lead, direction in targets:
            if lead.id in seen:
                continue
            seen.add(lead.id)  # type: ignore[arg-type]
            activity, note = _log(tx, lead, parsed, direction)
            summary.activities.append(activity.id)  # type: ignore[arg-type]
            if note and note not in summary.notes:
                summary.notes.append(note)
        summary.logged += 1
    return summary


def _log_on_contacts(tx: Tx, book: AddressBook, parsed: Parsed, summary: ImportSummary) -> bool:
    """Log a message from (else to) accounts' contacts who are no leads; False if none."""
    sender = book.contact(parsed.sender)
    targets = [(sender, "inbound")] if sender is not None else []
    if not targets:
        found = (book.contact(address) for address in parsed.recipients)
        targets = [(contact, "outbound") for contact in found if contact is not None]
    seen: set[int] = set()
    for contact, direction in targets:
        if contact.id in seen:
            continue
        seen.add(contact.id)  # type: ignore[arg-type]
        activity, note = _log(tx, None, parsed, direction, contact=contact)
        summary.activities.append(activity.id)  # type: ignore[arg-type]
        if note and note not in summary.notes:
            summary.notes.append(note)
    return bool(targets)


def log_eml(tx: Tx, lead_id: int, path: Path) -> tuple[dict[str, Any], bool]:
    """`crm log-email ID --eml FILE`: inbound when the lead sent it. Logging the same
    message twice changes nothing (False)."""
    lead = load_lead(tx, lead_id)
    try:
        parsed = parse(path.name, read_bytes(path, option="--eml", limit=MESSAGE_LIMIT))
    except Unreadable as exc:
        raise BadInput(
            f"--eml: {path}: {exc}; give the message as the mail program saved it"
        ) from None
    previous = tx.session.exec(
        select(LoggedEmail).where(
            LoggedEmail.message_id == parsed.message_id, LoggedEmail.lead_id == lead.id
        )
    ).first()
    if previous is not None and previous.activity_id is not None:
        from crmcli.store.models import Activity

        return activity_row(tx, tx.session.get(Activity, previous.activity_id)), False  # type: ignore[arg-type]
    addresses = {normalise(lead.email or "")}
    if lead.contact_id is not None:
        contact = tx.session.get(Contact, lead.contact_id)
        if contact is not None and contact.email:
            addresses.add(normalise(contact.email))
    direction = "inbound" if parsed.sender in addresses else "outbound"
    activity, _note = _log(tx, lead, parsed, direction)
    return activity_row(tx, activity), True


def _logged_already(tx: Tx, message_id: str) -> bool:
    query = select(LoggedEmail.id).where(LoggedEmail.message_id == message_id).limit(1)
    return tx.session.exec(query).first() is not None


def _log(
    tx: Tx, lead: Lead | None, parsed: Parsed, direction: str, *, contact: Contact | None = None
) -> tuple[Any, str]:
    """Log the message on a lead (its owner's activity) or on an account's contact (the
    account owner's)."""
    from crmcli.services import mail_attachments

    attachments, note = mail_attachments.store_all(tx, list(parsed.attachments))
    if lead is not None:
        owner_id = lead.owner_id
    else:
        account = tx.session.get(Account, contact.account_id) if contact else None  # type: ignore[union-attr]
        owner_id = account.owner_id if account is not None else None
    owner = tx.session.get(User, owner_id) if owner_id else None
    activity = record_activity(
        tx,
        lead=lead,
        contact=contact,
        type="email",
        user=owner,
        at=parsed.at or tx.now,
        direction=direction,
        subject=parsed.subject,
        notes=parsed.body,
        details={
            "message_id": parsed.message_id,
            "from": parsed.sender,
            "attachments": attachments,
            "imported_from": parsed.source,
        },
    )
    tx.session.add(
        LoggedEmail(
            message_id=parsed.message_id,
            activity_id=activity.id,
            lead_id=lead.id if lead is not None else None,
            direction=direction,
            from_address=parsed.sender or None,
            attachments=attachments,
            logged_at=tx.now,
        )
    )
    tx.session.flush()
    return activity, note
