"""PostgreSQL itself: the login is the identity, migrations match the models, and the
database's owner role owns the tables. Run when CRM_TEST_DB names a server (see conftest)."""

from __future__ import annotations

import pytest

from conftest import Crm

pytestmark = pytest.mark.postgres_only


def test_as_cannot_override_the_login(team: Crm) -> None:
    lead = team.add_lead()
    # the fixture connects as the acting user; here we connect as vi and claim to be boss
    run = team("--db", team.url("vi"), "--as", "boss", "lead", "edit", str(lead), "--title", "X")
    assert run.code == 4 and "vi is a viewer" in run.err
    run = team("--db", team.url("ed"), "--as", "boss", "user", "add", "eve", "--role", "admin")
    assert run.code == 4 and "needs the admin role; ed is a editor" in run.err
    assert team.rows("SELECT count(*) FROM \"user\" WHERE name = 'eve'") == [(0,)]
    # and the audit log names the login, whatever --as says
    team("--db", team.url("ed"), "--as", "boss", "lead", "edit", str(lead), "--title", "CTO")
    actors = team.rows("SELECT actor FROM audit_event WHERE action = 'update'")
    assert actors == [("ed",)]


def test_a_login_that_is_not_a_crm_user_is_refused(team: Crm) -> None:
    team.pg.ensure_role("mallory")  # a valid database login, unknown to crmcli
    run = team("--db", team.url("mallory"), "lead", "list")
    assert run.code == 4 and "unknown user 'mallory'" in run.err
    assert len(run.err.strip().splitlines()) == 1


def test_a_role_the_server_does_not_know_exits_4(team: Crm) -> None:
    run = team("--db", team.pg.db_url(team.pg_database, "no_such_role_xyz"), "lead", "list")
    assert run.code == 4
    assert 'role "no_such_role_xyz" does not exist' in run.err
    assert len(run.err.strip().splitlines()) == 1


def test_an_unreachable_server_is_a_storage_error(crm: Crm) -> None:
    run = crm("--db", "postgresql+psycopg://boss@127.0.0.1:1/nothing", "lead", "list")
    assert run.code == 6 and run.err.startswith("crm: database error: connection failed")


def test_migrations_build_exactly_the_models_and_the_team_owns_them(fresh: Crm) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from crmcli.store import engine as store
    from crmcli.store.migrations import SCHEMA_HEAD
    from crmcli.store.models import all_metadata

    fresh.ok("init")
    engine = store.make_engine(fresh.url())
    assert store.schema_version(engine) == SCHEMA_HEAD
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), all_metadata())
    # 0004's expression indexes live in the migration only (SQLite cannot reflect them)
    expression_only = {"ix_lead_name_block", "ix_lead_company_block"}
    expression_only |= {"ix_obligation_response_owner", "ix_obligation_response_time"}  # 0012
    assert [d for d in diffs if not (d[0] == "remove_index" and d[1].name in expression_only)] == []
    owners = fresh.rows("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
    assert owners == [("crm_team",)]  # the database owner, not the login that ran init


def test_writers_take_the_advisory_lock(crm: Crm) -> None:
    from sqlalchemy import text

    from crmcli.context import AppContext
    from crmcli.services.workspace import Workspace
    from crmcli.store.engine import WRITE_LOCK_KEY

    with Workspace(AppContext(db=crm.url(), user="boss")).writing() as tx:
        held = tx.session.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid() AND objid = :low"
            ),
            {"low": WRITE_LOCK_KEY & 0xFFFFFFFF},
        ).scalar()
    assert held == 1
