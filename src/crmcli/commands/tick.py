"""`crm tick`: what cron runs before the overdue report."""

from typing import Annotated

import typer

from crmcli import render
from crmcli.commands._shared import FormatOption, output_format, write_with_tz


def tick(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be done; change nothing.")
    ] = False,
    output: FormatOption = None,
) -> None:
    """Create due cadence touches and re-engagement tasks, mark leads whose cadence is
    exhausted inactive, flag (or move, per policy) stale records, and queue the policy's
    due automated messages (see crm outbox). Safe to repeat.

    Example: crm tick --dry-run
    """
    from crmcli.services.tick import tick as run_tick

    fmt = output_format(ctx, output)  # before the work: a bad --format writes nothing
    actions, tz = write_with_tz(ctx, run_tick, dry_run=dry_run)
    render.emit(
        actions, fmt=fmt, columns=("action", "record", "detail"), tz=tz, empty="nothing to do"
    )
    if dry_run and fmt == "table" and actions:
        render.note("dry run: nothing was changed")
