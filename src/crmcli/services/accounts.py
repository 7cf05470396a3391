"""Accounts: add, list, show (the 360° view), edit; their obligations (onboarding, QBR,
renewal) and what happens when an account's first opportunity is won."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import col, select

from crmcli.clock import parse_date
from crmcli.errors import BadInput, NotFound, PolicyRefusal
from crmcli.rules import account_rules, dedupe
from crmcli.rules import obligations as rules
from crmcli.rules.validation import clean_text, normalise_lead
from crmcli.services import audit, scope
from crmcli.services.lookups import LIKE_ESCAPE, containing, limited, owned_by, owner_id
from crmcli.services.lookups import rows as _rows
from crmcli.services.obligations import account_messages, sync
from crmcli.services.workspace import Tx
from crmcli.store.models import Account, Activity, Contact, Lead, Obligation, StageChange, User

# the JSON shape of an account, in display order
ACCOUNT_FIELDS = (
    "id",
    "name",
    "key_account",
    "key_since",
    "contract_end",
    "won_at",
    "industry",
    "country",
    "region",
    "owner",
    "created_at",
    "updated_at",
)
RECENT_ACTIVITIES = 10  # how many the 360° view shows by default


@dataclass
class AccountFilter:
    key: bool | None = None  # only key accounts (True) or only the others (False)
    owner: str | None = None  # a user name, "me" or "none"
    country: str | None = None
    search: str | None = None  # text in the name
    limit: int | None = None


@dataclass
class Saved:
    record: dict[str, Any]
    forced_over: list[int] = field(default_factory=list)  # ids of the likely duplicates


def _account_query() -> Any:
    columns = [getattr(Account, name) for name in ACCOUNT_FIELDS if name != "owner"]
    return select(*columns, col(User.name).label("owner")).outerjoin(
        User, col(User.id) == Account.owner_id
    )


def get_account(tx: Tx, account_id: int) -> dict[str, Any]:
    rows = _rows(tx, _account_query().where(Account.id == account_id))
    if not rows:
        raise NotFound(f"account {account_id} not found; list accounts with: crm account list")
    return rows[0]


def load_account(tx: Tx, account_id: int, *, field: str = "account") -> Account:
    account = tx.session.get(Account, account_id)
    if account is None:
        raise NotFound(f"{field}: account {account_id} not found; see: crm account list")
    return account


def by_name_key(tx: Tx, name: str | None) -> Account | None:
    """The (oldest) account whose normalised name matches: an index lookup."""
    key = dedupe.company_key(name)
    if not key:
        return None
    query = select(Account).where(Account.name_key == key).order_by(col(Account.id)).limit(1)
    return tx.session.exec(query).first()


def list_accounts(tx: Tx, where: AccountFilter) -> list[dict[str, Any]]:
    query = _account_query().order_by(col(Account.id))
    if where.key is not None:
        query = query.where(Account.key_account == where.key)
    if where.owner:
        query = query.where(owned_by(tx, Account.owner_id, where.owner))
    if where.country:
        country = normalise_lead({"country": where.country}, phone_region="US")["country"]
        query = query.where(Account.country == country)
    if where.search:
        pattern = containing(where.search.strip().lower())
        query = query.where(func.lower(Account.name).like(pattern, escape=LIKE_ESCAPE))
    return _rows(tx, limited(query, where.limit))


def _validated(tx: Tx, raw: dict[str, Any]) -> dict[str, Any]:
    """Normalised account values for the keys present in `raw` (as lead fields are)."""
    place = {k: raw[k] for k in ("industry", "country", "region") if k in raw}
    values = normalise_lead(place, phone_region=tx.policy.phone_region)
    if "name" in raw:
        values["name"] = clean_text(raw["name"])
        if not values["name"]:
            raise BadInput("--name: an account needs a name")
    if raw.get("contract_end") is not None:
        text = str(raw["contract_end"]).strip()
        none = text.lower() in ("", "none")
        values["contract_end"] = None if none else parse_date(text, field="--contract-end")
    if raw.get("owner") is not None:
        values["owner_id"] = owner_id(tx, raw["owner"])
    if raw.get("key") is not None:
        values["key_account"] = bool(raw["key"])
    return values


def _refuse_duplicate(tx: Tx, name: str, exclude: int | None = None) -> list[int]:
    """Accounts with the same normalised name; refused (exit 5) by the caller unless forced."""
    key = dedupe.company_key(name)
    if not key:
        return []
    query = select(Account.id, Account.name).where(Account.name_key == key)
    if exclude is not None:
        query = query.where(Account.id != exclude)
    return [row[0] for row in tx.session.exec(query.order_by(col(Account.id))).all()]


def _duplicate_error(tx: Tx, ids: list[int]) -> PolicyRefusal:
    other = tx.session.get(Account, ids[0])
    return PolicyRefusal(
        f"likely duplicate of account {ids[0]} ({other.name!r}: the same name once "  # type: ignore[union-attr]
        "normalised); check it with: crm account show "
        f"{ids[0]}, or save anyway with --force"
    )


def add_account(tx: Tx, raw: dict[str, Any], *, force: bool = False) -> Saved:
    if not clean_text(raw.get("name")):
        raise BadInput("--name: an account needs a name")
    values = _validated(tx, raw)
    duplicates = _refuse_duplicate(tx, values["name"])
    if duplicates and not force:
        raise _duplicate_error(tx, duplicates)
    account = Account(
        **values,
        name_key=dedupe.company_key(values["name"]),
        key_since=tx.now if values.get("key_account") else None,
        created_at=tx.now,
        updated_at=tx.now,
    )
    tx.session.add(account)
    tx.session.flush()
    created = get_account(tx, account.id)  # type: ignore[arg-type]
    changes = {k: [None, v] for k, v in created.items() if v not in (None, False) and k != "id"}
    if duplicates:
        changes["forced_duplicate_of"] = [None, duplicates]
    tx.audit("account", account.id, "create", changes)
    refresh_account(tx, account)
    return Saved(created, duplicates)


def edit_account(tx: Tx, account_id: int, raw: dict[str, Any], *, force: bool = False) -> Saved:
    if not raw:
        raise BadInput("nothing to change; give at least one field, e.g. --name or --key")
    account = load_account(tx, account_id, field="ID")
    before = get_account(tx, account_id)
    values = _validated(tx, raw)
    duplicates: list[int] = []
    if "name" in values and dedupe.company_key(values["name"]) != account.name_key:
        duplicates = _refuse_duplicate(tx, values["name"], exclude=account_id)
        if duplicates and not force:
            raise _duplicate_error(tx, duplicates)
        values["name_key"] = dedupe.company_key(values["name"])
    if values.get("key_account") and not account.key_account:
        values["key_since"] = tx.now  # QBRs count from when it became key
    elif values.get("key_account") is False:
        values["key_since"] = None
    for key, value in values.items():
        setattr(account, key, value)
    tx.session.flush()
    changes = audit.diff(before, get_account(tx, account_id))
    changes.pop("updated_at", None)
    if not changes:
        return Saved(before)
    account.updated_at = tx.now
    tx.session.flush()
    if duplicates:
        changes["forced_duplicate_of"] = [None, duplicates]
    tx.audit("account", account_id, "update", changes)
    refresh_account(tx, account)
    _refresh_contacts_of(tx, account)  # their owner follows the account's
    return Saved(get_account(tx, account_id), duplicates)


def history(tx: Tx, account_id: int) -> list[dict[str, Any]]:
    return audit.history_rows(tx.session, "account", account_id)


# --- obligations ---------------------------------------------------------------------------


def account_facts(tx: Tx, account: Account) -> account_rules.AccountFacts:
    leads = tx.session.exec(
        select(Lead.id, Lead.kind, Lead.type, Lead.created_at).where(Lead.account_id == account.id)
    ).all()
    lead_ids = [row[0] for row in leads]
    activities = (
        tx.session.exec(
            select(Activity)
            .where(col(Activity.lead_id).in_(lead_ids), col(Activity.type).in_(("meeting", "task")))
            .order_by(col(Activity.at))
        ).all()
        if lead_ids
        else []
    )
    return account_rules.AccountFacts(
        id=account.id,  # type: ignore[arg-type]
        name=account.name,
        created_at=account.created_at,
        key_account=account.key_account,
        key_since=account.key_since,
        won_at=account.won_at,
        contract_end=account.contract_end,
        meetings=tuple(
            (a.at, a.subject or "")
            for a in activities
            if a.type == "meeting" and a.status == "logged"
        ),
        onboarding_tasks=tuple(
            rules.Task(a.id, a.subject or "task", a.due_at, a.status, a.done_at, a.done_by)  # type: ignore[arg-type]
            for a in activities
            if a.type == "task"
            and a.details.get("serves") == "account.onboarding"
            and a.details.get("account") == account.id
        ),
        opportunities=_opportunity_moves(tx, leads),
        messages=account_messages(tx, account),
        # a customer since it first won, or since it became a key account
        customer_since=min((at for at in (account.won_at, account.key_since) if at), default=None),
    )


def _opportunity_moves(tx: Tx, leads: Sequence[Any]) -> tuple[tuple[str | None, datetime], ...]:
    """(type, when) for each time one of the account's opportunities was created or moved
    to an opportunity stage: a renewal opened now counts now, however old the lead is."""
    keys = tx.policy.stage_keys()
    start = tx.policy.pipeline.opportunity_from
    opportunity_stages = keys[keys.index(start) :] if start in keys else keys
    types = {lead_id: kind for lead_id, k, kind, _created in leads if k == "opportunity"}
    if not types:
        return ()
    moves = tx.session.exec(
        select(StageChange.lead_id, StageChange.at).where(
            col(StageChange.lead_id).in_(list(types)),
            col(StageChange.to_stage).in_(opportunity_stages),
        )
    ).all()
    created = [(types[lead_id], at) for lead_id, k, _kind, at in leads if k == "opportunity"]
    return tuple(created + [(types[lead_id], at) for lead_id, at in moves])


def refresh_account(tx: Tx, account: Account) -> list[Obligation]:
    """Recompute an account's obligations and store the difference."""
    due = rules.obligations("account", account_facts(tx, account), tx.policy, tx.calendar)
    return sync(tx, "account", account.id, due, owner_id=account.owner_id)  # type: ignore[arg-type]


