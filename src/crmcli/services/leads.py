"""Leads: add, list, show, edit — validation, duplicate checks and audit in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import col, select

from crmcli.clock import parse_when
from crmcli.errors import BadInput, NotFound, PolicyRefusal
from crmcli.records import LEAD_EDITABLE, LEAD_FIELDS
from crmcli.rules import dedupe
from crmcli.rules.validation import check_complete, normalise_lead
from crmcli.services import scope
from crmcli.services.lookups import campaign_by_name, limited, load_lead, owned_by, user_by_name
from crmcli.services.workspace import Tx
from crmcli.store.models import Campaign, Lead, User

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


def _lead_query() -> Any:
    """A lead's fields with its owner's and campaign's names (SPEC §3 JSON shape)."""
    columns = [getattr(Lead, name) for name in LEAD_FIELDS if name not in ("owner", "campaign")]
    return (
        select(*columns, col(User.name).label("owner"), col(Campaign.name).label("campaign"))
        .outerjoin(User, col(User.id) == Lead.owner_id)
        .outerjoin(Campaign, col(Campaign.id) == Lead.campaign_id)
    )


def _rows(tx: Tx, query: Any) -> list[dict[str, Any]]:
    """Plain column rows through Core: no ORM identity map for read-only listings."""
    return [dict(m) for m in tx.session.connection().execute(query).mappings()]


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
        pattern = f"%{where.search.strip().lower()}%"
        full_name = func.lower(Lead.first_name + " " + Lead.last_name)
        query = query.where(
            or_(
                full_name.like(pattern),
                func.lower(func.coalesce(Lead.company, "")).like(pattern),
                func.lower(func.coalesce(Lead.email, "")).like(pattern),
                func.coalesce(Lead.phone, "").like(pattern),
            )
        )
    return _rows(tx, limited(query, where.limit))


def _validated(tx: Tx, raw: dict[str, Any]) -> dict[str, Any]:
    values = normalise_lead(raw, phone_region=tx.policy.phone_region)
    acquired = raw.get("acquired_at")
    if raw.get("acquired"):
        acquired = parse_when(raw["acquired"], default_tz=tx.policy.timezone, field="--acquired")
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
    refresh_lead(tx, lead)
    return AddResult(created, matches)


def edit_lead(tx: Tx, lead_id: int, raw: dict[str, Any], *, force: bool = False) -> dict[str, Any]:
    from crmcli.services.obligations import refresh_lead

    if not raw:
        raise BadInput("nothing to change; give at least one field, e.g. --email or --phone")
    lead = load_lead(tx, lead_id)
    before = get_lead(tx, lead_id)
    values = _validated(tx, raw)
    for name in ("first_name", "last_name"):
        if name in values:
            values[name] = values[name] or ""
    merged = {k: getattr(lead, k) for k in LEAD_EDITABLE} | values
    check_complete(merged)
    identity = {"first_name", "last_name", "company", "email", "phone"}
    if identity & values.keys():
        matches = _duplicates(tx, {**merged, "id": lead_id})
        if matches and not force:
            _refuse_duplicates(tx, matches)
    for key, value in (values | dedupe.blocking_keys(merged)).items():
        setattr(lead, key, value)
    tx.session.flush()
    from crmcli.services import audit

    changes = audit.diff(before, get_lead(tx, lead_id))
    if not changes:
        return before
    lead.updated_at = tx.now
    if "owner" in changes:
        lead.assigned_at = tx.now if lead.owner_id else None  # a new owner's 48 h start now
    tx.session.flush()
    tx.audit("lead", lead_id, "update", changes)
    refresh_lead(tx, lead)
    return get_lead(tx, lead_id)


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
