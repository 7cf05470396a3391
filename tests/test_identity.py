"""Identity on SQLite is honest (issue 17, item 4): audit events record the OS login next to
the acting user; users are bound to OS logins; `--as` needs an admin's login (or the stored
policy's `[identity] allow_as`); a database from before bindings keeps working, with a
warning, until an admin binds themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ADMIN, NOW, Crm
from crmcli.context import os_login

LOGIN = os_login()  # who runs the tests: `crm init` bound the admin to it


@pytest.fixture
def login_as(monkeypatch: pytest.MonkeyPatch):
    """Run the next commands as if another OS account had started crm."""

    def switch(login: str) -> None:
        monkeypatch.setattr("crmcli.context.os_login", lambda: login)

    return switch


def login_of(crm: Crm, actor: str) -> str:
    """The login an event of `actor` records: the OS login, or on PostgreSQL the database
    login, which is the user's name there."""
    return actor if crm.pg is not None else LOGIN


def users(crm: Crm) -> dict[str, dict]:
    return {u["name"]: u for u in crm.ok("user", "list", "--format", "json").json()}


def test_every_event_records_the_login_next_to_the_user(team: Crm) -> None:
    team.add_lead()
    team.ok("log-call", "1", "--outcome", "connected", user="ed")
    # `audit log` lists the record events; seal events are shown with --seals
    rows = team.rows("SELECT actor, login FROM audit_event WHERE action <> 'seal' ORDER BY id")
    assert rows and all(login == login_of(team, actor) for actor, login in rows)
    assert {actor for actor, _login in rows} >= {ADMIN, "ed"}
    log = team.ok("audit", "log", "--format", "json").json()
    assert [e["login"] for e in log] == [login for _actor, login in rows]
    assert team("audit", "verify").code == 0
    # the login is part of what each event hashes: changing it is tampering
    team.execute("UPDATE audit_event SET login = 'someone-else' WHERE actor = 'ed'")
    run = team("audit", "verify")
    assert run.code == 1 and "changed after it was written" in run.out + run.err


def test_a_bulk_import_records_the_login_and_verifies(team: Crm, tmp_path: Path) -> None:
    rows = "".join(f"P{i},Q{i},p{i}@example.com,web\n" for i in range(30))
    leads = tmp_path / "leads.csv"
    leads.write_text("first_name,last_name,email,source\n" + rows)
    team.ok("lead", "import", str(leads), user="ed")
    logins = team.rows("SELECT DISTINCT login FROM audit_event WHERE actor = 'ed'")
    assert logins == [(login_of(team, "ed"),)]
    assert team("audit", "verify").code == 0


@pytest.mark.sqlite_only  # on PostgreSQL the database login is the identity
def test_init_binds_the_first_admin_to_the_login_of_whoever_ran_it(fresh: Crm) -> None:
    run = fresh.ok("init", user="chief")
    assert "registered chief as admin" in run.err
    listed = fresh.ok("user", "list", "--format", "json", user="chief").json()
    assert [(u["name"], u["login"]) for u in listed] == [("chief", LOGIN)]
    assert fresh.rows("SELECT login FROM user WHERE name = 'chief'") == [(LOGIN,)]
    created = fresh.rows("SELECT changes FROM audit_event WHERE record_type = 'user'")
    assert f'"login": [null, "{LOGIN}"]' in created[0][0]


def test_example_team_is_not_bound(fresh: Crm) -> None:
    fresh.ok("init", "--example")
    bound = {name: u["login"] for name, u in users(fresh).items()}
    assert bound.pop(ADMIN) == (LOGIN if fresh.pg is None else None)  # PG: the login is the user
    assert set(bound.values()) == {None}


