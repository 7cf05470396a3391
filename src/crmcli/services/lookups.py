"""Resolving names given on the command line to records."""

from __future__ import annotations

from sqlmodel import select

from crmcli.errors import NotFound
from crmcli.services.workspace import Tx
from crmcli.store.models import Campaign, Lead, User


def user_by_name(tx: Tx, name: str, *, field: str = "user") -> User:
    user = tx.session.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise NotFound(f"{field}: no user named {name!r}; see: crm user list")
    return user


def campaign_by_name(tx: Tx, name: str) -> Campaign:
    campaign = tx.session.exec(select(Campaign).where(Campaign.name == name.strip())).first()
    if campaign is None:
        raise NotFound(
            f"--campaign: no campaign named {name!r}; an admin can create it with: "
            f"crm campaign add {name!r}"
        )
    return campaign


def load_lead(tx: Tx, lead_id: int) -> Lead:
    """The lead as an ORM object to change; NotFound (exit 3) if it does not exist or lies
    outside the acting user's campaigns (scope must not reveal what exists)."""
    from crmcli.services.scope import require_lead

    return require_lead(tx, tx.session.get(Lead, lead_id), lead_id)
