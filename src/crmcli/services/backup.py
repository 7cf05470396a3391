"""Backups, restores and copies between backends (`crm db backup|restore|copy`).

Three backup formats, told apart by their first bytes on restore:
- a SQLite database file: SQLite's online backup API (a consistent copy while others write);
- a pg_dump archive ("PGDMP"): PostgreSQL with pg_dump on the PATH;
- portable JSONL: a header line, then one line per row of every table (typed values tagged),
  then each table's id high-water mark, so ids are never reused after a restore either.
SQLite files and JSONL restore into either backend; that is also how `db copy` moves a team
from its SQLite file to a server.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Table, func, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from crmcli import clock
from crmcli.context import AppContext
from crmcli.errors import BadInput, NotPermitted, PolicyRefusal, StorageError
from crmcli.files import open_input
from crmcli.limits import MAX_NESTING, TooDeep, loads_json
from crmcli.store.engine import (
    act_as,
    database_url,
    ensure_schema,
    make_engine,
    owner_membership,
    redacted,
    schema_version,
    sqlite_path,
    storage_errors,
)
from crmcli.store.migrations import SCHEMA_HEAD

if TYPE_CHECKING:
    from crmcli.services.workspace import Identity

FORMAT = "crmcli-backup"
# a line holds a row ({"table", "row": {column: value}}) whose JSON values nest at most
# MAX_NESTING deep themselves
BACKUP_NESTING = MAX_NESTING + 2
SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
CHUNK = 1000


def tables() -> list[Table]:
    from crmcli.store.models import all_metadata

    # parents before children; not audit_head: its trigger keeps it as the events go in
    return [t for t in all_metadata().sorted_tables if t.name != "audit_head"]


# --- values ------------------------------------------------------------------------------------


def encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode()}
    return value


def decode(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, raw),) = value.items()
        if tag == "$dt":
            return datetime.fromisoformat(raw)
        if tag == "$date":
            return date.fromisoformat(raw)
        if tag == "$dec":
            return Decimal(raw)
        if tag == "$b64":
            return base64.b64decode(raw)
    return value


# --- reading a database as records -------------------------------------------------------------


def sequences(conn: Connection) -> dict[str, int]:
    """Each table's id high-water mark (ids of deleted rows are not handed out again)."""
    if conn.dialect.name == "sqlite":
        has = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='sqlite_sequence'"
        ).first()
        rows = conn.exec_driver_sql("SELECT name, seq FROM sqlite_sequence") if has else []
        return {name: int(seq) for name, seq in rows}
    rows = conn.exec_driver_sql(
        "SELECT t.relname, s.last_value FROM pg_class t "
        "JOIN pg_depend d ON d.refobjid = t.oid AND d.deptype IN ('a', 'i') "
        "JOIN pg_class q ON q.oid = d.objid AND q.relkind = 'S' "
        "JOIN pg_sequences s ON s.sequencename = q.relname "
        "WHERE t.relkind = 'r' AND s.schemaname = current_schema()"
    )
    return {name: int(value) for name, value in rows if value is not None}


def records(conn: Connection) -> Iterator[dict[str, Any]]:
    """The whole database as JSON-ready lines: header, rows, sequences."""
    version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    yield {"format": FORMAT, "version": 1, "schema": version, "at": clock.now().isoformat()}
    for table in tables():
        keys = [c.name for c in table.primary_key.columns]
        query = select(table).order_by(*(table.c[k] for k in keys))
        for row in conn.execution_options(yield_per=CHUNK).execute(query).mappings():
            yield {"table": table.name, "row": {k: encode(v) for k, v in row.items()}}
    yield {"sequences": sequences(conn)}


def read_jsonl(stream: IO[str], source: str) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            item = loads_json(line, limit=BACKUP_NESTING)
        except json.JSONDecodeError as exc:
            raise BadInput(
                f"{source} line {number}: not JSON ({exc.msg}); give a file made by crm db backup"
            ) from None
        except TooDeep as exc:
            raise BadInput(
                f"{source} line {number}: {exc}; give a file made by crm db backup"
            ) from None
        if not isinstance(item, dict):
            raise BadInput(f"{source} line {number}: not a record; give a crm db backup file")
        yield item


# --- backup ------------------------------------------------------------------------------------


def check_new_file(path: Path) -> None:
    if path.exists():
        raise BadInput(f"FILE: {path} exists; give a new file name (a backup never overwrites)")
    if not path.parent.is_dir():
        raise BadInput(f"FILE: directory {path.parent} does not exist; create it first")


