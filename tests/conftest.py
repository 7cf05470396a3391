"""Fixtures: every test gets its own database, clock and acting user.

The backend is SQLite (a file per test) unless CRM_TEST_DB names a PostgreSQL server as an
administrator's URL (postgresql+psycopg://postgres@127.0.0.1:54329/postgres): then each test
gets a fresh database cloned from a migrated template, and each acting user (CRM_USER, --as,
`user=`) connects as the PostgreSQL login of that name, since on PostgreSQL the login is the
identity. The server is set up as README's "PostgreSQL" section tells a DBA: the databases
belong to a role nobody logs in as, the admin login may act as it and create roles, and every
other login gets its rights from `crm user add` alone. Tests marked `sqlite_only` (file modes,
PRAGMAs, SQLite locking) are deselected there.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from unittest import mock

import pytest
import typer.main
import typer.testing
from hypothesis import settings
from typer.testing import CliRunner, Result

from crmcli.cli import app

NOW = "2026-03-06T21:30:00+00:00"  # Friday 16:30 in New York
ADMIN = "boss"
T = TypeVar("T")
PG_ADMIN_URL = os.environ.get("CRM_TEST_DB", "").strip()
ON_POSTGRES = PG_ADMIN_URL.startswith("postgresql")
OWNER_ROLE = "crm_owner"  # owns every test database and its tables; nobody logs in as it
MIGRATE_ROLE = "crm_migrate"  # may act as the owner (SET ROLE), holds none of its rights
# one template per pytest-xdist worker: workers set up their server side by side
TEMPLATE = f"crm_test_template_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


# Hypothesis: the README's quick run tries a quarter of the examples a property names;
# `.ci/run` sets CRM_HYPOTHESIS_PROFILE=full, which tries them all
FULL_PROPERTIES = os.environ.get("CRM_HYPOTHESIS_PROFILE", "quick").strip() == "full"


def examples(full: int) -> int:
    """How many examples a property with `full` examples tries in this run."""
    return full if FULL_PROPERTIES else max(10, full // 4)


# no per-example deadline: on a loaded machine (CI, xdist) a slow example is not a failure;
# speed is measured by benchmarks/, never by a timed test
settings.register_profile("full", max_examples=100, deadline=None)  # Hypothesis's default count
settings.register_profile("quick", max_examples=examples(100), deadline=None)
settings.load_profile("full" if FULL_PROPERTIES else "quick")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: checks SQLite itself (files, PRAGMAs); not run on PostgreSQL"
    )
    config.addinivalue_line(
        "markers", "postgres_only: checks PostgreSQL itself (logins); run when CRM_TEST_DB is set"
    )
    config.addinivalue_line(
        "markers",
        "slow: stress, crash and kill tests (half a minute each); left out of the README's "
        "quick run unless CRM_SLOW_TESTS=1 or -m names them; .ci/run runs them in full",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    other = "postgres_only" if not ON_POSTGRES else "sqlite_only"
    kept = [item for item in items if item.get_closest_marker(other) is None]
    if not (os.environ.get("CRM_SLOW_TESTS") or config.option.markexpr):
        kept = [item for item in kept if item.get_closest_marker("slow") is None]
    config.hook.pytest_deselected(items=[i for i in items if i not in kept])
    items[:] = kept


class PgServer:
    """The PostgreSQL server under test: roles on demand, one database per test."""

    def __init__(self, admin_url: str) -> None:
        from sqlalchemy import make_url

        self.url = make_url(admin_url)
        self.roles: set[str] = set()
        self.counter = itertools.count()
        self.prefix = f"crm_t{os.getpid()}_"

    def admin(self):  # noqa: ANN201
        import psycopg

        conninfo = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return psycopg.connect(conninfo, autocommit=True)

    def db_url(self, database: str, login: str) -> str:
        url = self.url.set(database=database, username=login, password=None)
        return url.render_as_string(hide_password=False)

    def ensure_role(self, name: str) -> None:
        """A login of that name: no rights of its own (`crm user add` grants them)."""
        from psycopg import sql

        if not name or name in self.roles:
            return
        with self.admin() as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        self.roles.add(name)

    def setup(self) -> None:
        """What README tells a DBA to run once, then a migrated template database."""
        from psycopg import sql

        def role(name: str, options: str) -> None:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} " + options).format(sql.Identifier(name)))

        with self.admin() as conn:
            role(OWNER_ROLE, "NOLOGIN")
            role(MIGRATE_ROLE, "NOLOGIN NOINHERIT")
            role(ADMIN, "LOGIN")
            conn.execute(sql.SQL("ALTER ROLE {} CREATEROLE").format(sql.Identifier(ADMIN)))
            for group, member in ((OWNER_ROLE, MIGRATE_ROLE), (MIGRATE_ROLE, ADMIN)):
                conn.execute(
                    sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(member))
                )
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE))
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(TEMPLATE), sql.Identifier(OWNER_ROLE)
                )
            )
        self.roles.add(ADMIN)
        from crmcli.store.engine import ensure_schema, make_engine

        engine = make_engine(self.db_url(TEMPLATE, ADMIN))
        ensure_schema(engine, create=True)
        engine.dispose()

    def create_database(self, *, migrated: bool) -> str:
        from psycopg import sql

        name = f"{self.prefix}{next(self.counter)}"
        template = (
            sql.SQL(" TEMPLATE {}").format(sql.Identifier(TEMPLATE)) if migrated else sql.SQL("")
        )
        with self.admin() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {}{} OWNER {}").format(
                    sql.Identifier(name), template, sql.Identifier(OWNER_ROLE)
                )
            )
        return name

    def drop_database(self, name: str) -> None:
        """The database, and the group roles `crm init` made for it."""
        from psycopg import sql

        from crmcli.store.pg_security import group_names

        with self.admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        self.drop_roles(*group_names(name).values())

    def drop_roles(self, *names: str) -> None:
        from psycopg import sql

        with self.admin() as conn:
            for name in names:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        self.roles.difference_update(names)


@pytest.fixture(scope="session")
def pg_server() -> PgServer | None:
    if not ON_POSTGRES:
        return None
    server = PgServer(PG_ADMIN_URL)
    server.setup()
    return server


@dataclass
class Run:
    result: Result

    @property
    def code(self) -> int:
        return self.result.exit_code

    @property
    def out(self) -> str:
        return self.result.stdout

    @property
    def err(self) -> str:
        return self.result.stderr

    def json(self):
        return json.loads(self.out)


@functools.cache
def click_command(typer_app: typer.Typer) -> typer.core.TyperGroup:
    """The click command Typer builds from the app, built once per test process."""
    return typer.main.get_command(typer_app)


class Runner(CliRunner):
    """Typer's CliRunner, except that it builds the click command behind the app once per
    process rather than on every run: Typer reads every command's signature to build it, which
    cost more than most commands themselves. A built command is reusable (each run gets fresh
    click contexts; what CrmGroup installs on a command is installed once); `crm` itself
    builds it once per process, for the one command it runs."""

    def invoke(self, app: typer.Typer, *args, **kwargs) -> Result:  # noqa: ANN002, ANN003
        with mock.patch.object(typer.testing, "_get_command", click_command):
            return super().invoke(app, *args, **kwargs)


class Crm:
    """Runs the real CLI in-process against one temporary database."""

    def __init__(
        self, db: Path, pg: PgServer | None = None, pg_database: str | None = None
    ) -> None:
        self.db = db
        self.pg = pg
        self.pg_database = pg_database
        self.runner = Runner()
        self.env = {
            "CRM_DB": str(db),
            "CRM_USER": ADMIN,
            "CRM_NOW": NOW,
            "CRM_FORMAT": None,
            "CRM_POLICY": None,
            "NO_COLOR": "1",
        }
        if pg is not None:  # a server database keeps attachments in the user data dir
            self.env["XDG_DATA_HOME"] = str(db.parent / "data")

    def __call__(
        self, *args: str, user: str | None = None, input: str | None = None, **env: str | None
    ) -> Run:
        environment = {**self.env, **env}
        if user is not None:
            environment["CRM_USER"] = user
        if self.pg is not None and environment["CRM_DB"] == str(self.db):
            # the acting user is the PostgreSQL login: connect as the user the test acts as
            login = acting_user(args, environment.get("CRM_USER") or ADMIN)
            self.pg.ensure_role(login)
            environment["CRM_DB"] = self.url(login)
        result = self.runner.invoke(app, list(args), env=environment, input=input)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Run(result)

    def ok(self, *args: str, **kwargs) -> Run:
        run = self(*args, **kwargs)
        assert run.code == 0, f"exit {run.code}: {run.err}"
        return run

    def add_lead(self, **fields: str) -> int:
        args = ["lead", "add"]
        defaults = {
            "first": "Ada",
            "last": "Lovelace",
            "company": "Analytical Engines",
            "email": "ada@example.com",
            "source": "web",
        }
        for key, value in (defaults | fields).items():
            if value is not None:
                args += [f"--{key}", value]
        return int(self.ok(*args).out.strip())

    def url(self, login: str = ADMIN) -> str:
        """The database as a --db value (on PostgreSQL: connecting as `login`)."""
        if self.pg is None:
            return str(self.db)
        self.pg.ensure_role(login)  # a test may run alone: the first to connect as `login`
        return self.pg.db_url(self.pg_database, login)

    @property
    def attachments(self) -> Path:
        """The attachment store's directory for this database (either backend)."""
        from unittest import mock

        from crmcli.services.attachments import attachments_root
        from crmcli.store.engine import database_url

        env = {k: v for k, v in self.env.items() if k == "XDG_DATA_HOME"}
        with mock.patch.dict(os.environ, env):
            return attachments_root(database_url(self.url()))

    def rows(self, query: str, *params) -> list[tuple]:
        """Rows of a query on either backend (`?` placeholders), read past the CLI; values
        as SQLite stores them (datetimes as naive UTC text, JSON as text), so tests compare
        one representation."""
        if self.pg is None:
            import sqlite3

            with sqlite3.connect(self.db) as conn:
                return conn.execute(query, params).fetchall()
        with self._pg() as conn:
            cursor = conn.execute(pg_query(query), params)
            if cursor.description is None:  # not a query: nothing to return
                return []
            return [tuple(as_sqlite(v) for v in row) for row in cursor.fetchall()]

    def dict_rows(self, query: str, *params) -> list[dict]:
        """Like rows, as {column: value} dicts."""
        if self.pg is None:
            import sqlite3

            with sqlite3.connect(self.db) as conn:
                conn.row_factory = sqlite3.Row
                return [Row(r) for r in conn.execute(query, params)]
        with self._pg() as conn:
            cursor = conn.execute(pg_query(query), params)
            names = [c.name for c in cursor.description or []]
            return [Row(zip(names, map(as_sqlite, row), strict=True)) for row in cursor]

    def execute(self, *statements: str, params: tuple = ()) -> None:
        """Change the database behind the CLI's back (`?` placeholders)."""
        if self.pg is None:
            import sqlite3

            with sqlite3.connect(self.db) as conn:
                for statement in statements:
                    conn.execute(statement, params)
            return
        with self._pg() as conn:
            # like sqlite3 (foreign keys off): a tamperer is not stopped by constraints
            conn.execute("SET session_replication_role = replica")
            for statement in statements:
                conn.execute(pg_query(statement), params)

    def _pg(self):  # noqa: ANN202
        import psycopg

        with self.pg.admin() as admin:
            conninfo = admin.info.dsn
        return psycopg.connect(conninfo, dbname=self.pg_database, autocommit=True)

    def tables(self) -> list[str]:
        if self.pg is None:
            return [r[0] for r in self.rows(SQLITE_TABLES)]
        query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        return [r[0] for r in self.rows(query)]

    def snapshot(self) -> dict[str, list]:
        """Every row of every table, in a stable order (to show nothing changed)."""
        if self.pg is None:  # through one connection: each new one parses the whole schema
            import sqlite3
            from contextlib import closing

            with closing(sqlite3.connect(self.db)) as conn:
                tables = [r[0] for r in conn.execute(SQLITE_TABLES)]
                return {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"'))) for t in tables}
        return {t: sorted(map(repr, self.rows(f'SELECT * FROM "{t}"'))) for t in self.tables()}

    def dump(self) -> str:
        """All stored values as text (to show a value is gone everywhere)."""
        return "\n".join(f"{t}: {rows}" for t, rows in self.snapshot().items())

    def created(self) -> bool:
        """The database exists with a schema (a SQLite file; tables on PostgreSQL)."""
        return bool(self.tables()) if self.pg is not None else self.db.exists()

    def integrity_ok(self) -> bool:
        """SQLite's integrity_check; PostgreSQL keeps its own (every table readable)."""
        if self.pg is None:
            return self.rows("PRAGMA integrity_check") == [("ok",)]
        return all(self.rows(f'SELECT count(*) FROM "{t}"') for t in self.tables())

    def count(self, table: str) -> int:
        return self.rows(f'SELECT count(*) FROM "{table}"')[0][0]


SQLITE_TABLES = "SELECT name FROM sqlite_master WHERE type='table'"


def pg_query(query: str) -> str:
    """SQLite's `?` placeholders in psycopg's style (a literal % doubled)."""
    return query.replace("%", "%%").replace("?", "%s")


class Row(dict):
    """A row by column name or by position, like sqlite3.Row."""

    def __getitem__(self, key):  # noqa: ANN001, ANN204
        return list(self.values())[key] if isinstance(key, int) else super().__getitem__(key)


def as_sqlite(value):  # noqa: ANN001, ANN201
    """A PostgreSQL value as SQLite keeps it: naive-UTC datetime text, JSON text, 0/1."""
    from datetime import UTC, date, datetime

    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        return naive.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def acting_user(args: tuple[str, ...], default: str) -> str:
    """The --as value before the command word, else the default."""
    for i, arg in enumerate(args):
        if arg == "--as" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--as="):
            return arg[5:]
        if not arg.startswith("-") and (
            i == 0 or args[i - 1] not in ("--db", "--format", "--policy")
        ):
            break
    return default


def new_crm(path: Path, pg: PgServer | None, *, migrated: bool = True) -> Iterator[Crm]:
    if pg is None:
        yield Crm(path)
        return
    name = pg.create_database(migrated=migrated)
    try:
        yield Crm(path, pg, name)
    finally:
        pg.drop_database(name)


@pytest.fixture(scope="session")
def initialised_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`crm init` run once per test process: each SQLite test copies its database instead of
    migrating and initialising its own (the same bytes `init` writes, at the same clock)."""
    path = tmp_path_factory.mktemp("template") / "crm.db"
    Crm(path).ok("init")
    return path


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database, WAL included (the backup API)."""
    import sqlite3

    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    target.chmod(0o600)  # as `crm init` creates it (doctor and the storage tests check)


@pytest.fixture
def crm(
    tmp_path: Path, pg_server: PgServer | None, request: pytest.FixtureRequest
) -> Iterator[Crm]:
    """A CLI over an initialised database whose admin is `boss`."""
    for cli in new_crm(tmp_path / "crm.db", pg_server):
        if pg_server is None:
            copy_sqlite(request.getfixturevalue("initialised_sqlite"), cli.db)
        else:
            cli.ok("init")
        yield cli


@pytest.fixture
def fresh(tmp_path: Path, pg_server: PgServer | None) -> Iterator[Crm]:
    """A CLI whose database does not exist yet (on PostgreSQL: an empty database)."""
    yield from new_crm(tmp_path / "new" / "crm.db", pg_server, migrated=False)


def add_team(crm: Crm) -> None:
    crm.ok("user", "add", "ed", "--role", "editor")
    crm.ok("user", "add", "vi", "--role", "viewer")


@pytest.fixture
def team(crm: Crm, prepared: Prepared) -> Crm:
    """An initialised database with an editor (ed) and a viewer (vi)."""
    prepared(crm, add_team)
    return crm


class Prepared:
    """Databases that fixtures prepare through the CLI. On SQLite each is prepared once per
    test process and copied into every test's database, as `crm` copies the initialised one
    (the same commands at the same clock give the same rows); on PostgreSQL each database has
    its own group roles, so each test prepares its own."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.done: dict[Callable, tuple[Path, object]] = {}

    def __call__(self, crm: Crm, prepare: Callable[[Crm], T]) -> T:
        """`prepare(crm)`, run on a copy of `crm`'s database the first time; returns what it
        returned. `prepare` is a module-level function that always starts from the same
        fixture's database and writes nothing but the database (no files beside it)."""
        if crm.pg is not None:
            return prepare(crm)
        if prepare not in self.done:
            path = self.factory.mktemp("prepared") / "crm.db"
            copy_sqlite(crm.db, path)
            self.done[prepare] = path, prepare(Crm(path))
        path, value = self.done[prepare]
        copy_sqlite(path, crm.db)
        return value  # type: ignore[return-value]


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    return Prepared(tmp_path_factory)


AddLead = Callable[..., int]
