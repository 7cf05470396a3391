"""Campaign isolation (SPEC §7): a user scoped to campaigns sees and touches only their leads.

Everything outside the scope behaves as if it did not exist (NotFound, exit 3), so scope
never leaks existence. Admins and unscoped users see everything.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from crmcli.errors import NotFound
from crmcli.services.workspace import Tx
from crmcli.store.models import Lead, UserCampaign


def campaign_scope(tx: Tx) -> frozenset[int] | None:
    """The campaign ids the acting user is limited to, or None for no limit."""
    if "_scope" not in tx.__dict__:
        ids: frozenset[int] | None = None
        if tx.actor.role != "admin" and tx.actor.id is not None:
            found = tx.session.exec(
                select(UserCampaign.campaign_id).where(UserCampaign.user_id == tx.actor.id)
            ).all()
            ids = frozenset(found) or None
        tx.__dict__["_scope"] = ids
    return tx.__dict__["_scope"]


def in_scope(tx: Tx, campaign_id: int | None) -> bool:
    scope = campaign_scope(tx)
    return scope is None or campaign_id in scope


def scoped(tx: Tx, query: Any, campaign_column: Any = None) -> Any:
    """`query` limited to the acting user's campaigns (leads without a campaign are outside)."""
    scope = campaign_scope(tx)
    if scope is None:
        return query
    column = Lead.campaign_id if campaign_column is None else campaign_column
    return query.where(col(column).in_(sorted(scope)))


def require_lead(tx: Tx, lead: Lead | None, lead_id: int) -> Lead:
    """The lead if it exists and is in scope; else the same NotFound either way."""
    if lead is None or not in_scope(tx, lead.campaign_id):
        raise NotFound(f"lead {lead_id} not found; list leads with: crm lead list")
    return lead


def require_campaign(tx: Tx, campaign_id: int | None, name: str | None) -> None:
    """Creating or moving a lead into a campaign outside the scope is refused as not found."""
    if not in_scope(tx, campaign_id):
        if name:
            raise NotFound(f"--campaign: no campaign named {name!r}; see: crm campaign list")
        raise NotFound("--campaign: you work only in your campaigns; give one with --campaign")


def scope_names(tx: Tx) -> list[str] | None:
    """The names of the campaigns the acting user is limited to (None: no limit), for pages
    that must say whose view they show."""
    from crmcli.store.models import Campaign

    scope = campaign_scope(tx)
    if scope is None:
        return None
    found = tx.session.exec(select(Campaign.name).where(col(Campaign.id).in_(sorted(scope))))
    return sorted(found.all())
