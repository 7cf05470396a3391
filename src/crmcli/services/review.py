"""The review queue, resolved by a human: conflicting values for known people (seed 001 §2.3)
and doubtful values an import kept unverified (kind `value`, field 'value.FIELD': accepting
one keeps the lead as it is, rejecting it drops the unverified value from its `extra`)."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, not_, select

from crmcli.errors import BadInput, NotFound
from crmcli.services import scope
from crmcli.services.workspace import Tx
from crmcli.store.models import Lead, ReviewItem

STATUSES = ("open", "accepted", "rejected")
KINDS = ("conflict", "value")
VALUE_ITEM = "value."  # the field of a `value` item: 'value.phone' (services.importer)
UNVERIFIED = "unverified "  # where the lead keeps that value in `extra`: 'unverified phone'


def kind_of(field: str) -> str:
    return "value" if field.startswith(VALUE_ITEM) else "conflict"


def _query() -> Any:
    return select(
        ReviewItem,
        Lead.first_name,
        Lead.last_name,
        Lead.company,
    ).join(Lead, col(Lead.id) == ReviewItem.lead_id)


def _row(item: ReviewItem, first: str, last: str, company: str | None) -> dict[str, Any]:
    name = f"{first} {last}".strip()
    return {
        "id": item.id,
        "lead": item.lead_id,
        "name": f"{name}, {company}" if company else name,
        "kind": kind_of(item.field),
        "field": item.field,
        "current_value": item.current_value,
        "proposed_value": item.proposed_value,
        "source": item.source,
        "status": item.status,
        "created_at": item.created_at,
        "resolved_at": item.resolved_at,
        "resolved_by": item.resolved_by,
    }


def list_reviews(
    tx: Tx, *, status: str | None = "open", lead_id: int | None = None, kind: str | None = None
) -> list[dict[str, Any]]:
    if status is not None and status not in STATUSES:
        raise BadInput(f"--status: {status!r} is not a status; use {', '.join(STATUSES)}")
    if kind is not None and kind not in KINDS:
        raise BadInput(f"--kind: {kind!r} is not a kind; use {' or '.join(KINDS)}")
    query = _query().order_by(col(ReviewItem.id))
    if kind is not None:
        is_value = col(ReviewItem.field).startswith(VALUE_ITEM, autoescape=True)
        query = query.where(is_value if kind == "value" else not_(is_value))
    if status is not None:
        query = query.where(ReviewItem.status == status)
    if lead_id is not None:
        query = query.where(ReviewItem.lead_id == lead_id)
    return [_row(*found) for found in tx.session.exec(scope.scoped(tx, query))]


def _item(tx: Tx, item_id: int) -> tuple[ReviewItem, dict[str, Any]]:
    found = tx.session.exec(scope.scoped(tx, _query().where(ReviewItem.id == item_id))).first()
    if found is None:
        raise NotFound(f"review item {item_id} not found; see: crm review list")
    return found[0], _row(*found)


def get_review(tx: Tx, item_id: int) -> dict[str, Any]:
    return _item(tx, item_id)[1]


def _resolve(tx: Tx, item: ReviewItem, status: str) -> None:
    if item.status != "open":
        raise BadInput(f"review item {item.id} is already {item.status}")
    item.status = status
    item.resolved_at = tx.now
    item.resolved_by = tx.actor.name
    tx.session.add(item)
    tx.session.flush()
    tx.audit(
        "review_item",
        item.id,
        status[:-2] if status.endswith("ed") else status,  # accept | reject
        {
            "status": ["open", status],
            "lead": [None, item.lead_id],
            "field": [None, item.field],
            "proposed_value": [None, item.proposed_value],
        },
    )


def accept(tx: Tx, item_id: int, *, force: bool = False) -> dict[str, Any]:
    """Apply the proposed value to the lead, validated and audited like `lead edit`."""
    from crmcli.services import leads

    item, _shown = _item(tx, item_id)
    if item.status != "open":
        raise BadInput(f"review item {item_id} is already {item.status}")
    if item.field.startswith(VALUE_ITEM):
        pass  # seen: the lead keeps the value as it is, unverified in `extra`
    elif item.field.startswith("extra."):
        lead = tx.session.get(Lead, item.lead_id)
        assert lead is not None
        key = item.field[len("extra.") :]
        old = (lead.extra or {}).get(key)
        lead.extra = {**(lead.extra or {}), key: item.proposed_value}
        lead.updated_at = tx.now
        tx.session.add(lead)
        tx.session.flush()
        tx.audit("lead", item.lead_id, "update", {item.field: [old, item.proposed_value]})
    else:
        leads.edit_lead(tx, item.lead_id, {item.field: item.proposed_value or ""}, force=force)
    _resolve(tx, item, "accepted")
    return _item(tx, item_id)[1]


def reject(tx: Tx, item_id: int) -> dict[str, Any]:
    """Keep the lead as it is; the proposal is not asked again by later imports. A doubtful
    value is dropped from the lead's `extra`."""
    item, _shown = _item(tx, item_id)
    if item.status == "open" and item.field.startswith(VALUE_ITEM):
        lead = tx.session.get(Lead, item.lead_id)
        assert lead is not None
        key = UNVERIFIED + item.field[len(VALUE_ITEM) :]
        if key in (lead.extra or {}):
            old = lead.extra[key]
            lead.extra = {k: v for k, v in lead.extra.items() if k != key}
            lead.updated_at = tx.now
            tx.session.add(lead)
            tx.session.flush()
            tx.audit("lead", item.lead_id, "update", {f"extra.{key}": [old, None]})
    _resolve(tx, item, "rejected")
    return _item(tx, item_id)[1]
