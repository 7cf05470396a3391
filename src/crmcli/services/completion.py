"""The values shell completion offers (stage keys, user names, rule ids, lead ids), read
from the database the command line names; each as (value, what it is)."""

from __future__ import annotations

from sqlmodel import select

from crmcli.context import AppContext
from crmcli.services.scope import scoped
from crmcli.services.workspace import Tx, Workspace
from crmcli.store.models import Lead, User

KINDS = ("stage", "user", "rule", "lead")
MAX_LEADS = 200  # the newest ones: a shell lists them, it does not page through thousands


def choices(context: AppContext, kind: str, incomplete: str) -> list[tuple[str, str]]:
    """The `kind` values that start with `incomplete`, as the acting user may see them."""
    with Workspace(context).reading() as tx:
        found = {"stage": _stages, "user": _users, "rule": _rules, "lead": _leads}[kind](tx)
    return [(value, about) for value, about in found if value.startswith(incomplete)]


def _stages(tx: Tx) -> list[tuple[str, str]]:
    return [(s["key"], s.get("name", s["key"])) for s in tx.policy.stages] + [
        ("nurture", "out of the active pipeline")
    ]


def _users(tx: Tx) -> list[tuple[str, str]]:
    return [(name, role) for name, role in tx.session.exec(select(User.name, User.role))]


def _rules(tx: Tx) -> list[tuple[str, str]]:
    return [(rule_id, "policy rule") for rule_id in sorted(tx.policy.rule_ids)]


def _leads(tx: Tx) -> list[tuple[str, str]]:
    query = select(Lead.id, Lead.first_name, Lead.last_name, Lead.company)
    query = scoped(tx, query).order_by(Lead.id.desc()).limit(MAX_LEADS)  # type: ignore[union-attr]
    found = []
    for lead_id, first, last, company in tx.session.exec(query):
        name = f"{first} {last}".strip()
        found.append((str(lead_id), f"{name} ({company})" if company else name))
    return found
