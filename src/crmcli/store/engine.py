"""One engine per process, created on demand; SQLite tuned on every connection."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.pool import NullPool

from crmcli.errors import StorageError
from crmcli.store.migrations import SCHEMA_HEAD

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = int(os.environ.get("CRM_BUSY_TIMEOUT_MS", "10000"))


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
    # a CLI command is short-lived: no pool, so no connection outlives the command
    engine = create_engine(url, poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        # let SQLAlchemy's "begin" event issue BEGIN itself (see _on_begin)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # noqa: ANN001
        # a write takes the lock up front, so a read-then-write never hits "database is locked"
        write = conn.get_execution_options().get("crm_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def known_revisions() -> list[str]:
    names = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))
    return [name.split("_", 1)[0] for name in names]


def schema_version(engine: Engine) -> str | None:
    """The database's Alembic revision, or None when it has no schema yet."""
    with storage_errors(), engine.connect() as conn:
        has_table = conn.execute(
            text("SELECT 1 FROM information_schema.tables WHERE table_name = 'alembic_version'")
            if engine.dialect.name == "postgresql"
            else text("SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'")
        ).first()
        if not has_table:
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure_schema(engine: Engine, *, create: bool = False) -> tuple[str | None, str]:
    """Refuse newer schemas (exit 6), migrate older ones; returns (before, after)."""
    current = schema_version(engine)
    if current == SCHEMA_HEAD:
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
    with storage_errors(), engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


@contextmanager
def storage_errors() -> Iterator[None]:
    """Database failures become one-line StorageErrors (exit 6)."""
    try:
        yield
    except OperationalError as exc:
        reason = str(exc.orig) if exc.orig else str(exc)
        if "locked" in reason or "busy" in reason:
            raise StorageError(
                f"database busy for more than {BUSY_TIMEOUT_MS // 1000}s; try again"
            ) from None
        raise StorageError(f"database error: {reason}") from None
    except DatabaseError as exc:
        reason = str(exc.orig) if exc.orig else str(exc)
        raise StorageError(f"database unusable: {reason}") from None
