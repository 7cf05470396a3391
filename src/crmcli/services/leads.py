"""Leads: add, list, show, edit — validation, duplicate checks and audit in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import col, select

from crmcli.clock import read_when
from crmcli.errors import BadInput, NotFound, PolicyRefusal
from crmcli.records import LEAD_EDITABLE, LEAD_FIELDS
from crmcli.rules import dedupe
from crmcli.rules.validation import check_complete, normalise_lead
from crmcli.services import scope
from crmcli.services.lookups import (
    LIKE_ESCAPE,
    campaign_by_name,
    containing,
    limited,
    load_lead,
    owned_by,
    user_by_name,
)
from crmcli.services.workspace import Tx
from crmcli.store.models import Campaign, Lead, User

CENT = Decimal("0.01")
# how far in the future an acquisition time may lie (clock skew between machines)
ACQUIRED_SKEW = timedelta(minutes=5)


@dataclass
class LeadFilter:
    owner: str | None = None  # a user name, "me" or "none"
    stage: str | None = None
    source: str | None = None
    campaign: str | None = None
    search: str | None = None
    limit: int | None = None


@dataclass
class AddResult:
    lead: dict[str, Any]
    forced_over: list[dedupe.Match] = field(default_factory=list)
    # entered longer after its acquisition than lead.entry allows: how long after
    late_entry: timedelta | None = None


def _lead_query() -> Any:
    """A lead's fields with its owner's and campaign's names (SPEC §3 JSON shape)."""
    columns = [getattr(Lead, name) for name in LEAD_FIELDS if name not in ("owner", "campaign")]
    return (
        select(*columns, col(User.name).label("owner"), col(Campaign.name).label("campaign"))
        .outerjoin(User, col(User.id) == Lead.owner_id)
        .outerjoin(Campaign, col(Campaign.id) == Lead.campaign_id)
    )


def _rows(tx: Tx, query: Any) -> list[dict[str, Any]]:
    """Plain column rows through Core: no ORM identity map for read-only listings (and no
    RowMapping per row: a thousand of them cost `crm lead list` more than its query)."""
    result = tx.session.connection().execute(query)
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def get_lead(tx: Tx, lead_id: int) -> dict[str, Any]:
    rows = _rows(tx, scope.scoped(tx, _lead_query().where(Lead.id == lead_id)))
    if not rows:
        raise NotFound(f"lead {lead_id} not found; list leads with: crm lead list")
    return rows[0]


def list_leads(tx: Tx, where: LeadFilter) -> list[dict[str, Any]]:
    query = scope.scoped(tx, _lead_query().order_by(col(Lead.id)))
    if where.owner:
        query = query.where(owned_by(tx, Lead.owner_id, where.owner))
    if where.stage:
        stages = [s["key"] for s in tx.policy.stages]
        if where.stage not in stages:
            raise BadInput(
                f"--stage: {where.stage!r} is not a stage; use one of {', '.join(stages)}"
            )
        query = query.where(Lead.stage == where.stage)
    if where.source:
        query = query.where(Lead.source == where.source.strip().lower())
    if where.campaign:
        query = query.where(Lead.campaign_id == campaign_by_name(tx, where.campaign).id)
    if where.search:
        pattern = containing(where.search.strip().lower())
        full_name = func.lower(Lead.first_name + " " + Lead.last_name)
        query = query.where(
            or_(
                full_name.like(pattern, escape=LIKE_ESCAPE),
                func.lower(func.coalesce(Lead.company, "")).like(pattern, escape=LIKE_ESCAPE),
                func.lower(func.coalesce(Lead.email, "")).like(pattern, escape=LIKE_ESCAPE),
                func.coalesce(Lead.phone, "").like(pattern, escape=LIKE_ESCAPE),
            )
        )
    return _rows(tx, limited(query, where.limit))


def _validated(tx: Tx, raw: dict[str, Any]) -> dict[str, Any]:
    values = normalise_lead(raw, phone_region=tx.policy.phone_region)
    acquired = raw.get("acquired_at")
    if raw.get("acquired"):
        acquired = read_when(
            raw["acquired"], policy=tx.policy, field="--acquired", prefer="past", relative_to=tx.now
        )
    if acquired is not None:
        if acquired > tx.now + ACQUIRED_SKEW:
            raise BadInput("--acquired: lies in the future; give when the lead was acquired")
        values["acquired_at"] = acquired
    if raw.get("type") is not None:
        from crmcli.rules.gates import normalise_type

        values["type"] = normalise_type(tx.policy, raw["type"])
    if raw.get("owner"):
        name = tx.actor.name if raw["owner"] == "me" else raw["owner"]
        values["owner_id"] = user_by_name(tx, name, field="--owner").id
    if raw.get("campaign"):
        values["campaign_id"] = campaign_by_name(tx, raw["campaign"]).id
        scope.require_campaign(tx, values["campaign_id"], raw["campaign"])
    return values


