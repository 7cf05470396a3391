"""Compliance: the quarterly random-sample audit (seed 003 §VI) and `crm doctor`.

The audit reads what the program stored while it worked (obligations, stage history, audit
events); the rules it applies are in rules/sampling.py. Neither function prints.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from crmcli.context import AppContext
from crmcli.errors import BadInput
from crmcli.rules import sampling
from crmcli.rules.policy import PolicyInvalid, parse_policy
from crmcli.services import audit
from crmcli.services.scope import scoped
from crmcli.services.workspace import Tx, Workspace, anyone_bound
from crmcli.store.models import AuditEvent, Lead, Obligation, PolicyVersion, StageChange, User

AUDITED_RULES = {
    "lead.entry": "entry",
    "lead.first_response": "first_response",
    "lead.follow_up": "follow_up",
}
SAMPLE_FIELDS = (
    "lead_id",
    "lead",
    "owner",
    "stage",
    "status",
    *sampling.CHECKS,
    "verdict",
    "findings",
)
BATCH = 500
SEED_LIMIT = 1_000_000  # generated seeds stay short enough to read out and retype


# --- the quarterly audit ---------------------------------------------------------------------


def audit_sample(
    tx: Tx, n: int, quarter: str | None = None, seed: int | None = None
) -> dict[str, Any]:
    """Draw `n` leads touched in `quarter` ("2026Q3"; default: the last complete quarter)
    and check each against the policy. Returns the period, the seed (drawn when not given,
    so the sample can be reproduced), the population and one row per sampled lead."""
    if n < 1:
        raise BadInput("N: sample at least 1 lead")
    tz = tx.policy.timezone
    period = sampling.parse_quarter(quarter, now=tx.now, tz=tz)
    if seed is None:
        seed = secrets.randbelow(SEED_LIMIT)
    population = touched_leads(tx, period)
    chosen = sampling.draw_sample(population, n, seed)
    labels = sampling.check_labels(tx.policy)
    rows = [
        _row(lead, owner, sampling.evaluate(facts, tx.now, tz), labels)
        for lead, owner, facts in _facts(tx, chosen)
    ]
    return {
        "quarter": period.label,
        "starts_at": period.starts_at,
        "ends_before": period.ends_before,
        "complete": period.ends_before <= tx.now,
        "seed": seed,
        "requested": n,
        "population": len(population),
        "sample_size": len(rows),
        "checked_at": tx.now,
        "checked_by": tx.actor.name,
        "checks": labels,
        "failed": sum(1 for row in rows if row["verdict"] == sampling.FAIL),
        "rows": rows,
    }


def touched_leads(tx: Tx, period: sampling.Quarter) -> list[int]:
    """Ids of the leads (in the user's campaign scope) with an audit event in the period."""
    events = select(AuditEvent.record_id).where(
        AuditEvent.record_type == "lead",  # ix_audit_record
        col(AuditEvent.at) >= period.starts_at,
        col(AuditEvent.at) < period.ends_before,
    )
    query = select(Lead.id).where(col(Lead.id).in_(events)).order_by(col(Lead.id))
    return list(tx.session.exec(scoped(tx, query)))


def _facts(
    tx: Tx, lead_ids: list[int]
) -> Iterator[tuple[Lead, str | None, sampling.LeadAuditFacts]]:
    """Each lead with its owner's name and the facts its checks need, in id order."""
    for start in range(0, len(lead_ids), BATCH):  # a bound parameter per id: keep under limits
        yield from _batch_facts(tx, lead_ids[start : start + BATCH])


def _batch_facts(
    tx: Tx, lead_ids: list[int]
) -> Iterator[tuple[Lead, str | None, sampling.LeadAuditFacts]]:
    leads = tx.session.exec(
        select(Lead, User.name)
        .outerjoin(User, col(User.id) == Lead.owner_id)
        .where(col(Lead.id).in_(lead_ids))
        .order_by(col(Lead.id))
    ).all()
    obligations: dict[int, dict[str, sampling.ObligationFacts]] = {i: {} for i in lead_ids}
    for row in tx.session.exec(
        select(Obligation).where(
            Obligation.record_type == "lead",
            col(Obligation.record_id).in_(lead_ids),
            col(Obligation.rule).in_(list(AUDITED_RULES)),
        )
    ):
        ended = row.detail.get("ended_at")
        obligations[row.record_id][AUDITED_RULES[row.rule]] = sampling.ObligationFacts(
            status=row.status,
            started_at=row.started_at,
            due_at=row.due_at,
            met_at=row.met_at,
            ended_at=datetime.fromisoformat(ended) if ended else None,
        )
    moves: dict[int, list[sampling.StageMove]] = {i: [] for i in lead_ids}
    for change in tx.session.exec(
        select(StageChange).where(col(StageChange.lead_id).in_(lead_ids))
    ):
        moves[change.lead_id].append(
            sampling.StageMove(change.id, change.to_stage, change.at)  # type: ignore[arg-type]
        )
    logged: dict[int, list[sampling.LoggedStage]] = {i: [] for i in lead_ids}
    for event in tx.session.exec(
        select(AuditEvent).where(
            AuditEvent.record_type == "lead", col(AuditEvent.record_id).in_(lead_ids)
        )
    ):
        stage = _stage_entered(event.changes)
        if stage is not None:
            logged[event.record_id].append(  # type: ignore[index]
                sampling.LoggedStage(event.id, stage, event.at)  # type: ignore[arg-type]
            )
    for lead, owner in leads:
        found = obligations[lead.id]
        facts = sampling.LeadAuditFacts(
            lead_id=lead.id,  # type: ignore[arg-type]
            entry=found.get("entry"),
            first_response=found.get("first_response"),
            follow_up=found.get("follow_up"),
            assigned=lead.assigned_at is not None,
            stage_moves=tuple(moves[lead.id]),
            logged_stages=tuple(logged[lead.id]),
        )
        yield lead, owner, facts


def _stage_entered(changes: Any) -> str | None:
    """The stage an audit event says the lead entered ({"stage": [old, new]}), if any."""
    value = changes.get("stage") if isinstance(changes, dict) else None
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], str):
        return value[1]
    return None


