"""Leads in bulk: duplicates already in the database, merging two leads, exporting."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text, update
from sqlmodel import col, select

from crmcli.errors import BadInput
from crmcli.files import OutputFile
from crmcli.render import CsvWriter, json_value
from crmcli.rules import closing, matching
from crmcli.rules.obligations import ended_detail
from crmcli.services import scope, seals
from crmcli.services.leads import LEAD_FIELDS, LeadFilter, change_lead, get_lead, list_leads
from crmcli.services.workspace import Tx
from crmcli.store.models import Lead

DUPE_FIELDS = (
    "lead",
    "duplicate",
    "reason",
    "score",
    "lead_name",
    "duplicate_name",
    "lead_company",
    "duplicate_company",
)
# candidate pairs by the blocking keys of rules.matching, through the indexes of migration 0004
_PAIR_SQL = {
    "email": "a.email IS NOT NULL AND b.email = a.email",
    "phone": "a.phone IS NOT NULL AND b.phone = a.phone",
    "company_last": "a.company_key != '' AND a.last_key != '' "
    "AND b.company_key = a.company_key AND b.last_key = a.last_key",
    "company_first": "a.company_key != '' AND a.first_name != '' "
    "AND b.company_key = a.company_key AND lower(b.first_name) = lower(a.first_name)",
    "name": "a.company_key != '' AND a.first_name != '' AND a.last_name != '' "
    "AND lower(b.last_name) = lower(a.last_name) AND lower(b.first_name) = lower(a.first_name) "
    "AND b.company_key != ''",
}
_IN_CHUNK = 500


def _name(lead: dict[str, Any]) -> str:
    return f"{lead['first_name']} {lead['last_name']}".strip()


def find_dupes(tx: Tx, *, name_threshold: int | None = None) -> list[dict[str, Any]]:
    """Likely duplicate pairs among the leads in scope: each pair shares a blocking key and
    passes `rules.dedupe` (exact email/phone, or similar name and company)."""
    conn = tx.session.connection()
    pairs: set[tuple[int, int]] = set()
    for condition in _PAIR_SQL.values():
        query = text(
            f"SELECT a.id, b.id FROM lead AS a JOIN lead AS b ON {condition} AND b.id > a.id"
        )
        pairs.update((a, b) for a, b in conn.execute(query))
    ids = sorted({i for pair in pairs for i in pair})
    fields = ("id", "first_name", "last_name", "company", "email", "phone", "campaign_id")
    leads: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        query = select(*(getattr(Lead, f) for f in fields)).where(col(Lead.id).in_(chunk))
        for row in conn.execute(scope.scoped(tx, query)).mappings():
            leads[row["id"]] = dict(row)
    threshold = tx.policy.name_threshold if name_threshold is None else name_threshold
    found = []
    for a, b in sorted(pairs):
        if a not in leads or b not in leads:
            continue  # outside the acting user's campaigns
        match = matching.best_match(
            leads[b],
            [leads[a]],
            name_threshold=threshold,
            company_threshold=tx.policy.company_threshold,
            same_person=False,
        )
        if match is not None:
            found.append(
                {
                    "lead": a,
                    "duplicate": b,
                    "reason": match.reason,
                    "score": match.score,
                    "lead_name": _name(leads[a]),
                    "duplicate_name": _name(leads[b]),
                    "lead_company": leads[a]["company"],
                    "duplicate_company": leads[b]["company"],
                }
            )
    return sorted(found, key=lambda p: (-p["score"], p["lead"], p["duplicate"]))


# what a merge reconciles: field name (as shown) -> column
MERGE_FIELDS = {
    **{name: name for name in (*matching.RECONCILED, "source")},
    "owner": "owner_id",
    "campaign": "campaign_id",
}
# filled from OTHER when KEEP has none; KEEP's wins otherwise, without asking
QUIET_FIELDS = (
    "account_id",
    "contact_id",
    "score",
    "band",
    "close_date",
    "amount",
    "po_number",
    "quote_ref",
)


def merge_leads(
    tx: Tx,
    keep_id: int,
    other_id: int,
    *,
    prefer: str | None = None,
    take: tuple[str, ...] = (),
    keep_fields: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Merge lead `other_id` into `keep_id` (see `crm lead merge`); returns what changed."""
    from crmcli.services.obligations import refresh_lead
    from crmcli.store.models import Obligation, all_metadata

    if keep_id == other_id:
        raise BadInput("KEEP and OTHER are the same lead; give two different ids")
    for name in (*take, *keep_fields):
        if name not in MERGE_FIELDS:
            raise BadInput(
                f"--take/--keep: {name!r} is not a lead field; use one of "
                + ", ".join(MERGE_FIELDS)
            )
    keep = scope.require_lead(tx, tx.session.get(Lead, keep_id), keep_id)
    other = scope.require_lead(tx, tx.session.get(Lead, other_id), other_id)
    keep_before, other_before = get_lead(tx, keep_id), get_lead(tx, other_id)

    values: dict[str, Any] = {}
    conflicts = []
    for name, column in MERGE_FIELDS.items():
        mine, theirs = getattr(keep, column), getattr(other, column)
        if theirs in (None, ""):
            continue
        if mine in (None, ""):
            values[column] = theirs
        elif matching.same_value(name, mine, theirs):
            continue
        elif name in take or (prefer == "other" and name not in keep_fields):
            values[column] = theirs
        elif name not in keep_fields and prefer != "keep":
            shown_keep, shown_other = keep_before.get(name, mine), other_before.get(name, theirs)
            conflicts.append(f"{name} ({shown_keep} / {shown_other})")
    if conflicts:
        raise BadInput(
            f"leads {keep_id} and {other_id} differ in " + ", ".join(conflicts) + "; choose with "
            "--prefer keep|other, or field by field with --take FIELD / --keep FIELD"
        )
    for column in QUIET_FIELDS:
        if getattr(keep, column) is None and getattr(other, column) is not None:
            values[column] = getattr(other, column)
    extra_before = dict(keep.extra or {})
    extra = (
        {**extra_before, **(other.extra or {})}
        if prefer == "other"
        else {**(other.extra or {}), **extra_before}
    )
    acquired = min(keep.acquired_at, other.acquired_at)  # acquired when first acquired

    # everything that points at OTHER now points at KEEP (every table with a lead foreign key)
    conn = tx.session.connection()
    moved: dict[str, int] = {}
    moved_keys: dict[str, list[Any]] = {}
    for table in all_metadata().sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name != "lead":
                continue
            keys = [
                list(row) if len(row) > 1 else row[0]
                for row in conn.execute(
                    select(*table.primary_key.columns).where(fk.parent == other_id)
                )
            ]
            if keys:
                if table.name in seals.BY_TABLE:  # before the move: checked, then sealed
                    seals.touch(tx.session, table.name, keys)
                conn.execute(
                    update(table).where(fk.parent == other_id).values({fk.parent: keep_id})
                )
                moved[table.name] = len(keys)
                moved_keys[table.name] = keys
    # obligations: KEEP's own win where both have one; the rest move (e.g. OTHER's tasks).
    # OTHER's own stay with its id as its history: the open ones cancelled by the merge
    ours = {
        (o.rule, o.key)
        for o in tx.session.exec(
            select(Obligation).where(
                Obligation.record_type == "lead", Obligation.record_id == keep_id
            )
        )
    }
    theirs = tx.session.exec(
        select(Obligation).where(Obligation.record_type == "lead", Obligation.record_id == other_id)
    ).all()
    clash = [o for o in theirs if (o.rule, o.key) in ours]
    move = [o.id for o in theirs if (o.rule, o.key) not in ours]
    for obligation in clash:
        if obligation.status in (closing.OPEN, closing.PAUSED):
            obligation.status = closing.CANCELLED
            ended = ended_detail(obligation.detail, tx.now, "merged")
            obligation.detail = {**ended, "merged_into": keep_id}
            tx.session.add(obligation)
    tx.session.flush()
    if move:
        conn.execute(
            update(Obligation).where(col(Obligation.id).in_(move)).values(record_id=keep_id)
        )
        moved["obligation"] = len(move)
        moved_keys["obligation"] = move

    snapshot = {k: [v, None] for k, v in other_before.items() if v is not None and k != "id"}
    if other.extra:
        snapshot["extra"] = [other.extra, None]
    tx.session.delete(other)
    tx.session.flush()
    tx.session.expire_all()
    keep = tx.session.get(Lead, keep_id)
    assert keep is not None
    change_lead(keep, {**values, "extra": extra, "acquired_at": acquired, "updated_at": tx.now})
    tx.session.add(keep)
    tx.session.flush()
    from crmcli.services.audit import diff

    changes = diff(keep_before, get_lead(tx, keep_id))
    changes.pop("updated_at", None)
    if extra != extra_before:
        changes["extra"] = [extra_before, extra]
    tx.audit(
        "lead",
        other_id,
        "merge",
        snapshot | {"merged_into": [None, keep_id], "moved": [None, moved_keys]},
    )
    tx.audit("lead", keep_id, "merge", changes | {"merged_from": [None, other_id]})
    from crmcli.services import stage_facts

    stage_facts.refresh_session(tx.session, [keep_id])  # OTHER's stage history is KEEP's now
    refresh_lead(tx, keep)
    return {"keep": keep_id, "merged": other_id, "changes": changes, "moved": moved}


