"""Stored facts of a lead's stage history, kept exact whenever the history changes.

Reports over a million leads cannot read every lead's stage history (SPEC §5, issue 7), so
each lead carries what they need of it (migration 0012), recomputed here from the history
itself by every code path that writes, moves or re-dates it:

- `lead.stage_history_at`: when its latest stage change happened (NULL: no history);
- `lead.stage_history_mask`: bit `stage_key.id` set for every stage it ever entered (NULL
  when a key numbers past MASK_BITS: readers then read the history itself);
- `lead.stage_history_last`: the stage its latest change (greatest id) went to;
- `stage_change.seconds_since_created`: whole seconds from the lead's creation to the change;
- `stage_change.previous_at`: when the lead entered the stage the change leaves, i.e. the
  time of its previous change in order of (at, id), NULL for its first (migration 0014).

The facts depend on the history only, never on the policy: a new policy that reorders,
renames or re-flags stages leaves them right. `--as-of` reports use them only for leads
whose history had ended by the as-of instant, and rebuild the others from the history.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text

MASK_BITS = 63  # stage_key ids 1..62 fit a signed 64-bit mask
CHUNK = 500  # ids per statement (SQLite's variable limit is far above it)


def whole_seconds(dialect: str, later: str, earlier: str) -> str:
    """SQL: whole seconds from `earlier` to `later` (each truncated to the second first, so
    the difference is an exact integer in every dialect)."""
    if dialect == "sqlite":
        return (
            f"(CAST(strftime('%s', {later}) AS INTEGER) - CAST(strftime('%s', {earlier}) "
            "AS INTEGER))"
        )
    return (
        f"(CAST(EXTRACT(EPOCH FROM date_trunc('second', {later})) AS BIGINT) - "
        f"CAST(EXTRACT(EPOCH FROM date_trunc('second', {earlier})) AS BIGINT))"
    )


def seconds_between(later: datetime, earlier: datetime) -> int:
    """`whole_seconds` in Python, for rows written without SQL (the bulk import)."""
    return int(later.replace(microsecond=0).timestamp()) - int(
        earlier.replace(microsecond=0).timestamp()
    )


def lead_fact_columns(lead: str = "lead") -> dict[str, str]:
    """SQL per stored lead column: its value recomputed from the history of `lead`.id."""
    mine = f"sc.lead_id = {lead}.id"
    return {
        "stage_history_at": f"(SELECT max(sc.at) FROM stage_change sc WHERE {mine})",
        "stage_history_last": (
            f"(SELECT sc.to_stage FROM stage_change sc WHERE {mine} ORDER BY sc.id DESC LIMIT 1)"
        ),
        # every key numbered and within the mask, else NULL (readers then read the history)
        "stage_history_mask": (
            "(SELECT CASE WHEN count(k.id) = count(*) AND max(k.id) < "
            f"{MASK_BITS} THEN sum(DISTINCT CAST(1 AS BIGINT) << k.id) END "
            f"FROM stage_change sc LEFT JOIN stage_key k ON k.key = sc.to_stage WHERE {mine})"
        ),
    }


def stage_bits(conn: Any, keys: Iterable[str]) -> dict[str, int]:
    """The mask bit of each stage key, numbering the keys seen for the first time (a key
    past MASK_BITS gets 0: it has no bit)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    select_ids = text("SELECT key, id FROM stage_key WHERE key IN :keys").bindparams(
        bindparam("keys", expanding=True)
    )
    known = dict(conn.execute(select_ids, {"keys": wanted}).all())
    for key in wanted:
        if key not in known:
            conn.execute(text("INSERT INTO stage_key (key) VALUES (:key)"), {"key": key})
    if len(known) < len(wanted):
        known = dict(conn.execute(select_ids, {"keys": wanted}).all())
    return {key: (1 << number if number < MASK_BITS else 0) for key, number in known.items()}


def known_bits(conn: Any) -> dict[str, int]:
    """Every numbered stage key's mask bit (reads only: reports must not write)."""
    return {
        key: 1 << number
        for number, key in conn.execute(text("SELECT id, key FROM stage_key"))
        if number < MASK_BITS
    }


def refresh(conn: Any, lead_ids: Iterable[int]) -> None:
    """Recompute every stored fact of these leads from their stage history (call it after
    the history or the lead's creation time changed, once the changes are flushed)."""
    ids = sorted({int(i) for i in lead_ids})
    dialect = conn.dialect.name
    created = "(SELECT l.created_at FROM lead l WHERE l.id = stage_change.lead_id)"
    age = whole_seconds(dialect, "stage_change.at", created)
    previous = (
        "(SELECT max(p.at) FROM stage_change p WHERE p.lead_id = stage_change.lead_id "
        "AND (p.at < stage_change.at OR (p.at = stage_change.at AND p.id < stage_change.id)))"
    )
    columns = lead_fact_columns()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        params = {"ids": chunk}
        expanding = bindparam("ids", expanding=True)
        conn.execute(
            text(
                "INSERT INTO stage_key (key) SELECT DISTINCT sc.to_stage FROM stage_change sc "
                "WHERE sc.lead_id IN :ids AND sc.to_stage NOT IN (SELECT key FROM stage_key)"
            ).bindparams(expanding),
            params,
        )
        conn.execute(
            text(
                f"UPDATE stage_change SET seconds_since_created = {age}, previous_at = {previous} "
                "WHERE lead_id IN :ids"
            ).bindparams(expanding),
            params,
        )
        assignments = ", ".join(f"{name} = {sql}" for name, sql in columns.items())
        conn.execute(
            text(f"UPDATE lead SET {assignments} WHERE id IN :ids").bindparams(expanding), params
        )


def refresh_session(session: Any, lead_ids: Iterable[int]) -> None:
    """`refresh` inside an ORM session: pending changes are written first, and loaded leads
    forget the columns it rewrote."""
    session.flush()
    ids = list(lead_ids)
    refresh(session.connection(), ids)
    from crmcli.store.models import Lead

    for obj in list(session.identity_map.values()):
        if isinstance(obj, Lead) and obj.id in ids:
            session.expire(obj, ["stage_history_at", "stage_history_mask", "stage_history_last"])
