"""The command surface: help everywhere, fast --help, the installed entry point, errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from conftest import NOW, Crm, Runner
from crmcli.cli import app


def _commands(group: typer.Typer, prefix: tuple[str, ...] = ()):
    click_group = typer.main.get_command(group)
    stack = [(prefix, click_group)]
    while stack:
        path, command = stack.pop()
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                stack.append(((*path, name), sub))
        else:
            yield path, command


ALL_COMMANDS = sorted(path for path, _ in _commands(app))


def test_the_surface_has_the_foundation_commands() -> None:
    assert {
        ("init",),
        ("lead", "add"),
        ("lead", "list"),
        ("lead", "show"),
        ("lead", "edit"),
        ("user", "add"),
        ("user", "list"),
        ("user", "set-role"),
        ("policy", "init"),
        ("policy", "show"),
        ("policy", "check"),
        ("policy", "import"),
        ("campaign", "add"),
        ("campaign", "list"),
    } <= set(ALL_COMMANDS)


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    command = dict(_commands(app))[path]
    assert command.help and "Example: crm " in command.help, path
    run = Runner().invoke(app, [*path, "--help"])  # help needs no database
    assert run.exit_code == 0
    assert "Usage: crm" in run.stdout


# what no help needs: the database layer, the libraries of single commands, the renderers
HEAVY = (
    "sqlalchemy",
    "sqlmodel",
    "pydantic",
    "rapidfuzz",
    "phonenumbers",
    "email_validator",
    "alembic",
    "holidays",
    "jinja2",
    "babel",
    "rich",
    "icalendar",
    "crmcli.services",
    "crmcli.store",
)


@pytest.mark.parametrize(
    ("argv", "allowed"),
    [
        (["--help"], ()),
        # past the root, Typer coerces the global options through pydantic TypeAdapters
        (["lead", "--help"], ("pydantic",)),
        (["report", "pipeline", "-h"], ("pydantic",)),
    ],
)
def test_help_does_not_import_the_database_layer(argv: list[str], allowed: tuple[str]) -> None:
    heavy = tuple(m for m in HEAVY if m not in allowed)
    code = (
        "import sys\n"
        "from crmcli.cli import main\n"
        f"rc = main({argv!r})\n"
        f"heavy = [m for m in {heavy!r} if m in sys.modules]\n"
        "print(rc, heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "0 []"


def test_crm_help_builds_no_command_parameters_and_reads_the_same() -> None:
    """crm's own help knows the commands by name and help text only (start-up time); what
    it prints is the full app's help, word for word."""
    from crmcli.cli import listed

    small = typer.main.get_command(listed(app))
    assert sorted(small.commands) == sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    for command in small.commands.values():  # type: ignore[attr-defined]
        # no command's parameters (a group keeps its own options, not its commands)
        assert not getattr(command, "commands", None)
        assert not command.params or hasattr(command, "commands")
    for width in (80, 120):
        whole = CliRunner().invoke(app, ["--help"], prog_name="crm", terminal_width=width)
        fast = CliRunner().invoke(listed(app), ["--help"], prog_name="crm", terminal_width=width)
        assert (fast.exit_code, fast.stdout) == (0, whole.stdout)


