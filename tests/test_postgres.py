"""PostgreSQL itself: the login is the identity, migrations match the models, the database's
owner role owns the tables, and the server enforces the roles: group roles with least
privilege, campaign scope as row-level security, an append-only audit log. Run when
CRM_TEST_DB names a server (see conftest)."""

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
    assert run.code == 4 and "needs the admin role; ed is an editor" in run.err
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
    assert owners == [("crm_owner",)]  # the database owner, not the login that ran init


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


# --- the server enforces the roles (issue 17 item 2): real logins, straight through psycopg ----


def connect(crm: Crm, login: str):  # noqa: ANN201
    """A connection to the test database as `login`, the way psql would make one."""
    import psycopg
    from sqlalchemy import make_url

    url = make_url(crm.url(login)).set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def refused(conn, statement: str, *params) -> str:  # noqa: ANN001
    """The server's refusal of `statement` (insufficient_privilege, SQLSTATE 42501)."""
    import psycopg

    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
        conn.execute(statement, params or None)
    return str(caught.value)


def groups(crm: Crm, login: str) -> set[str]:
    """The crm group roles of this database that `login` is directly a member of."""
    prefix = crm.pg_database + "_"
    rows = crm.rows(
        "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = ?",
        login,
    )
    return {name[len(prefix) :] for (name,) in rows if name.startswith(prefix)}


@pytest.fixture
def company(team: Crm) -> Crm:
    """boss (admin), ed (editor), vi (viewer), pat (editor in Expo only); lead 1 in Expo,
    lead 2 in Webinar, each with a call, and an email change in the audit log."""
    team.ok("campaign", "add", "Expo")
    team.ok("campaign", "add", "Webinar")
    team.ok("user", "add", "pat", "--role", "editor", "--campaign", "Expo")
    team.add_lead(campaign="Expo")
    team.add_lead(
        first="Grace", last="Hopper", company="Navy", email="g@navy.example", campaign="Webinar"
    )
    for lead in ("1", "2"):
        team.ok("log-call", lead, "--outcome", "connected", "--notes", "wants SSO")
    team.ok("lead", "edit", "1", "--email", "ada@analytical.example")
    return team


def test_a_viewer_can_read_and_nothing_else(company: Crm) -> None:
    vi = connect(company, "vi")
    assert vi.execute("SELECT count(*) FROM lead").fetchone() == (2,)
    events = company.count("audit_event")
    for statement in (
        "UPDATE \"user\" SET role = 'admin' WHERE name = 'vi'",
        "TRUNCATE audit_event",
        "DELETE FROM audit_event",
        "UPDATE audit_event SET actor = 'vi'",
        "SELECT key FROM personal_key",
        "SELECT new FROM audit_personal",
        "INSERT INTO policy_version (content, source, installed_at, installed_by) "
        "VALUES ('', 'x', now(), 'vi')",
        "UPDATE lead SET title = 'CEO'",
        "DELETE FROM obligation",
    ):
        assert "permission denied" in refused(vi, statement), statement
    assert company.rows("SELECT name, role FROM \"user\" WHERE name = 'vi'") == [("vi", "viewer")]
    assert company.count("audit_event") == events
    assert company("audit", "verify").code == 0


def test_a_login_that_is_no_crm_user_reads_nothing(company: Crm) -> None:
    company.pg.ensure_role("mallory")
    mallory = connect(company, "mallory")
    for table in ("lead", '"user"', "audit_event", "activity"):
        refused(mallory, f"SELECT count(*) FROM {table}")


def test_an_editor_cannot_change_users_roles_policy_or_the_audit_log(company: Crm) -> None:
    ed = connect(company, "ed")
    events = company.count("audit_event")
    expo = company.rows("SELECT id FROM campaign WHERE name = 'Expo'")[0][0]
    ed_id = company.rows("SELECT id FROM \"user\" WHERE name = 'ed'")[0][0]
    for statement, params in (
        ("UPDATE \"user\" SET role = 'admin' WHERE name = 'ed'", ()),
        (
            'INSERT INTO "user" (name, role, territories, skills, active, created_at) '
            "VALUES ('eve', 'admin', '[]', '[]', true, now())",
            (),
        ),
        ("INSERT INTO user_campaign (user_id, campaign_id) VALUES (%s, %s)", (ed_id, expo)),
        ("DELETE FROM user_campaign", ()),
        ("INSERT INTO campaign (name, created_at) VALUES ('Mine', now())", ()),
        (
            "INSERT INTO policy_version (content, source, installed_at, installed_by) "
            "VALUES ('', 'lax.toml', now(), 'ed')",
            (),
        ),
        ("UPDATE policy_version SET content = ''", ()),
        ("UPDATE audit_event SET actor = 'boss'", ()),
        ("DELETE FROM audit_event", ()),
        ("TRUNCATE audit_event", ()),
        ("SELECT new FROM audit_personal", ()),
        ("DELETE FROM audit_personal", ()),
        ("DELETE FROM personal_key", ()),
    ):
        assert "permission denied" in refused(ed, statement, *params), statement
    assert company.rows("SELECT role FROM \"user\" WHERE name = 'ed'") == [("editor",)]
    assert company.count("audit_event") == events
    assert company("audit", "verify").code == 0
    # what an editor is for still works, through crm
    company.ok("lead", "edit", "2", "--title", "Admiral", user="ed")


