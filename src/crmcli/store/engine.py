"""One engine per process, created on demand; SQLite tuned on every connection."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from sqlalchemy.pool import NullPool

from crmcli import environment
from crmcli.errors import BadInput, Conflict, NotPermitted, StorageError
from crmcli.store.migrations import SCHEMA_HEAD

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# a CLI user would rather wait for a long import batch than retry by hand
BUSY_TIMEOUT_MS = environment.DEFAULT_BUSY_TIMEOUT_MS  # CRM_BUSY_TIMEOUT_MS overrides it


def default_db_path() -> Path:
    from platformdirs import user_data_path

    return user_data_path("crmcli", appauthor=False) / "crm.db"


def database_url(db: str | None) -> str:
    """`--db` value (path, SQLAlchemy URL or None for the default) to a SQLAlchemy URL."""
    if db and "://" in db:
        return db
    path = Path(db).expanduser() if db else default_db_path()
    return f"sqlite:///{path.resolve()}"


def sqlite_path(url: str) -> Path | None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        return Path(url[len(prefix) :])
    return None


def make_engine(url: str, *, create: bool = False) -> Engine:
    path = sqlite_path(url)
    if path is not None and not path.exists():
        if not create:
            raise StorageError(f"no database at {path}; create it with: crm init")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # created 0600 here; SQLite gives the -wal and -shm files the same mode
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    engine = _ENGINES.pop(url, None)
    if engine is None:
        engine = _new_engine(url)
    _ENGINES[url] = engine  # most recently used last
    while len(_ENGINES) > _KEEP_ENGINES:
        _ENGINES.pop(next(iter(_ENGINES)))
    return engine


# One engine per URL for the life of the process. NullPool keeps no connection open between
# commands, but the engine keeps SQLAlchemy's cache of compiled statements: a process that
# runs many commands (the stress writers, a test session, a script calling crmcli.cli.main)
# compiles each statement once instead of once a command, which halves a command's cost.
_ENGINES: dict[str, Engine] = {}
_KEEP_ENGINES = 8


def _new_engine(url: str) -> Engine:
    # a CLI command is short-lived: no pool, so no connection outlives the command
    try:
        engine = create_engine(url, poolclass=NullPool)
    except (ArgumentError, ImportError, ValueError) as exc:
        raise BadInput(
            f"--db: cannot use {redacted(url)!r} ({exc}); give a file path, or a URL such as "
            "postgresql+psycopg://HOST/DATABASE"
        ) from None
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    elif engine.dialect.name == "postgresql":
        _tune_postgresql(engine)
    return engine


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        # let SQLAlchemy's "begin" event issue BEGIN itself (see _on_begin)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {environment.busy_timeout_ms()}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # noqa: ANN001
        # a write takes the lock up front, so a read-then-write never hits "database is locked"
        write = conn.get_execution_options().get("crm_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


# every crmcli writer on a PostgreSQL database takes this transaction-scoped advisory lock
# first, so writes are serialised as on SQLite (BEGIN IMMEDIATE): the audit chain stays one
# chain and a read-then-write never races another writer. Readers never wait for it.
WRITE_LOCK_KEY = 0x63726D636C69  # "crmcli"


def _tune_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # noqa: ANN001
        if conn.get_execution_options().get("crm_write", False):
            # read committed: every statement after the lock sees every earlier commit
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {environment.busy_timeout_ms()}")
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
        else:
            # one snapshot for the whole read: a report never mixes before and after a write
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def known_revisions() -> list[str]:
    names = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))
    return [name.split("_", 1)[0] for name in names]


def schema_version(engine: Engine) -> str | None:
    """The database's Alembic revision, or None when it has no schema yet."""
    with storage_errors(), engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return _pg_schema_version(conn)
        has_table = conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'")
        ).scalar()
        if not has_table:
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _pg_schema_version(conn) -> str | None:  # noqa: ANN001
    exists, readable = conn.exec_driver_sql(
        # the catalog, not information_schema: that one hides tables the login cannot use
        "SELECT to_regclass('alembic_version') IS NOT NULL, "
        "has_table_privilege(to_regclass('alembic_version'), 'SELECT')"
    ).one()
    if not exists:
        return None
    if not readable:
        # a login in none of crm's groups here: only one that may act as the owner may go
        # on (crm init makes it the first admin, a restore brings the users)
        owner, member, login = owner_membership(conn)
        if not member:
            raise NotPermitted(
                f"unknown user {login!r} (the database login): it has no crm role in this "
                f"database; an admin can add it with: crm user add {login} --role editor"
            )
        act_as(conn, None if owner == login else owner)  # till this connection closes
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def ensure_schema(engine: Engine, *, create: bool = False) -> tuple[str | None, str]:
    """Refuse newer schemas (exit 6), migrate older ones; returns (before, after)."""
    current = schema_version(engine)
    if current == SCHEMA_HEAD:
        if create and engine.dialect.name == "postgresql":
            secure(engine)  # crm init: put right what a DBA, or a copied database, left
        return current, current
    if current is not None and current not in known_revisions():
        raise StorageError(
            f"database schema {current} is newer than this crmcli (knows up to {SCHEMA_HEAD});"
            " upgrade crmcli to use it"
        )
    if current is None and not create:
        raise StorageError("database has no crmcli schema; create it with: crm init")
    upgrade(engine)
    return current, SCHEMA_HEAD


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with storage_errors(), engine.execution_options(crm_write=True).begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            from crmcli.store import pg_security

            owner = database_owner(conn, needed_for=f"bringing the schema up to {SCHEMA_HEAD}")
            pg_security.ensure_groups(conn)  # as the login: it takes CREATEROLE
            act_as(conn, owner)
        before = _revision(conn)
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        if before is not None and revision == "head":
            _seal_unsealed(conn, before)
        if postgres:
            # every table, the new ones included, gets its grants, policies and triggers
            pg_security.execute(conn, pg_security.table_statements(conn))
            pg_security.grant_first_admin(conn)


