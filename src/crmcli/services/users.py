"""Users and their roles, territories, skills, capacity and campaign scope."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import col, func, select

from crmcli.errors import BadInput, PolicyRefusal
from crmcli.limits import MAX_COUNT
from crmcli.roles import ROLE_ORDER
from crmcli.rules.validation import normalise_territory
from crmcli.services.lookups import campaign_by_name, user_by_name
from crmcli.services.workspace import Tx
from crmcli.store.models import Campaign, User, UserCampaign

_NAME = re.compile(r"^[\w.@+-]{1,64}$")
# an OS login (or a domain login such as DOMAIN\\name or name@realm): no spaces or controls
_LOGIN = re.compile(r"^[^\s\x00-\x1f\x7f]{1,128}$")
# the acting user in options like --owner me and --to me: no user may be called that
ME = "me"


def check_role(role: str) -> str:
    if role not in ROLE_ORDER:
        raise BadInput(f"--role: {role!r} is not a role; use {', '.join(ROLE_ORDER)}")
    return role


def user_row(tx: Tx, user: User) -> dict[str, Any]:
    campaigns = tx.session.exec(
        select(Campaign.name)
        .join(UserCampaign, col(UserCampaign.campaign_id) == Campaign.id)
        .where(UserCampaign.user_id == user.id)
        .order_by(Campaign.name)
    ).all()
    return {
        "id": user.id,
        "name": user.name,
        "role": user.role,
        "territories": user.territories,
        "skills": user.skills,
        "capacity": user.capacity,
        "campaigns": list(campaigns),
        "login": user.login,
        "email": user.email,
        "created_at": user.created_at,
    }


def add_user(
    tx: Tx,
    name: str,
    *,
    role: str,
    territories: list[str] = (),
    skills: list[str] = (),
    capacity: int | None = None,
    campaigns: list[str] = (),
    signature: str | None = None,
    login: str | None = None,
    email: str | None = None,
) -> dict[str, Any]:
    name = name.strip()
    if not _NAME.match(name):
        raise BadInput(
            f"name: {name!r} is not a usable user name; use letters, digits and . _ @ + - "
            "(it is what --as takes)"
        )
    if name.lower() == ME:
        raise BadInput(
            f"name: {name!r} is reserved: options like --owner me and --to me mean the acting "
            "user; choose another name"
        )
    if tx.session.exec(select(User).where(User.name == name)).first():
        raise BadInput(f"name: user {name!r} exists already; change it with crm user set-role")
    if login is not None:
        login = _free_login(tx, login, user_id=None)
    if email is not None:
        email = _free_email(tx, email, user_id=None)
    if capacity is not None and not 0 <= capacity <= MAX_COUNT:
        raise BadInput(f"--capacity: give 0 to {MAX_COUNT:,} open leads")
    user = User(
        name=name,
        role=check_role(role),
        territories=sorted({normalise_territory(t) for t in territories}),
        skills=sorted({s.strip().lower() for s in skills if s.strip()}),
        capacity=capacity,
        created_at=tx.now,
        signature=_signature(signature),
        login=login,
        email=email,
    )
    scoped = [campaign_by_name(tx, c) for c in campaigns]
    tx.session.add(user)
    tx.session.flush()
    if login is not None:
        _keep_an_admin_bound(tx)
    for campaign in scoped:
        tx.session.add(UserCampaign(user_id=user.id, campaign_id=campaign.id))
    tx.session.flush()
    row = user_row(tx, user)
    created = {k: [None, v] for k, v in row.items() if k != "id"}
    if user.signature:
        created["signature"] = [None, user.signature]
    tx.audit("user", user.id, "create", created)
    grant_login(tx, user)
    return row


def grant_login(tx: Tx, user: User) -> None:
    """On PostgreSQL the server enforces the roles: the user's login (made when missing) in
    its role's group and, unless limited to campaigns, in the one that sees them all."""
    conn = tx.session.connection()
    if conn.dialect.name != "postgresql":
        return
    from crmcli.store import pg_security

    tx.session.flush()
    scoped = tx.session.exec(
        select(UserCampaign.campaign_id).where(UserCampaign.user_id == user.id).limit(1)
    ).first()
    pg_security.grant_login(
        conn, user.name, role=user.role, scoped=scoped is not None, active=user.active
    )


def grant_logins(tx: Tx) -> None:
    """Every user's login in its groups (crm init: also after moving from an older set-up)."""
    for user in tx.session.exec(select(User).order_by(col(User.id))).all():
        grant_login(tx, user)


def _signature(text: str | None) -> str | None:
    """A signature given on the command line: a typed \\n is a line break."""
    if text is None:
        return None
    return text.replace("\\n", "\n").strip() or None


def set_signature(tx: Tx, name: str, text: str) -> dict[str, Any]:
    """The signature that closes automated messages to the user's leads ("" removes it)."""
    user = user_by_name(tx, name)
    old, user.signature = user.signature, _signature(text)
    if old != user.signature:
        tx.session.add(user)
        tx.session.flush()
        tx.audit("user", user.id, "update", {"signature": [old, user.signature]})
    return {**user_row(tx, user), "signature": user.signature}


def bind_login(tx: Tx, name: str, login: str | None) -> dict[str, Any]:
    """Bind a user to an OS login (None: unbind). Whoever runs crm under that login acts as
    the user (README: Security model); a login belongs to one user at most."""
    user = user_by_name(tx, name)
    if login is not None:
        login = _free_login(tx, login, user_id=user.id)
    old = user.login
    if old == login:
        return user_row(tx, user)
    user.login = login
    tx.session.add(user)
    tx.session.flush()
    _keep_an_admin_bound(tx)
    tx.audit("user", user.id, "update", {"login": [old, login]})
    return user_row(tx, user)


