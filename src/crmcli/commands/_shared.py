"""Pieces every command module uses: the workspace for this invocation, the format option."""

import os
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from crmcli import render
from crmcli.context import FORMATS, AppContext
from crmcli.errors import BadInput, Conflict, CrmError, StorageError

INTERNAL_ERROR = 70  # a bug, not a user error (EX_SOFTWARE)
PENDING_ROLE_CHECK = "crm.pending_role_check"
# set by cli.main while another attempt remains: a Conflict then propagates for a rerun
RETRY_CONFLICTS = {"on": False}

if TYPE_CHECKING:
    from crmcli.services.workspace import Workspace

FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        metavar="table|json|csv|ids",
        help="Output format (overrides the global --format).",
    ),
]


def app_context(ctx: typer.Context) -> AppContext:
    root = ctx.find_root().obj
    if not isinstance(root, AppContext):  # invoked without the root callback (tests)
        root = AppContext()
    return replace(root, command=ctx.command_path)


def workspace(ctx: typer.Context) -> "Workspace":
    from crmcli.services.workspace import Workspace

    return Workspace(app_context(ctx), warn=render.note)


def output_format(ctx: typer.Context, override: str | None) -> str:
    if override is None:
        return app_context(ctx).format
    fmt = override.strip().lower()
    if fmt not in FORMATS:
        raise BadInput(f"--format: {override!r} is not a format; use {', '.join(FORMATS)}")
    return fmt


def sub_app(help_text: str) -> typer.Typer:
    return typer.Typer(cls=CrmGroup, help=help_text, no_args_is_help=True, rich_markup_mode=None)


def enforce_role(ctx: typer.Context, path: str, remaining: list[str]) -> None:
    """Check the acting user's role for `path` before the command parses its arguments, so
    a viewer's write is refused the same way whatever arguments came with it."""
    from crmcli.roles import ROLE_CHECKED_BY_COMMAND_WHEN_EMPTY, role_for

    if any(arg in ("--help", "-h") for arg in remaining):
        return
    role = role_for(path)
    if role in ("none", "viewer"):
        return  # reads check the user when they open the database
    context = replace(app_context(ctx), command=f"crm {path}")
    if path in ROLE_CHECKED_BY_COMMAND_WHEN_EMPTY:
        from crmcli.services.backup import target_has_users

        if not target_has_users(context):
            return
    from crmcli.services.workspace import Workspace

    with Workspace(context).reading(role=role):
        pass


class CrmGroup(TyperGroup):
    """Turns CrmError (and database failures) into one line on stderr and its exit code, and
    enforces each sub-command's role before it runs."""

    def resolve_command(self, ctx: typer.Context, args: list[str]):  # noqa: ANN201
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and not hasattr(command, "commands"):
            path = " ".join([*ctx.command_path.split()[1:], name or ""])
            if ctx.parent is None:
                # a top-level command (`crm score`): the root callback, which builds the
                # context, runs next and does the check
                ctx.meta[PENDING_ROLE_CHECK] = (path, rest)
            else:
                enforce_role(ctx, path, rest)
        return name, command, rest

    def invoke(self, ctx: typer.Context):  # noqa: ANN201
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # here, not at exit: a full disk is then reported like any error
            return result
        except UsageError as exc:
            if isinstance(exc, NoArgsIsHelpError) or exc.ctx is None:
                raise
            # one line, like every other error: what is wrong, and where the help is
            render.error(f"{exc.format_message()} (see: {exc.ctx.command_path} --help)")
            ctx.exit(exc.exit_code)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except CrmError as exc:
            if isinstance(exc, Conflict) and RETRY_CONFLICTS["on"]:
                raise
            render.error(exc.message, exc.details)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            ctx.exit(0)  # the reader went away (e.g. `| head`); nothing left to say
        except Exception as exc:
            from crmcli.files import NO_SPACE, drop_stdout

            if isinstance(exc, OSError) and exc.errno in NO_SPACE:
                # standard output on a full disk (files the program names say so themselves)
                drop_stdout()
                render.error(f"cannot write the output: {exc.strerror}; free some space")
                ctx.exit(StorageError.exit_code)
            if os.environ.get("CRM_DEBUG"):
                raise
            render.error(f"internal error: {type(exc).__name__}: {exc} (CRM_DEBUG=1 shows more)")
            ctx.exit(INTERNAL_ERROR)
