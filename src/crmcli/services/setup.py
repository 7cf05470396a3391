"""`crm init`: create or migrate the database, bootstrap the admin, the policy, example data."""

from __future__ import annotations

import json
from datetime import timedelta
from importlib import resources
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from crmcli.errors import NotPermitted
from crmcli.roles import article
from crmcli.services import activities, leads, pipeline, policies, seals, stage_facts, users
from crmcli.services.obligations import refresh_lead
from crmcli.services.workspace import Tx, Workspace
from crmcli.store.models import Campaign, Lead, StageChange, User


def initialise(ws: Workspace, *, example: bool) -> dict[str, Any]:
    before, after = ws.create()

    def bootstrap(tx: Tx) -> dict[str, Any]:
        admin_created = users.ensure_admin(tx)
        if tx.actor.role == "admin":
            users.grant_logins(tx)  # PostgreSQL: every login in its groups (idempotent)
        policy_installed = policies.install_default(tx)
        example_loaded = None
        if example:
            if tx.actor.role != "admin":
                raise NotPermitted(
                    f"loading example data needs the admin role; {tx.actor.name} "
                    f"is {article(tx.actor.role)}"
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

    return ws.write(bootstrap, bootstrap=True)


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
    lead_ids = []
    for row in data["leads"]:
        acquired_at = tx.now - timedelta(hours=row.pop("acquired_hours_ago"))
        state = {k: row.pop(k) for k in ("stage", "status", "score") if k in row}
        closing = {k: row.pop(k) for k in ("lost_reason", "po_number") if k in row}
        closing |= _deal_terms(tx, row)
        added = leads.add_lead(tx, {**row, "acquired_at": acquired_at}, force=True)
        _place(tx, tx.session.get(Lead, added.lead["id"]), acquired_at, state, closing)
        lead_ids.append(added.lead["id"])
    for item in data.get("activities", []):
        # "lead" is the 1-based position in the example's lead list, not a database id
        _example_activity(tx, tx.session.get(Lead, lead_ids[item["lead"] - 1]), item)
    _example_accounts_and_cases(tx, data)
    tx.session.flush()
    return True


def _example_accounts_and_cases(tx: Tx, data: dict) -> None:
    """Customer accounts (one key account whose renewal is due) and service cases (one past
    its acknowledgement SLA), so the first report shows those rules too."""
    from crmcli.services import accounts, cases

    account_ids = []
    for row in data.get("accounts", []):
        contract_end = (tx.now + timedelta(days=row.pop("contract_end_days"))).date()
        saved = accounts.add_account(tx, {**row, "contract_end": contract_end.isoformat()})
        account_ids.append(saved.record["id"])
    for row in data.get("cases", []):
        opened = tx.now - timedelta(hours=row["opened_hours_ago"])
        cases.open_case(
            tx,
            target=f"account:{account_ids[row['account'] - 1]}",
            title=row["title"],
            severity=row["severity"],
            owner=row["owner"],
            at=opened.isoformat(),
        )


def _example_activity(tx: Tx, lead: Lead | None, item: dict) -> None:
    """An inbound message from a customer, or a scheduled next step, relative to now."""
    owner = tx.session.get(User, lead.owner_id) if lead and lead.owner_id else None
    if lead is None or owner is None:
        return
    if item["type"] == "task":
        due_at = tx.now + timedelta(hours=item["due_in_hours"])
        activities.record_activity(
            tx,
            lead=lead,
            type="task",
            user=owner,
            status="open",
            at=due_at,
            due_at=due_at,
            subject=item["subject"],
            duration_minutes=30,
        )
    else:
        activities.record_activity(
            tx,
            lead=lead,
            type=item["type"],
            user=owner,
            direction=item["direction"],
            subject=item["subject"],
            at=tx.now - timedelta(hours=item["hours_ago"]),
        )


def _deal_terms(tx: Tx, row: dict) -> dict[str, Any]:
    """An example opportunity's value and expected (or actual) close date, relative to now,
    so the pipeline, forecast and dashboard of the example show real money."""
    from decimal import Decimal

    terms: dict[str, Any] = {}
    if "amount" in row:
        terms["amount"] = Decimal(str(row.pop("amount")))
    if "close_in_days" in row:
        local_today = tx.now.astimezone(tx.policy.timezone).date()
        terms["close_date"] = local_today + timedelta(days=row.pop("close_in_days"))
    return terms


def _place(tx: Tx, lead: Lead, acquired_at: Any, state: dict, closing: dict) -> None:
    """Put an example lead where the example says it stands, as if it had got there."""
    # example leads were entered an hour after acquisition, and moved on since
    entered = min(acquired_at + timedelta(hours=1), tx.now)
    lead.created_at = lead.updated_at = entered
    # its entry into the first stage goes back with it: a history in time order
    seals.touch_where(tx.session, "stage_change", "lead_id", [lead.id])
    tx.session.execute(
        update(StageChange)
        .where(col(StageChange.lead_id) == lead.id, col(StageChange.from_stage).is_(None))
        .values(at=entered)
    )
    lead.assigned_at = entered if lead.owner_id else None
    lead.stage_entered_at = (
        entered + (tx.now - entered) / 2 if state["stage"] != lead.stage else entered
    )
    lead.score = state["score"]
    lead.band = tx.policy.band_for(lead.score) if lead.score is not None else None
    for key, value in closing.items():
        setattr(lead, key, value)
    if state["stage"] != lead.stage:
        tx.session.add(
            StageChange(
                lead_id=lead.id,
                from_stage=lead.stage,
                to_stage=state["stage"],
                at=lead.stage_entered_at,
                actor=tx.actor.name,
                seconds_in_from=int((lead.stage_entered_at - entered).total_seconds()),
            )
        )
        lead.stage = state["stage"]
        pipeline.update_status(tx, lead)
    keys = tx.policy.stage_keys()
    passed = tx.policy.stages[: keys.index(state["stage"]) + 1]
    if any("quote" in stage.get("requires", []) for stage in passed):
        # every proposal has its quote in the CRM (seed 002), sent; won ones accepted
        from decimal import Decimal

        from crmcli.services.quotes import example_quote

        # one proposal in two waits for its 20% discount to be approved (quote.approval)
        waiting = state["stage"] == "proposal" and lead.id % 2 == 0  # type: ignore[operator]
        lead.quote_ref = example_quote(
            tx,
            lead,
            # the quote is what the opportunity is worth
            price=closing.get("amount") or Decimal(12000 + 1000 * lead.id),  # type: ignore[operator]
            status="accepted" if state["status"] == "won" else "submitted" if waiting else "sent",
            po=closing.get("po_number"),
            discount=20 if waiting else 0,
        )
    lead.status = state["status"]
    if state["status"] in ("contacted", "qualified", "won", "lost"):
        lead.first_response_at = entered + timedelta(minutes=40)
        activities.record_activity(
            tx,
            lead=lead,
            type="call",
            outcome="connected",
            at=lead.first_response_at,
            notes="first call (example)",
        )
    tx.session.add(lead)
    # re-dated and moved on: its stage-history facts follow
    stage_facts.refresh_session(tx.session, [lead.id])
    placed = {**state, **{k: str(closing[k]) for k in ("amount", "close_date") if k in closing}}
    tx.audit("lead", lead.id, "update", {k: [None, v] for k, v in placed.items()})
    refresh_lead(tx, lead)
