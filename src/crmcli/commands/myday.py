"""`crm` with no command: my day."""

import typer

from crmcli import render
from crmcli.commands._shared import output_format, workspace
from crmcli.commands.activity import AGENDA_COLUMNS
from crmcli.commands.report import DUE_TODAY_COLUMNS, TABLE_COLUMNS, for_table
from crmcli.errors import BadInput, StorageError


def my_day(ctx: typer.Context) -> None:
    """My overdue items, what falls due today, and today's agenda."""
    from crmcli.services.reports import my_day as load

    try:
        with workspace(ctx).reading() as tx:
            day = load(tx)
            tz, name = tx.policy.timezone, tx.actor.name
    except StorageError as exc:
        if "crm init" not in exc.message:
            raise
        typer.echo(ctx.get_help())
        render.note(f"\n{exc.message}")
        return
    fmt = output_format(ctx, None)
    if fmt in ("json", "csv", "ids"):
        if fmt != "json":
            raise BadInput("--format: my day prints a table or json")
        render.emit_record(day, fmt="json", tz=tz)
        return
    unread = day["inbox_unread"]
    render.note(
        f"my day, {name}: {len(day['overdue'])} overdue, {len(day['due_today'])} due "
        f"today, {len(day['agenda'])} on the agenda"
        + (f"; {unread} unread in your inbox (crm inbox)" if unread else "")
    )
    sections = (
        ("overdue", for_table(day["overdue"]), TABLE_COLUMNS),
        ("due today", for_table(day["due_today"]), DUE_TODAY_COLUMNS),
        ("agenda", day["agenda"], AGENDA_COLUMNS),
    )
    for title, rows, columns in sections:
        if rows:
            render.emit(rows, fmt="table", columns=columns, title=title, tz=tz)