def _check_owner(
    tx: Tx, owner_id: int | None, campaign_id: int | None, *, field: str = "--owner"
) -> None:
    """A lead's owner may own it, as `assign --to` decides (not deactivated, not a viewer,
    scoped to the lead's campaign): one rule for every way a lead gets or moves an owner."""
    if owner_id is None:
        return
    # here, not at the top: routing's models would load for every `crm lead list`
    from crmcli.services.assignment import ownership_refusal

    refusal = ownership_refusal(tx, tx.session.get(User, owner_id), campaign_id)
    if refusal:
        raise PolicyRefusal(f"{field}: {refusal}")


def change_lead(lead: Lead | dict[str, Any], changes: Mapping[str, Any]) -> None:
    """The one way a lead's columns change: `changes` (column -> value) written into the lead
    (a Lead, or a row as a dict), then its duplicate-search keys (dedupe.blocking_keys)
    re-derived from the result, so `lead dupes` and imports find it by its new name."""
    if isinstance(lead, dict):
        lead.update(changes)
        lead.update(dedupe.blocking_keys(lead))
        return
    for name, value in changes.items():
        setattr(lead, name, value)
    names = {"company": lead.company, "last_name": lead.last_name}
    for key, value in dedupe.blocking_keys(names).items():
        setattr(lead, key, value)


def _duplicates(tx: Tx, lead: dict[str, Any]) -> list[dedupe.Match]:
    keys = dedupe.blocking_keys(lead)
    conditions = []
    if lead.get("email"):
        conditions.append(Lead.email == lead["email"])
    if lead.get("phone"):
        conditions.append(Lead.phone == lead["phone"])
    if keys["company_key"]:
        conditions.append(Lead.company_key == keys["company_key"])
    if keys["last_key"]:
        conditions.append(Lead.last_key == keys["last_key"])
    if not conditions:
        return []
    fields = (Lead.id, Lead.first_name, Lead.last_name, Lead.company, Lead.email, Lead.phone)
    rows = _rows(tx, select(*fields).where(or_(*conditions)))
    rows += _reached_beyond_scope(tx, lead, {row["id"] for row in rows})
    return dedupe.find_duplicates(
        lead,
        rows,
        name_threshold=tx.policy.name_threshold,
        company_threshold=tx.policy.company_threshold,
    )


def _reached_beyond_scope(tx: Tx, lead: dict[str, Any], seen: set[int]) -> list[dict[str, Any]]:
    """Leads with the same email or phone that the server hides from a campaign-scoped login
    (PostgreSQL's row-level security): still duplicates, known by id and by what matched."""
    conn = tx.session.connection()
    if conn.dialect.name != "postgresql" or scope.campaign_scope(tx) is None:
        return []
    if not (lead.get("email") or lead.get("phone")):
        return []
    from crmcli.store.pg_security import leads_reached_at

    return [
        {
            "id": lead_id,
            "first_name": "",
            "last_name": "",
            "company": None,
            "email": lead["email"] if same_email else None,
            "phone": lead["phone"] if same_phone else None,
        }
        for lead_id, same_email, same_phone in leads_reached_at(
            conn, lead.get("email"), lead.get("phone")
        )
        if lead_id not in seen
    ]


def _refuse_duplicates(tx: Tx, matches: list[dedupe.Match]) -> None:
    visible = [m for m in matches if _visible(tx, m.record_id)]
    if not visible:
        # the duplicate lies outside the user's campaigns: say so, show nothing of it
        raise PolicyRefusal(
            f"likely duplicate of a lead outside your campaigns ({matches[0].reason}); ask an "
            "admin, or add anyway with --force (policy dedupe)"
        )
    matches = visible
    details = []
    for match in matches[:5]:
        other = get_lead(tx, match.record_id)
        reach = other["email"] or other["phone"] or ""
        details.append(
            f"  lead {other['id']}: {other['first_name']} {other['last_name']}, "
            f"{other['company'] or '-'} {reach} ({match.reason})"
        )
    raise PolicyRefusal(
        f"likely duplicate of lead {matches[0].record_id} ({matches[0].reason}); "
        "check it, or add anyway with --force (policy dedupe: same email or phone, or names "
        f">= {tx.policy.name_threshold} and companies >= {tx.policy.company_threshold} similar)",
        details=details,
    )