def refresh_account_id(tx: Tx, account_id: int | None) -> None:
    account = tx.session.get(Account, account_id) if account_id is not None else None
    if account is not None:
        refresh_account(tx, account)


def refresh_every_account(tx: Tx) -> int:
    count = 0
    for account in tx.session.exec(select(Account).order_by(col(Account.id))).all():
        refresh_account(tx, account)
        count += 1
    return count


def _refresh_contacts_of(tx: Tx, account: Account) -> None:
    from crmcli.services.contacts import refresh_contact

    for contact in tx.session.exec(select(Contact).where(Contact.account_id == account.id)):
        refresh_contact(tx, contact)


def lead_changed(tx: Tx, lead: Lead) -> None:
    """After a lead of an account moved: the account's first won opportunity starts its
    onboarding; a new opportunity may be its renewal."""
    account = tx.session.get(Account, lead.account_id) if lead.account_id else None
    if account is None:
        return
    if lead.status == "won" and account.won_at is None:
        account_won(tx, account, lead)
    refresh_account(tx, account)


def account_won(tx: Tx, account: Account, lead: Lead) -> list[int]:
    """Set the won date and create the onboarding checklist of the policy as open tasks on
    the won opportunity (its owner's, else the account's, else the acting user's)."""
    from crmcli.services.activities import record_activity

    account.won_at = tx.now
    account.updated_at = tx.now
    tx.session.add(account)
    tx.session.flush()
    owner_id = lead.owner_id or account.owner_id
    owner = tx.session.get(User, owner_id) if owner_id else tx.actor
    created = []
    for step in account_rules.onboarding_steps(tx.policy, tx.now, tx.calendar):
        task = record_activity(
            tx,
            lead=lead,
            type="task",
            user=owner,
            at=step.due_at,
            subject=f"Onboarding: {step.title}",
            details={"serves": "account.onboarding", "account": account.id},
            due_at=step.due_at,
            status="open",
        )
        created.append(task.id)
    tx.audit(
        "account",
        account.id,
        "won",
        {
            "won_at": [None, tx.now],
            "won_with": [None, lead.id],
            "onboarding_tasks": [None, created],
        },
    )
    return created  # type: ignore[return-value]


