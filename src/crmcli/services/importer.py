"""Bulk import of leads (SPEC §6): read CSV/JSONL exports, validate each row like `lead add`,
find duplicates in the file and in the database, enrich empty fields, queue conflicts for
review, and write in batches that each commit atomically with their ImportRow records.

A run is resumable: the batch of a file (by SHA-256) records every row it handled, so a run
killed at any point leaves whole batches behind and the next run of the same file carries on
after the last committed row. A file already imported is not imported again.

Rows are written through the driver's `executemany` (`BulkInsert`: SQLAlchemy's own bind
processors, no statement compiled per row, no ORM objects); every new or enriched lead still
gets its audit event (`append_events`, the hash chain of services.audit) and its obligations
(`rules.obligations`, as `refresh_lead` computes them). Rows are checked and written in
chunks of `CHECK_CHUNK`; a batch (10,000 rows by default) is a few chunks in one
transaction, since each commit rewrites every index page the batch touched. A large file's
rows are checked (`RowChecker`: validation without the database) in a forked worker process
a few chunks ahead of the writer, which also prepares what each row writes if it turns out
new (`LeadPreparer`: its create event sealed and JSON-encoded, its audit key, its
obligations in stored form, its blocking keys), so the writer only matches, joins strings
and hashes the audit chain; all batches share one connection, so SQLite's page cache stays
warm.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, delete, func, text, update
from sqlmodel import col, select

from crmcli.clock import in_utc, parse_when
from crmcli.errors import BadInput, CrmError, NotFound, NotPermitted, PolicyRefusal
from crmcli.files import OutputFile, open_input
from crmcli.limits import MAX_NESTING, TooDeep, nesting_depth
from crmcli.records import LEAD_FIELDS
from crmcli.render import CsvWriter
from crmcli.rules import dedupe, mapping, matching, messaging
from crmcli.rules import obligations as obligation_rules
from crmcli.rules.validation import clean_text, import_values
from crmcli.services import audit, outbox, scope, seals, stage_facts
from crmcli.services.leads import ACQUIRED_SKEW, change_lead
from crmcli.services.lookups import campaign_by_name
from crmcli.services.review import UNVERIFIED, VALUE_ITEM
from crmcli.services.workspace import Tx, Workspace
from crmcli.store.models import (
    AuditEvent,
    Campaign,
    ImportBatch,
    ImportRow,
    Lead,
    Obligation,
    OutboxMessage,
    ReviewItem,
    StageChange,
)

FORMATS = ("csv", "jsonl")
DEFAULT_BATCH_SIZE = 10_000  # rows per committed batch
CHECK_CHUNK = 2000  # rows checked (and written) at a time; a batch is a few of these
MAX_CELL = 1_000_000  # characters; a larger cell is a broken export, rejected (kept in rejects)
SCAN_CHUNK = 1 << 20
IN_CHUNK = 500  # values per IN (...) list
CHECK_AHEAD = 3  # chunks checked ahead of the one being written (with workers)
WORKERS = 1  # processes checking rows
PARALLEL_MIN_BYTES = 4 << 20  # a smaller file is checked in-process (a worker costs ~0.1 s)
IMPORT_CACHE_MB = 32  # SQLite page cache of the import's connection (the default is 2 MB)
_CP1252_UNDEFINED = (0x81, 0x8D, 0x8F, 0x90, 0x9D)
# the keys of a batch's audit events: undo finds what a batch wrote by them
BATCH_KEY = "import_batch"
UNDO_KEY = "undo_import_batch"

# blocks of name+company candidates, looked up through the indexes of migration 0004;
# {0} and {1} are the parts of one key pair (see `_block_query`)
_BLOCK_SQL = {
    "company_last": "lead.company_key = {0} AND lead.last_key = {1}",
    "company_first": "lead.company_key = {0} AND lower(lead.first_name) = {1}",
    "name": "lower(lead.last_name) = {0} AND lower(lead.first_name) = {1}",
}
_CANDIDATE_FIELDS = (
    "id",
    *matching.RECONCILED,
    "source",
    "campaign_id",
    "kind",
    "extra",
)


@dataclass(frozen=True)
class ImportOptions:
    path: Path
    file_format: str | None = None  # csv | jsonl; None: from the file name
    maps: tuple[str, ...] = ()  # "Column=field"
    source: str | None = None  # for rows without one
    campaign: str | None = None
    encoding: str | None = None  # None: detected
    day_first: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE
    rejects: Path | None = None
    assign: bool = False  # route the new unowned leads (services.assignment), in the run


@dataclass
class ImportSummary:
    batch: int | None
    file: str
    format: str
    encoding: str
    read: int = 0
    imported: int = 0
    merged: int = 0
    queued: int = 0
    rejected: int = 0
    unknown_columns: list[str] = field(default_factory=list)
    resumed_after_row: int | None = None
    already_imported: bool = False
    dry_run: bool = False
    first_rejects: list[tuple[int, str]] = field(default_factory=list)
    late_entries: int = 0  # new leads entered later after acquisition than lead.entry allows
    flags: dict[str, int] = field(default_factory=dict)  # rows with a doubtful value, by kind
    unowned: int = 0  # the batch's new leads without an owner
    enriched: int = 0  # duplicate rows that filled empty fields of their lead
    reviews: dict[str, int] = field(default_factory=dict)  # items queued, by kind
    assigned: int | None = None  # new leads routed by --assign (None: not asked)
    # owner names no lead could be given, with why ('vic': 'vic is a viewer; …')
    owner_refusals: dict[str, str] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return self.imported + self.merged + self.queued

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "file": self.file,
            "format": self.format,
            "encoding": self.encoding,
            "read": self.read,
            "imported": self.imported,
            "merged": self.merged,
            "queued": self.queued,
            "rejected": self.rejected,
            "unknown_columns": self.unknown_columns,
            "resumed_after_row": self.resumed_after_row,
            "already_imported": self.already_imported,
            "dry_run": self.dry_run,
            "late_entries": self.late_entries,
            "flags": self.flags,
            "unowned": self.unowned,
            "enriched": self.enriched,
            "duplicates": self.merged + self.queued,
            "reviews": self.reviews,
            "assigned": self.assigned,
        }


COUNTS = ("read", "imported", "merged", "queued", "rejected", "enriched")
FLAG_COUNT = "flag."  # a batch's counts also hold "flag.KIND": rows with a value of that kind


# --- reading the file -------------------------------------------------------------------------


@dataclass
class Record:
    row: int  # the line the record starts on (the header is line 1)
    values: dict[str, str]  # lead field -> raw text
    extra: dict[str, Any]  # unknown column -> value
    original: list[str] | str  # the cells (CSV) or the line (JSONL), for the rejects file
    error: str | None = None


def _scan(path: Path, encoding: str | None) -> tuple[int, str, str]:
    """(size, sha256, encoding) in one pass; the encoding is checked against every byte, so
    reading can never fail half-way through an import."""
    digest = hashlib.sha256()
    size = 0
    with open_input(path, option="FILE") as handle:
        first = handle.read(4)
        if encoding is None:
            if first.startswith(codecs.BOM_UTF8):
                encoding = "utf-8-sig"
            elif first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                encoding = "utf-16"
        checks = {encoding} if encoding else {"utf-8"}
        decoders = {}
        for name in checks:
            try:
                decoders[name] = codecs.getincrementaldecoder(name)("strict")
            except LookupError:
                raise BadInput(
                    f"--encoding: {name!r} is not an encoding; use utf-8, cp1252 or latin-1"
                ) from None
        cp1252_ok = True
        chunk = first
        while chunk:
            digest.update(chunk)
            size += len(chunk)
            for name in list(decoders):
                try:
                    decoders[name].decode(chunk)
                except UnicodeDecodeError:
                    del decoders[name]
            if encoding is None and cp1252_ok:
                cp1252_ok = not any(byte in chunk for byte in _CP1252_UNDEFINED)
            chunk = handle.read(SCAN_CHUNK)
        for name in list(decoders):
            try:
                decoders[name].decode(b"", final=True)
            except UnicodeDecodeError:
                del decoders[name]
    if encoding is not None:
        if not decoders:
            raise BadInput(
                f"{path.name}: is not {encoding} text; give the right --encoding "
                "(utf-8, cp1252, latin-1)"
            )
        return size, digest.hexdigest(), encoding
    if decoders:
        return size, digest.hexdigest(), "utf-8"
    # not UTF-8: Windows exports are cp1252; bytes it leaves undefined mean plain Latin-1
    return size, digest.hexdigest(), "cp1252" if cp1252_ok else "latin-1"


class SourceFile:
    """One export file: its fingerprint, encoding, column mapping and records."""

    def __init__(self, options: ImportOptions) -> None:
        self.path = options.path
        if options.file_format is not None and options.file_format not in FORMATS:
            raise BadInput(f"--input-format: {options.file_format!r} is not csv or jsonl")
        suffix = self.path.suffix.lower()
        self.format = options.file_format or (
            "jsonl" if suffix in (".jsonl", ".ndjson", ".json") else "csv"
        )
        self.overrides = mapping.parse_overrides(options.maps)
        self.size, self.sha256, self.encoding = _scan(self.path, options.encoding)
        self._binary = open_input(self.path, option="FILE")
        self._text = io.TextIOWrapper(self._binary, encoding=self.encoding, newline="")
        self._unknown: dict[str, None] = {}
        self.headers: list[str] = []
        self.columns: mapping.Mapping | None = None
        self._csv: Iterator[list[str]] | None = None
        self._line = 0
        if self.format == "csv":
            self._open_csv()

    def close(self) -> None:
        self._text.close()

    @property
    def position(self) -> int:
        return self._binary.tell()

    @property
    def unknown_columns(self) -> list[str]:
        return list(self._unknown)

    def _open_csv(self) -> None:
        csv.field_size_limit(256 * 1024 * 1024)  # read any cell; large ones are rejected
        first_line = self._text.readline()
        while first_line and not first_line.strip():
            self._line += 1
            first_line = self._text.readline()
        if not first_line:
            raise BadInput(f"{self.path.name}: is empty; give a file with a header row")
        # a semicolon- or tab-separated export (spreadsheets in many locales)
        delimiter = max((",", ";", "\t"), key=first_line.count)
        self._delimiter = delimiter
        header = next(csv.reader([first_line], delimiter=delimiter), [])
        self._line += 1
        self.columns = mapping.map_headers(header, self.overrides)
        self.headers = self.columns.headers
        for name in self.columns.unknown:
            self._unknown[name] = None

    def records(self) -> Iterator[Record]:
        return self._csv_records() if self.format == "csv" else self._jsonl_records()

    def _csv_records(self) -> Iterator[Record]:
        assert self.columns is not None
        reader = csv.reader(self._text, delimiter=self._delimiter)
        offset = self._line  # lines consumed by the header
        fields = self.columns.fields
        extra_columns = self.columns.extra
        phone_columns = [i for i, name in extra_columns.items() if name in self.columns.phones]
        width = len(self.headers)
        while True:
            start = offset + reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Record(start, {}, {}, [], f"unreadable CSV: {exc}")
                continue
            if not cells or not any(cell.strip() for cell in cells):
                continue  # blank lines are not rows
            error = None
            if len(cells) > width:
                if any(cell.strip() for cell in cells[width:]):
                    error = (
                        f"row has {len(cells)} cells but the header has {width}; "
                        "a quote or a delimiter is probably missing"
                    )
                else:
                    cells = cells[:width]  # trailing empty cells some spreadsheets add
            if error is None:
                big = next((i for i, cell in enumerate(cells) if len(cell) > MAX_CELL), None)
                if big is not None:
                    error = (
                        f"{self.headers[big] if big < width else f'cell {big + 1}'}: "
                        f"{len(cells[big]):,} characters, over the {MAX_CELL:,} limit"
                    )
            count = len(cells)
            values = {name: cells[i] for i, name in fields.items() if i < count}
            extra = {name: cells[i] for i, name in extra_columns.items() if i < count and cells[i]}
            if phone_columns:
                values[OTHER_PHONES] = [cells[i] for i in phone_columns if i < count]  # type: ignore[assignment]
            yield Record(start, values, extra, cells, error)

    def _jsonl_records(self) -> Iterator[Record]:
        targets: dict[str, str | None] = {}
        for number, line in enumerate(self._text, start=self._line + 1):
            if not line.strip():
                continue
            original = line.rstrip("\r\n")
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                reason = f"line is not JSON: {exc.msg} at character {exc.pos + 1}"
                yield Record(number, {}, {}, original, reason)
                continue
            except RecursionError:  # brackets past the parser's stack
                yield Record(number, {}, {}, original, f"line is {TooDeep()}")
                continue
            if not isinstance(data, dict):
                yield Record(number, {}, {}, original, "line is not a JSON object")
                continue
            if "\\u" in line and not _encodable(data):  # JSON escapes can spell lone surrogates
                reason = "line holds text that is not valid UTF-8 (an escaped lone surrogate)"
                yield Record(number, {}, {}, original, reason)
                continue
            values: dict[str, str] = {}
            extra: dict[str, Any] = {}
            error = None
            for key, value in data.items():
                if key not in targets:
                    targets[key] = mapping.field_for_key(key, self.overrides)
                    if targets[key] is None:
                        self._unknown[key] = None
                target = targets[key]
                if target == mapping.DROP:
                    continue
                if isinstance(value, str) and len(value) > MAX_CELL:
                    error = f"{key}: {len(value):,} characters, over the {MAX_CELL:,} limit"
                elif target is None:
                    if isinstance(value, dict | list) and nesting_depth(value) >= MAX_NESTING:
                        error = f"{key}: {TooDeep()}"  # kept in extra, one level deeper
                    elif value not in (None, ""):
                        extra[key] = value
                elif isinstance(value, dict | list):
                    error = f"{key}: a JSON {type(value).__name__} where text was expected"
                elif value is not None:
                    values[target] = value if isinstance(value, str) else json.dumps(value)
            yield Record(number, values, extra, original, error)


def _encodable(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class RejectsWriter:
    """The rejected rows, as they were, with `row` and `reason` first. The file appears when
    the import ends (a failed one leaves none: its re-run writes every rejected row again)."""

    def __init__(self, path: Path, source: SourceFile) -> None:
        self.format = source.format
        self._file = OutputFile(path, option="--rejects")
        if self.format == "csv":
            self._writer = CsvWriter(self._file)
            self._writer.writerow(["row", "reason", *source.headers])
        self._file.flush()  # a file that cannot take even this fails before any row is read

    def write(self, record: Record, reason: str) -> None:
        if self.format == "csv":
            self._writer.writerow([record.row, reason, *record.original])
            return
        original: Any = record.original
        try:
            parsed = json.loads(original) if isinstance(original, str) else original
        except (ValueError, RecursionError):
            parsed = None
        line = {"row": record.row, "reason": reason}
        if isinstance(parsed, dict) and _encodable(parsed):
            line.update(parsed)
        else:
            line["line"] = original
        self._file.write(json.dumps(line, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self._file.commit()

    def discard(self) -> None:
        self._file.discard()


# --- the audit chain, in bulk -----------------------------------------------------------------


class BulkInsert:
    """INSERT of many rows through the driver's `executemany`, with SQLAlchemy's own bind
    processors (JSON, datetimes) looked up once per column instead of compiling and
    processing every row's parameters (a Core `insert(table)` with dicts costs several
    times the database's own work). Portable: placeholders follow the dialect's paramstyle.
    """

    _MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}

    def __init__(
        self, conn: Any, table: Any, columns: Sequence[str], json_text: Sequence[str] = ()
    ) -> None:
        """`json_text`: JSON columns whose values come already encoded (a str of JSON): SQLite
        stores the text as it is; another driver gets the value through its own adapter."""
        dialect = conn.dialect
        quote = dialect.identifier_preparer.quote
        self.processors = [
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
        ]
        for i, name in enumerate(columns):
            if name in json_text:
                self.processors[i] = (
                    None if dialect.name == "sqlite" else _decoded(self.processors[i])
                )
        mark = self._MARKS.get(dialect.paramstyle)
        marks = (
            [mark] * len(columns)
            if mark
            else [f":{i}" for i in range(1, len(columns) + 1)]  # numeric
        )
        self.sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES ({', '.join(marks)})"
        )

    def binder(self) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
        """A function that gives one row its stored form (the processors of `__call__`, their
        results remembered for repeated values): a worker process binds the rows it prepares,
        and the writer then inserts them with `bound=True`."""
        processors = [(i, p) for i, p in enumerate(self.processors) if p is not None]
        memo: dict[Any, Any] = {}

        def bind(row: Sequence[Any]) -> tuple[Any, ...]:
            values = list(row)
            for i, process in processors:
                value = values[i]
                if value is None:
                    continue
                if type(value) in _UNHASHABLE:
                    values[i] = process(value)
                    continue
                key = (i, type(value), value)
                found = memo.get(key, memo)
                if found is memo:
                    found = process(value)
                    if len(memo) < 10_000:
                        memo[key] = found
                values[i] = found
            return tuple(values)

        return bind

    def __call__(self, conn: Any, rows: Sequence[Sequence[Any]], *, bound: bool = False) -> None:
        """Insert `rows`; `bound`: they are in stored form already (`binder`)."""
        if not rows:
            return
        processors = [] if bound else [(i, p) for i, p in enumerate(self.processors) if p]
        if processors:
            # a batch repeats values (its `now` in every row, empty JSON objects): each
            # distinct hashable value is processed once
            memos: list[dict[Any, Any]] = [{} for _ in processors]
            converted = []
            for row in rows:
                values = list(row)
                for (i, process), memo in zip(processors, memos, strict=True):
                    value = values[i]
                    if value is None:
                        continue
                    kind = type(value)
                    if kind in _UNHASHABLE:
                        if value:
                            values[i] = process(value)
                            continue
                        value = None  # an empty dict or list: memo it by its type
                    key = (kind, value)  # by type too: True == 1, but not in JSON
                    found = memo.get(key, memo)
                    if found is memo:
                        found = memo[key] = process(values[i])
                    values[i] = found
                converted.append(tuple(values))
            rows = converted
        conn.exec_driver_sql(self.sql, rows)


_UNHASHABLE = frozenset({dict, list})


def _decoded(process: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    def decode(value: Any) -> Any:
        parsed = json.loads(value)
        return process(parsed) if process else parsed

    return decode


_EVENT_COLUMNS = (
    "id",
    "at",
    "actor",
    "command",
    "record_type",
    "record_id",
    "action",
    "changes",
    "prev_hash",
    "hash",
    "login",
    "policy",
)


def append_events(
    tx: Tx,
    events: Sequence[tuple[str, int | None, str, dict[str, Any]]],
    *,
    json_ready: bool = False,
) -> None:
    """Append (record_type, record_id, action, changes) events to the audit chain in bulk,
    stored exactly as `services.audit.append` stores them one at a time: personal values
    sealed with the record's key, their readable originals in `audit_personal`.
    `json_ready`: the changes hold JSON values only (no datetimes): no conversion pass."""
    if not events:
        return
    from crmcli.store.models import AuditPersonal

    conn = tx.session.connection()
    previous, next_id = _chain_head(tx, len(events))
    keys = _personal_keys(tx, events)
    now, actor, command = tx.now, tx.actor.name, tx.command
    login, policy = tx.login, tx.policy_sha256
    rows: list[tuple[Any, ...]] = []
    personal_rows: list[tuple[Any, ...]] = []
    jsonable, seal, text_of = audit.jsonable, audit._seal_pair, audit._text
    hasher = audit.event_hasher(now, actor, command, login=login, policy=policy)
    for record_type, record_id, action, raw_changes in events:
        changes = raw_changes if json_ready else jsonable(raw_changes)
        sensitive = audit.PERSONAL.get(record_type, ()) if record_id is not None else ()
        personal = [name for name in changes if name in sensitive]
        if personal:
            key = keys[(record_type, record_id)]  # type: ignore[index]
            clear = changes
            changes = dict(changes)
            for name in personal:
                values = clear[name]
                changes[name] = seal(key, values)
                pair = isinstance(values, list) and len(values) == 2
                old, new = values if pair else (None, values)
                personal_rows.append((next_id, name, text_of(old), text_of(new)))
        digest = hasher(record_type, record_id, action, audit.canonical(changes), previous)
        rows.append(
            (
                next_id,
                now,
                actor,
                command,
                record_type,
                record_id,
                action,
                changes,
                previous,
                digest,
                login,
                policy,
            )
        )
        previous = digest
        next_id += 1
    BulkInsert(conn, AuditEvent.__table__, _EVENT_COLUMNS)(conn, rows)  # type: ignore[attr-defined]
    if personal_rows:
        table = AuditPersonal.__table__  # type: ignore[attr-defined]
        BulkInsert(conn, table, ("event_id", "field", "old", "new"))(conn, personal_rows)


def _chain_head(tx: Tx, count: int) -> tuple[str, int]:
    """(the audit chain's last hash, the id of the first of `count` events to append)."""
    conn = tx.session.connection()
    head = tx.session.exec(select(AuditEvent.hash).order_by(col(AuditEvent.id).desc()).limit(1))
    previous = head.first() or audit.GENESIS
    # ids given here (the write lock is held) so the personal values can point at their event;
    # on PostgreSQL from the sequence, which a later one-at-a-time event then goes past
    if conn.dialect.name == "sqlite":
        next_id = (conn.execute(select(func.max(AuditEvent.id))).scalar() or 0) + 1
    else:
        next_id = _reserve_ids(conn, "audit_event", count)[0]
    return previous, next_id


# an event's `changes` is prepared as fragments `"name":value` of canonical JSON, one per
# field, joined by the writer (services.audit: canonical_field, canonical_fields)
fragment = audit.canonical_field


def _append_prepared(
    tx: Tx,
    events: Sequence[tuple[int, str, str, str, Sequence[str]]],
    record_type: str = "lead",
) -> None:
    """Append (record id, action, changes as stored, changes in canonical JSON, personal
    fields' readable originals: name, text, name, text …) events to the audit chain: the
    events `append_events` writes, from changes already sealed and encoded; only the chain's
    hashes are computed here (services.audit.event_hasher: no JSON encoding)."""
    if not events:
        return
    from crmcli.store.models import AuditPersonal

    conn = tx.session.connection()
    previous, next_id = _chain_head(tx, len(events))
    now, actor, command = tx.now, tx.actor.name, tx.command
    login, policy = tx.login, tx.policy_sha256
    hasher = audit.event_hasher(now, actor, command, login=login, policy=policy)
    rows: list[tuple[Any, ...]] = []
    personal_rows: list[tuple[Any, ...]] = []
    for record_id, action, stored, canonical, personal in events:
        digest = hasher(record_type, record_id, action, canonical, previous)
        rows.append(
            (
                next_id,
                now,
                actor,
                command,
                record_type,
                record_id,
                action,
                stored,
                previous,
                digest,
                login,
                policy,
            )
        )
        for i in range(0, len(personal), 2):
            personal_rows.append((next_id, personal[i], None, personal[i + 1]))
        previous = digest
        next_id += 1
    table = AuditEvent.__table__  # type: ignore[attr-defined]
    BulkInsert(conn, table, _EVENT_COLUMNS, json_text=("changes",))(conn, rows)
    table = AuditPersonal.__table__  # type: ignore[attr-defined]
    BulkInsert(conn, table, ("event_id", "field", "old", "new"))(conn, personal_rows)


def _personal_keys(
    tx: Tx, events: Sequence[tuple[str, int | None, str, dict[str, Any]]]
) -> dict[tuple[str, int], bytes]:
    """Each record's audit key (services.audit.personal_key), made in bulk where missing."""
    import secrets

    from crmcli.store.models import PersonalKey

    wanted: dict[str, set[int]] = {}
    for record_type, record_id, _action, changes in events:
        if record_id is not None and changes.keys() & audit.PERSONAL.get(record_type, set()):
            wanted.setdefault(record_type, set()).add(record_id)
    conn = tx.session.connection()
    tx.session.flush()
    keys: dict[tuple[str, int], bytes] = {}
    made = []
    for record_type, ids in wanted.items():
        ordered = sorted(ids)
        for chunk in _chunks(ordered):
            query = select(PersonalKey.record_id, PersonalKey.key).where(
                PersonalKey.record_type == record_type, col(PersonalKey.record_id).in_(chunk)
            )
            keys.update({(record_type, i): bytes.fromhex(k) for i, k in conn.execute(query)})
        for record_id in ordered:
            if (record_type, record_id) not in keys:
                secret = secrets.token_hex(32)
                keys[(record_type, record_id)] = bytes.fromhex(secret)
                made.append((record_type, record_id, secret, tx.now))
    columns = ("record_type", "record_id", "key", "created_at")
    BulkInsert(conn, PersonalKey.__table__, columns)(conn, made)  # type: ignore[attr-defined]
    return keys


# --- importing --------------------------------------------------------------------------------


def _chunks(values: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@dataclass
class _Outcome:
    row: int
    outcome: str
    lead: dict[str, Any] | None = None
    reason: str | None = None
    changes: dict[str, list[Any]] = field(default_factory=dict)
    flags: tuple[str, ...] = ()  # the kinds of its doubtful values (rules.validation)


DATE_COLUMN = "acquired_at"
OTHER_PHONES = "other_phones"  # a row's cells of its other phone columns (mapping.phones)
UNKNOWN_SOURCE = "unknown"  # a row with no source and no --source: flagged "source"
OWNER = "owner"  # a row's owner as the file names it (the user's name, login or email)


@dataclass
class RowChecker:
    """The row rules of `lead add` that need no database (all but the campaign): pure, so
    a worker process can run them while the main one writes (`CheckerPool`)."""

    phone_region: str
    timezone: tzinfo
    now: datetime
    source: str | None
    day_first: bool
    dates: dict[str, datetime] = field(default_factory=dict)  # export dates repeat
    preparer: LeadPreparer | None = None  # what a new lead writes, prepared with the check

    def check(self, cells: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """(normalised values, campaign name) of a row; BadInput names why it is refused.
        Doubtful values are not reasons (`import_values`): they are left out and listed in
        `values["flags"]` ({field: (kind, original text)}), for the lead to keep and raise."""
        raw: dict[str, Any] = dict(cells)
        other_phones = tuple(raw.pop(OTHER_PHONES, ()))
        acquired_text = clean_text(raw.pop("acquired_at", None))
        campaign_name = clean_text(raw.pop("campaign", None))
        if campaign_name and mapping.is_placeholder(campaign_name):
            campaign_name = None
        owner = clean_text(raw.pop(OWNER, None))
        values, flags = import_values(
            raw, phone_region=self.phone_region, other_phones=other_phones
        )
        if not values.get("source"):
            if self.source:
                values["source"] = self.source.lower()
            else:
                flags.setdefault("source", ("source", ""))
                values["source"] = UNKNOWN_SOURCE
        values["first_name"] = values.get("first_name") or ""
        values["last_name"] = values.get("last_name") or ""
        values["acquired_at"] = self.now
        if acquired_text and not mapping.is_placeholder(acquired_text):
            try:
                values["acquired_at"] = self._acquired(acquired_text)
            except BadInput:
                flags[DATE_COLUMN] = ("date", acquired_text)
        if owner and not mapping.is_placeholder(owner):
            values[OWNER] = owner  # a name, resolved to a user with the database (`complete`)
        values["flags"] = flags
        return values, campaign_name

    def check_all(self, rows: list[dict[str, str] | None]) -> list[Checked]:
        """`check` of each row (None: a row the reader rejected), errors as messages: an
        import goes on past any bad row, whatever is wrong with it; the reason goes to the
        rejects file and the summary."""
        checked: list[Checked] = []
        for cells in rows:
            if cells is None:
                checked.append(None)
                continue
            try:
                values, campaign = self.check(cells)
                prepared = self.preparer.prepare(values) if self.preparer else None
                checked.append((values, campaign, matching.block_keys(values), prepared))
            except CrmError as exc:
                checked.append(exc.message)
            except Exception as exc:  # a value no rule foresaw: this row's problem only
                checked.append(f"row could not be checked: {type(exc).__name__}: {exc}")
        return checked

    def _acquired(self, raw: str) -> datetime:
        when = self.dates.get(raw)
        if when is None:
            tz = self.timezone
            fast = mapping.export_datetime(raw, tz=tz, day_first=self.day_first)
            when = (
                in_utc(fast, field=DATE_COLUMN, text=raw)
                if fast is not None
                else parse_when(raw, default_tz=tz, field=DATE_COLUMN, day_first=self.day_first)
            )
            if len(self.dates) < 100_000:
                self.dates[raw] = when
        if when > self.now + ACQUIRED_SKEW:
            raise BadInput(
                f"{DATE_COLUMN}: {raw!r} lies in the future; give when the lead was acquired"
            )
        return when


# What a lead writes besides its row when it is new, prepared from its checked values alone
# (pure: the worker process prepares it while the main one writes, so the writer only joins
# strings and hashes the audit chain). A plain tuple, cheap to pass between processes:
# (its audit key in hex as `personal_key` stores it,
#  its create event's fields as stored: `"name":value` joined, sealed (services.audit),
#  the same in canonical order, in 4 parts around the names the writer adds (_ADDED),
#  its personal fields' readable originals: (name, JSON text, name, JSON text, …),
#  its obligations' rows, their record id 0,
#  its personal fields' keyed hashes: {name: hash}, which its row's seal holds too;
#  its automated messages due on arrival, rendered: the welcome)
NewLead = tuple[
    str,
    str,
    tuple[str, str, str, str],
    tuple[str, ...],
    tuple[tuple[Any, ...], ...],
    dict[str, str],
    tuple[messaging.Composed, ...],
]
# the create event's fields the writer adds: they need the database or the batch
_ADDED = ("campaign", "extra", BATCH_KEY)


@dataclass
class LeadPreparer:
    """`NewLead`s: the create event `lead add` writes and the obligations `refresh_lead`
    stores for a new lead (no activities yet) of this import."""

    policy: Any
    calendar: Any
    actor: str
    now: datetime
    # gives an obligation row its stored form (`BulkInsert.binder`); None: left to the insert
    bind_obligation: Callable[[Sequence[Any]], tuple[Any, ...]] | None = None
    # the sequences that start on acquisition (services.outbox.arrival); None: there are none
    arrival: messaging.Arrival | None = None

    def row(self, lead: dict[str, Any]) -> dict[str, Any]:
        """The new lead's columns but for id, campaign and extra."""
        now = self.now
        row = {name: lead.get(name) for name in matching.RECONCILED}
        row.update(
            source=lead["source"],
            stage=self.policy.first_stage,
            status="new",
            acquired_at=lead["acquired_at"],
            created_at=now,
            updated_at=now,
            stage_entered_at=now,
            kind="lead",
            prospect_said_no=False,
            **dedupe.blocking_keys(lead),
        )
        return row

    def prepare(self, lead: dict[str, Any], key: str | None = None) -> NewLead:
        import secrets

        row = self.row(lead)
        key = key or secrets.token_hex(32)
        secret = bytes.fromhex(key)
        sensitive = audit.PERSONAL["lead"]
        fields: list[tuple[str, str]] = []
        personal: list[str] = []
        sealed: dict[str, str] = {}
        for name in _SHOWN_FIELDS:
            value = row.get(name)
            if value is None:
                continue
            if name in _TIMES:
                value = value.isoformat()
            if name in sensitive:
                personal += (name, audit._text(value))
                value = sealed[name] = audit.seal(secret, value)  # type: ignore[assignment]
            fields.append(fragment(name, [None, value]))
        ordered = sorted(fields)
        parts = []
        for low, high in zip(("", *_ADDED), (*_ADDED, "\uffff"), strict=True):
            parts.append(",".join(text for name, text in ordered if low < name < high))
        # the lead's id is given when it is written (in place of this 0 in each row)
        obligations = _obligations(
            self.policy, self.calendar, {**row, "id": 0}, created_by=self.actor
        )
        if self.bind_obligation is not None:
            obligations = [self.bind_obligation(due) for due in obligations]
        stored = ",".join(text for _name, text in fields)
        messages = (
            tuple(self.arrival.messages(row, self.now, self.calendar)) if self.arrival else ()
        )
        return key, stored, tuple(parts), tuple(personal), tuple(obligations), sealed, messages  # type: ignore[return-value]


# a row checked: (values, campaign name, its blocking keys, what it writes if new), the reason
# it is rejected, or None (not checked)
Checked = tuple[dict[str, Any], str | None, list[tuple[str, ...]], NewLead | None] | str | None


class Importer:
    """What one import run knows across its batches: options, caches, the batch record."""

    def __init__(self, options: ImportOptions, source: SourceFile) -> None:
        self.options = options
        self.source = source
        self.batch_id: int | None = None  # None until a row is taken in (or resumed)
        # rejected rows read before the batch exists, recorded with it once it does
        self._held: list[_Outcome] = []
        self._checker: RowChecker | None = None
        self._campaigns: dict[str, int | str] = {}  # name -> id, or the reason it is refused
        self._campaign_names: dict[int, str] = {}
        self.default_campaign: int | None = None
        self._no_default: str | None = None
        self._owner_index: dict[str, int | None] | None = None  # mapping.owner_index
        self._owners: dict[tuple[int, int | None], str | None] = {}  # -> refusal
        self.owner_refusals: dict[str, str] = {}  # owner text -> why no lead got them

    def fingerprint(self) -> dict[str, Any]:
        """The options that decide what a row becomes; a resumed run must use the same."""
        return {
            "format": self.source.format,
            "encoding": self.source.encoding,
            "map": list(self.options.maps),
            "source": self.options.source,
            "campaign": self.options.campaign,
            "day_first": self.options.day_first,
        }

    # per run, checked before any row is read: role, campaign scope
    def check_access(self, tx: Tx) -> None:
        """The campaign rows go to without one of their own: --campaign, or as `lead add`
        chooses (a user scoped to one campaign works in it)."""
        from crmcli.services.leads import _default_campaign

        if self.options.campaign:
            campaign = campaign_by_name(tx, self.options.campaign)
            scope.require_campaign(tx, campaign.id, self.options.campaign)
            self.default_campaign = campaign.id
            return
        try:
            self.default_campaign = _default_campaign(tx)
        except BadInput as exc:
            if "campaign" not in self._mapped_fields():
                raise
            self._no_default = exc.message  # rows that name their campaign are fine

    def _mapped_fields(self) -> set[str]:
        if self.source.format == "csv" and self.source.columns is not None:
            return set(self.source.columns.fields.values())
        return {"campaign"}  # JSONL: known per row

    # -- validation (the rules of `lead add`) --

    def row_checker(self, tx: Tx) -> RowChecker:
        if self._checker is None:
            self._checker = RowChecker(
                phone_region=tx.policy.phone_region,
                timezone=tx.policy.timezone,
                now=tx.now,
                source=self.options.source,
                day_first=self.options.day_first,
                preparer=LeadPreparer(
                    tx.policy,
                    _MemoCalendar(tx.calendar),
                    tx.actor.name,
                    tx.now,
                    bind_obligation=self._obligation_insert(tx).binder(),
                    arrival=outbox.arrival(tx),
                ),
            )
        return self._checker

    def _obligation_insert(self, tx: Tx) -> BulkInsert:
        conn = tx.session.connection()
        table = Obligation.__table__  # type: ignore[attr-defined]
        return BulkInsert(conn, table, _OBLIGATION_COLUMNS, json_text=("detail",))

    def complete(
        self, tx: Tx, record: Record, values: dict[str, Any], campaign_name: str | None
    ) -> dict[str, Any]:
        """The part of validation that reads the database: the campaign. A flagged value's
        original text is kept in `extra` as 'unverified FIELD'."""
        values["campaign_id"] = self._campaign(tx, campaign_name)
        owner = values.pop(OWNER, None)
        values["owner_id"] = self._owner(tx, owner, values["campaign_id"]) if owner else None
        if owner and values["owner_id"] is None:
            values.setdefault("flags", {})[OWNER] = (OWNER, owner)
        extra = dict(record.extra)
        for name, (_kind, original) in values.get("flags", {}).items():
            if original:
                extra[f"{UNVERIFIED}{name}"] = original
        values["extra"] = extra
        return values

    def _owner(self, tx: Tx, text: str, campaign_id: int | None) -> int | None:
        """The user an owner cell names (by name, login or email, any case), when they may
        own a lead of this campaign as `assign --to` decides; else None, and why is kept in
        `owner_refusals`."""
        from crmcli.services.assignment import ownership_refusal
        from crmcli.store.models import User

        if self._owner_index is None:
            users = tx.session.exec(select(User.id, User.name, User.login, User.email)).all()
            self._owner_index = mapping.owner_index([(user_id, names) for user_id, *names in users])
        key = mapping.owner_key(text)
        user_id = self._owner_index.get(key)
        if user_id is None:
            ambiguous = key in self._owner_index
            self.owner_refusals.setdefault(
                text, "names more than one user" if ambiguous else "no such user"
            )
            return None
        if (user_id, campaign_id) not in self._owners:
            user = tx.session.get(User, user_id)
            assert user is not None
            self._owners[(user_id, campaign_id)] = ownership_refusal(tx, user, campaign_id)
        refusal = self._owners[(user_id, campaign_id)]
        if refusal:
            self.owner_refusals.setdefault(text, refusal)
            return None
        return user_id

    def _campaign(self, tx: Tx, name: str | None) -> int | None:
        if not name:
            if self._no_default:
                raise BadInput(self._no_default.replace("--campaign: ", "campaign: "))
            return self.default_campaign
        found = self._campaigns.get(name)
        if found is None:
            try:
                campaign = campaign_by_name(tx, name)
                scope.require_campaign(tx, campaign.id, name)
            except CrmError as exc:
                found = exc.message
            else:
                found = campaign.id  # type: ignore[assignment]
                self._campaign_names[campaign.id] = campaign.name  # type: ignore[index]
            self._campaigns[name] = found  # type: ignore[assignment]
        if isinstance(found, str):
            raise BadInput(found.replace("--campaign: ", "campaign: "))
        return found

    def campaign_name(self, tx: Tx, campaign_id: int | None) -> str | None:
        if campaign_id is None:
            return None
        if campaign_id not in self._campaign_names:
            campaign = tx.session.get(Campaign, campaign_id)
            self._campaign_names[campaign_id] = campaign.name if campaign else str(campaign_id)
        return self._campaign_names[campaign_id]

    # -- one batch of rows, one transaction --

    def process(
        self, tx: Tx, records: list[Record], checked: list[Checked] | None = None
    ) -> tuple[dict[str, int], list[_Outcome]]:
        """Write one batch; `checked`: its rows' `RowChecker.check_all` (done here if None)."""
        if checked is None:
            checked = self.row_checker(tx).check_all(
                [None if record.error else record.values for record in records]
            )
        outcomes: list[_Outcome] = []
        valid: list[tuple[Record, dict[str, Any], list[tuple[str, ...]], NewLead | None]] = []
        for record, result in zip(records, checked, strict=True):
            if record.error or isinstance(result, str) or result is None:
                reason = record.error or result or "not checked"
                outcomes.append(_Outcome(record.row, "rejected", reason=reason))  # type: ignore[arg-type]
                continue
            values, campaign_name, keys, prepared = result
            try:
                values = self.complete(tx, record, values, campaign_name)
            except CrmError as exc:
                outcomes.append(_Outcome(record.row, "rejected", reason=exc.message))
                continue
            valid.append((record, values, keys, prepared))
        if self.batch_id is None and not valid:
            # nothing taken in yet: no batch (a file no row of which is any good leaves none)
            self._held += outcomes
            return _chunk_counts(records, outcomes), outcomes
        if self.batch_id is None:
            self.batch_id = _new_batch(tx, self).id
        known = {c["id"]: c for c in _candidates(tx, [keys for _r, _v, keys, _p in valid])}
        before = {lead_id: dict(lead) for lead_id, lead in known.items()}
        queued_before = _queued(tx, list(known))
        index = matching.BlockIndex()
        for candidate in known.values():
            index.add(candidate)
        conn = tx.session.connection()
        next_id = _next_lead_id(conn)  # final on SQLite; on PostgreSQL a stand-in, see below
        new: list[dict[str, Any]] = []
        prepared_for: dict[int, NewLead | None] = {}  # new lead id -> prepared (None: stale)
        enriched: dict[int, dict[str, list[Any]]] = {}  # existing lead id -> changes
        reviews: list[tuple[dict[str, Any], str, Any, Any, int]] = []
        flagged: list[tuple[dict[str, Any], dict[str, tuple[str, str]], int]] = []
        for record, values, keys, prepared in valid:
            flags = values.pop("flags", None) or {}
            kinds = tuple(sorted({kind for kind, _original in flags.values()}))
            match = matching.best_match(
                values,
                index.candidates(values, keys),
                name_threshold=tx.policy.name_threshold,
                company_threshold=tx.policy.company_threshold,
            )
            if match is None:
                # ids given now (SQLite: the write lock is held), so the file order decides them
                values["id"] = next_id
                next_id += 1
                new.append(values)
                prepared_for[values["id"]] = prepared
                known[values["id"]] = values
                index.add(values, keys)
                outcomes.append(_Outcome(record.row, "imported", values, flags=kinds))
                if flags:
                    flagged.append((values, flags, record.row))
                continue
            target = known[match.record_id]
            if values["source"] == UNKNOWN_SOURCE:  # no source at all: nothing to note
                values = {**values, "source": None}
            enrich, conflicts = matching.reconcile(
                target,
                values,
                proposes=match.proposes,
                name_threshold=tx.policy.name_threshold,
                company_threshold=tx.policy.company_threshold,
            )
            if target["id"] in prepared_for and values["owner_id"] and not target["owner_id"]:
                target["owner_id"] = values["owner_id"]  # a lead of this batch: not written yet
            if values["campaign_id"] and not target.get("campaign_id"):
                enrich["campaign_id"] = [None, values["campaign_id"]]
            for name, (old, proposed) in list(conflicts.items()):
                key = (target["id"], name, _text(proposed))
                if key in queued_before:
                    del conflicts[name]  # already waiting for (or turned down by) a human
                    continue
                queued_before.add(key)
                reviews.append((target, name, old, proposed, record.row))
            if enrich:
                matching.apply(target, enrich)
                index.add(target)
                if target["id"] in prepared_for:
                    prepared_for[target["id"]] = None  # a new lead enriched: prepared again
                if target["id"] in before:
                    so_far = enriched.setdefault(target["id"], {})
                    for name, (old, proposed) in enrich.items():
                        so_far[name] = [so_far[name][0] if name in so_far else old, proposed]
            outcomes.append(
                _Outcome(
                    record.row,
                    "queued" if conflicts else "merged",
                    target,
                    reason=f"duplicate of lead {target['id']} ({match.reason})",
                    changes=enrich,
                    flags=kinds,
                )
            )
            if flags:
                flagged.append((target, flags, record.row))
        if new and conn.dialect.name != "sqlite":
            # the sequence gives the ids (a later `lead add` or a concurrent import then never
            # collides, an undone import's ids are never given again); in file order. The
            # stand-ins were above every stored id, so matching saw the same order.
            reserved = _reserve_ids(conn, "lead", len(new))
            prepared_for = {
                lead_id: prepared_for[lead["id"]]
                for lead, lead_id in zip(new, reserved, strict=True)
            }
            for lead, lead_id in zip(new, reserved, strict=True):
                lead["id"] = lead_id
        self._write_new(tx, new, prepared_for)
        self._give_owners(tx, new)
        self._write_enriched(tx, enriched, before)
        # a doubtful value waits for a human as a `value` item (services.review), after the
        # conflicts; by then every new lead has its final id
        for lead, flags, row in flagged:
            for name, (_kind, original) in flags.items():
                key = (lead["id"], f"{VALUE_ITEM}{name}", original or None)
                if key not in queued_before:
                    queued_before.add(key)
                    reviews.append((lead, f"{VALUE_ITEM}{name}", None, original or None, row))
        self._write_reviews(tx, reviews)
        self._write_rows(tx, [*self._held, *outcomes])
        self._held = []
        return _chunk_counts(records, outcomes), outcomes

    def _write_new(
        self, tx: Tx, new: list[dict[str, Any]], prepared_for: dict[int, NewLead | None]
    ) -> None:
        if not new:
            return
        from crmcli.store.models import PersonalKey

        now, actor = tx.now, tx.actor.name
        conn = tx.session.connection()
        preparer = self.row_checker(tx).preparer
        assert preparer is not None
        # a new id has no audit key yet (ids are never given twice); should one exist all the
        # same, its lead is sealed with it, as services.audit would
        keys = dict(
            conn.execute(
                select(PersonalKey.record_id, PersonalKey.key).where(
                    PersonalKey.record_type == "lead",
                    col(PersonalKey.record_id) >= min(lead["id"] for lead in new),
                )
            ).all()
        )
        rows = []
        events = []
        key_rows = []
        obligation_rows: list[tuple[Any, ...]] = []
        messages: list[tuple[int, str, messaging.Composed]] = []
        stage_rows = []
        row_seals: dict[int, str] = {}
        stage_seals: dict[int, str] = {}
        lead_spec, stage_spec = seals.BY_TABLE["lead"], seals.BY_TABLE["stage_change"]
        stage_id = _first_ids(conn, "stage_change", len(new))
        bits = stage_facts.stage_bits(conn, [preparer.policy.first_stage])
        batch_field = fragment(BATCH_KEY, [None, self.batch_id])[1]
        for lead in new:
            lead_id = lead["id"]
            prepared = prepared_for.get(lead_id)
            if prepared is None or lead_id in keys:
                prepared = preparer.prepare(lead, keys.get(lead_id))
            key, stored, parts, personal, dues, sealed, welcome = prepared
            before_campaign, before_extra, before_batch, rest = parts
            if lead_id not in keys:
                key_rows.append(("lead", lead_id, key, now))
            row = preparer.row(lead)
            row.update(id=lead_id, campaign_id=lead["campaign_id"], extra=lead["extra"])
            # its history is the one stage change below (previous_at NULL: its first): the
            # facts of it, as stage_facts keeps them
            row.update(
                stage_history_at=now,
                stage_history_mask=bits.get(row["stage"]) or None,
                stage_history_last=row["stage"],
            )
            rows.append(tuple(row[name] for name in _LEAD_COLUMNS))
            # its seal from the row as written, its personal values' hashes as prepared
            row_seals[lead_id] = seals.row_seal(lead_spec, row, bytes.fromhex(key), sealed)
            age = stage_facts.seconds_between(now, row["created_at"])
            stage = {"id": stage_id, "lead_id": lead_id, "to_stage": row["stage"], "at": now}
            stage_rows.append((stage_id, lead_id, row["stage"], now, actor, age))
            # sealed from the values inserted, like the lead: nothing is read back to seal
            stage_seals[stage_id] = seals.row_seal(stage_spec, {**stage, "actor": actor}, None)
            stage_id += 1
            campaign = self.campaign_name(tx, row["campaign_id"])
            added = fragment("campaign", [None, campaign])[1] if campaign is not None else ""
            extra = (
                fragment("extra", [None, audit.jsonable(row["extra"])])[1] if row["extra"] else ""
            )
            pieces = (before_campaign, added, before_extra, extra, before_batch, batch_field, rest)
            canonical = audit.canonical_fields(piece for piece in pieces if piece)
            stored = "{" + ",".join(part for part in (stored, added, extra, batch_field) if part)
            events.append((lead_id, "create", stored + "}", canonical, personal))
            obligation_rows += [(o[0], o[1], lead_id, *o[3:]) for o in dues]
            messages += [(lead_id, row["email"], composed) for composed in welcome]
        _insert(conn, Lead, _LEAD_COLUMNS, rows)
        _insert(
            conn,
            StageChange,
            ("id", "lead_id", "to_stage", "at", "actor", "seconds_since_created"),
            stage_rows,
        )
        lead_ids = [lead["id"] for lead in new]
        seals.touch(tx.session, "lead", lead_ids, new=True, sealed=row_seals)
        seals.touch(tx.session, "stage_change", stage_seals, new=True, sealed=stage_seals)
        _insert(conn, PersonalKey, ("record_type", "record_id", "key", "created_at"), key_rows)
        _append_prepared(tx, events)
        # prepared in stored form (LeadPreparer.bind_obligation)
        self._obligation_insert(tx)(conn, obligation_rows, bound=True)
        _queue_messages(tx, messages)

    def _give_owners(self, tx: Tx, new: list[dict[str, Any]]) -> None:
        """New leads whose owner column names a user who may own them: theirs, assigned as
        `assign --to` assigns (audited, the follow-up clock starts), marked with the batch."""
        from crmcli.services.assignment import give_owners
        from crmcli.store.models import User

        owned = {lead["id"]: lead["owner_id"] for lead in new if lead.get("owner_id")}
        if not owned:
            return
        users = {user_id: tx.session.get(User, user_id) for user_id in set(owned.values())}
        give_owners(
            tx,
            {lead_id: users[user_id] for lead_id, user_id in owned.items()},  # type: ignore[misc]
            reason=f"owner named in import batch {self.batch_id}",
            marks={BATCH_KEY: [None, self.batch_id]},
        )

    def _write_enriched(
        self, tx: Tx, enriched: dict[int, dict[str, list[Any]]], before: dict[int, dict[str, Any]]
    ) -> None:
        if not enriched:
            return
        from crmcli.services.obligations import refresh_lead

        conn = tx.session.connection()
        table = Lead.__table__  # type: ignore[attr-defined]
        columns = [*matching.RECONCILED, "campaign_id", "extra", "company_key", "last_key"]
        statement = (
            update(table)
            .where(table.c.id == bindparam("lead_id"))
            .values({name: bindparam(f"new_{name}") for name in [*columns, "updated_at"]})
        )
        params = []
        events = []
        for lead_id, changes in enriched.items():
            current = {**before[lead_id]}
            matching.apply(current, changes)
            change_lead(current, {})  # its keys, from the changed name and company
            params.append(
                {"lead_id": lead_id, "new_updated_at": tx.now}
                | {f"new_{name}": current.get(name) for name in columns}
            )
            shown = {
                ("campaign" if name == "campaign_id" else name): (
                    [None, self.campaign_name(tx, new)] if name == "campaign_id" else [old, new]
                )
                for name, (old, new) in changes.items()
            }
            events.append(("lead", lead_id, "update", shown | {BATCH_KEY: [None, self.batch_id]}))
        seals.touch(tx.session, "lead", enriched)
        conn.execute(statement, params)
        append_events(tx, events)
        for lead_id, changes in enriched.items():
            # an obligation's title names the lead; an opportunity's weekly update restarts
            if changes.keys() & {"first_name", "last_name", "company"} or (
                before[lead_id]["kind"] != "lead"
            ):
                lead = tx.session.get(Lead, lead_id)
                if lead is not None:
                    tx.session.refresh(lead)
                    refresh_lead(tx, lead)

    def _write_reviews(self, tx: Tx, reviews: list[tuple[dict[str, Any], str, Any, Any, int]]):
        columns = (
            "lead_id",
            "field",
            "current_value",
            "proposed_value",
            "source",
            "batch_id",
            "status",
            "created_at",
        )
        rows = [
            (
                lead["id"],
                name,
                _text(old),
                _text(proposed),
                f"import {self.batch_id} row {row}",
                self.batch_id,
                "open",
                tx.now,
            )
            for lead, name, old, proposed, row in reviews
        ]
        if not rows:
            return
        conn = tx.session.connection()
        before = conn.execute(select(func.max(ReviewItem.id))).scalar() or 0
        _insert(conn, ReviewItem, columns, rows)
        added = conn.execute(select(ReviewItem.id).where(col(ReviewItem.id) > before)).scalars()
        seals.touch(tx.session, "review_item", list(added), new=True)  # (not the older ones)

    def _write_rows(self, tx: Tx, outcomes: list[_Outcome]) -> None:
        columns = ("batch_id", "row_number", "outcome", "lead_id", "reason", "changes")
        batch = self.batch_id
        rows = [
            (batch, o.row, o.outcome, o.lead["id"] if o.lead else None, o.reason, o.changes)
            for o in outcomes
        ]
        _insert(tx.session.connection(), ImportRow, columns, rows)


def _queue_messages(tx: Tx, messages: list[tuple[int, str, messaging.Composed]]) -> None:
    """New leads' welcome messages, composed as their rows were checked: into the outbox in
    one insert, each with the audit event `crm tick` would write for it."""
    if not messages:
        return
    conn = tx.session.connection()
    if conn.dialect.name == "sqlite":  # ids given here (the write lock is held)
        first = (conn.execute(select(func.max(OutboxMessage.id))).scalar() or 0) + 1
        ids = list(range(first, first + len(messages)))
    else:
        ids = _reserve_ids(conn, "outbox", len(messages))
    now = tx.now
    rows = [
        (
            message_id,
            lead_id,
            m.sequence,
            m.step,
            m.template,
            m.channel,
            to,
            m.subject,
            m.body,
            m.scheduled_at,
            "queued",
            0,
            now,
        )
        for message_id, (lead_id, to, m) in zip(ids, messages, strict=True)
    ]
    _insert(conn, OutboxMessage, _OUTBOX_COLUMNS, rows)
    seals.touch(tx.session, "outbox", ids, new=True)
    events = []
    for message_id, (lead_id, _to, m) in zip(ids, messages, strict=True):
        changes = outbox.created_event(lead_id, m)
        # canonical JSON from fragments (no encoder call per event; nothing personal in it)
        text = ",".join(fragment(k, audit.jsonable(v))[1] for k, v in sorted(changes.items()))
        events.append((message_id, "create", f"{{{text}}}", f"{{{text}}}", ()))
    _append_prepared(tx, events, record_type="outbox")


_OUTBOX_COLUMNS = (
    "id",
    "lead_id",
    "sequence",
    "step",
    "template",
    "channel",
    "to_address",
    "subject",
    "body",
    "scheduled_at",
    "status",
    "attempts",
    "created_at",
)


def _chunk_counts(records: list[Record], outcomes: list[_Outcome]) -> dict[str, int]:
    counts = dict.fromkeys(COUNTS, 0)
    counts["read"] = len(records)
    for outcome in outcomes:
        counts[outcome.outcome] += 1
        if outcome.changes:
            counts["enriched"] += 1
        for kind in outcome.flags:
            counts[FLAG_COUNT + kind] = counts.get(FLAG_COUNT + kind, 0) + 1
    return counts


def _insert(
    conn: Any,
    model: Any,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    json_text: Sequence[str] = (),
) -> None:
    BulkInsert(conn, model.__table__, columns, json_text)(conn, rows)


_LEAD_COLUMNS = (
    "id",
    *matching.RECONCILED,
    "source",
    "stage",
    "status",
    "campaign_id",
    "extra",
    "acquired_at",
    "created_at",
    "updated_at",
    "stage_entered_at",
    "kind",
    "prospect_said_no",
    "company_key",
    "last_key",
    *("stage_history_at", "stage_history_mask", "stage_history_last"),  # services.stage_facts
)
_OBLIGATION_COLUMNS = (
    "rule",
    "record_type",
    "record_id",
    "key",
    "owner_id",
    "title",
    "started_at",
    "due_at",
    "status",
    "met_at",
    "met_by",
    "detail",
)


# the lead's JSON shape as stored columns (owner and campaign are names there), for the
# create event
_SHOWN_FIELDS = tuple(
    f for f in LEAD_FIELDS if f not in ("id", "score", "band", "owner", "campaign")
)
_TIMES = {"acquired_at", "created_at", "updated_at"}


def _obligations(
    policy: Any, calendar: Any, lead: dict[str, Any], *, created_by: str
) -> list[tuple[Any, ...]]:
    """A new lead's obligations, as `refresh_lead` stores them (no activities yet)."""
    label = ", ".join(
        part
        for part in (f"{lead['first_name']} {lead['last_name']}".strip(), lead["company"])
        if part
    )
    facts = obligation_rules.LeadFacts(
        id=lead["id"],
        kind=lead["kind"],
        stage=lead["stage"],
        status=lead["status"],
        acquired_at=lead["acquired_at"],
        created_at=lead["created_at"],
        created_by=created_by,
        assigned_at=None,
        stage_entered_at=lead["stage_entered_at"],
        label=label,
        updated_at=lead["updated_at"],
    )
    return [
        (
            due.rule,
            "lead",
            lead["id"],
            due.key,
            None,
            due.title,
            due.started_at,
            due.due_at,
            due.status,
            due.met_at,
            due.met_by,
            json.dumps(due.detail),  # what the JSON column stores (json_text of _insert)
        )
        for due in obligation_rules.obligations("lead", facts, policy, calendar)
        if due.status not in ("cancelled", "lapsed")  # over before it began (a closed lead)
    ]


class _MemoCalendar:
    """The business calendar with `add` remembered: every lead of an import starts some
    deadlines at the same instant (its `now`), and the calendar walk costs per call."""

    def __init__(self, calendar: Any) -> None:
        self._calendar = calendar
        self._added: dict[tuple[datetime, Any], datetime] = {}

    def add(self, start: datetime, duration: Any) -> datetime:
        key = (start, duration)
        found = self._added.get(key)
        if found is None:
            found = self._calendar.add(start, duration)
            if len(self._added) < 10_000:
                self._added[key] = found
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._calendar, name)


def _candidates(tx: Tx, keys: list[list[tuple[str, ...]]]) -> list[dict[str, Any]]:
    """Leads in the database (and in the acting user's scope) sharing a blocking key with
    any of the leads whose `matching.block_keys` are `keys`: index lookups, a few queries
    per batch."""
    wanted: dict[str, set[tuple[str, ...]]] = {}
    for lead_keys in keys:
        for key in lead_keys:
            wanted.setdefault(key[0], set()).add(key[1:])
    conn = tx.session.connection()
    ids: set[int] = set()
    for kind, column in (("email", Lead.email), ("phone", Lead.phone)):
        values = sorted(v[0] for v in wanted.get(kind, ()))
        for chunk in _chunks(values):
            ids.update(conn.execute(select(Lead.id).where(col(column).in_(chunk))).scalars())
    for kind, condition in _BLOCK_SQL.items():
        if wanted.get(kind):
            query = _block_query(conn.dialect.name, condition)
            keys = json.dumps(sorted(wanted[kind]))
            ids.update(conn.execute(query, {"keys": keys}).scalars())
    found: list[dict[str, Any]] = []
    columns = [getattr(Lead, name) for name in _CANDIDATE_FIELDS]
    for chunk in _chunks(sorted(ids)):
        query = scope.scoped(tx, select(*columns).where(col(Lead.id).in_(chunk)))
        found += [dict(row) for row in conn.execute(query).mappings()]
    for lead in found:
        lead["extra"] = dict(lead["extra"] or {})
    return found


def _block_query(dialect: str, condition: str) -> Any:
    """Lead ids matching any key pair of the JSON array `:keys` (one bound value, however many
    pairs): the array's elements joined to lead, an index lookup per pair, in the dialect's
    JSON functions (the one place the importer's SQL differs between backends)."""
    if dialect == "postgresql":
        rows = "json_array_elements(CAST(:keys AS json)) AS k"
        parts = ("(k.value ->> 0)", "(k.value ->> 1)")
    else:
        rows = "json_each(:keys) AS k"
        parts = ("json_extract(k.value, '$[0]')", "json_extract(k.value, '$[1]')")
    return text(f"SELECT lead.id FROM {rows} JOIN lead ON {condition.format(*parts)}")


def _queued(tx: Tx, lead_ids: list[int]) -> set[tuple[int, str, str | None]]:
    """(lead, field, proposed value) already queued or turned down: not asked again."""
    found: set[tuple[int, str, str | None]] = set()
    conn = tx.session.connection()
    for chunk in _chunks(lead_ids):
        query = select(ReviewItem.lead_id, ReviewItem.field, ReviewItem.proposed_value).where(
            col(ReviewItem.lead_id).in_(chunk), col(ReviewItem.status).in_(("open", "rejected"))
        )
        found.update((row[0], row[1], row[2]) for row in conn.execute(query))
    return found


Progress = Callable[[int, int], None]


def run_import(
    ws: Workspace,
    options: ImportOptions,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import a file: batch by batch, each committed with its ImportRow records; a re-run of
    an interrupted file resumes after its last committed row; a finished file is not
    imported again. `dry_run` does the whole import in one transaction and rolls it back."""
    if options.batch_size < 1:
        raise BadInput("--batch-size: give 1 or more")
    source = SourceFile(options)
    try:
        with _fewer_collections():
            return _run(ws, options, source, dry_run=dry_run, progress=progress)
    finally:
        source.close()


# the cyclic garbage collector's thresholds during an import (the default is 700, 10, 10)
IMPORT_GC_THRESHOLD = (50_000, 20, 100)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often while importing (a forked worker inherits
    it): each row makes dozens of short-lived dicts, lists and tuples, so at the default
    threshold a collection runs every few rows; about a tenth of the import's CPU time."""
    import gc

    threshold = gc.get_threshold()
    gc.set_threshold(*IMPORT_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


def _run(
    ws: Workspace,
    options: ImportOptions,
    source: SourceFile,
    *,
    dry_run: bool,
    progress: Progress | None,
) -> ImportSummary:
    importer = Importer(options, source)
    summary = ImportSummary(
        batch=None,
        file=source.path.name,
        format=source.format,
        encoding=source.encoding,
        dry_run=dry_run,
    )
    with ws.reading() as tx:
        importer.check_access(tx)
    if dry_run:
        with ws.writing(dry_run=True) as tx:
            _import_all(
                tx_factory=lambda: _Same(tx), importer=importer, summary=summary, progress=progress
            )
        return summary
    with ws.one_connection(cache_mb=IMPORT_CACHE_MB):
        _import_all(tx_factory=ws.writing, importer=importer, summary=summary, progress=progress)
    return summary


class _Same:
    """A dry run's batches share its one transaction (rolled back at the end)."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    def __enter__(self) -> Tx:
        return self.tx

    def __exit__(self, *exc: object) -> None:
        return None


def _import_all(
    *,
    tx_factory: Callable[[], Any],
    importer: Importer,
    summary: ImportSummary,
    progress: Progress | None,
) -> None:
    source, options = importer.source, importer.options
    # opened first: a rejects file that cannot be written fails the import before it starts
    rejects = RejectsWriter(options.rejects, source) if options.rejects else None
    try:
        with tx_factory() as tx:
            batch, resume_after, earlier = _open_batch(tx, importer)
            checker = importer.row_checker(tx)
    except BaseException:
        if rejects:
            rejects.discard()
        raise
    summary.unknown_columns = source.unknown_columns
    stored_counts: dict[str, Any] = dict(batch.counts) if batch is not None else {}
    if batch is not None:
        summary.batch = batch.id
        if batch.status == "done":
            summary.already_imported = True
            if rejects:
                rejects.discard()
            return
        importer.batch_id = batch.id  # resumed; a new file's batch starts with its first row
    counts = {name: int(stored_counts.get(name, 0)) for name in COUNTS}
    counts.update(
        (name, int(value)) for name, value in stored_counts.items() if name.startswith(FLAG_COUNT)
    )
    summary.resumed_after_row = resume_after or None
    pool = CheckerPool(checker) if _parallel(source) else None
    batches = _Batches(tx_factory, options.batch_size)
    try:

        def flush(chunk: list[Record], checked: list[Checked] | None) -> None:
            tx = batches.tx()
            added, outcomes = importer.process(tx, chunk, checked)
            for name, count in added.items():
                counts[name] = counts.get(name, 0) + count
            if importer.batch_id is not None:
                seals.touch(tx.session, "import_batch", [importer.batch_id])
                tx.session.connection().execute(
                    update(ImportBatch)
                    .where(col(ImportBatch.id) == importer.batch_id)
                    .values(counts={**stored_counts, **counts})
                )
            batches.wrote(len(chunk))
            by_row = {record.row: record for record in chunk}
            for outcome in outcomes:
                if outcome.outcome == "rejected":
                    if rejects:
                        rejects.write(by_row[outcome.row], outcome.reason or "")
                    if len(summary.first_rejects) < 5:
                        summary.first_rejects.append((outcome.row, outcome.reason or ""))
            if progress:
                progress(source.position, source.size)

        # rows are checked in chunks (with a worker, a few chunks ahead of the one being
        # written); a batch's chunks share its transaction
        size = options.batch_size
        ahead: deque[tuple[list[Record], Any]] = deque()
        for chunk in _chunks_of(source, resume_after, earlier, rejects, CHECK_CHUNK, size):
            if pool is None:
                flush(chunk, None)
                continue
            ahead.append((chunk, pool.submit(chunk)))
            if len(ahead) > CHECK_AHEAD:
                done, result = ahead.popleft()
                flush(done, result.get())
        while ahead:
            done, result = ahead.popleft()
            flush(done, result.get())
        batches.commit()
        if pool is not None:
            pool.close()
    except BaseException as exc:
        if rejects:
            rejects.discard()
        batches.abort(exc)
        raise
    finally:
        if pool is not None:
            pool.terminate()
    if rejects:
        rejects.close()
    summary.unknown_columns = source.unknown_columns
    for name in COUNTS:
        setattr(summary, name, counts[name])
    summary.flags = {
        name[len(FLAG_COUNT) :]: count
        for name, count in sorted(counts.items())
        if name.startswith(FLAG_COUNT)
    }
    summary.batch = importer.batch_id
    if importer.batch_id is None:  # no row was taken in: no batch and no audit event
        if progress:
            progress(source.size, source.size)
        return
    with tx_factory() as tx:
        seals.touch(tx.session, "import_batch", [importer.batch_id])
        tx.session.connection().execute(
            update(ImportBatch)
            .where(col(ImportBatch.id) == importer.batch_id)
            .values(
                status="done",
                finished_at=tx.now,
                counts={**counts, "unknown_columns": summary.unknown_columns},
            )
        )
        tx.audit(
            "import_batch", importer.batch_id, "import", {k: [None, v] for k, v in counts.items()}
        )
        summary.late_entries = _late_entries(tx, importer.batch_id)
        if options.assign:
            summary.assigned = _assign(tx, importer.batch_id)
        summary.unowned = _unowned(tx, importer.batch_id)
        summary.reviews = _reviews(tx, importer.batch_id)
    summary.owner_refusals = importer.owner_refusals
    if progress:
        progress(source.size, source.size)


def _late_entries(tx: Tx, batch_id: int) -> int:
    """How many of the batch's new leads were entered later after they were acquired than
    lead.entry allows (their entry obligation was met late)."""
    from sqlalchemy import func

    late = (
        select(func.count())
        .select_from(ImportRow)
        .join(
            Obligation,
            (col(Obligation.rule) == "lead.entry")
            & (col(Obligation.record_type) == "lead")
            & (col(Obligation.record_id) == ImportRow.lead_id)
            & (col(Obligation.key) == ""),
        )
        .where(
            ImportRow.batch_id == batch_id,
            ImportRow.outcome == "imported",
            col(Obligation.met_at) > col(Obligation.due_at),
        )
    )
    return tx.session.exec(late).one()


def _batch_leads(batch_id: int) -> Any:
    """The ids of the leads a batch created, as a subquery."""
    return select(ImportRow.lead_id).where(
        ImportRow.batch_id == batch_id, ImportRow.outcome == "imported"
    )


def _assign(tx: Tx, batch_id: int) -> int:
    """Route the batch's new unowned leads as `crm assign --unassigned` does (audited like
    it, marked with the batch for its undo); how many got an owner."""
    from crmcli.services.assignment import assign_unassigned

    result = assign_unassigned(
        tx, among=_batch_leads(batch_id), marks={BATCH_KEY: [None, batch_id]}
    )
    return result.assigned


def _reviews(tx: Tx, batch_id: int) -> dict[str, int]:
    """The batch's review items by kind (services.review: conflict, value)."""
    conn = tx.session.connection()
    of_batch = select(func.count()).where(ReviewItem.batch_id == batch_id)
    every = conn.execute(of_batch).scalar() or 0
    is_value = col(ReviewItem.field).startswith(VALUE_ITEM, autoescape=True)
    values = conn.execute(of_batch.where(is_value)).scalar() or 0
    return {"conflict": every - values, "value": values}


def _unowned(tx: Tx, batch_id: int) -> int:
    """How many of the batch's new leads have no owner."""
    from sqlalchemy import func

    unowned = (
        select(func.count())
        .select_from(ImportRow)
        .join(Lead, col(Lead.id) == ImportRow.lead_id)
        .where(
            ImportRow.batch_id == batch_id,
            ImportRow.outcome == "imported",
            col(Lead.owner_id).is_(None),
        )
    )
    return tx.session.exec(unowned).one()


class _Batches:
    """The import's transactions: the chunks written go into one until it holds a batch's
    rows (`_chunks_of` cuts a chunk where a batch ends), then it commits (a kill -9 loses at
    most the batch being written). Larger transactions than the check chunks: each commit
    rewrites every index page it touched, and a duplicate-search index is touched all over
    by any few thousand leads."""

    def __init__(self, tx_factory: Callable[[], Any], size: int) -> None:
        self._factory = tx_factory
        self._size = size
        self._open: Any = None  # the transaction's context manager
        self._tx: Tx | None = None
        self._rows = 0

    def tx(self) -> Tx:
        if self._tx is None:
            self._open = self._factory()
            self._tx = self._open.__enter__()
            self._rows = 0
        return self._tx

    def wrote(self, rows: int) -> None:
        self._rows += rows
        if self._rows >= self._size:
            self.commit()

    def commit(self) -> None:
        if self._open is not None:
            opened, self._open, self._tx = self._open, None, None
            opened.__exit__(None, None, None)

    def abort(self, exc: BaseException) -> None:
        if self._open is not None:
            opened, self._open, self._tx = self._open, None, None
            opened.__exit__(type(exc), exc, exc.__traceback__)


def _chunks_of(
    source: SourceFile,
    resume_after: int,
    earlier: dict[int, str],
    rejects: RejectsWriter | None,
    size: int,
    batch: int,
) -> Iterator[list[Record]]:
    """The file's records in chunks of `size`, cut where each batch of `batch` rows ends,
    after the rows a resumed batch already committed (those it rejected go to the rejects
    file again)."""
    chunk: list[Record] = []
    in_batch = 0
    for record in source.records():
        if record.row <= resume_after:
            if rejects and record.row in earlier:
                rejects.write(record, earlier[record.row])
            continue
        chunk.append(record)
        in_batch += 1
        if len(chunk) >= size or in_batch >= batch:
            yield chunk
            chunk = []
            in_batch %= batch
    if chunk:
        yield chunk


def _parallel(source: SourceFile) -> bool:
    """Check rows in a worker process: a file big enough to repay starting one, on a
    machine with a second core, where fork is available (no re-import of the program)."""
    import multiprocessing

    return (
        source.size >= PARALLEL_MIN_BYTES
        and (os.cpu_count() or 1) > 1
        and "fork" in multiprocessing.get_all_start_methods()
    )


_WORKER_CHECKER: RowChecker | None = None


def _start_worker(checker: RowChecker) -> None:
    global _WORKER_CHECKER
    _WORKER_CHECKER = checker


def _check_in_worker(rows: list[dict[str, str] | None]) -> list[Checked]:
    assert _WORKER_CHECKER is not None
    return _WORKER_CHECKER.check_all(rows)


class CheckerPool:
    """`RowChecker.check_all` in one worker process (forked: it inherits the loaded
    program), so checking the next batches overlaps writing this one."""

    def __init__(self, checker: RowChecker) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self._pool = context.Pool(WORKERS, initializer=_start_worker, initargs=(checker,))

    def submit(self, chunk: list[Record]) -> Any:
        rows = [None if record.error else record.values for record in chunk]
        return self._pool.apply_async(_check_in_worker, (rows,))

    def close(self) -> None:
        self._pool.close()
        self._pool.join()

    def terminate(self) -> None:
        self._pool.terminate()


def _stored_batch(tx: Tx, importer: Importer) -> ImportBatch | None:
    return tx.session.exec(
        select(ImportBatch)
        .where(
            ImportBatch.file_sha256 == importer.source.sha256,
            col(ImportBatch.status).in_(("running", "done")),
        )
        .order_by(col(ImportBatch.id).desc())
        .limit(1)
    ).first()


def _open_batch(tx: Tx, importer: Importer) -> tuple[ImportBatch | None, int, dict[int, str]]:
    """The batch of this file: the interrupted one to resume (with the last row it committed
    and the rows it rejected), the finished one, or None for a new file (its batch is made
    with its first row taken in: `_new_batch`)."""
    batch = _stored_batch(tx, importer)
    fingerprint = importer.fingerprint()
    if batch is not None and batch.status == "done":
        return batch, 0, {}
    if batch is not None:
        stored = {k: batch.options.get(k) for k in fingerprint}
        if stored != fingerprint:
            differs = ", ".join(
                f"{k} {stored[k]!r} (now {fingerprint[k]!r})"
                for k in fingerprint
                if stored[k] != fingerprint[k]
            )
            raise BadInput(
                f"import batch {batch.id} of this file stopped part-way with other options: "
                f"{differs}; re-run it with the same options to finish it, or undo it first: "
                f"crm imports undo {batch.id}"
            )
        conn = tx.session.connection()
        last = conn.execute(
            select(func.max(ImportRow.row_number)).where(ImportRow.batch_id == batch.id)
        ).scalar()
        rejected = dict(
            conn.execute(
                select(ImportRow.row_number, ImportRow.reason).where(
                    ImportRow.batch_id == batch.id, ImportRow.outcome == "rejected"
                )
            ).all()
        )
        return batch, last or 0, rejected
    return None, 0, {}


def _new_batch(tx: Tx, importer: Importer) -> ImportBatch:
    source = importer.source
    other = _stored_batch(tx, importer)
    if other is not None:  # another run of this file made it since this one started
        raise BadInput(
            f"{source.path.name} is being imported by another run (batch {other.id}); "
            "run this again when it is done to resume or confirm it"
        )
    batch = ImportBatch(
        file_name=source.path.name,
        file_sha256=source.sha256,
        format=source.format,
        status="running",
        actor=tx.actor.name,
        options=importer.fingerprint() | {"batch_size": importer.options.batch_size},
        counts={},
        started_at=tx.now,
    )
    tx.session.add(batch)
    tx.session.flush()
    return batch


# --- listing and undoing batches ----------------------------------------------------------------

BATCH_FIELDS = (
    "id",
    "file",
    "status",
    "actor",
    "started_at",
    "finished_at",
    *COUNTS,
)


def list_batches(tx: Tx) -> list[dict[str, Any]]:
    batches = tx.session.exec(select(ImportBatch).order_by(col(ImportBatch.id))).all()
    return [
        {
            "id": b.id,
            "file": b.file_name,
            "status": b.status,
            "actor": b.actor,
            "started_at": b.started_at,
            "finished_at": b.finished_at,
            **{name: int(b.counts.get(name, 0)) for name in COUNTS},
        }
        for b in batches
    ]


@dataclass
class UndoResult:
    batch: int
    deleted: int
    reverted: int
    reviews_withdrawn: int


def undo_batch(tx: Tx, batch_id: int) -> UndoResult:
    """Remove the leads a batch added and revert what it enriched (audited); refused when a
    later change depends on them (an edit, an activity, another import's match)."""
    batch = tx.session.get(ImportBatch, batch_id)
    if batch is None:
        raise NotFound(f"import batch {batch_id} not found; see: crm imports list")
    if batch.status == "undone":
        raise BadInput(f"import batch {batch_id} is already undone")
    conn = tx.session.connection()
    rows = conn.execute(
        select(ImportRow.row_number, ImportRow.outcome, ImportRow.lead_id, ImportRow.changes)
        .where(ImportRow.batch_id == batch_id, col(ImportRow.lead_id).is_not(None))
        .order_by(col(ImportRow.row_number))
    ).all()
    created = [lead_id for _row, outcome, lead_id, _c in rows if outcome == "imported"]
    created_set = set(created)
    enriched: dict[int, dict[str, list[Any]]] = {}
    for _row, _outcome, lead_id, changes in rows:
        if changes and lead_id not in created_set:
            so_far = enriched.setdefault(lead_id, {})
            for name, (old, new) in changes.items():
                so_far[name] = [so_far[name][0] if name in so_far else old, new]
    touched = sorted(created_set | set(enriched))
    _check_undo_scope(tx, touched)
    blockers = _later_changes(tx, batch_id, touched) + _references(tx, batch_id, created)
    if blockers:
        raise PolicyRefusal(
            f"import batch {batch_id} cannot be undone: {len(blockers)} of its leads changed "
            "after it; undo later changes first",
            details=[f"  {line}" for line in blockers[:10]],
        )
    _revert(tx, batch_id, enriched)
    seals.touch_where(tx.session, "review_item", "batch_id", [batch_id])
    withdrawn = conn.execute(
        delete(ReviewItem).where(
            col(ReviewItem.batch_id) == batch_id,
            col(ReviewItem.status).in_(("open", "rejected")),
        )
    ).rowcount
    _delete_leads(tx, batch_id, created)
    batch.status = "undone"
    batch.finished_at = batch.finished_at or tx.now
    tx.session.add(batch)
    tx.session.flush()
    tx.audit(
        "import_batch",
        batch_id,
        "undo",
        {
            "status": ["done", "undone"],
            "leads_deleted": [None, len(created)],
            "leads_reverted": [None, len(enriched)],
        },
    )
    return UndoResult(batch_id, len(created), len(enriched), withdrawn)


def _check_undo_scope(tx: Tx, lead_ids: list[int]) -> None:
    if scope.campaign_scope(tx) is None:
        return
    conn = tx.session.connection()
    refused = NotPermitted(
        "this import touched leads outside your campaigns; ask an admin to undo it"
    )
    seen = 0
    for chunk in _chunks(lead_ids):
        for campaign_id in conn.execute(
            select(Lead.campaign_id).where(col(Lead.id).in_(chunk))
        ).scalars():
            seen += 1
            if not scope.in_scope(tx, campaign_id):
                raise refused
    if seen < len(lead_ids) and conn.dialect.name == "postgresql":
        raise refused  # row-level security hid the others: they are in other campaigns


def _undone(tx: Tx) -> set[int]:
    """The batches already undone: what they wrote is gone, so it no longer holds an
    earlier batch back (stacked batches undo in reverse order)."""
    query = select(ImportBatch.id).where(ImportBatch.status == "undone")
    return set(tx.session.connection().execute(query).scalars())


def _later_changes(tx: Tx, batch_id: int, lead_ids: list[int]) -> list[str]:
    """Leads with an audit event after the last one this batch wrote for them (but for the
    events of a batch since undone, and of its undoing)."""
    conn = tx.session.connection()
    undone = _undone(tx)
    ours: dict[int, int] = {}
    latest: dict[int, tuple[int, str, str]] = {}
    for chunk in _chunks(lead_ids):
        query = (
            select(
                AuditEvent.id,
                AuditEvent.record_id,
                AuditEvent.changes,
                AuditEvent.command,
                AuditEvent.action,
            )
            .where(AuditEvent.record_type == "lead", col(AuditEvent.record_id).in_(chunk))
            .order_by(col(AuditEvent.id))
        )
        for event_id, lead_id, changes, command, action in conn.execute(query):
            marks = changes or {}
            if marks.get(BATCH_KEY) == [None, batch_id]:
                ours[lead_id] = event_id
            by = (marks.get(BATCH_KEY) or marks.get(UNDO_KEY) or [None, None])[1]
            if by in undone:
                continue
            latest[lead_id] = (event_id, command, action)
    return [
        f"lead {lead_id}: {command} ({action}) after the import"
        for lead_id, (event_id, command, action) in sorted(latest.items())
        if event_id > ours.get(lead_id, 0)
    ]


def _references(tx: Tx, batch_id: int, lead_ids: list[int]) -> list[str]:
    """Records other than this batch's own that point at leads it created."""
    from crmcli.store.models import all_metadata

    conn = tx.session.connection()
    found: list[str] = []
    undone = sorted(_undone(tx) | {batch_id})
    # this batch's (checked below); outbox: what is not yet sent goes with the lead
    own = {"import_row", "review_item", "stage_change", "outbox"}
    for table in all_metadata().sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name != "lead" or table.name in own:
                continue
            for chunk in _chunks(lead_ids):
                for lead_id in conn.execute(
                    select(fk.parent).where(fk.parent.in_(chunk)).distinct()
                ).scalars():
                    found.append(f"lead {lead_id}: has {table.name} records")
    for chunk in _chunks(lead_ids):
        others = conn.execute(
            select(ImportRow.lead_id, ImportRow.batch_id)
            .where(col(ImportRow.lead_id).in_(chunk), col(ImportRow.batch_id).not_in(undone))
            .distinct()
        ).all()
        found += [f"lead {lead_id}: matched by import batch {other}" for lead_id, other in others]
        moved = conn.execute(
            select(StageChange.lead_id)
            .where(col(StageChange.lead_id).in_(chunk), col(StageChange.from_stage).is_not(None))
            .distinct()
        ).scalars()
        found += [f"lead {lead_id}: changed stage" for lead_id in moved]
        reviewed = conn.execute(
            select(ReviewItem.lead_id)
            .where(
                col(ReviewItem.lead_id).in_(chunk),
                col(ReviewItem.batch_id).not_in(undone),
                col(ReviewItem.status) != "accepted",  # an accepted change is an edit (above)
            )
            .distinct()
        ).scalars()
        found += [f"lead {lead_id}: has review items of another import" for lead_id in reviewed]
        mailed = conn.execute(
            select(OutboxMessage.lead_id)
            .where(
                col(OutboxMessage.lead_id).in_(chunk),
                col(OutboxMessage.status).in_(("sending", "sent")),
            )
            .distinct()
        ).scalars()
        found += [f"lead {lead_id}: was sent automated messages" for lead_id in mailed]
    return found


def _revert(tx: Tx, batch_id: int, enriched: dict[int, dict[str, list[Any]]]) -> None:
    from crmcli.services.obligations import refresh_lead

    events = []
    for lead_id, changes in enriched.items():
        lead = tx.session.get(Lead, lead_id)
        if lead is None:
            continue
        shown: dict[str, Any] = {}
        restored: dict[str, Any] = {}
        for name, (old, new) in changes.items():
            if name.startswith("extra."):
                key = name[len("extra.") :]
                extra = dict(lead.extra or {})
                if old is None:
                    extra.pop(key, None)
                else:
                    extra[key] = old
                lead.extra = extra
            else:
                restored[name] = old
            shown["campaign" if name == "campaign_id" else name] = [new, old]
        change_lead(lead, restored | {"updated_at": tx.now})
        tx.session.add(lead)
        events.append(("lead", lead_id, "update", shown))
    tx.session.flush()
    append_events(
        tx,
        [
            (kind, lead_id, action, shown | {UNDO_KEY: [None, batch_id]})
            for kind, lead_id, action, shown in events
        ],
    )
    for lead_id in enriched:
        lead = tx.session.get(Lead, lead_id)
        if lead is not None:
            refresh_lead(tx, lead)


def _delete_leads(tx: Tx, batch_id: int, lead_ids: list[int]) -> None:
    from crmcli.services.leads import get_lead

    conn = tx.session.connection()
    events = []
    for lead_id in lead_ids:
        snapshot = get_lead(tx, lead_id)
        events.append(
            (
                "lead",
                lead_id,
                "delete",
                {k: [v, None] for k, v in snapshot.items() if v is not None and k != "id"}
                | {UNDO_KEY: [None, batch_id]},
            )
        )
    seals.touch(tx.session, "lead", lead_ids)
    seals.touch_where(tx.session, "stage_change", "lead_id", lead_ids)
    seals.touch_where(tx.session, "review_item", "lead_id", lead_ids)
    seals.touch_where(tx.session, "outbox", "lead_id", lead_ids)
    for chunk in _chunks(lead_ids):
        unsent = conn.execute(
            select(OutboxMessage.id).where(col(OutboxMessage.lead_id).in_(chunk))
        ).scalars()
        events += [
            ("outbox", message_id, "delete", {UNDO_KEY: [None, batch_id]}) for message_id in unsent
        ]
        conn.execute(delete(OutboxMessage).where(col(OutboxMessage.lead_id).in_(chunk)))
        conn.execute(
            delete(Obligation).where(
                col(Obligation.record_type) == "lead", col(Obligation.record_id).in_(chunk)
            )
        )
        conn.execute(delete(StageChange).where(col(StageChange.lead_id).in_(chunk)))
        conn.execute(
            update(ImportRow).where(col(ImportRow.lead_id).in_(chunk)).values(lead_id=None)
        )
        conn.execute(delete(ReviewItem).where(col(ReviewItem.lead_id).in_(chunk)))
        conn.execute(delete(Lead).where(col(Lead.id).in_(chunk)))
    tx.session.expire_all()
    append_events(tx, events)


def _next_lead_id(conn: Any) -> int:
    """The id the next new lead gets on SQLite: past every id ever used, never a deleted
    lead's (the explicit-id insert moves AUTOINCREMENT's counter on). Elsewhere only past
    every stored id: a stand-in until `_reserve_ids`."""
    top = conn.execute(select(func.max(Lead.id))).scalar() or 0
    if conn.dialect.name == "sqlite":  # AUTOINCREMENT remembers ids of deleted rows
        used = conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'lead'")
        top = max(top, used.scalar() or 0)
    return top + 1


def _first_ids(conn: Any, table: str, count: int) -> int:
    """The first of `count` consecutive new ids of `table` (an INTEGER PRIMARY KEY without
    AUTOINCREMENT): past every stored id on SQLite, under the write lock, as SQLite itself
    would give them; from the sequence elsewhere (`_reserve_ids`)."""
    if conn.dialect.name != "sqlite":
        return _reserve_ids(conn, table, count)[0] if count else 0
    quote = conn.dialect.identifier_preparer.quote
    top = conn.exec_driver_sql(f"SELECT max(id) FROM {quote(table)}").scalar()
    return (top or 0) + 1


def _reserve_ids(conn: Any, table: str, count: int) -> list[int]:
    """`count` new ids of `table` from PostgreSQL's sequence of its id column, ascending and
    (under the write lock every writer takes) consecutive; one query."""
    query = text(
        "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"
    )
    return sorted(conn.execute(query, {"table": table, "count": count}).scalars())