def _visible(tx: Tx, lead_id: int) -> bool:
    lead = tx.session.get(Lead, lead_id)
    return lead is not None and scope.in_scope(tx, lead.campaign_id)


def add_lead(tx: Tx, raw: dict[str, Any], *, force: bool = False) -> AddResult:
    # imported here: `crm lead list` should not load the lifecycle tables and rules
    from crmcli.services import stage_facts
    from crmcli.services.obligations import refresh_lead
    from crmcli.store.models import StageChange

    values = _validated(tx, raw)
    if "campaign_id" not in values:
        values["campaign_id"] = _default_campaign(tx)
    check_complete(values)
    _check_owner(tx, values.get("owner_id"), values.get("campaign_id"))
    values.setdefault("acquired_at", tx.now)
    for name in ("first_name", "last_name"):
        values[name] = values.get(name) or ""
    matches = _duplicates(tx, values)
    if matches and not force:
        _refuse_duplicates(tx, matches)
    lead = Lead(
        **values,
        **dedupe.blocking_keys(values),
        stage=tx.policy.first_stage,
        status="new",
        created_at=tx.now,
        updated_at=tx.now,
        stage_entered_at=tx.now,
        assigned_at=tx.now if values.get("owner_id") else None,
    )
    tx.session.add(lead)
    tx.session.flush()
    tx.session.add(
        StageChange(lead_id=lead.id, to_stage=lead.stage, at=tx.now, actor=tx.actor.name)
    )
    stage_facts.refresh_session(tx.session, [lead.id])
    created = get_lead(tx, lead.id)
    changes = {k: [None, v] for k, v in created.items() if v is not None and k != "id"}
    if matches:
        changes["forced_duplicate_of"] = [None, [m.record_id for m in matches]]
    tx.audit("lead", lead.id, "create", changes)
    entry = next((o for o in refresh_lead(tx, lead) if o.rule == "lead.entry"), None)
    late = entry is not None and entry.met_at is not None and entry.met_at > entry.due_at
    if tx.policy.sequences:  # the welcome is queued now, not at the next `crm tick`
        from crmcli.services import outbox

        outbox.enqueue(tx, [lead])
    return AddResult(created, matches, lead.created_at - lead.acquired_at if late else None)


# an opportunity's own fields (issue 18): `lead edit --amount --close-date --probability`
DEAL_FIELDS = ("amount", "close_date", "probability")


def _deal(lead: Lead) -> dict[str, Any]:
    return {name: getattr(lead, name) for name in DEAL_FIELDS}


def _deal_values(tx: Tx, lead: Lead, raw: dict[str, Any]) -> dict[str, Any]:
    """The opportunity fields given, checked: only an opportunity has them (exit 2)."""
    if not raw:
        return {}
    from crmcli.clock import parse_date
    from crmcli.rules import deals
    from crmcli.services.quotes import today

    flag = "--" + next(iter(raw)).replace("_", "-")
    if lead.kind != "opportunity":
        start = tx.policy.pipeline.opportunity_from
        raise BadInput(
            f"{flag}: lead {lead.id} is not an opportunity yet; qualify it first: "
            f"crm advance {lead.id} {start}"
        )
    values: dict[str, Any] = {}
    if "amount" in raw:
        values["amount"] = deals.parse_amount(raw["amount"])
    if "close_date" in raw:
        when = parse_date(raw["close_date"], field="--close-date")
        values["close_date"] = deals.check_close_date(when, today(tx))
    if "probability" in raw:
        values["probability"] = deals.parse_probability(raw["probability"])
    return values


