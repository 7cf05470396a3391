"""Row seals: the audit chain vouches for the current state of every audited table.

A row's *seal* is the SHA-256 of its content as stored (every column but the caches below,
in canonical JSON; NULL columns left out, so a column added later as NULL leaves old seals
valid), with its personal values replaced by their keyed hash under the record's personal
key (services.audit): a forgotten person's old seals reveal nothing and still verify.

Writing: every transaction that inserts, changes or deletes audited rows ends with one seal
event (`record`, called by `Workspace.writing` before it commits) holding the seal of each
such row as the transaction leaves it, None for a deleted one. ORM writes are collected by
a session hook (`collect`, after each flush); Core-level bulk writes (the importer, a
merge's moves, the example's back-dating) register what they touched with `touch` or
`touch_where`. Before a transaction first writes a row, the row is checked against its last
seal (`check_before`): a change made outside crm is not sealed over by crm's next write,
it is recorded in that seal event and reported by every later verification. A database
from before the seals is sealed once as it stands (`baseline`).

Verifying (`verify`): each audited table is read in key order next to its records' seals in
the same order, both streamed, so the cost is linear and memory constant: a row without a
seal has no creating event, a row whose seal differs was changed outside crm (the columns
are named where the record's own events tell them), a sealed row that is gone without a
deleting seal was deleted outside crm.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from sqlalchemy import and_, bindparam, func, select, tuple_
from sqlmodel import Session

from crmcli.records import LEAD_AUDITED
from crmcli.services import audit

# session.info keys: {table: {id}} written since the last seal; {table: {id}} whose state
# before this transaction was checked; what that check found changed outside crm
TOUCHED, CHECKED, FOUND = "crm_touched", "crm_checked", "crm_found_outside"
PRESEALED = "crm_presealed"  # {table: {id: seal}} of rows a bulk writer sealed as it inserted
CHUNK = 500  # ids per IN (...) list
UNKEYED = "hmac:?"  # a personal value whose key is gone: matches no seal crm wrote


@dataclass(frozen=True)
class Audited:
    """An audited table: what its records' seals hold and how messages name them."""

    table: str
    label: str = ""  # how messages name its records (default: the table's name)
    # columns left out of the seal: caches crm recomputes from other columns or tables,
    # each with the reason
    caches: Mapping[str, str] = field(default_factory=dict)
    personal: tuple[str, ...] = ()  # sealed as keyed hashes (services.audit.seal)
    key: tuple[str, str] | None = None  # (record type, column of its id) of the personal key
    events: str | None = None  # the record type of its own audit events (naming columns)
    # columns whose events never setting them means they must be empty (naming columns)
    unset_means_empty: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.label or self.table

    @cached_property
    def model_table(self) -> Any:
        from crmcli.store.models import all_metadata

        return all_metadata().tables[self.table]

    @cached_property
    def columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.model_table.columns if c.name not in self.caches)

    @cached_property
    def keys(self) -> tuple[Any, ...]:
        return tuple(self.model_table.primary_key.columns)

    @cached_property
    def queries(self) -> tuple[Any, Any, Any]:
        return _queries(self)

    def record_id(self, values: Mapping[str, Any]) -> int:
        """The id seals know a row by (two-column keys: first << 32 | second)."""
        if len(self.keys) == 1:
            return int(values[self.keys[0].name])
        first, second = (int(values[column.name]) for column in self.keys)
        return first << 32 | second

    def ids_of(self, record_id: int) -> tuple[int, ...]:
        return (record_id,) if len(self.keys) == 1 else (record_id >> 32, record_id & 0xFFFFFFFF)

    def describe(self, record_id: int) -> str:
        return f"{self.name} {'/'.join(map(str, self.ids_of(record_id)))}"


_LEAD_PERSONAL = ("first_name", "last_name", "email", "phone", "title", "extra")
_STAGE_FACTS = "a fact of the lead's stage history, recomputed from it (services.stage_facts)"

