"""The `crm` command: global options, sub-apps per noun, and the one error handler.

Only Typer and light modules are imported here so `crm --help` stays fast; commands import
the database layer inside their functions.
"""

import copy
import functools
import os
import sys
from collections.abc import Iterable
from importlib import import_module
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.models import CommandInfo, TyperInfo

from crmcli.commands import completion
from crmcli.commands._shared import (
    PENDING_ROLE_CHECK,
    WIDE,
    CrmGroup,
    enforce_role,
)
from crmcli.context import FORMATS, AppContext
from crmcli.errors import BadInput

# crm itself: the global options; its commands are added by `full_app` and `command_app`
_root = typer.Typer(
    cls=CrmGroup,
    name="crm",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"crm {version('crmcli')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            from crmcli import __version__

            typer.echo(f"crm {__version__}")
        raise typer.Exit()


@_root.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="CRM_DB",
            metavar="PATH_OR_URL",
            help="Database file or SQLAlchemy URL (default: crm.db in the user data dir).",
        ),
    ] = None,
    as_user: Annotated[
        str | None,
        typer.Option(
            "--as",
            envvar="CRM_USER",
            metavar="USER",
            autocompletion=completion.user_names,
            help="Act as this user (default: the user bound to your login; another user "
            "needs an admin's login).",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            envvar="CRM_FORMAT",
            metavar="table|json|csv|ids",
            help="Output format (default: a table; json and csv for scripts, ids for xargs).",
        ),
    ] = None,
    policy_file: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            envvar="CRM_POLICY",
            metavar="FILE",
            help="Use this policy file instead of the one stored in the database.",
        ),
    ] = None,
    wide: Annotated[
        bool,
        typer.Option("--wide", help="Tables show every column, however wide the terminal is."),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            expose_value=False,
            callback=_print_version,
            help="Show crm's version and exit.",
        ),
    ] = False,
) -> None:
    """A command-line CRM that enforces your written sales policy.

    Run crm with no command to see your day: what is overdue, what is due today, and your
    agenda. Add --help after any command for its options and an example.

    Example: crm init --example && crm lead list
    """
    from crmcli import environment

    environment.check()  # every CRM_* variable, once, before the command does anything
    fmt = (output or "table").strip().lower()
    if fmt not in FORMATS:
        given = "CRM_FORMAT" if _from_environment(ctx, "output") else "--format"
        raise BadInput(f"{given}: {output!r} is not a format; use {', '.join(FORMATS)}")
    from crmcli.render.terminal import set_wide

    set_wide(wide or ctx.meta.get(WIDE, False))
    ctx.obj = AppContext(
        db=db or None,
        user=(as_user or "").strip(),  # none: the user bound to the login (services)
        format=fmt,
        policy_file=policy_file,
    )
    if ctx.invoked_subcommand is None:
        from crmcli.commands import myday

        myday.my_day(ctx)
    elif PENDING_ROLE_CHECK in ctx.meta:
        # a top-level command (`crm score`): its role is checked here, before it parses
        enforce_role(ctx, *ctx.meta.pop(PENDING_ROLE_CHECK))


def _from_environment(ctx: typer.Context, name: str) -> bool:
    from typer._click.core import ParameterSource

    return ctx.get_parameter_source(name) == ParameterSource.ENVIRONMENT


# Every command, by the module (in crmcli.commands) that defines it. Only the command a run
# names is imported (start-up time: `crm lead list` loads commands/lead.py alone); crm's own
# help and shell completion load them all (`full_app`). Help lists them in this order,
# commands before groups.
# the lead lifecycle: top-level verbs read better than nouns here (SPEC §1)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("setup", "init"),
    "score": ("scoring", "score"),
    "assign": ("assign", "assign"),
    "advance": ("pipeline", "advance"),
    "log-call": ("activity", "log_call"),
    "log-meeting": ("activity", "log_meeting"),
    "log-email": ("activity", "log_email"),
    "log-chat": ("activity", "log_chat"),
    "note": ("activity", "note"),
    "next-step": ("activity", "next_step"),
    "done": ("activity", "done"),
    "agenda": ("activity", "agenda"),
    "points": ("activity", "points"),
    "explain": ("pipeline", "explain"),
    "tick": ("tick", "tick"),
    "mcp": ("assistant", "mcp"),
    "history": ("audit", "history"),
    "doctor": ("compliance", "doctor"),
    "dashboard": ("report", "dashboard"),
    "completion": ("completion", "completion"),
}
# each group is the `app` of the module of its name
GROUPS = (
    "lead",
    "user",
    "campaign",
    "policy",
    "report",
    "imports",
    "review",
    "audit",
    "contact",
    "account",
    "case",
    "quote",
    "outbox",
    "meeting",
    "mail",
    "db",
    "inbox",
)
# the commands of a group that other modules define, after the group's own
GROUP_EXTRAS: dict[str, dict[str, tuple[str, str]]] = {
    "lead": {
        "event": ("scoring", "lead_event"),
        "import": ("lead_data", "lead_import"),
        "dupes": ("lead_data", "lead_dupes"),
        "merge": ("lead_data", "lead_merge"),
        "export": ("lead_data", "lead_export"),
        "forget": ("audit", "lead_forget"),
        "export-personal": ("audit", "lead_export_personal"),
        "opt-out": ("outbox", "lead_opt_out"),
    },
    "user": {"away": ("assign", "user_away")},
    # one `crm audit` group: commands/audit.py's (verify, anchor, log), which sample joins
    "audit": {"sample": ("compliance", "audit_sample")},
    "contact": {"forget": ("audit", "contact_forget")},
}