def _revision(conn) -> str | None:  # noqa: ANN001
    from alembic.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _seal_unsealed(conn, before: str) -> None:  # noqa: ANN001
    """A database from before the row seals (migration 0019) is sealed as it stands, in the
    upgrade's transaction: every later write seals what it changes (services.seals)."""
    if conn.execute(text("SELECT 1 FROM audit_seal LIMIT 1")).first() is not None:
        return
    import getpass

    from crmcli import clock
    from crmcli.services.seals import baseline

    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "unknown"
    command = f"upgrade from {before} to {SCHEMA_HEAD}: baseline seals of the rows as found"
    baseline(conn, at=clock.now(), actor=f"crmcli (login {login})", command=command)


def secure(engine: Engine) -> None:
    """Bring a PostgreSQL database's group roles, grants, row-level security and audit
    triggers to what crm needs (store/pg_security.py); nothing changes when they are so."""
    from crmcli.store import pg_security

    with storage_errors(), engine.execution_options(crm_write=True).begin() as conn:
        pg_security.ensure_groups(conn)
        statements = pg_security.table_statements(conn)
        if statements or not pg_security.can_read(conn, "user"):
            act_as(conn, database_owner(conn, needed_for="granting crm's group roles"))
            pg_security.execute(conn, statements)
            pg_security.grant_first_admin(conn)


def database_owner(conn, *, needed_for: str) -> str | None:  # noqa: ANN001
    """The role that owns the database, for `act_as` (None when the login is that role).

    Migrations and grants run as it, so the tables belong to it, not to whoever happened to
    upgrade, and only it may grant them. The login must be a member (README: PostgreSQL)."""
    owner, member, login = owner_membership(conn)
    if not member:
        raise NotPermitted(
            f"{needed_for} takes a login that may act as the database's owner {owner}, "
            f"and {login} may not; an admin who may (see README: PostgreSQL) runs any crm "
            "command once, then everyone carries on"
        )
    return None if owner == login else owner


def owner_membership(conn) -> tuple[str, bool, str]:  # noqa: ANN001
    """(the database's owner role, whether the login may act as it, the login)."""
    owner, member, login = conn.exec_driver_sql(
        "SELECT pg_get_userbyid(datdba), pg_has_role(session_user, datdba, 'MEMBER'), "
        "session_user FROM pg_database WHERE datname = current_database()"
    ).one()
    return owner, bool(member), login


def act_as(conn, role: str | None) -> None:  # noqa: ANN001
    """SET LOCAL ROLE: for the rest of this transaction only."""
    if role is not None:
        conn.exec_driver_sql(f'SET LOCAL ROLE "{role.replace(chr(34), chr(34) * 2)}"')


@contextmanager
def storage_errors() -> Iterator[None]:
    """Database failures become one-line StorageErrors (exit 6)."""
    try:
        yield
    except OperationalError as exc:
        reason = str(exc.orig) if exc.orig else str(exc)
        state = getattr(exc.orig, "sqlstate", None)
        if state in RETRYABLE_STATES:
            raise Conflict(
                "the database refused this transaction because of a concurrent one "
                f"({reason.splitlines()[0]}); nothing was written; run the command again"
            ) from None
        if state == "55P03":  # lock_not_available: lock_timeout passed
            raise StorageError(
                f"database busy for more than {_busy_seconds()}s; try again"
            ) from None
        if state is None and exc.orig is not None and _login_refused(reason):
            raise NotPermitted(
                f"the database server refused the login: {reason.strip().splitlines()[-1]}; "
                "a database administrator must create the role (see README: PostgreSQL)"
            ) from None
        if "locked" in reason or "busy" in reason:
            raise StorageError(
                f"database busy for more than {_busy_seconds()}s; try again"
            ) from None
        raise StorageError(f"database error: {' '.join(reason.split())}") from None
    except DatabaseError as exc:
        reason = str(exc.orig) if exc.orig else str(exc)
        if getattr(exc.orig, "sqlstate", None) == "22003":  # numeric_value_out_of_range
            raise BadInput(
                f"a number in the command is too large for the database ({reason.splitlines()[0]});"
                " ids and counts stop at 2147483647"
            ) from None
        if getattr(exc.orig, "sqlstate", None) == "42501":  # insufficient_privilege
            raise NotPermitted(
                f"the database server refused: {reason.splitlines()[0]}; the login's crm "
                "role does not allow it (see README: PostgreSQL)"
            ) from None
        raise StorageError(f"database unusable: {reason}") from None


def _busy_seconds() -> int:
    return environment.busy_timeout_ms() // 1000


# serialization_failure, deadlock_detected: the transaction wrote nothing and may simply run again
RETRYABLE_STATES = ("40001", "40P01")


def _login_refused(reason: str) -> bool:
    return ('role "' in reason and "does not exist" in reason) or "authentication failed" in reason
