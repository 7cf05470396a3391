"""`crm mail import`: email capture from an mbox, a .eml file or a directory of them."""

from pathlib import Path
from typing import Annotated

import typer

from crmcli import render
from crmcli.commands._shared import FormatOption, output_format, sub_app, workspace

app = sub_app("Email capture: log real messages as email activities on leads.")


@app.command("import")
def mail_import(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(metavar="FILE.mbox|DIR", help="An mbox, a .eml or a dir of .eml.")
    ],
    output: FormatOption = None,
) -> None:
    """Log each message on the leads (or their contacts) whose address is its sender
    (inbound) or a recipient (outbound); Message-IDs logged before are skipped; senders
    that match nobody are listed.

    Example: crm mail import ~/Mail/sales.mbox
    """
    from crmcli.services import mailbox

    summary = workspace(ctx).write(lambda tx: mailbox.import_mail(tx, path).as_dict())
    fmt = output_format(ctx, output)
    if fmt == "json":
        render.emit_record(summary, fmt="json")
        return
    render.note(
        f"{summary['messages']} messages: {summary['logged']} logged "
        f"({len(summary['activities'])} activities), {summary['duplicates']} already logged, "
        f"{sum(u['messages'] for u in summary['unmatched'])} from unknown senders"
    )
    for note in summary["notes"]:
        render.note(note)
    for item in summary["unreadable"]:
        render.note(f"{item['source']}: {item['reason']}")
    if summary["unmatched"]:
        render.emit(
            summary["unmatched"],
            fmt=fmt,
            columns=("address", "messages"),
            title="unmatched senders",
        )