def test_not_even_the_owner_changes_or_empties_the_audit_log(company: Crm) -> None:
    owner = connect(company, "boss")
    owner.execute('SET ROLE "crm_owner"')  # migrations' role: it owns the tables
    events = company.count("audit_event")
    for statement in (
        "UPDATE audit_event SET actor = 'x' WHERE id = 1",
        "DELETE FROM audit_event WHERE id = 1",
        "TRUNCATE audit_event CASCADE",
    ):
        assert "audit_event is append-only" in refused(owner, statement), statement
    assert company.count("audit_event") == events
    assert company("audit", "verify").code == 0


def test_a_campaign_scoped_editor_reaches_only_its_campaigns_rows(company: Crm) -> None:
    pat = connect(company, "pat")
    webinar = company.rows("SELECT id FROM campaign WHERE name = 'Webinar'")[0][0]
    assert pat.execute("SELECT id FROM lead ORDER BY id").fetchall() == [(1,)]
    assert pat.execute("SELECT DISTINCT lead_id FROM activity").fetchall() == [(1,)]
    assert pat.execute("SELECT DISTINCT lead_id FROM stage_change").fetchall() == [(1,)]
    leads = "SELECT DISTINCT record_id FROM obligation WHERE record_type = 'lead'"
    assert pat.execute(leads).fetchall() == [(1,)]
    assert {r[0] for r in connect(company, "ed").execute("SELECT id FROM lead")} == {1, 2}
    # another campaign's lead is out of reach: an UPDATE finds nothing to change
    assert pat.execute("UPDATE lead SET title = 'Admiral' WHERE id = 2").rowcount == 0
    assert company.rows("SELECT title FROM lead WHERE id = 2") == [(None,)]
    # and nothing moves or is added into another campaign
    refused(pat, "UPDATE lead SET campaign_id = %s WHERE id = 1", webinar)
    refused(
        pat,
        "INSERT INTO lead SELECT (json_populate_record(NULL::lead, (to_jsonb(l) || "
        "jsonb_build_object('id', 999, 'campaign_id', %s::int))::json)).* FROM lead l "
        "WHERE l.id = 1",
        webinar,
    )
    refused(
        pat,
        "INSERT INTO stage_change (lead_id, from_stage, to_stage, at, actor) "
        "VALUES (2, 'new', 'won', now(), 'pat')",
    )
    assert company.rows("SELECT id, campaign_id FROM lead ORDER BY id")[1] == (2, webinar)
    assert company("audit", "verify").code == 0
    # crm itself works as before for pat: its own campaign only
    assert company.ok("lead", "list", "--format", "ids", user="pat").out.split() == ["1"]
    company.ok("log-call", "1", "--outcome", "connected", user="pat")


def test_user_commands_keep_the_logins_in_the_right_groups(company: Crm) -> None:
    import uuid

    assert groups(company, "boss") == {"admin"}
    assert groups(company, "ed") == {"editor", "all_campaigns"}
    assert groups(company, "vi") == {"viewer", "all_campaigns"}
    assert groups(company, "pat") == {"editor"}  # scoped: no all_campaigns
    newcomer = f"new_{uuid.uuid4().hex[:10]}"  # a login the server does not have yet
    try:
        company.ok("user", "add", newcomer, "--role", "viewer")
        assert company.rows(
            "SELECT rolcanlogin, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = ?",
            newcomer,
        ) == [(1, 0, 0)]
        assert groups(company, newcomer) == {"viewer", "all_campaigns"}
        company.ok("user", "set-role", newcomer, "editor")
        assert groups(company, newcomer) == {"editor", "all_campaigns"}
        company.ok("user", "scope", newcomer, "--campaign", "Expo")
        assert groups(company, newcomer) == {"editor"}
        company.ok("user", "scope", newcomer, "--clear")
        assert groups(company, newcomer) == {"editor", "all_campaigns"}
        company.ok("user", "set-role", newcomer, "admin")
        assert groups(company, newcomer) == {"admin"}
        # a second admin manages users too (grants through the admin group) ...
        company.ok("user", "set-role", "vi", "editor", user=newcomer)
        assert groups(company, "vi") == {"editor", "all_campaigns"}
        # ... but creating a login takes CREATEROLE, which only the DBA gives
        run = company("user", "add", f"{newcomer}_x", "--role", "viewer", user=newcomer)
        assert run.code == 4 and "CREATEROLE" in run.err and len(run.err.splitlines()) == 1
        assert company.rows('SELECT count(*) FROM "user" WHERE name = ?', f"{newcomer}_x") == [(0,)]
        company.ok("user", "set-role", newcomer, "viewer")
        assert groups(company, newcomer) == {"viewer", "all_campaigns"}
    finally:
        company.pg.drop_roles(newcomer, f"{newcomer}_x")