def test_installed_entry_point_runs(tmp_path) -> None:
    crm = shutil.which("crm")
    assert crm, "the crm script is installed with the package"
    env = {**os.environ, "CRM_DB": str(tmp_path / "e.db"), "CRM_USER": "boss", "CRM_NOW": NOW}
    subprocess.run([crm, "init", "--example"], env=env, check=True, capture_output=True)
    listed = subprocess.run([crm, "lead", "list"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0
    assert "Thompson" in listed.stdout and "\x1b[" not in listed.stdout
    missing = subprocess.run([crm, "lead", "show", "999"], env=env, capture_output=True, text=True)
    assert missing.returncode == 3
    assert missing.stderr == "crm: lead 999 not found; list leads with: crm lead list\n"
    module = subprocess.run(
        [sys.executable, "-m", "crmcli", "lead", "list", "--format", "ids"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert module.returncode == 0 and module.stdout.split()[0] == "1"


def test_usage_errors_exit_2(crm: Crm) -> None:
    run = crm("lead", "add", "--employees", "many")
    assert run.code == 2
    assert "--employees" in run.err
    assert crm("lead", "frobnicate").code == 2
    assert crm("--format", "xml", "lead", "list").code == 2


def test_bad_clock_is_bad_input(crm: Crm) -> None:
    run = crm("lead", "list", CRM_NOW="not a time")
    assert run.code == 2 and run.err.startswith("crm: CRM_NOW:")


def test_no_arguments_without_a_database_prints_help_and_the_way_in(fresh: Crm) -> None:
    run = fresh()
    assert run.code == 0
    assert "Usage: crm" in run.out and "crm init" in run.err
    assert not fresh.db.exists()


def test_no_arguments_shows_my_day(team: Crm) -> None:
    team.add_lead(owner="ed")  # first response due Monday 09:30, follow-up Monday 09:00
    team.ok("next-step", "1", "call back", "--due", "2026-03-09 11:00", user="ed")
    monday = {"CRM_NOW": "2026-03-09T13:15:00Z"}  # Monday 09:15 EDT
    day = team.ok("--format", "json", user="ed", **monday).json()
    assert [r["rule"] for r in day["overdue"]] == ["lead.follow_up"]
    assert [r["rule"] for r in day["due_today"]] == ["lead.first_response", "task.due"]
    assert [a["subject"] for a in day["agenda"]] == ["call back"]
    table = team.ok(user="ed", **monday)
    assert "my day, ed: 1 overdue, 2 due today, 1 on the agenda" in table.err
    assert "overdue" in table.out and "call back" in table.out
    assert team.ok(user="vi", **monday).out == ""  # nothing for the viewer
    assert team(user="stranger").code == 4


# what `crm lead list` never loads: other commands' modules and libraries, the tables it does
# not read, the template sandbox of automated messages (issue 20: start-up time)
LEAD_LIST_NEEDS_NOT = (
    "crmcli.store.models.lifecycle",
    "rapidfuzz",
    "phonenumbers",
    "email_validator",
    "alembic",
    "holidays",
    "dateutil",
    "jinja2",
    "babel",
    "pycountry",
    "rich",
    "crmcli.rules.messaging",
    "crmcli.rules.sandbox",
    "crmcli.rules.analytics",
    "crmcli.commands.lead_data",
    "crmcli.commands.report",
    "crmcli.commands.myday",
    "crmcli.commands.scoring",
)


def test_lead_list_loads_only_what_it_needs(crm: Crm) -> None:
    crm.add_lead()
    code = (
        "import sys\n"
        "from crmcli.cli import main\n"
        "rc = main(['lead', 'list', '--format', 'ids'])\n"
        f"loaded = [m for m in {LEAD_LIST_NEEDS_NOT!r} if m in sys.modules]\n"
        "print(rc, loaded)\n"
    )
    env = {**os.environ, "CRM_DB": crm.url(), "CRM_USER": "boss", "CRM_NOW": NOW}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "0 []"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["lead", "list", "--format", "json"], ["lead", "list"]),
        (["--db", "x.db", "--as", "ed", "lead", "add", "--first", "A"], ["lead", "add"]),
        (["--db=x.db", "score", "1", "--budget", "3"], ["score", "1"]),
        (["--format", "json"], []),
        (["lead", "list", "--help"], ["lead", "list"]),  # a command's help: that command
        (["-h"], []),
        (["--db", "x.db", "--help", "lead"], []),  # crm's own help lists every command
    ],
)
def test_command_words(argv: list[str], words: list[str]) -> None:
    from crmcli.cli import command_words

    assert command_words(argv) == words


def test_command_app_holds_only_the_command_and_leaves_the_app_whole() -> None:
    from crmcli.cli import command_app

    small = command_app(["lead", "list"])
    assert [g.name for g in small.registered_groups] == ["lead"]
    assert [c.name for c in small.registered_groups[0].typer_instance.registered_commands] == [
        "list"
    ]
    assert command_app(["score", "1"]).registered_commands[0].name == "score"
    # a command another module adds to a group; a group alone, or an unknown command of it
    extra = command_app(["lead", "event"]).registered_groups[0].typer_instance
    assert [c.name for c in extra.registered_commands] == ["event"]
    whole = next(g for g in app.registered_groups if g.name == "lead").typer_instance
    for words in (["lead"], ["lead", "nonsense"]):
        group = command_app(words).registered_groups[0].typer_instance
        assert [c.name for c in group.registered_commands] == [
            c.name for c in whole.registered_commands
        ]
    assert command_app(["nonsense"]) is app
    assert len(app.registered_commands) > 10 and len(app.registered_groups) > 5
    assert len(whole.registered_commands) > 10 and "opt-out" in [
        c.name for c in whole.registered_commands
    ]
