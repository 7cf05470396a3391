"""The `crm` command: global options, sub-apps per noun, and the one error handler.

Only Typer and light modules are imported here so `crm --help` stays fast; commands import
the database layer inside their functions.
"""

import copy
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from typer.models import CommandInfo, TyperInfo

from crmcli.commands import (
    account,
    activity,
    assign,
    assistant,
    audit,
    campaign,
    case,
    completion,
    compliance,
    contact,
    db,
    imports,
    inbox,
    lead,
    lead_data,
    mail,
    meeting,
    myday,
    outbox,
    pipeline,
    policy,
    quote,
    report,
    review,
    scoring,
    setup,
    tick,
    user,
)
from crmcli.commands._shared import (
    PENDING_ROLE_CHECK,
    WIDE,
    CrmGroup,
    enforce_role,
)
from crmcli.context import FORMATS, AppContext
from crmcli.errors import BadInput

app = typer.Typer(
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


@app.callback(invoke_without_command=True)
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
        myday.my_day(ctx)
    elif PENDING_ROLE_CHECK in ctx.meta:
        # a top-level command (`crm score`): its role is checked here, before it parses
        enforce_role(ctx, *ctx.meta.pop(PENDING_ROLE_CHECK))


def _from_environment(ctx: typer.Context, name: str) -> bool:
    from typer._click.core import ParameterSource

    return ctx.get_parameter_source(name) == ParameterSource.ENVIRONMENT


app.command("init")(setup.init)
# the lead lifecycle: top-level verbs read better than nouns here (SPEC §1)
app.command("score")(scoring.score)
app.command("assign")(assign.assign)
app.command("advance")(pipeline.advance)
app.command("log-call")(activity.log_call)
app.command("log-meeting")(activity.log_meeting)
app.command("log-email")(activity.log_email)
app.command("log-chat")(activity.log_chat)
app.command("note")(activity.note)
app.command("next-step")(activity.next_step)
app.command("done")(activity.done)
app.command("agenda")(activity.agenda)
app.command("points")(activity.points)
app.command("explain")(pipeline.explain)
app.command("tick")(tick.tick)
app.command("mcp")(assistant.mcp)
lead.app.command("event")(scoring.lead_event)
lead.app.command("import")(lead_data.lead_import)
lead.app.command("dupes")(lead_data.lead_dupes)
lead.app.command("merge")(lead_data.lead_merge)
lead.app.command("export")(lead_data.lead_export)
lead.app.command("forget")(audit.lead_forget)
lead.app.command("export-personal")(audit.lead_export_personal)
app.command("history")(audit.history)
user.app.command("away")(assign.user_away)
app.add_typer(lead.app, name="lead")
app.add_typer(user.app, name="user")
app.add_typer(campaign.app, name="campaign")
app.add_typer(policy.app, name="policy")
app.add_typer(report.app, name="report")
app.add_typer(imports.app, name="imports")
app.add_typer(review.app, name="review")
# one `crm audit` group: commands/audit.py's (verify, anchor, log), which sample joins
audit_app = audit.app
audit_app.command("sample")(compliance.audit_sample)
app.command("doctor")(compliance.doctor)
app.command("dashboard")(report.dashboard)
app.add_typer(audit.app, name="audit")
contact.app.command("forget")(audit.contact_forget)
app.add_typer(contact.app, name="contact")
app.add_typer(account.app, name="account")
app.add_typer(case.app, name="case")
app.add_typer(quote.app, name="quote")
lead.app.command("opt-out")(outbox.lead_opt_out)
app.add_typer(outbox.app, name="outbox")
app.add_typer(meeting.app, name="meeting")
app.add_typer(mail.app, name="mail")
app.add_typer(db.app, name="db")
app.add_typer(inbox.app, name="inbox")
app.command("completion")(completion.completion)


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


def trimmed(typer_app: typer.Typer, words: list[str]) -> typer.Typer:
    """A copy of the app holding only the command `words` name, so Typer does not build the
    parameters of every other command on each run (start-up time); unknown words get the
    whole app, which then explains what exists."""
    if not words:
        return typer_app
    head, rest = words[0], words[1:]
    copy_app = copy.copy(typer_app)
    commands = [c for c in typer_app.registered_commands if c.name == head]
    groups = [g for g in typer_app.registered_groups if g.name == head]
    if commands:
        copy_app.registered_commands, copy_app.registered_groups = commands, []
    elif groups:
        group = copy.copy(groups[0])
        group.typer_instance = trimmed(groups[0].typer_instance, rest)  # type: ignore[arg-type]
        copy_app.registered_commands, copy_app.registered_groups = [], [group]
    else:
        return typer_app
    return copy_app


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
        runnable = app
    elif words:
        runnable = trimmed(app, words)
    else:
        runnable = listed(app)
    # a write the database refused for a concurrent one is run again by Workspace.write
    try:
        runnable(args=argv, prog_name="crm")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
