"""Users, roles and campaigns; roles enforced on every command."""

from __future__ import annotations

import pytest

from conftest import Crm


def test_user_add_and_list(crm: Crm) -> None:
    crm.ok("campaign", "add", "Expo")
    run = crm.ok(
        "user",
        "add",
        "maria",
        "--role",
        "editor",
        "--territory",
        "us-ny",
        "--territory",
        "US-NJ",
        "--skill",
        "SaaS",
        "--capacity",
        "25",
        "--campaign",
        "Expo",
    )
    assert run.out.strip().isdigit()
    users = {u["name"]: u for u in crm.ok("user", "list", "--format", "json").json()}
    maria = users["maria"]
    assert maria["role"] == "editor"
    assert maria["territories"] == ["US-NJ", "US-NY"]
    assert maria["skills"] == ["saas"]
    assert maria["capacity"] == 25
    assert maria["campaigns"] == ["Expo"]
    table = crm.ok("user", "list").out
    assert "maria" in table and "US-NJ, US-NY" in table


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["x", "--role", "boss"], 2, "--role"),
        (["x", "--territory", "New York"], 2, "--territory"),
        (["x", "--capacity", "-1"], 2, "--capacity"),
        (["bad name"], 2, "name"),
        (["boss"], 2, "exists already"),
        (["x", "--campaign", "Nope"], 3, "campaign"),
    ],
)
def test_user_add_errors(crm: Crm, args: list[str], code: int, text: str) -> None:
    users = crm.count("user")
    run = crm("user", "add", *args)
    assert run.code == code
    assert text in run.err
    assert crm.count("user") == users


def test_set_role_and_last_admin_protection(team: Crm) -> None:
    team.ok("user", "set-role", "vi", "editor")
    assert team.ok("lead", "list", user="vi").code == 0
    assert team("user", "set-role", "vi", "god").code == 2
    assert team("user", "set-role", "ghost", "viewer").code == 3
    last = team("user", "set-role", "boss", "editor")
    assert last.code == 5 and "last admin" in last.err
    team.ok("user", "set-role", "ed", "admin")
    team.ok("user", "set-role", "boss", "editor")
    assert team("user", "add", "z", user="boss").code == 4


WRITES_AS_EDITOR = [
    ("lead", "add", "--first", "A", "--email", "a@example.com", "--source", "web"),
    ("lead", "edit", "1", "--title", "X"),
]
ADMIN_ONLY = [
    ("user", "add", "someone"),
    ("user", "set-role", "ed", "admin"),
    ("campaign", "add", "New"),
    ("policy", "import", "POLICY"),
]


@pytest.mark.parametrize("args", WRITES_AS_EDITOR + ADMIN_ONLY)
def test_viewer_writes_exit_4_and_change_nothing(team: Crm, tmp_path, args) -> None:
    team.add_lead()
    policy = tmp_path / "p.toml"
    team.ok("policy", "init", str(policy))
    args = [str(policy) if a == "POLICY" else a for a in args]
    events = team.count("audit_event")
    run = team(*args, user="vi")
    assert run.code == 4
    assert "needs the" in run.err and "vi is a viewer" in run.err
    assert len(run.err.strip().splitlines()) == 1
    assert team.count("audit_event") == events


@pytest.mark.parametrize("args", ADMIN_ONLY)
def test_editor_cannot_run_admin_commands(team: Crm, tmp_path, args) -> None:
    policy = tmp_path / "p.toml"
    team.ok("policy", "init", str(policy))
    args = [str(policy) if a == "POLICY" else a for a in args]
    run = team(*args, user="ed")
    assert run.code == 4
    assert "needs the admin role" in run.err


def test_editor_writes_and_viewer_reads(team: Crm) -> None:
    assert (
        team.ok(
            "lead", "add", "--first", "A", "--email", "a@example.com", "--source", "web", user="ed"
        ).out
        == "1\n"
    )
    assert team.ok("lead", "list", "--format", "ids", user="vi").out == "1\n"
    assert team.ok("lead", "show", "1", user="vi").code == 0
    history = team.ok("lead", "show", "1", "--format", "json").json()["history"]
    assert history[0]["actor"] == "ed"


@pytest.mark.parametrize(
    "args",
    [
        ("lead", "list"),
        ("lead", "show", "1"),
        ("user", "list"),
        ("policy", "show"),
        ("campaign", "list"),
    ],
)
def test_unknown_user_exits_4_even_for_reads(crm: Crm, args) -> None:
    run = crm(*args, user="mallory")
    assert run.code == 4
    assert "unknown user 'mallory'" in run.err
    assert "crm user add mallory" in run.err


def test_global_as_flag_beats_env(team: Crm) -> None:
    run = team("--as", "vi", "user", "add", "q")
    assert run.code == 4


def test_campaigns(crm: Crm) -> None:
    assert crm.ok("campaign", "add", "  Spring   Expo ").out == "1\n"
    assert crm("campaign", "add", "Spring Expo").code == 2
    assert [c["name"] for c in crm.ok("campaign", "list", "--format", "json").json()] == [
        "Spring Expo"
    ]
