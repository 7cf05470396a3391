"""Pieces every command module uses: the workspace for this invocation, the format option."""

import errno
import os
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from crmcli import render
from crmcli.commands import completion
from crmcli.context import FORMATS, AppContext
from crmcli.errors import BadInput, CrmError, StorageError
from crmcli.limits import integer_problem

INTERNAL_ERROR = 70  # a bug, not a user error (EX_SOFTWARE)
PENDING_ROLE_CHECK = "crm.pending_role_check"

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import tzinfo

    from crmcli.services.workspace import Tx, Workspace

T = TypeVar("T")


def format_given(value: str | None) -> str | None:
    """A command's --format, checked while the arguments are read: a bad one is refused
    before the command does anything (a write must not happen and then fail to print)."""
    if value is None:
        return None
    fmt = value.strip().lower()
    if fmt not in FORMATS:
        raise BadInput(f"--format: {value!r} is not a format; use {', '.join(FORMATS)}")
    return fmt


def format_option(check: "Callable[[str | None], str | None] | None" = format_given) -> Any:
    """A command's -f/--format option; `check` reads it while the arguments are parsed."""
    return Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            metavar="table|json|csv|ids",
            help="Output format (overrides the global --format).",
            callback=check,
        ),
    ]


FormatOption = format_option()