def private_temp(path: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    os.chmod(name, 0o600)
    return Path(name)


def backup(engine: Engine, url: str, path: Path, *, fmt: str) -> dict[str, Any]:
    """Write the backup to a private temporary file, then move it into place."""
    check_new_file(path)
    if fmt == "auto":
        if sqlite_path(url) is not None:
            fmt = "sqlite"
        else:
            fmt = "pg_dump" if shutil.which("pg_dump") else "jsonl"
    if fmt == "sqlite" and sqlite_path(url) is None:
        raise BadInput(
            "--format sqlite: only a SQLite database backs up as a SQLite file; use jsonl"
        )
    if fmt == "pg_dump" and (engine.dialect.name != "postgresql" or not shutil.which("pg_dump")):
        raise BadInput("--kind pg_dump: needs a PostgreSQL database and pg_dump on the PATH")
    temp = private_temp(path)
    try:
        rows = {"sqlite": _backup_sqlite, "pg_dump": _backup_pg_dump, "jsonl": _backup_jsonl}[fmt](
            engine, url, temp
        )
        temp.replace(path)
    except OSError as exc:  # a full disk: the partial copy goes (below), nothing is left
        raise StorageError(f"FILE: cannot write {path}: {exc.strerror or exc}") from None
    finally:
        temp.unlink(missing_ok=True)
    return {"file": str(path), "format": fmt, "rows": rows, "bytes": path.stat().st_size}


def _backup_sqlite(engine: Engine, url: str, temp: Path) -> int | None:
    import sqlite3

    source = sqlite3.connect(sqlite_path(url))  # type: ignore[arg-type]
    target = sqlite3.connect(temp)
    try:
        with storage_errors():
            source.backup(target)  # page by page; writers may go on meanwhile
        target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
    except sqlite3.Error as exc:
        raise StorageError(f"backup failed: {exc}") from None
    finally:
        target.close()
        source.close()
    return None


def _backup_pg_dump(engine: Engine, url: str, temp: Path) -> int | None:
    # row-level security on: an admin reads every row through it (pg_dump would otherwise
    # refuse to dump tables with policies unless the login bypasses them)
    options = ["--format=custom", "--no-owner", "--no-privileges", "--enable-row-security"]
    run(["pg_dump", *options, "-f", str(temp)], url)
    return None


def _backup_jsonl(engine: Engine, url: str, temp: Path) -> int:
    count = 0
    # one snapshot: a reading transaction (REPEATABLE READ on PostgreSQL, BEGIN on SQLite)
    with storage_errors(), engine.connect() as conn, conn.begin(), temp.open("w") as out:
        for item in records(conn):
            out.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += "row" in item
    return count


def libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def run(command: list[str], url: str) -> None:
    done = subprocess.run([*command, "--dbname", libpq_url(url)], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise StorageError(f"{command[0]} failed: {last}")


# --- restore -----------------------------------------------------------------------------------


def kind_of(path: Path) -> str:
    if not path.exists():
        raise BadInput(f"FILE: {path} does not exist; give a file made by crm db backup")
    with open_input(path, option="FILE") as f:  # a FIFO or a device is refused here
        head = f.read(16)
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "pg_dump"
    return "jsonl"


def row_counts(conn: Connection) -> dict[str, int]:
    return {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in tables()}


def is_empty(conn: Connection) -> bool:
    return not any(row_counts(conn).values())


def target_has_users(app: AppContext) -> bool:
    """Whether the restore target already has crm users (then its own admin must restore)."""
    try:
        engine = make_engine(database_url(app.db))
        if schema_version(engine) is None:
            return False
    except StorageError:
        return False
    from crmcli.store.models import User

    with storage_errors(), engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(User)).scalar() > 0


def restore(app: AppContext, path: Path) -> dict[str, Any]:
    kind = kind_of(path)
    url = database_url(app.db)
    engine = make_engine(url, create=True)
    if kind == "pg_dump":
        return _restore_pg_dump(app, engine, url, path)
    if kind == "sqlite":
        source = make_engine(f"sqlite:///{path.resolve()}")
        try:
            if schema_version(source) is None:
                raise BadInput(f"FILE: {path} is a SQLite file without a crmcli database")
        except StorageError as exc:
            raise BadInput(
                f"FILE: {path} is not a readable SQLite backup ({exc.message})"
            ) from None
        with storage_errors(), source.connect() as conn:
            return load(app, engine, records(conn), source=str(path))
    with io.TextIOWrapper(open_input(path, option="FILE"), encoding="utf-8") as stream:
        try:
            return load(app, engine, read_jsonl(stream, str(path)), source=str(path))
        except UnicodeDecodeError:
            raise BadInput(f"FILE: {path} is not a crm db backup (not UTF-8 text)") from None


def load(
    app: AppContext, engine: Engine, items: Iterator[dict[str, Any]], *, source: str
) -> dict[str, Any]:
    """Insert every record into the empty database `engine` in one transaction, check the
    acting user is an admin of the restored data, audit the restore."""
    header = next(items, None)
    if not header or header.get("format") != FORMAT:
        raise BadInput(f"FILE: {source} is not a crm db backup (no crmcli-backup header)")
    if header.get("schema") != SCHEMA_HEAD:
        raise BadInput(
            f"FILE: {source} holds schema {header.get('schema')}, this crmcli writes "
            f"{SCHEMA_HEAD}; restore it with the crmcli that made it, then upgrade"
        )
    postgres = engine.dialect.name == "postgresql"
    owner = _owner_to_restore_as(engine) if postgres else None
    ensure_schema(engine, create=True)
    by_name = {t.name: t for t in tables()}
    counts: dict[str, int] = {}
    with storage_errors(), engine.execution_options(crm_write=True).begin() as conn:
        act_as(conn, owner)
        if not is_empty(conn):
            raise PolicyRefusal(
                f"{redacted(str(engine.url))} is not empty; restore into a new database "
                "(a restore never merges into existing records)"
            )
        pending: dict[str, list[dict[str, Any]]] = {}
        marks: dict[str, int] = {}
        for item in items:
            if "sequences" in item:
                marks = {str(k): int(v) for k, v in dict(item["sequences"]).items()}
                continue
            name, row = item.get("table"), item.get("row")
            if name not in by_name or not isinstance(row, dict):
                raise BadInput(f"FILE: {source}: unknown record {str(item)[:60]!r}")
            batch = pending.setdefault(name, [])
            batch.append({k: decode(v) for k, v in row.items()})
            counts[name] = counts.get(name, 0) + 1
            if len(batch) >= CHUNK:
                _flush(conn, by_name, pending)
        _flush(conn, by_name, pending)
        _set_sequences(conn, by_name, marks)
        actor = _restoring_admin(conn, app)
        _audit_restore(conn, app, actor, source, counts)
        if postgres:
            _grant_restored_logins(conn)
    return {"database": redacted(str(engine.url)), "rows": sum(counts.values()), "tables": counts}


def _owner_to_restore_as(engine: Engine) -> str | None:
    """On PostgreSQL a restore builds the schema and loads the rows as the database's owner
    role, as a migration would (None: the login is that role). Refused before anything is
    written when the login may not act as it."""
    with storage_errors(), engine.connect() as conn:
        owner, member, login = owner_membership(conn)
    if not member:
        raise NotPermitted(
            f"crm db restore needs an admin of the restored data who may act as the "
            f"database's owner {owner}; {login} may not (see README: PostgreSQL)"
        )
    return None if owner == login else owner


def _grant_restored_logins(conn: Connection) -> None:
    """Every restored user's login in its group roles, as `crm user add` would have put it."""
    from crmcli.store import pg_security

    pg_security.grant_logins(conn)


def _flush(conn: Connection, by_name: dict[str, Table], pending: dict[str, list]) -> None:
    # tables in dependency order, so a child's parent rows are in first
    for name in [t for t in by_name if t in pending]:
        if pending[name]:
            conn.execute(by_name[name].insert(), pending[name])
            pending[name] = []


def _set_sequences(conn: Connection, by_name: dict[str, Table], marks: dict[str, int]) -> None:
    for table in by_name.values():
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not keys[0].autoincrement or keys[0].type.python_type is not int:
            continue
        top = conn.execute(select(func.max(keys[0]))).scalar() or 0
        mark = max(top, marks.get(table.name, 0))
        if mark == 0:
            continue
        if conn.dialect.name == "postgresql":
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence(:t, :c), :v)"),
                {"t": f'"{table.name}"', "c": keys[0].name, "v": mark},
            )
        elif table.kwargs.get("sqlite_autoincrement"):  # the only tables SQLite keeps marks for
            conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table.name,))
            conn.exec_driver_sql(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table.name, mark)
            )


