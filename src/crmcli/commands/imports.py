"""`crm imports …`: past bulk imports, and undoing one."""

from typing import Annotated

import typer

from crmcli import render
from crmcli.commands._shared import FormatOption, output_format, sub_app, workspace

app = sub_app("Bulk import batches: list them, undo one.")

BatchId = Annotated[int, typer.Argument(metavar="BATCH", help="Import batch id.")]


@app.command("list")
def imports_list(ctx: typer.Context, output: FormatOption = None) -> None:
    """List import batches with what each did (read, imported, merged, queued, rejected).

    Example: crm imports list --format json
    """
    from crmcli.services.importer import BATCH_FIELDS, list_batches

    with workspace(ctx).reading() as tx:
        rows = list_batches(tx)
        tz = tx.policy.timezone
    render.emit(
        rows, fmt=output_format(ctx, output), columns=BATCH_FIELDS, tz=tz, empty="no imports yet"
    )


@app.command("undo")
def imports_undo(
    ctx: typer.Context,
    batch: BatchId,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be undone.")] = False,
    output: FormatOption = None,
) -> None:
    """Remove the leads a batch added and revert what it enriched (audited). Refused (exit 5)
    when later changes depend on them.

    Example: crm imports undo 3
    """
    from crmcli.services.importer import undo_batch

    result = workspace(ctx).write(lambda tx: undo_batch(tx, batch), dry_run=dry_run)
    fmt = output_format(ctx, output)
    if fmt in ("json", "csv"):
        render.emit_record(vars(result), fmt=fmt)
        return
    verb = "would undo" if dry_run else "undid"
    render.note(
        f"{verb} import batch {batch}: {result.deleted} leads removed, {result.reverted} "
        f"reverted, {result.reviews_withdrawn} review items withdrawn"
    )