def _function(module: str, name: str) -> Any:
    return getattr(import_module(f"crmcli.commands.{module}"), name)


def _with(commands: Iterable[str], groups: Iterable[tuple[str, typer.Typer]]) -> typer.Typer:
    """crm holding these commands and groups only (the root app is left as it is)."""
    assembled = copy.copy(_root)
    assembled.registered_commands, assembled.registered_groups = [], []
    for name in commands:
        assembled.command(name)(_function(*COMMANDS[name]))
    for name, group in groups:
        assembled.add_typer(group, name=name)
    return assembled


def _group(name: str, command: str | None = None) -> typer.Typer:
    """The `crm NAME` group: its module's commands, then those other modules add to it; only
    `command` when it is one of them (the other modules then need not load)."""
    own = import_module(f"crmcli.commands.{name}").app
    extras = GROUP_EXTRAS.get(name, {})
    group = copy.copy(own)
    group.registered_commands = [c for c in own.registered_commands if c.name == command]
    if not group.registered_commands:
        if command in extras:
            extras = {command: extras[command]}
        else:  # no command, or an unknown one: the whole group, which says what it has
            group.registered_commands = list(own.registered_commands)
    else:
        extras = {}
    for sub, (module, function) in extras.items():
        group.command(sub)(_function(module, function))
    return group


@functools.cache
def full_app() -> typer.Typer:
    """crm with every command: for its own help, shell completion and the tests."""
    return _with(COMMANDS, [(name, _group(name)) for name in GROUPS])


def __getattr__(name: str) -> Any:
    if name == "app":  # `from crmcli.cli import app`: the whole of crm
        return full_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


GLOBAL_OPTIONS_WITH_VALUE = ("--db", "--as", "--format", "-f", "--policy")


HELP_OPTIONS = ("-h", "--help")


def command_words(argv: list[str]) -> list[str]:
    """The command path in argv (`crm --db x lead list -f json` -> ["lead", "list"]); empty
    when crm's own help is asked for (`crm --help`, `crm -h lead`), which lists every
    command. A command's help (`crm lead --help`) needs that command only."""
    words: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in HELP_OPTIONS and not words:
            return []
        elif arg in GLOBAL_OPTIONS_WITH_VALUE and not words:
            skip = True
        elif arg.startswith("-"):
            if words:
                break  # the command's own options start here
        else:
            words.append(arg)
            if len(words) == 2:
                break
    return words


def command_app(words: list[str]) -> typer.Typer:
    """crm holding only the command `words` name, its module alone imported, so Typer does
    not build the parameters of every other command on each run (start-up time); unknown
    words get the whole app, which then explains what exists."""
    head, rest = words[0], words[1:]
    if head in COMMANDS:
        return _with([head], [])
    if head in GROUPS:
        return _with([], [(head, _group(head, rest[0] if rest else None))])
    return full_app()


def listed(typer_app: typer.Typer) -> typer.Typer:
    """A copy of the app that knows each command and group by name and help text only, for
    crm's own help and bare `crm` (my day): Typer builds no parameters of the hundred-odd
    commands below (the bulk of `crm --help`'s time). The help it prints is the same."""
    copy_app = copy.copy(typer_app)
    copy_app.registered_commands = [_listed_command(c) for c in typer_app.registered_commands]
    copy_app.registered_groups = [_listed_group(g) for g in typer_app.registered_groups]
    return copy_app


def _listed_command(info: CommandInfo) -> CommandInfo:
    import inspect

    stub = copy.copy(info)
    stub.help = inspect.getdoc(info.callback) if info.help is None else info.help
    stub.callback = _not_run
    return stub


def _listed_group(info: TyperInfo) -> TyperInfo:
    stub = copy.copy(info)
    group = copy.copy(info.typer_instance)
    group.registered_commands, group.registered_groups = [], []  # type: ignore[union-attr]
    stub.typer_instance = group
    return stub


def _not_run() -> None:
    """Stands in for a command in crm's help; never invoked (bare `crm` runs no command)."""
    raise AssertionError("a listed command was invoked")


def main(argv: list[str] | None = None) -> int:
    completing = completion.COMPLETE_VAR in os.environ  # the shell asks what to complete
    if completing:
        completion.enable()
    words = command_words(sys.argv[1:] if argv is None else argv)
    # completion walks the whole tree; crm's help and bare `crm` need only names and help
    if completing:
        runnable = full_app()
    elif words:
        runnable = command_app(words)
    else:
        runnable = listed(full_app())
    # a write the database refused for a concurrent one is run again by Workspace.write
    try:
        runnable(args=argv, prog_name="crm")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