EXPORT_FIELDS = (*LEAD_FIELDS, "extra")


def export_leads(tx: Tx, where: LeadFilter, target: str, *, fmt: str) -> int:
    """Write the leads `where` selects to `target` ('-': stdout) as CSV or JSONL; returns how
    many. A file appears whole or not at all, owner-only (crmcli.files.OutputFile)."""
    rows = list_leads(tx, where)
    conn = tx.session.connection()
    extras: dict[int, tuple[dict[str, Any], int | None]] = {}
    ids = [row["id"] for row in rows]
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        query = select(Lead.id, Lead.extra, Lead.campaign_id).where(col(Lead.id).in_(chunk))
        extras.update({i: (e or {}, c) for i, e, c in conn.execute(query)})
    rows = [
        {**row, "extra": extras[row["id"]][0]}
        for row in rows
        if row["id"] in extras and scope.in_scope(tx, extras[row["id"]][1])
    ]
    tz = tx.policy.timezone
    with OutputFile(target, option="FILE") as out:
        if fmt == "jsonl":
            for row in rows:
                payload = {c: json_value(row.get(c), tz) for c in EXPORT_FIELDS}
                out.write(json.dumps(payload, ensure_ascii=False) + "\n")
        else:
            writer = CsvWriter(out, tz=tz)
            writer.writerow(EXPORT_FIELDS)
            for row in rows:
                writer.writerow([row.get(c) for c in LEAD_FIELDS] + [_extra_cell(row["extra"])])
    return len(rows)


def _extra_cell(extra: dict[str, Any]) -> str:
    return json.dumps(extra, ensure_ascii=False) if extra else ""
