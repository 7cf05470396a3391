"""The conventions of a mature CLI (issue 20 item 6): --version, shell completion with the
values of the database, help in users' words, -f/--format as the output format everywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import NOW, Crm, Runner, new_crm
from crmcli.cli import app
from test_cli_surface import ALL_COMMANDS

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory, pg_server) -> Crm:  # noqa: ANN001
    for cli in new_crm(tmp_path_factory.mktemp("conventions") / "crm.db", pg_server):
        cli.ok("init", "--example")
        yield cli


def test_version_needs_no_database(fresh: Crm) -> None:
    from importlib.metadata import version

    run = fresh.ok("--version")
    assert run.out == f"crm {version('crmcli')}\n"
    assert not fresh.db.exists()


def test_help_points_at_bare_crm_for_my_day() -> None:
    out = Runner().invoke(app, ["--help"]).stdout
    assert "Run crm with no command to see your day" in out
    assert "--version" in out and "-f, --format" in out


@pytest.mark.parametrize("path", [(), *ALL_COMMANDS], ids=lambda p: " ".join(p) or "crm")
def test_help_is_in_users_words(path: tuple[str, ...]) -> None:
    out = Runner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"}).stdout
    for internal in ("seed 0", "SPEC", "§", "<int>", "<str>", "<float>", "<path>", "list["):
        assert internal not in out, (path, internal)


# --- completion -------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_script_for_each_shell(crm: Crm, shell: str) -> None:
    run = crm.ok("completion", shell)
    assert f"_CRM_COMPLETE=complete_{shell}" in run.out
    assert run.err == ""


def test_completion_of_an_unknown_shell_is_bad_input(crm: Crm) -> None:
    run = crm("completion", "tcsh")
    assert run.code == 2
    assert run.err == "crm: SHELL: 'tcsh' is not a shell crm completes; use bash, zsh, fish\n"


def complete(crm: Crm, line: str, shell: str = "bash", **env: str) -> list[str]:
    """What the shell gets back for `line` (the word being typed last), through the
    installed entry point as a shell calls it."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CRM_")},
        "CRM_DB": crm.url(),
        "CRM_USER": "boss",
        "CRM_NOW": NOW,
        "_CRM_COMPLETE": f"complete_{shell}",
        **env,
    }
    words = line.split(" ")
    if shell == "bash":
        environment |= {"COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    else:
        environment |= {"_TYPER_COMPLETE_ARGS": line, "_TYPER_COMPLETE_FISH_ACTION": "get-args"}
    done = subprocess.run(
        [sys.executable, "-m", "crmcli"], env=environment, capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_completion_offers_commands_and_options(example: Crm) -> None:
    assert complete(example, "crm lea") == ["lead"]
    assert "list" in complete(example, "crm lead ")
    assert "--owner" in complete(example, "crm lead list --")


def test_completion_offers_stage_keys_user_names_rule_ids_and_lead_ids(example: Crm) -> None:
    assert complete(example, "crm advance 1 qual") == ["qualification"]
    assert "needs_analysis" in complete(example, "crm lead list --stage ")
    assert complete(example, "crm lead list --owner ma") == ["maria"]
    assert complete(example, "crm --as ma") == ["maria"]
    assert complete(example, "crm report overdue --rule lead.f") == [
        "lead.first_response",
        "lead.follow_up",
    ]
    leads = complete(example, "crm log-call ")
    assert "1" in leads and all(item.isdigit() for item in leads)


def test_completion_shows_what_each_value_is_in_zsh_and_fish(example: Crm) -> None:
    zsh = complete(example, "crm advance 1 needs", shell="zsh")
    assert zsh == ['_arguments \'*: :(("needs_analysis":"Needs Analysis"))\'']
    fish = complete(example, "crm log-call ", shell="fish")
    assert "1\tAva Thompson (Northwind Traders)" in fish


def test_completion_without_a_database_offers_nothing_and_creates_nothing(crm: Crm) -> None:
    missing = crm.db.parent / "nowhere.db"
    assert complete(crm, "crm advance 1 ", CRM_DB=str(missing)) == []
    assert not missing.exists()


def test_completion_leaves_help_fast() -> None:
    # the completion callbacks are referenced by every command; they must not load the
    # database layer until the shell asks for values
    code = (
        "import sys\n"
        "from crmcli.cli import main\n"
        "main(['completion', '--help'])\n"
        "print([m for m in ('sqlalchemy', 'sqlmodel', 'crmcli.services.completion')"
        " if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


# --- -f/--format is the output format everywhere ----------------------------------------------


def test_the_global_format_has_its_short_form_too(example: Crm) -> None:
    listed = example.ok("-f", "ids", "lead", "list")
    assert listed.out.split()[0] == "1"


def test_lead_import_takes_the_output_format_and_an_input_format(crm: Crm, tmp_path) -> None:
    renamed = tmp_path / "leads.txt"  # a name that says nothing about the format
    renamed.write_bytes((DATA / "leads.jsonl").read_bytes())
    run = crm("lead", "import", str(renamed), "--input-format", "jsonl", "-f", "json")
    summary = run.json()
    assert summary["format"] == "jsonl" and summary["imported"] > 0
    assert "--input-format" not in run.err  # no deprecation note


def test_lead_import_still_reads_the_old_format_spelling_with_a_warning(crm: Crm) -> None:
    run = crm("lead", "import", str(DATA / "leads.jsonl"), "-f", "jsonl")
    assert run.code == 0
    assert run.err.startswith(
        "warning: --format jsonl names the file's format only until the next release; "
        "write --input-format jsonl (-f/--format is the output format everywhere)\n"
    )
    assert "imported" in run.out  # the output: the default table


def test_lead_import_refuses_an_unknown_input_format(crm: Crm) -> None:
    before = crm.snapshot()
    run = crm("lead", "import", str(DATA / "leads.jsonl"), "--input-format", "xml")
    assert run.code == 2
    assert run.err == "crm: --input-format: 'xml' is not csv or jsonl\n"
    assert crm.snapshot() == before


def test_the_short_global_format_is_skipped_when_finding_the_command() -> None:
    from crmcli.cli import command_words

    assert command_words(["-f", "json", "lead", "list"]) == ["lead", "list"]