def _row(
    lead: Lead, owner: str | None, result: sampling.LeadAudit, labels: dict[str, str]
) -> dict[str, Any]:
    name = f"{lead.first_name} {lead.last_name}".strip()
    row: dict[str, Any] = {
        "lead_id": lead.id,
        "lead": ", ".join(part for part in (name, lead.company) if part),
        "owner": owner,
        "stage": lead.stage,
        "status": lead.status,
    }
    for check, outcome in result.checks.items():
        row[check] = outcome.outcome
    row["verdict"] = result.verdict
    row["findings"] = [
        f"{labels[check]}: {outcome.detail}"
        for check, outcome in result.checks.items()
        if outcome.outcome in (sampling.FAIL, sampling.PENDING)
    ]
    return row


# --- crm doctor ------------------------------------------------------------------------------

OWNER_ONLY_FILE, OWNER_ONLY_DIR = 0o600, 0o700


def doctor(app: AppContext) -> dict[str, Any]:
    """Health of the database: file permissions, schema, stored policy, audit chain, and
    the obligations (derived data) against what the records and the policy make of them.

    Changes nothing beyond what opening any database does (an older schema is migrated; a
    newer one is refused with StorageError, exit 6). Any known user, viewers too, may run it.
    """
    from crmcli.store.engine import make_engine, schema_version, sqlite_path
    from crmcli.store.migrations import SCHEMA_HEAD

    ws = Workspace(app)
    ws.tolerate_bad_policy = True  # reporting an unreadable stored policy is the doctor's job
    found_schema = schema_version(make_engine(ws.url))  # before opening migrates it
    current_schema = schema_version(ws.engine)  # opening refuses a newer schema (exit 6)
    path = sqlite_path(ws.url)
    checks = [*permission_checks(path), _schema_check(found_schema, current_schema, SCHEMA_HEAD)]
    with ws.reading() as tx:
        checks += [policy_check(tx), chain_check(tx), identity_check(tx)]
        checks.append(obligations_check(tx, policy_ok=checks[-3]["status"] == "ok"))
    problems = [line for check in checks for line in check.pop("problems")]
    return {
        "database": str(path) if path else ws.url,
        "ok": not problems,
        "checks": checks,
        "problems": problems,
    }


def _check(
    check: str, subject: str, status: str, detail: str, problems: list[str] | None = None
) -> dict[str, Any]:
    """One line of the report; `problems` are the one-line findings a `problem` carries."""
    return {
        "check": check,
        "subject": subject,
        "status": status,  # ok | problem | skipped
        "detail": detail,
        "problems": problems or [],
    }