# --- the 360° view (seed 002): one builder per section ------------------------------------


@dataclass(frozen=True)
class Section:
    """One part of `account show`: its title, table columns, and how to build its rows."""

    name: str  # snake_case: the JSON key (tables show it as words)
    columns: Sequence[str]
    build: Callable[[Tx, Account, list[int]], list[dict[str, Any]]]  # (tx, account, contacts)


def _contacts(tx: Tx, account: Account, contact_ids: list[int]) -> list[dict[str, Any]]:
    from crmcli.services.contacts import contact_rows

    return contact_rows(tx, account_id=account.id)


def _account_leads(account: Account, contact_ids: list[int]) -> Any:
    linked = Lead.account_id == account.id
    return or_(linked, col(Lead.contact_id).in_(contact_ids)) if contact_ids else linked


def _open_opportunities(tx: Tx, account: Account, contact_ids: list[int]) -> list[dict[str, Any]]:
    query = (
        select(
            Lead.id,
            (Lead.first_name + " " + Lead.last_name).label("name"),
            Lead.type,
            Lead.stage,
            Lead.status,
            Lead.amount,
            Lead.close_date,
            col(User.name).label("owner"),
        )
        .outerjoin(User, col(User.id) == Lead.owner_id)
        .where(
            _account_leads(account, contact_ids),
            Lead.kind == "opportunity",
            col(Lead.status).not_in(("won", "lost")),
        )
        .order_by(col(Lead.id))
    )
    return _rows(tx, scope.scoped(tx, query))