def test_a_viewer_sees_personal_history_sealed_and_verify_still_runs(company: Crm) -> None:
    def email_change(user: str) -> list:
        lead = company.ok("lead", "show", "1", "--format", "json", user=user).json()
        return [e["changes"]["email"] for e in lead["history"] if "email" in e["changes"]][-1]

    assert email_change("boss") == ["ada@example.com", "ada@analytical.example"]
    assert email_change("vi") == ["(sealed)", "(sealed)"]
    assert email_change("ed") == ["(sealed)", "(sealed)"]
    assert company.ok("history", "lead:1", user="vi").code == 0
    assert company.ok("audit", "verify", user="vi").code == 0
    assert company.ok("lead", "show", "1", user="vi").code == 0


def test_grants_converge_on_init_and_after_every_migration(company: Crm) -> None:
    viewer = f'"{company.pg_database}_viewer"'
    company.execute(f"REVOKE SELECT ON lead FROM {viewer}")
    refused(connect(company, "vi"), "SELECT count(*) FROM lead")
    company.ok("init")  # idempotent: puts the grant back, changes nothing else
    assert connect(company, "vi").execute("SELECT count(*) FROM lead").fetchone() == (2,)
    # an older schema: the migration that brings it up to date also grants what it adds
    downgrade_one_step(company)
    company.execute(f"REVOKE SELECT ON lead FROM {viewer}")  # as if the migration added it
    run = company("lead", "list", user="vi")  # a viewer may not migrate the schema
    assert run.code == 4 and "crm_owner" in run.err and len(run.err.splitlines()) == 1
    company.ok("lead", "list")  # the admin, who may act as the owner, migrates it
    assert connect(company, "vi").execute("SELECT count(*) FROM lead").fetchone() == (2,)
    assert company.ok("lead", "list", "--format", "ids", user="vi").out.split() == ["1", "2"]


def downgrade_one_step(crm: Crm) -> None:
    """Take the database back one migration, as the server's administrator."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from crmcli.store.engine import MIGRATIONS_DIR

    engine = create_engine(crm.pg.url.set(database=crm.pg_database))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "-1")
    engine.dispose()


@pytest.mark.parametrize("kind", ["jsonl", "pg_dump"])
def test_a_restore_into_postgresql_ends_with_the_same_grants(
    company: Crm, fresh: Crm, tmp_path, kind: str
) -> None:
    file = tmp_path / f"crm.{kind}"
    company.ok("db", "backup", str(file), "--kind", kind)
    fresh.ok("db", "restore", str(file))
    assert groups(fresh, "vi") == {"viewer", "all_campaigns"}
    assert groups(fresh, "pat") == {"editor"}
    assert groups(fresh, "boss") == {"admin"}
    refused(connect(fresh, "vi"), "UPDATE \"user\" SET role = 'admin'")
    refused(connect(fresh, "ed"), "DELETE FROM audit_event")
    assert connect(fresh, "pat").execute("SELECT id FROM lead").fetchall() == [(1,)]
    assert fresh("audit", "verify").code == 0


def test_a_restored_inactive_user_gets_no_group(company: Crm, fresh: Crm, tmp_path) -> None:
    import json

    file = tmp_path / "crm.jsonl"
    company.ok("db", "backup", str(file), "--kind", "jsonl")
    lines = [json.loads(line) for line in file.read_text().splitlines()]
    for item in lines:
        if item.get("table") == "user" and item["row"]["name"] == "vi":
            item["row"]["active"] = False
    file.write_text("".join(json.dumps(item) + "\n" for item in lines))
    fresh.ok("db", "restore", str(file))
    assert groups(fresh, "vi") == set()
    refused(connect(fresh, "vi"), "SELECT count(*) FROM lead")


def test_copy_from_sqlite_creates_every_users_login(fresh: Crm, tmp_path) -> None:
    source = Crm(tmp_path / "team.db")
    source.ok("init", "--example")
    source.ok("user", "add", "vi", "--role", "viewer")
    source.ok("db", "copy", "--to", fresh.url())
    names = [name for (name,) in fresh.rows('SELECT name FROM "user" ORDER BY name')]
    assert "maria" in names
    for name in names:
        role = fresh.rows('SELECT role FROM "user" WHERE name = ?', name)[0][0]
        assert role in groups(fresh, name), name
    refused(connect(fresh, "vi"), "DELETE FROM lead")