def _restoring_admin(conn: Connection, app: AppContext) -> Identity:
    """Who restores, as the restored data sees it (its users, logins and policy)."""
    from crmcli.services.workspace import Workspace, resolve_identity

    with Session(bind=conn) as session:  # PostgreSQL: the login, whatever role it acts as
        identity = resolve_identity(
            session, app.user, stored_policy=lambda: Workspace(app).stored_policy(session)
        )
    found, name = identity.user, identity.name
    if found is None or not found.active or found.role != "admin":
        raise NotPermitted(
            f"crm db restore needs an admin of the restored data; {name} is "
            f"{'not a user' if found is None else found.role + ' only'} there "
            "(act as one of its admins with --as, or log in as one on PostgreSQL)"
        )
    return identity


def _audit_restore(
    conn: Connection, app: AppContext, actor: Identity, source: str, counts: dict[str, int]
) -> None:
    from crmcli.services import audit

    with Session(bind=conn) as session:
        audit.append(
            session,
            at=clock.now(),
            actor=actor.name,
            command=app.command or "crm db restore",
            record_type="database",
            record_id=None,
            action="restore",
            changes={"from": [None, Path(source).name], "rows": [None, sum(counts.values())]},
            login=actor.login,
        )
        session.flush()


def _restore_pg_dump(app: AppContext, engine: Engine, url: str, path: Path) -> dict[str, Any]:
    if engine.dialect.name != "postgresql":
        raise BadInput(f"FILE: {path} is a pg_dump archive; restore it into a PostgreSQL database")
    if not shutil.which("pg_restore"):
        raise StorageError("pg_restore is not on the PATH; install the PostgreSQL client tools")
    if schema_version(engine) is not None:
        raise PolicyRefusal(
            f"{redacted(url)} is not empty; a pg_dump archive restores into a new database "
            "(no crmcli schema yet)"
        )
    owner = _owner_to_restore_as(engine)  # the tables belong to it, as after a migration
    as_owner = [f"--role={owner}"] if owner else []
    with _without_policies(path) as listing:
        run(["pg_restore", "--no-owner", "--no-privileges", "--single-transaction", *as_owner,
             f"--use-list={listing}", str(path)], url)  # fmt: skip
    ensure_schema(engine, create=True)  # this database's group roles, grants and policies
    with storage_errors(), engine.execution_options(crm_write=True).begin() as conn:
        act_as(conn, owner)  # the login's groups come with the restored users, below
        actor = _restoring_admin(conn, app)
        _audit_restore(conn, app, actor, str(path), {"pg_dump": 0})
        rows = sum(row_counts(conn).values())
        _grant_restored_logins(conn)
    return {"database": redacted(url), "rows": rows, "tables": {}}


