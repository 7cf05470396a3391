"""`crm db …`: backups, restores and moving to another database (admin)."""

from pathlib import Path
from typing import Annotated

import typer

from crmcli import render
from crmcli.commands._shared import FormatOption, app_context, output_format, sub_app, workspace

app = sub_app("Back up, restore, or copy the database to another one (admin).")

BACKUP_FORMATS = ("auto", "sqlite", "pg_dump", "jsonl")


@app.command("backup")
def db_backup(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="New file to write (never overwritten).")],
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            metavar="auto|sqlite|pg_dump|jsonl",
            help="auto: a SQLite copy, pg_dump on PostgreSQL where installed, else jsonl.",
        ),
    ] = "auto",
    output: FormatOption = None,
) -> None:
    """Write a consistent backup of the whole database to FILE while others keep working.

    Example: crm db backup /mnt/backups/crm-2026-03-06.db
    """
    from crmcli.errors import BadInput
    from crmcli.services import backup

    fmt = output_format(ctx, output)
    chosen = kind.strip().lower()
    if chosen not in BACKUP_FORMATS:
        raise BadInput(f"--kind: {kind!r} is not a backup kind; use {', '.join(BACKUP_FORMATS)}")
    ws = workspace(ctx)
    with ws.reading():
        pass  # the acting user is an admin of this database
    result = backup.backup(ws.engine, ws.url, file.expanduser(), fmt=chosen)
    render.note(f"backed up to {result['file']} ({result['format']}, {result['bytes']} bytes)")
    render.emit_record(result, fmt=fmt)


@app.command("restore")
def db_restore(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A file made by crm db backup.")],
    output: FormatOption = None,
) -> None:
    """Restore a backup into an empty database (--db); refuses one that has records.

    The acting user must be an admin in the backup. Example: crm --db new.db db restore crm.bak
    """
    from crmcli.services import backup

    fmt = output_format(ctx, output)
    result = backup.restore(app_context(ctx), file.expanduser())
    render.note(f"restored {result['rows']} records into {result['database']}")
    render.emit_record(result, fmt=fmt)


@app.command("copy")
def db_copy(
    ctx: typer.Context,
    to: Annotated[
        str, typer.Option("--to", metavar="PATH_OR_URL", help="An empty database to fill.")
    ],
    output: FormatOption = None,
) -> None:
    """Copy every record and the audit chain into another, empty database; verified after.

    Example: crm db copy --to postgresql+psycopg://crm.example.com/crm
    """
    from crmcli.services import backup

    fmt = output_format(ctx, output)
    ws = workspace(ctx)
    with ws.reading():
        pass
    result = backup.copy(app_context(ctx), ws.engine, to)
    render.note(
        f"copied {result['rows']} records and {result['audit_events']} audit events to "
        f"{result['to']}; verified"
    )
    render.emit_record(result, fmt=fmt)