def test_user_add_with_a_login_bind_and_clear(team: Crm) -> None:
    team.ok("user", "add", "maria", "--role", "editor", "--login", "mlopez")
    assert users(team)["maria"]["login"] == "mlopez"
    assert "mlopez" in team.ok("user", "list").out
    taken = team("user", "add", "mara", "--login", "mlopez")
    assert taken.code == 2 and "--login" in taken.err and "maria" in taken.err
    assert "mara" not in users(team)
    team.ok("user", "bind", "ed", "--login", "ed.smith")
    assert users(team)["ed"]["login"] == "ed.smith"
    again = team("user", "bind", "ed", "--login", "mlopez")
    assert again.code == 2 and len(again.err.splitlines()) == 1
    team.ok("user", "bind", "maria", "--clear")
    assert users(team)["maria"]["login"] is None
    team.ok("user", "bind", "ed", "--login", "mlopez")  # free again
    assert team("user", "bind", "ed").code == 2  # neither --login nor --clear
    assert team("user", "bind", "ed", "--login", "x", "--clear").code == 2
    assert team("user", "bind", "ghost", "--login", "g").code == 3
    assert team("user", "bind", "vi", "--login", "bad login").code == 2
    assert team("user", "bind", "vi", "--login", "v", user="ed").code == 4
    changes = team.rows(
        "SELECT changes FROM audit_event WHERE record_type = 'user' AND action = 'update' "
        "ORDER BY id"
    )
    assert '"login": ["ed.smith", "mlopez"]' in changes[-1][0]


@pytest.mark.sqlite_only
def test_binding_never_leaves_no_admin_bound(team: Crm) -> None:
    team.ok("user", "bind", "ed", "--login", "ed.smith")
    run = team("user", "bind", ADMIN, "--clear")
    assert run.code == 5 and "admin" in run.err
    assert users(team)[ADMIN]["login"] == LOGIN


def test_a_user_named_me_is_refused(team: Crm) -> None:
    for name in ("me", "Me"):
        run = team("user", "add", name)
        assert run.code == 2 and "me" in run.err and len(run.err.splitlines()) == 1
    assert "me" not in users(team)


@pytest.mark.sqlite_only
def test_as_another_user_needs_an_admin_login(team: Crm, login_as) -> None:
    team.ok("user", "bind", "ed", "--login", "ed.smith")
    team.ok("user", "bind", "vi", "--login", "vi.jones")
    login_as("ed.smith")
    # no --as and no CRM_USER: ed, through the binding
    team.ok("lead", "add", "--first", "A", "--email", "a@example.com", "--source", "web", user="")
    assert team.rows("SELECT actor, login FROM audit_event ORDER BY id DESC LIMIT 1") == [
        ("ed", "ed.smith")
    ]
    # naming oneself is fine
    team.ok("lead", "list", user="ed")
    # anyone else is refused, reads too, with the reason and the fix
    before = team.snapshot()
    for args in (("lead", "list"), ("lead", "edit", "1", "--title", "X")):
        run = team(*args, user=ADMIN)
        assert run.code == 4, args
        [line] = run.err.splitlines()
        assert "ed.smith" in line and "ed" in line and "allow_as" in line
    run = team("--as", "vi", "lead", "list")
    assert run.code == 4
    assert team.snapshot() == before
    # the admin's login may act as anyone
    login_as(LOGIN)
    team.ok("lead", "list", user="vi")
    team.ok("lead", "edit", "1", "--title", "Y", user="ed")


@pytest.mark.sqlite_only
def test_an_unbound_login_is_nobody(team: Crm, login_as) -> None:
    login_as("stranger")
    run = team("lead", "list", user="")
    assert run.code == 4 and "stranger" in run.err and "crm user bind" in run.err
    run = team("lead", "list", user="ed")
    assert run.code == 4 and "stranger" in run.err


@pytest.mark.sqlite_only
def test_a_user_named_like_the_login_and_unbound_counts_as_bound(team: Crm, login_as) -> None:
    team.ok("user", "add", "kim", "--role", "editor")
    login_as("kim")
    team.ok("lead", "list", user="")
    assert team("lead", "list", user="ed").code == 4
    # an explicit binding of the login to someone else wins
    login_as(LOGIN)
    team.ok("user", "bind", "vi", "--login", "kim")
    login_as("kim")
    team.ok("lead", "list", user="vi")
    assert team("lead", "list", user="kim").code == 4