# Every audited table. A table added to the schema must be listed here or in UNSEALED (a
# test checks). A migration that gives existing rows of an audited table a non-NULL value
# in a new column changes their seals: it must seal them again (`baseline`).
AUDITED: tuple[Audited, ...] = (
    Audited(
        "account",
        caches={"name_key": "dedupe.company_key(name), for duplicate search"},
        events="account",
    ),  # fmt: skip
    Audited(
        "activity",
        personal=("subject", "notes", "details"),
        key=("activity", "id"),
        events="activity",
    ),  # fmt: skip
    Audited("campaign", events="campaign"),
    Audited("case_attachment"),
    Audited("case_comment", personal=("text",), key=("case", "case_id")),
    Audited("case_pause", personal=("reason",), key=("case", "case_id")),
    Audited(
        "contact",
        personal=("first_name", "last_name", "email", "phone", "title"),
        key=("contact", "id"),
        events="contact",
    ),  # fmt: skip
    Audited("email_message", personal=("from_address", "attachments"), key=("lead", "lead_id")),
    Audited("engagement_event"),
    Audited("import_batch"),
    Audited(
        "lead",
        caches={
            "company_key": "dedupe.blocking_keys(company), for duplicate search",
            "last_key": "dedupe.blocking_keys(last_name), for duplicate search",
            "stage_history_at": _STAGE_FACTS,
            "stage_history_mask": _STAGE_FACTS,
            "stage_history_last": _STAGE_FACTS,
        },
        personal=_LEAD_PERSONAL,
        key=("lead", "id"),
        events="lead",
        unset_means_empty=(
            *("owner", "campaign", "amount", "close_date", "po_number", "lost_reason"),
            *("quote_ref", "type"),
        ),
    ),
    Audited("notification", personal=("message",), key=("lead", "lead_id")),
    Audited("outbox", personal=("to_address", "subject", "body"), key=("outbox", "id")),
    Audited("policy_version"),
    Audited("quote", events="quote"),
    Audited("quote_approval"),
    Audited("quote_line"),
    Audited("review_item"),
    Audited("score_event"),
    Audited(
        "service_case",
        label="case",
        personal=("title", "resolution"),
        key=("case", "id"),
        events="case",
    ),  # fmt: skip
    Audited(
        "stage_change",
        caches={"seconds_since_created": _STAGE_FACTS, "previous_at": _STAGE_FACTS},
    ),
    Audited("user", events="user"),
    Audited("user_away"),
    Audited("user_campaign"),
)
BY_TABLE = {spec.table: spec for spec in AUDITED}

# Tables whose rows are not sealed, and why.
UNSEALED = {
    "obligation": "derived from the records and the policy: crm doctor recomputes them",
    "stage_key": "numbers for the stage-history masks, re-derivable from the history",
    "import_row": "an import's resume and undo bookkeeping; every lead it made is sealed",
    "personal_key": "the audit log's erasable keys (deleted on forget)",
    "audit_event": "the chain itself",
    "audit_personal": "readable originals of sealed values, checked against them",
    "audit_seal": "the seals, in the chain through their events' digests",
    "audit_head": "the chain's head, kept by a trigger and checked against the chain",
    "alembic_version": "the schema's revision",
}


# --- a row's seal -------------------------------------------------------------------------


_SIMPLE = frozenset({str, int, bool, float})  # stored values a seal holds as they are