def permission_checks(db: Path | None) -> list[dict[str, Any]]:
    """The database file, its -wal and -shm companions (0600) and its directory (0700)."""
    if db is None:
        return [_check("permissions", "database", "skipped", "not a SQLite file")]
    if os.name != "posix":
        return [_check("permissions", str(db), "skipped", "not a POSIX system")]
    companions = [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm")]
    checks = [_mode_check(path, OWNER_ONLY_FILE) for path in (db, *companions) if path.exists()]
    checks.append(_mode_check(db.parent, OWNER_ONLY_DIR))
    return checks


def _mode_check(path: Path, wanted: int) -> dict[str, Any]:
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return _check("permissions", str(path), "ok", f"{mode:04o}")
    is_dir = path.is_dir()
    who = "/".join(name for name, bits in (("group", 0o070), ("other", 0o007)) if mode & bits)
    verbs = ("list", "change", "enter") if is_dir else ("read", "write", "execute")
    can = ", ".join(
        verb for verb, bits in zip(verbs, (0o044, 0o022, 0o011), strict=True) if mode & bits
    )
    what = "data directory " if is_dir else ""
    return _check(
        "permissions",
        str(path),
        "problem",
        f"{mode:04o}: {who} can {can}; want {wanted:04o}",
        [
            f"permissions: {what}{path} is {mode:04o} ({who} can {can}); "
            f"fix: chmod {wanted:o} {path}"
        ],
    )


def _schema_check(found: str | None, current: str | None, head: str) -> dict[str, Any]:
    if current != head:  # opening the database migrates it, so this means a failed upgrade
        return _check(
            "schema",
            "alembic_version",
            "problem",
            f"{current}; this crmcli wants {head}",
            [f"schema: database is at {current}, this crmcli wants {head}; run: crm init"],
        )
    detail = head if found == head else f"{head} (upgraded from {found})"
    return _check("schema", "alembic_version", "ok", detail)


def policy_check(tx: Tx) -> dict[str, Any]:
    """The newest stored policy, validated in full as `crm policy import` would."""
    stored = tx.session.exec(
        select(PolicyVersion).order_by(col(PolicyVersion.id).desc()).limit(1)
    ).first()
    if stored is None:
        return _check("policy", "stored policy", "ok", "none stored; the defaults apply")
    source = f"stored policy {stored.id}"
    try:
        parse_policy(stored.content, source=source, validate=True)
    except PolicyInvalid as exc:
        issues = sorted(exc.issues, key=lambda issue: issue.line or 0)
        count = f"{len(issues)} issue{'s' if len(issues) != 1 else ''}"
        return _check(
            "policy",
            source,
            "problem",
            f"{count}; fix the file and run: crm policy import FILE",
            [f"policy: {issue.render(source)}" for issue in issues],
        )
    return _check("policy", source, "ok", f"valid (installed by {stored.installed_by})")


def identity_check(tx: Tx) -> dict[str, Any]:
    """Whether --as is checked: on SQLite only once some user is bound to an OS login."""
    if tx.session.get_bind().dialect.name == "postgresql":
        return _check("identity", "user.login", "skipped", "the database login is the identity")
    if anyone_bound(tx.session):
        return _check("identity", "user.login", "ok", "users are bound to OS logins")
    finding = (
        "no user is bound to an OS login, so --as and CRM_USER are taken on trust; an admin "
        f"should bind themselves: crm user bind NAME --login {tx.login}"
    )
    return _check("identity", "user.login", "problem", finding, [f"identity: {finding}"])


def chain_check(tx: Tx) -> dict[str, Any]:
    """The hash chain, as `crm audit verify` sees it."""
    verify = getattr(audit, "verify_chain", None)
    if verify is None:  # a build without verification: the chain is written, not checked
        return _check("audit chain", "audit_event", "skipped", "verification not available")
    result = verify(tx.session)
    if result.get("ok"):
        head = f", head {result['head'][:12]}" if result.get("head") else ""
        return _check(
            "audit chain", "audit_event", "ok", f"intact ({result['events']} events{head})"
        )
    broken = result.get("first_broken")
    where = f" at event {broken}" if broken is not None else ""
    finding = f"broken{where}: {result.get('reason') or 'does not verify'}"
    return _check(
        "audit chain",
        "audit_event",
        "problem",
        finding,
        [f"audit chain: {finding}; details: crm audit verify"],
    )


def obligations_check(tx: Tx, *, policy_ok: bool) -> dict[str, Any]:
    """Every record's obligations recomputed (nothing written) against the stored ones:
    obligations are derived from the records and the policy, so any difference is drift."""
    from crmcli.services.obligations import drift

    if not policy_ok:
        return _check("obligations", "obligation", "skipped", "the stored policy is unreadable")
    found = drift(tx)
    if not found:
        return _check("obligations", "obligation", "ok", "as the records and the policy make them")
    count = f"{len(found)} obligation{'s' if len(found) != 1 else ''}"
    fix = "re-installing the policy recomputes them: crm policy import FILE"
    return _check(
        "obligations",
        "obligation",
        "problem",
        f"{count} differ from what the records owe; {fix}",
        [f"obligations: {line}" for line in found[:50]]
        + ([f"obligations: … and {len(found) - 50} more"] if len(found) > 50 else []),
    )
