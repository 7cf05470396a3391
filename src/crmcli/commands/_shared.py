"""Pieces every command module uses: the workspace for this invocation, the format option."""

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from crmcli.context import FORMATS, AppContext
from crmcli.errors import BadInput

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

    return Workspace(app_context(ctx))


def output_format(ctx: typer.Context, override: str | None) -> str:
    if override is None:
        return app_context(ctx).format
    fmt = override.strip().lower()
    if fmt not in FORMATS:
        raise BadInput(f"--format: {override!r} is not a format; use {', '.join(FORMATS)}")
    return fmt


def sub_app(help_text: str) -> typer.Typer:
    return typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode=None)
