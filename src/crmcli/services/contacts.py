"""Contacts: add, list, show, edit, verify — validated and de-duplicated like leads, audited,
with the quarterly contact.verify obligation kept current."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select

from crmcli.errors import BadInput, NotFound, PolicyRefusal
from crmcli.rules import account_rules
from crmcli.rules import obligations as rules
from crmcli.rules.validation import check_named, check_reachable, normalise_lead
from crmcli.services import audit
from crmcli.services.accounts import Saved, load_account
from crmcli.services.lookups import limited
from crmcli.services.lookups import rows as _rows
from crmcli.services.obligations import sync
from crmcli.services.workspace import Tx
from crmcli.store.models import Account, Contact, Obligation

CONTACT_FIELDS = (
    "id",
    "account_id",
    "account",
    "first_name",
    "last_name",
    "title",
    "email",
    "phone",
    "verified_at",
    "created_at",
    "updated_at",
)
# what add and edit may set (account is given by id)
CONTACT_EDITABLE = ("first_name", "last_name", "title", "email", "phone")


def _contact_query() -> Any:
    columns = [getattr(Contact, name) for name in CONTACT_FIELDS if name != "account"]
    return select(*columns, col(Account.name).label("account")).outerjoin(
        Account, col(Account.id) == Contact.account_id
    )


def get_contact(tx: Tx, contact_id: int) -> dict[str, Any]:
    rows = _rows(tx, _contact_query().where(Contact.id == contact_id))
    if not rows:
        raise NotFound(f"contact {contact_id} not found; list contacts with: crm contact list")
    return rows[0]


def load_contact(tx: Tx, contact_id: int) -> Contact:
    contact = tx.session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} not found; list contacts with: crm contact list")
    return contact


def contact_rows(
    tx: Tx, *, account_id: int | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    query = _contact_query().order_by(col(Contact.id))
    if account_id is not None:
        query = query.where(Contact.account_id == account_id)
    return _rows(tx, limited(query, limit))


def list_contacts(
    tx: Tx, *, account_id: int | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    if account_id is not None:
        load_account(tx, account_id, field="--account")
    return contact_rows(tx, account_id=account_id, limit=limit)


def _validated(tx: Tx, raw: dict[str, Any]) -> dict[str, Any]:
    """The lead rules for names, email and phone (rules/validation.py), shared."""
    values = normalise_lead(
        {k: raw[k] for k in CONTACT_EDITABLE if k in raw}, phone_region=tx.policy.phone_region
    )
    if raw.get("account_id") is not None:
        values["account_id"] = load_account(tx, raw["account_id"], field="--account").id
    return values


def _duplicates(tx: Tx, contact: dict[str, Any], exclude: int | None = None) -> list[int]:
    """Contacts with the same normalised email or phone (both stored normalised, indexed)."""
    conditions = [
        getattr(Contact, name) == contact[name] for name in ("email", "phone") if contact.get(name)
    ]
    if not conditions:
        return []
    query = select(Contact.id).where(or_(*conditions)).order_by(col(Contact.id))
    if exclude is not None:
        query = query.where(Contact.id != exclude)
    return list(tx.session.exec(query).all())


def _refuse(tx: Tx, ids: list[int], contact: dict[str, Any]) -> PolicyRefusal:
    other = get_contact(tx, ids[0])
    same = [n for n in ("email", "phone") if contact.get(n) and contact[n] == other[n]]
    return PolicyRefusal(
        f"likely duplicate of contact {ids[0]} ({other['first_name']} {other['last_name']}, "
        f"same {' and '.join(same) or 'email or phone'}); check it with: crm contact show "
        f"{ids[0]}, or save anyway with --force",
    )


def _complete(contact: dict[str, Any]) -> None:
    check_named(contact, "contact")
    check_reachable(contact, "contact")


def add_contact(tx: Tx, raw: dict[str, Any], *, force: bool = False) -> Saved:
    if raw.get("account_id") is None:
        raise BadInput("--account: a contact belongs to an account; give its id")
    values = _validated(tx, raw)
    _complete(values)
    for name in ("first_name", "last_name"):
        values[name] = values.get(name) or ""
    duplicates = _duplicates(tx, values)
    if duplicates and not force:
        raise _refuse(tx, duplicates, values)
    contact = Contact(**values, created_at=tx.now, updated_at=tx.now)
    tx.session.add(contact)
    tx.session.flush()
    created = get_contact(tx, contact.id)  # type: ignore[arg-type]
    changes = {
        k: [None, v]
        for k, v in created.items()
        if v not in (None, "") and k not in ("id", "account", "created_at", "updated_at")
    }
    if duplicates:
        changes["forced_duplicate_of"] = [None, duplicates]
    tx.audit("contact", contact.id, "create", changes)
    refresh_contact(tx, contact)
    return Saved(created, duplicates)


def edit_contact(tx: Tx, contact_id: int, raw: dict[str, Any], *, force: bool = False) -> Saved:
    if not raw:
        raise BadInput("nothing to change; give at least one field, e.g. --email or --title")
    contact = load_contact(tx, contact_id)
    before = get_contact(tx, contact_id)
    values = _validated(tx, raw)
    merged = {k: getattr(contact, k) for k in CONTACT_EDITABLE} | values
    _complete(merged)
    for name in ("first_name", "last_name"):
        if name in values:
            values[name] = values[name] or ""
    duplicates: list[int] = []
    if {"email", "phone"} & values.keys():
        duplicates = _duplicates(tx, merged, exclude=contact_id)
        if duplicates and not force:
            raise _refuse(tx, duplicates, merged)
    for key, value in values.items():
        setattr(contact, key, value)
    tx.session.flush()
    changes = _changes(before, get_contact(tx, contact_id))
    if not changes:
        return Saved(before)
    contact.updated_at = tx.now
    tx.session.flush()
    if duplicates:
        changes["forced_duplicate_of"] = [None, duplicates]
    tx.audit("contact", contact_id, "update", changes)
    refresh_contact(tx, contact)
    return Saved(get_contact(tx, contact_id), duplicates)


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    changes = audit.diff(before, after)
    for derived in ("account", "updated_at"):  # the name follows account_id
        changes.pop(derived, None)
    return changes


def verify_contact(tx: Tx, contact_id: int) -> dict[str, Any]:
    """The contact's details were checked with them now: the quarterly clock restarts."""
    contact = load_contact(tx, contact_id)
    if not (contact.first_name or contact.last_name or contact.email or contact.phone):
        raise PolicyRefusal(f"contact {contact_id} was forgotten (erased); nothing to verify")
    before = contact.verified_at
    contact.verified_at = tx.now
    contact.updated_at = tx.now
    tx.session.add(contact)
    tx.session.flush()
    tx.audit("contact", contact_id, "verify", {"verified_at": [before, tx.now]})
    refresh_contact(tx, contact)
    return get_contact(tx, contact_id)