def _recent_activities(tx: Tx, account: Account, contact_ids: list[int]) -> list[dict[str, Any]]:
    query = (
        select(
            Activity.id,
            Activity.at,
            Activity.type,
            Activity.status,
            Activity.subject,
            Activity.lead_id,
            col(User.name).label("user"),
        )
        .join(Lead, col(Lead.id) == Activity.lead_id)
        .join(User, col(User.id) == Activity.user_id)
        # what happened, newest first; scheduled items lie ahead and are not "recent"
        .where(_account_leads(account, contact_ids), Activity.at <= tx.now)
        .order_by(col(Activity.at).desc(), col(Activity.id).desc())
        .limit(RECENT_ACTIVITIES)
    )
    return _rows(tx, scope.scoped(tx, query))


def _open_obligations(tx: Tx, account: Account, contact_ids: list[int]) -> list[dict[str, Any]]:
    mine = (Obligation.record_type == "account") & (Obligation.record_id == account.id)
    if contact_ids:
        theirs = (Obligation.record_type == "contact") & col(Obligation.record_id).in_(contact_ids)
        mine = or_(mine, theirs)
    query = (
        select(
            Obligation.rule,
            Obligation.record_type,
            Obligation.record_id,
            Obligation.title,
            Obligation.due_at,
        )
        .where(mine, Obligation.status == "open")
        .order_by(col(Obligation.due_at))
    )
    return [
        {
            **row,
            "record": f"{row['record_type']} {row['record_id']}",
            "overdue": row["due_at"] <= tx.now,
        }
        for row in _rows(tx, query)
    ]


def _quotes(tx: Tx, account: Account, contact_ids: list[int]) -> list[dict[str, Any]]:
    from crmcli.services.quotes import list_quotes

    return list_quotes(tx, leads=select(Lead.id).where(_account_leads(account, contact_ids)))


def _cases(tx: Tx, account: Account, contact_ids: list[int]) -> list[dict[str, Any]]:
    from crmcli.services.cases import CaseFilter, list_cases

    return list_cases(tx, CaseFilter(account_id=account.id))


# a new part of the view is one more Section here
SECTIONS: list[Section] = [
    Section(
        "contacts",
        ("id", "first_name", "last_name", "title", "email", "phone", "verified_at"),
        _contacts,
    ),
    Section(
        "open_opportunities",
        ("id", "name", "type", "stage", "amount", "close_date", "owner"),
        _open_opportunities,
    ),
    Section(
        "recent_activities",
        ("id", "at", "type", "status", "subject", "lead_id", "user"),
        _recent_activities,
    ),
    Section(
        "quotes",
        ("number", "lead_id", "status", "currency", "total", "valid_until", "owner"),
        _quotes,
    ),
    Section(
        "cases", ("id", "title", "severity", "status", "contact", "sla_state", "owner"), _cases
    ),
    Section(
        "open_obligations", ("rule", "record", "title", "due_at", "overdue"), _open_obligations
    ),
]


def account_view(tx: Tx, account_id: int) -> tuple[dict[str, Any], list[tuple[Section, list]]]:
    """The account and each section of its 360° view, in order."""
    record = get_account(tx, account_id)
    account = load_account(tx, account_id, field="ID")
    contact_ids = list(
        tx.session.exec(select(Contact.id).where(Contact.account_id == account_id)).all()
    )
    return record, [(section, section.build(tx, account, contact_ids)) for section in SECTIONS]  # type: ignore[misc]
