"""`crm inbox`: the acting user's notifications, and acknowledging them."""

from typing import Annotated

import typer

from crmcli import render
from crmcli.commands._shared import CrmGroup, FormatOption, output_format, workspace

app = typer.Typer(
    cls=CrmGroup,
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode=None,
)

TABLE_COLUMNS = ("id", "at", "kind", "record", "message")


@app.callback()
def inbox(
    ctx: typer.Context,
    include_read: Annotated[
        bool, typer.Option("--all", help="Read notifications too, not only unread ones.")
    ] = False,
    output: FormatOption = None,
) -> None:
    """Your notifications: executive-band leads, quotes waiting for your approval, cases
    past their SLA, stale records. Lists the unread ones, newest first (--all: read too).

    Example: crm inbox --format json
    """
    if ctx.invoked_subcommand is not None:
        return
    from crmcli.services.inbox import INBOX_FIELDS, inbox

    with workspace(ctx).reading() as tx:
        rows = inbox(tx, include_read=include_read)
        tz = tx.policy.timezone
    fmt = output_format(ctx, output)
    if fmt == "table":
        for row in rows:
            row["record"] = f"{row['record_type']} {row['record_id']}" if row["record_type"] else ""
        columns = (*TABLE_COLUMNS, "read_at") if include_read else TABLE_COLUMNS
        unread = sum(1 for row in rows if row["read_at"] is None)
        empty = "no notifications" if include_read else "nothing unread (crm inbox --all)"
        title = f"inbox: {unread} unread"
        render.emit(rows, fmt=fmt, columns=columns, title=title, tz=tz, empty=empty)
        return
    render.emit(rows, fmt=fmt, columns=INBOX_FIELDS, tz=tz)


@app.command("ack")
def inbox_ack(
    ctx: typer.Context,
    ids: Annotated[
        list[int] | None, typer.Argument(metavar="ID...", help="Notification ids.")
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="Every unread notification.")] = False,
    output: FormatOption = None,
) -> None:
    """Mark notifications read (audited); they stay listed by `crm inbox --all`.

    Example: crm inbox ack 3 4   (or: crm inbox ack --all)
    """
    from crmcli.services.inbox import ack

    read = workspace(ctx).write(lambda tx: ack(tx, list(ids or []), everything=everything))
    fmt = output_format(ctx, output)
    if fmt in ("json", "csv", "ids"):
        render.emit([{"id": i} for i in read], fmt=fmt, columns=("id",))
        return
    render.note(f"read {len(read)} notification{'s' if len(read) != 1 else ''}")
