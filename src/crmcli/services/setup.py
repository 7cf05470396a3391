"""`crm init`: create or migrate the database, bootstrap the admin, the policy, example data."""

from __future__ import annotations

import json
from datetime import timedelta
from importlib import resources
from typing import Any

from sqlmodel import select

from crmcli.errors import NotPermitted
from crmcli.services import leads, policies, users
from crmcli.services.workspace import Tx, Workspace
from crmcli.store.models import Campaign, Lead


def initialise(ws: Workspace, *, example: bool) -> dict[str, Any]:
    before, after = ws.create()
    with ws.writing(role="viewer", bootstrap=True) as tx:
        admin_created = users.ensure_admin(tx)
        policy_installed = policies.install_default(tx)
        example_loaded = None
        if example:
            if tx.actor.role != "admin":
                raise NotPermitted(
                    f"loading example data needs the admin role; {tx.actor.name} "
                    f"is a {tx.actor.role}"
                )
            example_loaded = load_example(tx)
    return {
        "database": ws.url,
        "schema_before": before,
        "schema": after,
        "admin_created": tx.actor.name if admin_created else None,
        "policy_installed": policy_installed,
        "example_loaded": example_loaded,
    }


def load_example(tx: Tx) -> bool:
    """Load the bundled example team, campaigns and ~30 leads; False if already there."""
    data = json.loads(resources.files("crmcli.data").joinpath("example.json").read_text("utf-8"))
    marker = data["campaigns"][0]
    if tx.session.exec(select(Campaign).where(Campaign.name == marker)).first():
        return False
    for name in data["campaigns"]:
        users.add_campaign(tx, name)
    for user in data["users"]:
        users.add_user(tx, user.pop("name"), **user)
    for row in data["leads"]:
        acquired_at = tx.now - timedelta(hours=row.pop("acquired_hours_ago"))
        state = {k: row.pop(k) for k in ("stage", "status", "score") if k in row}
        extra = {k: row.pop(k) for k in ("lost_reason",) if k in row}
        added = leads.add_lead(tx, {**row, "acquired_at": acquired_at}, force=True)
        lead = tx.session.get(Lead, added.lead["id"])
        lead.stage, lead.status, lead.score = state["stage"], state["status"], state["score"]
        lead.band = tx.policy.band_for(lead.score) if lead.score is not None else None
        lead.extra = extra
        # example leads were created when they were acquired, an hour later
        lead.created_at = lead.updated_at = min(acquired_at + timedelta(hours=1), tx.now)
        tx.session.add(lead)
        tx.audit("lead", lead.id, "update", {k: [None, v] for k, v in state.items()})
    tx.session.flush()
    return True
