"""`crm outbox …`: automated messages queued by `crm tick`, delivered by `crm outbox send`."""

from typing import Annotated

import typer

from crmcli import render
from crmcli.commands._shared import FormatOption, LeadId, output_format, sub_app, workspace

app = sub_app("Automated messages: list, show, cancel, retry and send them.")

LIST_COLUMNS = (
    "id",
    "lead_id",
    "sequence",
    "template",
    "channel",
    "to_address",
    "subject",
    "scheduled_at",
    "status",
    "attempts",
    "last_error",
)
SEND_COLUMNS = ("id", "lead_id", "to_address", "subject", "status", "attempts", "last_error")
MessageId = Annotated[int, typer.Argument(metavar="ID", help="Outbox message id.")]


@app.command("list")
def outbox_list(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option("--status", help="queued, sending, sent, failed or cancelled."),
    ] = None,
    lead: Annotated[int | None, typer.Option("--lead", metavar="ID", help="One lead's.")] = None,
    output: FormatOption = None,
) -> None:
    """List automated messages by scheduled time.

    Example: crm outbox list --status queued
    """
    from crmcli.errors import BadInput
    from crmcli.services import outbox

    if status is not None and status not in ("queued", "sending", "sent", "failed", "cancelled"):
        raise BadInput(f"--status: {status!r}; use queued, sending, sent, failed or cancelled")
    with workspace(ctx).reading() as tx:
        rows = outbox.listing(tx, status=status, lead_id=lead)
        tz = tx.policy.timezone
    render.emit(
        rows,
        fmt=output_format(ctx, output),
        columns=outbox.FIELDS,
        table_columns=LIST_COLUMNS,
        tz=tz,
        empty="the outbox is empty",
    )


@app.command("show")
def outbox_show(ctx: typer.Context, message_id: MessageId, output: FormatOption = None) -> None:
    """Show one message with its rendered subject and body.

    Example: crm outbox show 3
    """
    from crmcli.services import outbox

    with workspace(ctx).reading() as tx:
        values = outbox.row(outbox.load(tx, message_id))
        tz = tx.policy.timezone
    render.emit_record(values, fmt=output_format(ctx, output), tz=tz)


@app.command("cancel")
def outbox_cancel(ctx: typer.Context, message_id: MessageId) -> None:
    """Cancel a queued or failed message, or close one whose delivery is unknown.

    Example: crm outbox cancel 3
    """
    from crmcli.services import outbox

    _values, changed = workspace(ctx).write(lambda tx: outbox.cancel(tx, message_id))
    render.note(
        f"outbox {message_id} cancelled"
        if changed
        else f"outbox {message_id} was already cancelled; nothing changed"
    )


@app.command("retry")
def outbox_retry(ctx: typer.Context, message_id: MessageId) -> None:
    """Queue a failed, cancelled or unknown (sending) message again, due now.

    Example: crm outbox retry 3
    """
    from crmcli.services import outbox

    workspace(ctx).write(lambda tx: outbox.retry(tx, message_id))
    render.note(f"outbox {message_id} queued again; send it with: crm outbox send")


@app.command("send")
def outbox_send(
    ctx: typer.Context,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Send at most this many.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be sent; send nothing.")
    ] = False,
    output: FormatOption = None,
) -> None:
    """Deliver due messages through SMTP ([smtp] in the policy, CRM_SMTP_* env; password
    from CRM_SMTP_PASSWORD or CRM_SMTP_PASSWORD_FILE). Sends only in business hours.

    Example: crm tick && crm outbox send --limit 50
    """
    from crmcli.services import outbox

    result, tz = outbox.send(workspace(ctx), limit=limit, dry_run=dry_run)
    fmt = output_format(ctx, output)
    if fmt == "json":
        render.emit_record(result, fmt="json", tz=tz)
    else:
        rows = result["would_send"] if dry_run else result["sent"] + result["failed"]
        render.emit(rows, fmt=fmt, columns=SEND_COLUMNS, tz=tz, empty="nothing to send")
    for item in result["unknown"]:
        render.note(
            f"outbox {item['id']} to {item['to_address']}: {outbox.UNKNOWN} (it was being sent "
            f"{item['sending_started_at']:%Y-%m-%d %H:%M} UTC); then crm outbox retry "
            f"{item['id']} or crm outbox cancel {item['id']}"
        )
    if result["held_until"] is not None:
        render.note(
            f"outside business hours: nothing sent before {result['held_until']:%Y-%m-%d %H:%M}"
        )
    if result["stopped"]:
        render.note(f"stopped: {result['stopped']}; the rest stay queued")
    if result["cancelled"]:
        render.note(
            f"{result['cancelled']} cancelled (a reply, call or stage change, or their meeting "
            "moved, was held or began): crm outbox list --status cancelled"
        )
    if dry_run and fmt == "table" and result["would_send"]:
        render.note("dry run: nothing was sent")
    undelivered = result["due"] - len(result["sent"])
    if undelivered:
        from crmcli.errors import DeliveryFailed

        why = result["stopped"] or next(
            (m["last_error"] for m in [*result["failed"], *result["unknown"]] if m["last_error"]),
            "see: crm outbox list --status failed",
        )
        raise DeliveryFailed(
            f"{undelivered} of {result['due']} due messages not delivered ({why}); "
            "they are retried by the next run (crm outbox list --status failed)"
        )


def lead_opt_out(
    ctx: typer.Context,
    lead_id: LeadId,
) -> None:
    """Record that a lead wants no automated messages; cancels what is queued for it.

    Example: crm lead opt-out 12
    """
    from crmcli.services import outbox

    result, changed = workspace(ctx).write(lambda tx: outbox.opt_out(tx, lead_id))
    if changed:
        render.note(f"lead {lead_id} opted out; {result['cancelled']} queued messages cancelled")
    else:
        render.note(f"lead {lead_id} had already opted out; nothing changed")