def _plain(value: Any) -> Any:
    """A stored value as a seal holds it, the same whichever backend or writer stored it."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is float:
        return value
    if kind is datetime:
        return value.astimezone(UTC).isoformat()
    if kind is Decimal:
        return format(value.normalize(), "f") if value else "0"
    if kind is date:
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _empty(value: Any) -> bool:
    """Nothing personal left to hide (an erased value)."""
    return value in ("", audit.ERASED) or (isinstance(value, dict | list) and not value)


def row_seal(
    spec: Audited,
    row: Mapping[str, Any],
    key: bytes | None,
    hashed: Mapping[str, str] | None = None,
) -> str:
    """The seal of one stored row (`key`: its personal key, None if it has none; a column
    missing from `row` is NULL). `hashed`: personal values' keyed hashes already made
    (`audit.seal(key, value)`, as a bulk writer makes them for the row's audit event)."""
    personal = spec.personal
    content = {}
    get = row.get
    for name in spec.columns:
        value = get(name)
        if value is None:
            continue
        if type(value) not in _SIMPLE:
            value = _plain(value)
        if name in personal and not _empty(value):
            if hashed is not None and name in hashed:
                value = hashed[name]
            else:
                value = audit.seal(key, value) if key is not None else UNKEYED
        content[name] = value
    return hashlib.sha256(audit.canonical(content).encode()).hexdigest()


def rows_query(spec: Audited) -> Any:
    """The table's sealed columns, and its personal key (as `_key`) where it has one."""
    return spec.queries[0]


def _queries(spec: Audited) -> tuple[Any, Any, Any]:
    """(rows, rows by id, latest seals by id) statements of a table, made once (a command
    seals a few rows: building them costs more than running them)."""
    from crmcli.store.models import AuditSeal, PersonalKey

    table = spec.model_table
    columns = [table.c[name] for name in spec.columns]
    rows = select(*columns)
    if spec.key is not None:
        kind, column = spec.key
        keys = PersonalKey.__table__  # type: ignore[attr-defined]
        joined = table.outerjoin(
            keys, and_(keys.c.record_type == kind, keys.c.record_id == table.c[column])
        )
        rows = select(*columns, keys.c.key.label("_key")).select_from(joined)
    wanted = bindparam("ids", expanding=True)
    by_id = rows.where(
        spec.keys[0].in_(wanted) if len(spec.keys) == 1 else tuple_(*spec.keys).in_(wanted)
    )
    seals = AuditSeal.__table__  # type: ignore[attr-defined]
    last = (
        select(seals.c.record_id, func.max(seals.c.event_id).label("event_id"))
        .where(seals.c.record_type == spec.table, seals.c.record_id.in_(wanted))
        .group_by(seals.c.record_id)
        .subquery()
    )
    latest = select(seals.c.record_id, seals.c.seal).join(
        last,
        and_(
            seals.c.record_type == spec.table,
            seals.c.record_id == last.c.record_id,
            seals.c.event_id == last.c.event_id,
        ),
    )
    return rows, by_id, latest


def _needs_key(spec: Audited, row: Mapping[str, Any]) -> bool:
    return any(row[name] is not None and not _empty(_plain(row[name])) for name in spec.personal)


def _key_of(row: Mapping[str, Any]) -> bytes | None:
    key = row.get("_key")
    return bytes.fromhex(key) if key else None


# --- writing --------------------------------------------------------------------------------


def touch(
    session: Session,
    table: str,
    ids: Iterable[int],
    *,
    new: bool = False,
    sealed: Mapping[int, str] | None = None,
) -> None:
    """Rows of an audited table that a Core statement writes, to be sealed as they are at
    the commit. Call it before changing or deleting them (their state is checked against
    their last seal first, `check_before`), and after inserting them (`new`). `sealed`: the
    seals of rows just inserted, computed by the writer from the values it inserted
    (`row_seal`), so they need not be read back; any later write of them drops these."""
    ids = set(ids)
    check_before(session, BY_TABLE[table], ids, new=new)
    session.info.setdefault(TOUCHED, {}).setdefault(table, set()).update(ids)
    _forget_presealed(session, table, ids)
    if sealed:
        session.info.setdefault(PRESEALED, {}).setdefault(table, {}).update(sealed)


def _forget_presealed(session: Session, table: str, ids: Iterable[int]) -> None:
    presealed = session.info.get(PRESEALED, {}).get(table)
    if presealed:
        for record_id in ids:
            presealed.pop(record_id, None)


def touch_where(
    session: Session, table: str, column: str, values: Iterable[Any], *, new: bool = False
) -> None:
    """`touch` of the rows whose `column` is in `values`, as they are now."""
    spec = BY_TABLE[table]
    model = spec.model_table
    wanted = sorted(set(values))
    conn = session.connection()
    for start in range(0, len(wanted), CHUNK):
        query = select(*spec.keys).where(model.c[column].in_(wanted[start : start + CHUNK]))
        ids = [spec.record_id(row) for row in conn.execute(query).mappings()]
        touch(session, table, ids, new=new)


def _orm_rows(objects: Iterable[Any]) -> dict[str, set[int]]:
    """{table: ids} of the audited ones among ORM objects."""
    found: dict[str, set[int]] = {}
    for obj in objects:
        spec = BY_TABLE.get(getattr(type(obj), "__tablename__", ""))
        if spec is None:
            continue
        values = {column.name: getattr(obj, column.key, None) for column in spec.keys}
        if all(value is not None for value in values.values()):
            found.setdefault(spec.table, set()).add(spec.record_id(values))
    return found


def check_changes(session: Session, _flush_context: Any = None, _instances: Any = None) -> None:
    """Session hook (before each flush): the audited rows the ORM is about to change or
    delete are checked against their last seal while they still hold their old state."""
    dirty = [obj for obj in session.dirty if session.is_modified(obj)]
    for table, ids in _orm_rows([*dirty, *session.deleted]).items():
        check_before(session, BY_TABLE[table], ids, new=False)


def collect(session: Session, _flush_context: Any = None) -> None:
    """Session hook (after each flush): the audited rows the ORM inserted, changed or
    deleted, to seal at the commit. Installed with `check_changes` on write sessions by
    `Workspace`."""
    touched = session.info.setdefault(TOUCHED, {})
    for table, ids in _orm_rows(session.new).items():
        check_before(session, BY_TABLE[table], ids, new=True)
        touched.setdefault(table, set()).update(ids)
    dirty = [obj for obj in session.dirty if session.is_modified(obj)]
    for table, ids in _orm_rows([*dirty, *session.deleted]).items():
        touched.setdefault(table, set()).update(ids)
        _forget_presealed(session, table, ids)


def check_before(session: Session, spec: Audited, ids: Iterable[int], *, new: bool) -> None:
    """Before a transaction first writes these rows, each must be as its last seal says: a
    row changed, inserted or deleted outside crm must not be sealed over by crm's own next
    write. What is found goes into the transaction's seal event ("outside"), for `audit
    verify` to report for good. `new`: rows just inserted (their id must not be one whose
    sealed row was deleted outside crm)."""
    checked = session.info.setdefault(CHECKED, {}).setdefault(spec.table, set())
    wanted = sorted(set(ids) - checked)
    if not wanted:
        return
    checked.update(wanted)
    latest = latest_seals(session, spec, wanted)
    found: list[Finding] = []
    if new:
        found = [
            Finding(spec, i, "deleted")
            for i in wanted
            if latest.get(i, _NEVER) not in (_NEVER, None)
        ]
    else:
        rows = read_rows(session, spec, wanted)
        for record_id in wanted:
            row, sealed = rows.get(record_id), latest.get(record_id, _NEVER)
            if row is None:
                if sealed not in (_NEVER, None):
                    found.append(Finding(spec, record_id, "deleted"))
            elif sealed is _NEVER:
                found.append(Finding(spec, record_id, "unsealed"))
            elif sealed is None:
                found.append(Finding(spec, record_id, "reinserted"))
            elif _key_of(row) is None and spec.key is not None and _needs_key(spec, row):
                continue  # its key was erased earlier in this transaction (forget): unknowable
            elif row_seal(spec, row, _key_of(row)) != sealed:
                with session.no_autoflush:  # (called from a flush)
                    columns = changed_columns(session, spec, record_id, row)
                found.append(Finding(spec, record_id, "changed", columns))
    if found:
        session.info.setdefault(FOUND, []).extend(str(finding) for finding in found)


def latest_seals(session: Session, spec: Audited, ids: list[int]) -> dict[int, str | None]:
    """Each of these records' latest seal (None: deleted), for those that have one."""
    conn = session.connection()
    found: dict[int, str | None] = {}
    for start in range(0, len(ids), CHUNK):
        rows = conn.execute(spec.queries[2], {"ids": ids[start : start + CHUNK]})
        found.update((record_id, seal) for record_id, seal in rows)
    return found


def read_rows(session: Session, spec: Audited, ids: list[int]) -> dict[int, Mapping[str, Any]]:
    """These rows of the table as stored (with their personal key as `_key`), by id."""
    conn = session.connection()
    found: dict[int, Mapping[str, Any]] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = [spec.ids_of(i) for i in ids[start : start + CHUNK]]
        wanted = [i for (i,) in chunk] if len(spec.keys) == 1 else chunk
        rows = conn.execute(spec.queries[1], {"ids": wanted}).mappings()
        found.update((spec.record_id(row), row) for row in rows)
    return found


def record(tx: Any) -> None:
    """Seal what this transaction wrote (before its commit): one seal event, which also
    holds what `check_before` found changed outside crm."""
    session = tx.session
    session.flush()
    touched = session.info.pop(TOUCHED, None)
    outside = session.info.pop(FOUND, [])
    presealed = session.info.pop(PRESEALED, {})
    session.info.pop(CHECKED, None)
    if not touched or not any(touched.values()):
        return
    entries = seal_rows(session, touched, at=tx.now, presealed=presealed)
    changes = audit.seal_changes(entries)
    if outside:
        changes[audit.OUTSIDE] = [None, outside]
    event = tx.audit(audit.SEALS, None, "seal", changes)
    audit.store_seals(session, event.id, entries)


def seal_rows(
    session: Session,
    touched: Mapping[str, Iterable[int]],
    *,
    at: datetime,
    presealed: Mapping[str, Mapping[int, str]] | None = None,
) -> list[tuple[str, int, str | None]]:
    """(table, id, seal or None if gone) of the touched rows as stored now (`presealed`:
    those sealed as they were inserted); personal keys made where a row has personal
    values and its record no key yet."""
    entries: list[tuple[str, int, str | None]] = []
    for spec in AUDITED:
        ids = sorted(set(touched.get(spec.table, ())))
        known = (presealed or {}).get(spec.table, {})
        if known:
            entries += [(spec.table, i, known[i]) for i in ids if i in known]
            ids = [i for i in ids if i not in known]
        if not ids:
            continue
        found = read_rows(session, spec, ids)
        if spec.key is not None:
            found = _with_keys(session, spec, found, at)
        for record_id in ids:
            row = found.get(record_id)
            entries.append(
                (spec.table, record_id, None if row is None else row_seal(spec, row, _key_of(row)))
            )
    return entries


def _with_keys(
    session: Session, spec: Audited, rows: dict[int, Mapping[str, Any]], at: datetime
) -> dict[int, Mapping[str, Any]]:
    """`rows`, with a personal key made for each that has personal values and no key."""
    assert spec.key is not None
    kind, column = spec.key
    missing = {
        row[column]
        for row in rows.values()
        if row["_key"] is None and row[column] is not None and _needs_key(spec, row)
    }
    if not missing:
        return rows
    made = make_keys(session, kind, missing, at=at)
    return {
        record_id: ({**row, "_key": made[row[column]]} if row[column] in made else row)
        for record_id, row in rows.items()
    }


def make_keys(session: Session, kind: str, ids: Iterable[int], *, at: datetime) -> dict[int, str]:
    """New personal keys (hex) for records that have none (services.audit.personal_key,
    in bulk)."""
    import secrets

    from crmcli.store.models import PersonalKey

    made = {record_id: secrets.token_hex(32) for record_id in sorted(ids)}
    session.connection().execute(
        PersonalKey.__table__.insert(),  # type: ignore[attr-defined]
        [
            {"record_type": kind, "record_id": record_id, "key": key, "created_at": at}
            for record_id, key in made.items()
        ],
    )
    return made


BASELINE_CHUNK = 10_000  # rows per baseline seal event


def baseline(conn: Any, *, at: datetime, actor: str, command: str) -> int:
    """Seal every stored row as it is, in "baseline" seal events (a database upgraded from
    before the seals: its rows were written when nothing sealed them). Returns how many."""
    with Session(bind=conn) as session:
        sealed = 0
        entries: list[tuple[str, int, str | None]] = []
        for spec in AUDITED:
            for row in _stream(session, rows_query(spec).order_by(*spec.keys)):
                key = _key_of(row)
                if key is None and spec.key is not None and _needs_key(spec, row):
                    kind, column = spec.key
                    if row[column] is not None:
                        key = audit.personal_key(session, kind, row[column], at=at)
                entries.append((spec.table, spec.record_id(row), row_seal(spec, row, key)))
                if len(entries) >= BASELINE_CHUNK:
                    _baseline_event(session, entries, at=at, actor=actor, command=command)
                    sealed += len(entries)
                    entries = []
        if entries:
            _baseline_event(session, entries, at=at, actor=actor, command=command)
            sealed += len(entries)
        session.flush()
    return sealed


def _baseline_event(
    session: Session, entries: list[tuple[str, int, str | None]], **fields: Any
) -> None:
    event = audit.append(
        session,
        record_type=audit.SEALS,
        record_id=None,
        action="baseline",
        changes=audit.seal_changes(entries),
        **fields,
    )
    audit.store_seals(session, event.id, entries)  # type: ignore[arg-type]


# --- verifying ------------------------------------------------------------------------------


@dataclass
class Finding:
    spec: Audited
    record_id: int
    kind: str  # unsealed | changed | deleted | reinserted
    columns: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        what = self.spec.describe(self.record_id)
        if self.kind == "unsealed":
            return f"{what}: no creating event (inserted outside crm)"
        if self.kind == "reinserted":
            return f"{what}: no creating event (crm deleted it; it is back)"
        if self.kind == "deleted":
            return f"{what}: deleted outside crm"
        if self.columns:
            return f"{what}: {', '.join(self.columns)} changed outside crm"
        return f"{what}: changed outside crm (the row differs from its last sealed state)"


@dataclass
class Verified:
    rows: int = 0  # rows whose seal matches
    findings: list[Finding] = field(default_factory=list)
    total: int = 0  # findings, also beyond those kept


def verify(session: Session, *, keep: int = audit.SHOWN) -> Verified:
    """Every audited table against its records' latest seals (see the module docstring);
    the first `keep` findings are kept, with the changed columns named where possible."""
    from crmcli.store.models import AuditSeal

    result = Verified()
    for spec in AUDITED:
        rows = _stream(session, rows_query(spec).order_by(*spec.keys))
        seals = _latest(
            _stream(
                session,
                select(AuditSeal.record_id, AuditSeal.seal)
                .where(AuditSeal.record_type == spec.table)
                .order_by(AuditSeal.record_id, AuditSeal.event_id),  # type: ignore[arg-type]
            )
        )
        for record_id, row, sealed in _merge(spec, rows, seals):
            if row is None:
                kind = "deleted" if sealed is not None else None
            elif sealed is _NEVER:
                kind = "unsealed"
            elif sealed is None:
                kind = "reinserted"
            elif row_seal(spec, row, _key_of(row)) != sealed:
                kind = "changed"
            else:
                result.rows += 1
                continue
            if kind is None:
                continue
            result.total += 1
            if len(result.findings) < keep:
                finding = Finding(spec, record_id, kind)
                if kind == "changed":
                    finding.columns = changed_columns(session, spec, record_id, row)
                result.findings.append(finding)
    return result


_NEVER = object()  # a row with no seal at all


def _stream(session: Session, query: Any) -> Iterator[Mapping[str, Any]]:
    result = session.connection().execution_options(yield_per=2000).execute(query)
    return iter(result.mappings())


def _latest(rows: Iterator[Mapping[str, Any]]) -> Iterator[tuple[int, str | None]]:
    """(record id, its latest seal) from seals in (record id, event) order."""
    current: tuple[int, str | None] | None = None
    for row in rows:
        if current is not None and row["record_id"] != current[0]:
            yield current
        current = (row["record_id"], row["seal"])
    if current is not None:
        yield current


def _merge(
    spec: Audited,
    rows: Iterator[Mapping[str, Any]],
    seals: Iterator[tuple[int, str | None]],
) -> Iterator[tuple[int, Mapping[str, Any] | None, Any]]:
    """(id, row or None, latest seal, None if deleted, or _NEVER) over both, in id order."""
    row = next(rows, None)
    sealed = next(seals, None)
    while row is not None or sealed is not None:
        row_id = spec.record_id(row) if row is not None else None
        if sealed is None or (row_id is not None and row_id < sealed[0]):
            yield row_id, row, _NEVER  # type: ignore[misc]
            row = next(rows, None)
        elif row_id is None or sealed[0] < row_id:
            yield sealed[0], None, sealed[1]
            sealed = next(seals, None)
        else:
            yield row_id, row, sealed[1]
            row = next(rows, None)
            sealed = next(seals, None)


def changed_columns(
    session: Session, spec: Audited, record_id: int, row: Mapping[str, Any]
) -> list[str]:
    """The columns of a changed row that differ from what its own audit events recorded
    (best effort: only records with events of their own, only fields they record)."""
    if spec.events is None:
        return []
    from sqlmodel import col

    from crmcli.store.models import AuditEvent

    events = list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.record_type == spec.events, AuditEvent.record_id == record_id)
            .order_by(col(AuditEvent.id))
        )
    )
    current = {name: row[name] for name in spec.columns}
    if spec.table == "lead":
        current |= _lead_names(session, row)
        fields = [*LEAD_AUDITED, *spec.unset_means_empty, *current]
    else:
        fields = list(current)
    named = audit.drift(
        session,
        spec.events,
        record_id,
        events,
        current,
        fields=dict.fromkeys(fields),
        absent=spec.unset_means_empty,
    )
    return named


def _lead_names(session: Session, row: Mapping[str, Any]) -> dict[str, Any]:
    """A lead's owner and campaign as its events record them: by name."""
    from crmcli.store.models import Campaign, User

    owner = session.get(User, row["owner_id"]) if row["owner_id"] is not None else None
    campaign = session.get(Campaign, row["campaign_id"]) if row["campaign_id"] is not None else None
    return {
        "owner": owner.name if owner else None,
        "campaign": campaign.name if campaign else None,
    }