def history(tx: Tx, contact_id: int) -> list[dict[str, Any]]:
    return audit.history_rows(tx.session, "contact", contact_id)


def open_obligations(tx: Tx, contact_id: int) -> list[dict[str, Any]]:
    query = (
        select(Obligation.rule, Obligation.title, Obligation.due_at)
        .where(
            Obligation.record_type == "contact",
            Obligation.record_id == contact_id,
            Obligation.status == "open",
        )
        .order_by(col(Obligation.due_at))
    )
    return [{**row, "overdue": row["due_at"] <= tx.now} for row in _rows(tx, query)]


# --- obligations ---------------------------------------------------------------------------


def contact_facts(tx: Tx, contact: Contact) -> account_rules.ContactFacts:
    account = tx.session.get(Account, contact.account_id) if contact.account_id else None
    name = f"{contact.first_name} {contact.last_name}".strip()
    return account_rules.ContactFacts(
        id=contact.id,  # type: ignore[arg-type]
        label=", ".join(
            p for p in (name or f"contact {contact.id}", account and account.name) if p
        ),
        created_at=contact.created_at,
        verified_at=contact.verified_at,
        forgotten=not (name or contact.email or contact.phone),
    )


def refresh_contact(tx: Tx, contact: Contact) -> list[Obligation]:
    """Recompute a contact's obligations; they belong to the account's owner."""
    account = tx.session.get(Account, contact.account_id) if contact.account_id else None
    due = rules.obligations("contact", contact_facts(tx, contact), tx.policy, tx.calendar)
    owner_id = account.owner_id if account else None
    return sync(tx, "contact", contact.id, due, owner_id=owner_id)  # type: ignore[arg-type]


def refresh_every_contact(tx: Tx) -> int:
    count = 0
    for contact in tx.session.exec(select(Contact).order_by(col(Contact.id))).all():
        refresh_contact(tx, contact)
        count += 1
    return count
