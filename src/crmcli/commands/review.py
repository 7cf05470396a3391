"""`crm review …`: conflicting values from imports, waiting for a human decision."""

from typing import Annotated

import typer

from crmcli import render
from crmcli.commands._shared import FormatOption, output_format, sub_app, workspace, write_with_tz
from crmcli.records import REVIEW_FIELDS, REVIEW_TABLE_FIELDS

app = sub_app("The review queue: conflicting values for known leads, doubtful imported values.")

ItemId = Annotated[int, typer.Argument(metavar="ID", help="Review item id.")]


@app.command("list")
def review_list(
    ctx: typer.Context,
    status: Annotated[
        str, typer.Option("--status", help="open, accepted, rejected or all.")
    ] = "open",
    lead: Annotated[
        int | None, typer.Option("--lead", metavar="ID", help="Only this lead.")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="conflict (a known person's value differs) or value (a doubtful imported "
            "value kept unverified).",
        ),
    ] = None,
    output: FormatOption = None,
) -> None:
    """List review items (open ones by default).

    Example: crm review list --kind value --status all --format json
    """
    from crmcli.services.review import list_reviews

    with workspace(ctx).reading() as tx:
        rows = list_reviews(tx, status=None if status == "all" else status, lead_id=lead, kind=kind)
        tz = tx.policy.timezone
    render.emit(
        rows,
        fmt=output_format(ctx, output),
        columns=REVIEW_FIELDS,
        table_columns=REVIEW_TABLE_FIELDS if status == "open" else (*REVIEW_TABLE_FIELDS, "status"),
        tz=tz,
        empty="nothing to review",
    )


@app.command("show")
def review_show(ctx: typer.Context, item: ItemId, output: FormatOption = None) -> None:
    """Show one review item: the lead, the field, its value and the proposed one.

    Example: crm review show 4
    """
    from crmcli.services.review import get_review

    with workspace(ctx).reading() as tx:
        row = get_review(tx, item)
        tz = tx.policy.timezone
    render.emit_record(row, fmt=output_format(ctx, output), tz=tz, title=f"review item {item}")


@app.command("accept")
def review_accept(
    ctx: typer.Context,
    item: ItemId,
    force: Annotated[
        bool, typer.Option("--force", help="Apply even if the value makes a likely duplicate.")
    ] = False,
    output: FormatOption = None,
) -> None:
    """Apply the proposed value to the lead (validated and audited like lead edit).

    Example: crm review accept 4
    """
    from crmcli.services.review import accept

    row, tz = write_with_tz(ctx, lambda tx: accept(tx, item, force=force))
    _done(
        ctx,
        row,
        tz,
        output,
        f"accepted: lead {row['lead']} {row['field']} is now {row['proposed_value']}",
    )


@app.command("reject")
def review_reject(ctx: typer.Context, item: ItemId, output: FormatOption = None) -> None:
    """Keep the lead's value; later imports do not propose this value again.

    Example: crm review reject 4
    """
    from crmcli.services.review import reject

    row, tz = write_with_tz(ctx, lambda tx: reject(tx, item))
    _done(ctx, row, tz, output, f"rejected: lead {row['lead']} keeps its {row['field']}")


def _done(ctx: typer.Context, row: dict, tz, output: str | None, message: str) -> None:  # noqa: ANN001
    fmt = output_format(ctx, output)
    if fmt in ("json", "csv"):
        render.emit_record(row, fmt=fmt, tz=tz)
    else:
        render.note(message)