# arguments and options many commands share, with the values the shell completes
LeadId = Annotated[
    int, typer.Argument(metavar="ID", help="Lead id.", autocompletion=completion.lead_ids)
]
OpportunityId = Annotated[
    int,
    typer.Argument(
        metavar="ID", help="Lead or opportunity id.", autocompletion=completion.lead_ids
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


def write_with_tz(
    ctx: typer.Context, work: "Callable[[Tx], T]", *, dry_run: bool = False
) -> "tuple[T, tzinfo]":
    """`work(tx)` through the workspace's write (retried on a conflict), with the policy's
    timezone the command shows its result in."""
    return workspace(ctx).write(lambda tx: (work(tx), tx.policy.timezone), dry_run=dry_run)


def output_format(ctx: typer.Context, override: str | None) -> str:
    if override is None:
        return app_context(ctx).format
    return format_given(override)  # type: ignore[return-value]


WIDE = "crm.wide"


def take_wide(ctx: typer.Context, args: list[str]) -> list[str]:
    """`crm lead list --wide` means `crm --wide lead list`: the option is the root's (every
    table honours it), so it is taken out of a command's own arguments (not after `--`)."""
    end = args.index("--") if "--" in args else len(args)
    if "--wide" not in args[:end]:
        return args
    from crmcli.render.terminal import set_wide

    ctx.meta[WIDE] = True  # the root callback, if it runs after this, keeps it
    set_wide(True)
    return [arg for k, arg in enumerate(args) if not (arg == "--wide" and k < end)]


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

    with Workspace(context).reading():  # needs the table's role for `path`
        pass


def unreadable_argument(args: list[str]) -> str | None:
    """The first argument that is not valid UTF-8 (the OS hands Python bytes; those that do
    not decode arrive as lone surrogates) or holds a NUL (only a caller in-process can pass
    one; PostgreSQL refuses it in text), as a one-line reason; None when all are fine."""
    for position, arg in enumerate(args, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            raw = arg.encode("utf-8", "surrogateescape")
            return (
                f"argument {position} ({raw!r}) is not valid UTF-8 text; "
                "type it again in a UTF-8 terminal (or rename the file)"
            )
        if "\x00" in arg:
            return f"argument {position} holds a NUL character; remove it"
    return None


def _storable_integers(ctx: typer.Context, param: typer.CallbackParam, value: object) -> object:
    """Every whole-number argument fits the database's integers (SQLite's are 64-bit): a
    bigger one is bad input here, named, rather than an overflow deep in a query."""
    for item in value if isinstance(value, list | tuple) else (value,):
        problem = integer_problem(item) if type(item) is int else None
        if problem:
            raise typer.BadParameter(problem, ctx=ctx, param=param)
    return value


def bound_integers(command: typer.core.TyperCommand) -> None:
    """Install the integer range check on each of a command's parameters (once)."""
    for param in command.params:
        if getattr(param, "crm_bounded", False):
            continue
        own = param.callback
        if own is None:
            param.callback = _storable_integers
        else:

            def both(ctx, param, value, own=own):  # noqa: ANN001, ANN202
                return own(ctx, param, _storable_integers(ctx, param, value))

            param.callback = both
        param.crm_bounded = True  # type: ignore[attr-defined]


def plain_metavars(command: typer.core.TyperCommand) -> None:
    """Help in words, not Python types: `--notes TEXT` rather than `--notes <str>`, and an
    argument shows its name alone (`ID`, not `ID <int>`)."""
    for param in command.params:
        if param.param_type_name == "argument":
            if param.metavar is None:
                param.metavar = (param.name or "value").upper()
            param.display_type_rich = _no_type  # type: ignore[method-assign]
        elif param.metavar is None and not getattr(param, "is_flag", False):
            param.metavar = _metavar(param)


def _no_type(ctx: typer.Context) -> None:
    return None


def _metavar(param: typer.core.TyperOption) -> str:
    desc = param.type_descriptor
    if desc.is_path:
        return "FILE"
    annotation = desc.annotation
    if desc.is_list:
        annotation = getattr(annotation, "__args__", (str,))[0]
    return {int: "N", float: "NUMBER"}.get(annotation, "TEXT")


class CrmGroup(TyperGroup):
    """Turns CrmError (and database failures) into one line on stderr and its exit code,
    refuses arguments that are not UTF-8 or integers the database cannot hold, and enforces
    each sub-command's role before it runs."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:  # the whole command line, once
            problem = unreadable_argument(args)
            if problem:
                render.error(problem)
                ctx.exit(BadInput.exit_code)
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: typer.Context, args: list[str]):  # noqa: ANN201
        name, command, rest = super().resolve_command(ctx, args)
        if ctx.resilient_parsing:
            return name, command, rest  # shell completion: nothing runs, nothing to check
        if command is not None and not hasattr(command, "commands"):
            rest = take_wide(ctx, rest)
            bound_integers(command)
            plain_metavars(command)
            path = " ".join([*ctx.command_path.split()[1:], name or ""])
            if ctx.parent is None:
                # a top-level command (`crm score`): the root callback, which builds the
                # context, runs next and does the check
                ctx.meta[PENDING_ROLE_CHECK] = (path, rest)
            else:
                enforce_role(ctx, path, rest)
        return name, command, rest

    def invoke(self, ctx: typer.Context):  # noqa: ANN201
        if ctx.parent is None:
            from crmcli import clock

            with clock.remembering() as read:
                result = self._invoke(ctx)
            echo_times(read)
            return result
        return self._invoke(ctx)

    def _invoke(self, ctx: typer.Context):  # noqa: ANN202
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
            render.error(exc.message, exc.details)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            ctx.exit(0)  # the reader went away (e.g. `| head`); nothing left to say
        except OSError as exc:
            code = path_error_code(exc)
            if code is None:
                from crmcli.files import NO_SPACE, drop_stdout

                if exc.errno in NO_SPACE:
                    # standard output on a full disk (files the program names say so themselves)
                    drop_stdout()
                    render.error(f"cannot write the output: {exc.strerror}; free some space")
                    ctx.exit(StorageError.exit_code)
                raise_internal(ctx, exc)
            where = exc.filename2 if exc.filename2 is not None else exc.filename
            render.error(f"cannot use {os.fsdecode(where)!r}: {exc.strerror}; give another path")
            ctx.exit(code)
        except Exception as exc:
            raise_internal(ctx, exc)


def echo_times(read: list) -> None:
    """Each human time the command took (`--due fri 14:00`), as the absolute time it was read
    as, on stderr: what a person checks; scripts see the same data on stdout as before."""
    for field, text, value, tz in read:
        local = value.astimezone(tz)
        render.note(f"{field} {text.strip()!r}: {local:%a %Y-%m-%d %H:%M} {local.tzname()}")


def path_error_code(exc: OSError) -> int | None:
    """The exit code of an error the OS gave about a path the user named (too long, missing,
    a directory, not allowed...): bad input (2), or a storage problem (6) for a full or
    failing disk; None for anything else, which is a bug."""
    if exc.filename is None and exc.filename2 is None:
        return None
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
        return StorageError.exit_code
    if exc.errno in PATH_ERRORS:
        return BadInput.exit_code
    return None


PATH_ERRORS = {
    errno.ENAMETOOLONG,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.EBUSY,
    errno.ELOOP,
    errno.EEXIST,
    errno.ETXTBSY,
}


def raise_internal(ctx: typer.Context, exc: Exception) -> None:
    """A bug: one line, and the traceback with CRM_DEBUG=1 (SPEC §2: exit 70)."""
    if os.environ.get("CRM_DEBUG"):
        raise exc
    render.error(f"internal error: {type(exc).__name__}: {exc} (CRM_DEBUG=1 shows more)")
    ctx.exit(INTERNAL_ERROR)