def set_email(tx: Tx, name: str, email: str) -> dict[str, Any]:
    """The user's email ("" removes it): an import's owner column may name them by it."""
    user = user_by_name(tx, name)
    old = user.email
    new = _free_email(tx, email, user_id=user.id) if email.strip() else None
    if old != new:
        user.email = new
        tx.session.add(user)
        tx.session.flush()
        tx.audit("user", user.id, "update", {"email": [old, new]})
    return user_row(tx, user)


def _free_email(tx: Tx, email: str, *, user_id: int | None) -> str:
    from crmcli.rules.validation import normalise_email

    email = normalise_email(email, field="--email")
    holder = tx.session.exec(select(User).where(User.email == email)).first()
    if holder is not None and holder.id != user_id:
        raise BadInput(f"--email: {email} is {holder.name}'s already; one email, one user")
    return email


def _free_login(tx: Tx, login: str, *, user_id: int | None) -> str:
    login = login.strip()
    if not _LOGIN.match(login):
        raise BadInput(
            f"--login: {login!r} is not an OS login; give the account name, e.g. the output "
            "of whoami"
        )
    holder = tx.session.exec(select(User).where(User.login == login)).first()
    if holder is not None and holder.id != user_id:
        raise BadInput(
            f"--login: {login} is bound to {holder.name} already; a login acts as one user "
            f"(unbind it first: crm user bind {holder.name} --clear)"
        )
    return login


def _keep_an_admin_bound(tx: Tx) -> None:
    """Once logins are bound, one must be an admin's: otherwise no login could act as an
    admin again (--as needs one), and nobody could change users or the policy. (Not on
    PostgreSQL, where the database login is the user and bindings play no part.)"""
    if tx.session.get_bind().dialect.name == "postgresql":
        return
    bound = select(User.id).where(col(User.login).is_not(None))
    if tx.session.exec(bound.limit(1)).first() is None:
        return
    admin = bound.where(User.role == "admin", col(User.active).is_(True))
    if tx.session.exec(admin.limit(1)).first() is None:
        raise PolicyRefusal(
            "this would leave no admin bound to a login, so no login could act as an admin; "
            f"bind an admin first, e.g. crm user bind {tx.actor.name} --login {tx.login}"
        )


def list_users(tx: Tx) -> list[dict[str, Any]]:
    users = tx.session.exec(select(User).order_by(col(User.name))).all()
    return [user_row(tx, u) for u in users]


def set_role(tx: Tx, name: str, role: str) -> dict[str, Any]:
    user = user_by_name(tx, name)
    old = user.role
    if old == check_role(role):
        return user_row(tx, user)
    if old == "admin":
        admins = tx.session.exec(select(func.count()).where(User.role == "admin")).one()
        if admins <= 1:
            raise PolicyRefusal(f"{name} is the last admin; make another user admin first")
    user.role = role
    tx.session.add(user)
    tx.session.flush()
    tx.audit("user", user.id, "update", {"role": [old, role]})
    grant_login(tx, user)
    return user_row(tx, user)


def ensure_admin(tx: Tx) -> bool:
    """Register the acting user as admin when the database has no users yet."""
    if tx.actor.id is not None:
        return False
    tx.session.add(tx.actor)
    tx.session.flush()
    created = {"name": [None, tx.actor.name], "role": [None, "admin"]}
    if tx.actor.login is not None:
        created["login"] = [None, tx.actor.login]
    tx.audit("user", tx.actor.id, "create", created)
    return True


def add_campaign(tx: Tx, name: str) -> dict[str, Any]:
    name = " ".join(name.split())
    if not name:
        raise BadInput("name: give the campaign a name")
    if tx.session.exec(select(Campaign).where(Campaign.name == name)).first():
        raise BadInput(f"name: campaign {name!r} exists already")
    campaign = Campaign(name=name, created_at=tx.now)
    tx.session.add(campaign)
    tx.session.flush()
    tx.audit("campaign", campaign.id, "create", {"name": [None, name]})
    return {"id": campaign.id, "name": name, "created_at": campaign.created_at}


def list_campaigns(tx: Tx) -> list[dict[str, Any]]:
    rows = tx.session.exec(select(Campaign).order_by(col(Campaign.name))).all()
    return [{"id": c.id, "name": c.name, "created_at": c.created_at} for c in rows]


def set_scope(tx: Tx, name: str, campaigns: list[str], *, clear: bool) -> dict[str, Any]:
    """Limit a user to campaigns (or lift the limit); admins always see everything."""
    if clear == bool(campaigns):
        raise BadInput("--campaign: give the campaigns to limit the user to, or --clear")
    user = user_by_name(tx, name)
    before = user_row(tx, user)["campaigns"]
    wanted = [] if clear else [campaign_by_name(tx, c) for c in campaigns]
    for link in tx.session.exec(select(UserCampaign).where(UserCampaign.user_id == user.id)):
        tx.session.delete(link)
    tx.session.flush()
    for campaign in wanted:
        tx.session.add(UserCampaign(user_id=user.id, campaign_id=campaign.id))
    tx.session.flush()
    row = user_row(tx, user)
    if row["campaigns"] != before:
        tx.audit("user", user.id, "update", {"campaigns": [before, row["campaigns"]]})
        grant_login(tx, user)
    return row
