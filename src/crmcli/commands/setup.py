"""`crm init`."""

from typing import Annotated

import typer

from crmcli import render
from crmcli.commands._shared import output_format, workspace


def init(
    ctx: typer.Context,
    example: Annotated[
        bool, typer.Option("--example", help="Also load example reps, campaigns and ~30 leads.")
    ] = False,
) -> None:
    """Create the database (or bring its schema up to date), install the default policy and
    register you as its admin. Safe to run again.

    Example: crm init --example
    """
    from crmcli.services.setup import initialise

    ws = workspace(ctx)
    result = initialise(ws, example=example)
    if output_format(ctx, None) == "json":
        render.emit_record(result, fmt="json")
        return
    before, after = result["schema_before"], result["schema"]
    if before is None:
        render.note(f"created database {ws.url} (schema {after})")
    elif before != after:
        render.note(f"upgraded database {ws.url} from schema {before} to {after}")
    else:
        render.note(f"database {ws.url} already initialised (schema {after}); nothing to do")
    if result["admin_created"]:
        render.note(f"registered {result['admin_created']} as admin")
    if result["policy_installed"]:
        render.note("installed the default policy (see: crm policy show)")
    if result["example_loaded"] is True:
        render.note("loaded example data (see: crm lead list)")
    elif result["example_loaded"] is False:
        render.note("example data already loaded")