@contextmanager
def _without_policies(path: Path) -> Iterator[Path]:
    """The archive's table of contents without its row-level security policies: they name
    the group roles of the database that was dumped, which need not exist here; the restored
    database gets its own (store/pg_security.py)."""
    listing = subprocess.run(["pg_restore", "--list", str(path)], capture_output=True, text=True)
    if listing.returncode != 0:
        last = (listing.stderr.strip().splitlines() or ["failed"])[-1]
        raise BadInput(f"FILE: {path} is not a readable pg_dump archive ({last})")
    entries = [line for line in listing.stdout.splitlines() if " POLICY " not in line]
    fd, name = tempfile.mkstemp(prefix="crm-restore-", suffix=".list")
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(entries) + "\n")
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


# --- copy --------------------------------------------------------------------------------------


def copy(app: AppContext, source: Engine, to: str) -> dict[str, Any]:
    """Every record of `source` into the empty database at `to`, then checked: the same rows
    per table and the same audit chain (plus the one event recording the copy)."""
    from crmcli.services.audit import verify_chain

    try:
        target = make_engine(database_url(to), create=True)
    except BadInput as exc:
        raise BadInput(exc.message.replace("--db:", "--to:", 1)) from None
    if str(target.url) == str(source.url):
        raise BadInput("--to: that is the database being copied; give another one")
    with storage_errors(), source.connect() as conn, conn.begin():
        before = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in tables()
        }
        with Session(bind=conn) as session:
            chain = verify_chain(session)
        result = load(replace(app, db=to), target, records(conn), source="copy")
    with storage_errors(), target.connect() as conn:
        after = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in tables()
        }
        with Session(bind=conn) as session:
            copied = verify_chain(session)
    after["audit_event"] -= 1  # the copy's own event
    if after != before or not copied["ok"] or copied["events"] != chain["events"] + 1:
        raise StorageError(
            f"copy to {redacted(to)} did not verify (rows {before} -> {after}, "
            f"chain {copied['reason'] or 'ok'}); drop that database and copy again"
        )
    return {
        "to": redacted(to),
        "rows": result["rows"],
        "audit_events": chain["events"],
        "verified": True,
    }