@pytest.mark.sqlite_only
def test_the_stored_policy_may_allow_as(team: Crm, tmp_path: Path, login_as) -> None:
    team.ok("user", "bind", "ed", "--login", "ed.smith")
    allow = tmp_path / "allow.toml"
    allow.write_text("[identity]\nallow_as = true\n")
    login_as("ed.smith")
    # a file given with --policy does not count: only the stored policy decides
    run = team("--policy", str(allow), "lead", "list", user="vi")
    assert run.code == 4
    login_as(LOGIN)
    team.ok("policy", "import", str(allow))
    login_as("ed.smith")
    team.ok("lead", "list", user="vi")
    shown = team.ok("policy", "show", "--explain", "--format", "json", user="vi").json()
    assert {"key": "identity.allow_as", "value": True} in [
        {k: r[k] for k in ("key", "value")} for r in shown
    ]


def test_allow_as_must_be_true_or_false(crm: Crm, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[identity]\nallow_as = "yes"\n')
    run = crm("policy", "check", str(bad))
    assert run.code == 2 and f"{bad}:2: identity.allow_as" in run.err


# --- a database from before bindings (schema 0014) ----------------------------------------


def old_database(path: Path) -> None:
    """A database at schema 0014 with an admin (boss), an editor (ed) and one audit event,
    hashed as crmcli hashed events then (no login)."""
    from datetime import UTC, datetime

    from crmcli.services import audit
    from crmcli.store import engine as store

    engine = store.make_engine(f"sqlite:///{path}", create=True)
    store.upgrade(engine, "0014")
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    changes = {"name": [None, "ed"], "role": [None, "editor"]}
    digest = audit.content_hash(at, "boss", "crm user add", "user", 2, "create", changes,
                                audit.GENESIS)  # fmt: skip
    with engine.begin() as conn:
        for name, role in (("boss", "admin"), ("ed", "editor")):
            conn.exec_driver_sql(
                "INSERT INTO user (name, role, territories, skills, active, created_at) "
                "VALUES (?, ?, '[]', '[]', 1, '2026-03-01 12:00:00')",
                (name, role),
            )
        conn.exec_driver_sql(
            "INSERT INTO audit_event (at, actor, command, record_type, record_id, action, "
            "changes, prev_hash, hash) VALUES ('2026-03-01 12:00:00.000000', 'boss', "
            "'crm user add', 'user', 2, 'create', ?, ?, ?)",
            ('{"name": [null, "ed"], "role": [null, "editor"]}', audit.GENESIS, digest),
        )
    engine.dispose()


@pytest.mark.sqlite_only
def test_a_database_from_before_bindings_warns_until_an_admin_binds(
    tmp_path: Path, login_as
) -> None:
    db = tmp_path / "old.db"
    old_database(db)
    crm = Crm(db)
    assert crm("audit", "verify").code == 0  # migrated; the old event still verifies
    assert crm.rows("SELECT login FROM user") == [(None,), (None,)]
    # nobody is bound: --as works as before, and every write says how to fix it
    login_as("anyone")
    run = crm("lead", "add", "--first", "A", "--email", "a@example.com", "--source", "web",
              user="ed")  # fmt: skip
    assert run.code == 0, run.err
    [warning] = run.err.splitlines()
    assert "warning" in warning and "crm user bind" in warning and "--login anyone" in warning
    assert crm.rows("SELECT actor, login FROM audit_event ORDER BY id DESC LIMIT 1") == [
        ("ed", "anyone")
    ]
    assert crm.ok("lead", "list", user="ed").err == ""  # reads are not nagged
    doctor = crm("doctor", "--format", "json", user="ed")
    problems = doctor.json()["problems"]
    assert any("identity" in p and "crm user bind" in p for p in problems)
    # the admin binds themselves: from then on --as is checked, and the warning is gone
    login_as("chief-login")
    crm.ok("user", "bind", "boss", "--login", "chief-login", user="boss")
    run = crm.ok("lead", "edit", "1", "--title", "CTO", user="ed")
    assert "warning" not in run.err
    login_as("anyone")
    assert crm("lead", "list", user="ed").code == 4
    login_as("chief-login")
    assert crm("audit", "verify").code == 0
    doctor = crm("doctor", "--format", "json", CRM_NOW=NOW)
    assert not any("identity" in p for p in doctor.json()["problems"])
