"""Resolving names given on the command line to records."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from crmcli.errors import BadInput, NotFound
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


def owner_id(tx: Tx, owner: str, *, field: str = "--owner") -> int | None:
    """A user name, "me" (the acting user) or "none" (no owner) as a user id."""
    if owner == "none":
        return None
    return user_by_name(tx, tx.actor.name if owner == "me" else owner, field=field).id


def owned_by(tx: Tx, column: Any, owner: str) -> Any:
    """The filter of `--owner NAME|me|none` on a record's owner column."""
    found = owner_id(tx, owner)
    return col(column).is_(None) if found is None else column == found


LIKE_ESCAPE = "\\"


def containing(text: str) -> str:
    """A LIKE pattern (with ESCAPE LIKE_ESCAPE) matching `text` anywhere: what the user typed
    is text, so its % and _ match themselves rather than anything."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def limited(query: Any, limit: int | None) -> Any:
    if limit is None:
        return query
    if limit < 1:
        raise BadInput("--limit: give 1 or more")
    return query.limit(limit)


def rows(tx: Tx, query: Any) -> list[dict[str, Any]]:
    """Plain column rows through Core: no ORM identity map for read-only listings."""
    return [dict(m) for m in tx.session.connection().execute(query).mappings()]