def edit_lead(tx: Tx, lead_id: int, raw: dict[str, Any], *, force: bool = False) -> dict[str, Any]:
    from crmcli.services.obligations import refresh_lead

    if not raw:
        raise BadInput(
            "nothing to change; give at least one field, e.g. --email, --phone or --amount"
        )
    lead = load_lead(tx, lead_id)
    before = get_lead(tx, lead_id) | _deal(lead)
    deal = _deal_values(tx, lead, {k: raw.pop(k) for k in DEAL_FIELDS if k in raw})
    values = _validated(tx, raw)
    for name in ("first_name", "last_name"):
        if name in values:
            values[name] = values[name] or ""
    merged = {k: getattr(lead, k) for k in LEAD_EDITABLE} | values
    check_complete(merged)
    if {"owner_id", "campaign_id"} & values.keys():
        _check_owner(
            tx,
            values.get("owner_id", lead.owner_id),
            values.get("campaign_id", lead.campaign_id),
            field="--owner" if "owner_id" in values else "--campaign",
        )
    identity = {"first_name", "last_name", "company", "email", "phone"}
    if identity & values.keys():
        matches = _duplicates(tx, {**merged, "id": lead_id})
        if matches and not force:
            _refuse_duplicates(tx, matches)
    change_lead(lead, values | deal)
    tx.session.flush()
    from crmcli.services import audit

    changes = audit.diff(before, get_lead(tx, lead_id) | _deal(lead))
    if not changes:
        return lead_record(tx, lead)
    lead.updated_at = tx.now
    if "owner" in changes:
        lead.assigned_at = tx.now if lead.owner_id else None  # a new owner's 48 h start now
    tx.session.flush()
    tx.audit("lead", lead_id, "update", changes)
    refresh_lead(tx, lead)
    return lead_record(tx, lead)


def lead_record(tx: Tx, lead: Lead) -> dict[str, Any]:
    """A lead as `lead show` prints it: its fields (SPEC §3), then what an opportunity
    carries: amount, close date, win probability (the rep's, else its stage's), lost reason."""
    stage = tx.policy.stage(lead.stage) or {}
    own = lead.probability
    return get_lead(tx, lead.id) | {  # type: ignore[arg-type]
        "kind": lead.kind,
        "amount": None if lead.amount is None else lead.amount.quantize(CENT),
        "close_date": lead.close_date,
        "probability": own if own is not None else stage.get("probability"),
        "probability_set": own is not None,
        "lost_reason": lead.lost_reason,
        "po_number": lead.po_number,
    }


RECENT_ACTIVITIES = 10  # how many `lead show` lists, newest first
ACTIVITY_COLUMNS = (
    "id",
    "at",
    "type",
    "direction",
    "outcome",
    "status",
    "due_at",
    "user",
    "subject",
    "notes",
    "call_report",
)
# what only editors and admins read: the words of an activity may name and quote people
ACTIVITY_PERSONAL = ("subject", "notes", "call_report")


def recent_activities(tx: Tx, lead_id: int) -> list[dict[str, Any]]:
    """The lead's latest activities with their call reports (attendees, topics, issues,
    action items); a viewer sees when, what and who, not the words (personal values)."""
    from crmcli.roles import role_allows
    from crmcli.store.models import Activity

    query = (
        select(Activity, col(User.name))
        .join(User, col(User.id) == Activity.user_id)
        .where(Activity.lead_id == lead_id)
        .order_by(col(Activity.at).desc(), col(Activity.id).desc())
        .limit(RECENT_ACTIVITIES)
    )
    readable = role_allows(tx.actor.role, "editor")
    rows = []
    for activity, user in tx.session.exec(query).all():
        report = activity.details.get("call_report")
        row = {
            "id": activity.id,
            "at": activity.at,
            "type": activity.type,
            "direction": activity.direction,
            "outcome": activity.outcome,
            "status": activity.status,
            "due_at": activity.due_at,
            "user": user,
            "subject": activity.subject,
            "notes": activity.notes,
            "call_report": _call_report(report) if report else None,
        }
        if not readable:
            row.update(dict.fromkeys(ACTIVITY_PERSONAL))
        rows.append(row)
    return rows


def _call_report(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "attendees": list(report.get("attendees", [])),
        "topics": list(report.get("topics", [])),
        "issues": list(report.get("issues", [])),
        "action_items": [
            {
                "text": item.get("text"),
                "due_at": _instant(item.get("due_at")),
                "task": item.get("task"),
            }
            for item in report.get("action_items", [])
        ],
    }


def _instant(text: str | None) -> datetime | None:
    """An action item's due time as stored (ISO text), read back as a datetime."""
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def lead_history(tx: Tx, lead_id: int) -> list[dict[str, Any]]:
    from crmcli.services import audit  # not needed by `crm lead list`

    return audit.history_rows(tx.session, "lead", lead_id)


def _default_campaign(tx: Tx) -> int | None:
    """A user scoped to one campaign adds leads to it; scoped to several, they must say which."""
    allowed = scope.campaign_scope(tx)
    if allowed is None:
        return None
    if len(allowed) == 1:
        return next(iter(allowed))
    from crmcli.store.models import Campaign

    names = sorted(tx.session.get(Campaign, cid).name for cid in allowed)  # type: ignore[union-attr]
    raise BadInput(f"--campaign: you work in several campaigns ({', '.join(names)}); say which")
