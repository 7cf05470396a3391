"""`crm case …`: service cases with SLAs, comments and attachments."""

from typing import Annotated

import typer

from crmcli import render
from crmcli.commands._shared import FormatOption, output_format, sub_app, workspace, write_with_tz

app = sub_app("Service cases: customer issues with SLAs, comments and attachments.")

LIST_COLUMNS = (
    "id",
    "title",
    "severity",
    "status",
    "account",
    "contact",
    "owner",
    "opened_at",
    "ack_due_at",
    "resolve_due_at",
    "sla_state",
)
SLA_COLUMNS = ("rule", "state", "due_at", "met_at", "met_by", "overdue_by", "remaining")
COMMENT_COLUMNS = ("at", "author", "internal", "text")
ATTACHMENT_COLUMNS = ("id", "name", "media_type", "size", "added_by", "added_at")
PAUSE_COLUMNS = ("kind", "started_at", "ended_at", "reason")
HISTORY_COLUMNS = ("at", "actor", "action", "changes")

CaseId = Annotated[int, typer.Argument(metavar="CASE", help="Case id.")]
Reason = Annotated[str | None, typer.Option("--reason", help="Why (kept with the case).")]


@app.command("open")
def case_open(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            metavar="ACCOUNT|CONTACT",
            help="account:12, contact:7, or a bare number for an account.",
        ),
    ],
    title: Annotated[str, typer.Option("--title", help="What the customer reports.")],
    severity: Annotated[
        str, typer.Option("--severity", help="low, normal, high or urgent (sets the SLA).")
    ],
    product: Annotated[str | None, typer.Option("--product", help="The product concerned.")] = None,
    warranty: Annotated[
        bool | None,
        typer.Option("--warranty/--no-warranty", help="A warranty issue or not (default unset)."),
    ] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", metavar="USER", help="Who handles it (default: you).")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="WHEN",
            help="When the customer reported it (default now), e.g. '30m ago'; SLAs start then.",
        ),
    ] = None,
    output: FormatOption = None,
) -> None:
    """Open a case for an account or a contact; its ack and resolve SLAs start. Prints its id.

    Example: crm case open account:3 --title "Pump leaks at the seal" --severity high
    """
    from crmcli.services import cases

    row, tz = write_with_tz(
        ctx,
        lambda tx: cases.open_case(
            tx,
            target=target,
            title=title,
            severity=severity,
            product=product,
            warranty=warranty,
            owner=owner,
            at=at,
        ),
    )
    render.emit_created(row, fmt=output_format(ctx, output), tz=tz)


def _change(
    ctx: typer.Context, case_id: int, action: str, output: str | None, text: str | None = None
) -> None:
    from crmcli.services import cases

    row, tz = write_with_tz(ctx, lambda tx: cases.change_status(tx, case_id, action, text=text))
    fmt = output_format(ctx, output)
    if fmt in ("json", "csv"):
        render.emit_record(row, fmt=fmt, tz=tz)
    else:
        render.note(f"case {case_id} is {row['status']}")


@app.command("ack")
def case_ack(ctx: typer.Context, case_id: CaseId, output: FormatOption = None) -> None:
    """Acknowledge an open case (meets its case.ack SLA).

    Example: crm case ack 7
    """
    _change(ctx, case_id, "ack", output)


@app.command("wait")
def case_wait(
    ctx: typer.Context, case_id: CaseId, reason: Reason = None, output: FormatOption = None
) -> None:
    """Wait on the customer: the SLA clock stops until `crm case resume`.

    Example: crm case wait 7 --reason "asked for photos of the seal"
    """
    _change(ctx, case_id, "wait", output, reason)


@app.command("resume")
def case_resume(ctx: typer.Context, case_id: CaseId, output: FormatOption = None) -> None:
    """The customer answered: the SLA clock runs again, its deadline moved by the pause.

    Example: crm case resume 7
    """
    _change(ctx, case_id, "resume", output)


@app.command("resolve")
def case_resolve(
    ctx: typer.Context,
    case_id: CaseId,
    resolution: Annotated[str, typer.Option("--resolution", help="What fixed it.")],
    output: FormatOption = None,
) -> None:
    """Resolve a case with its resolution (meets its case.resolve SLA).

    Example: crm case resolve 7 --resolution "Replaced the seal; pressure test passed"
    """
    _change(ctx, case_id, "resolve", output, resolution)


@app.command("close")
def case_close(ctx: typer.Context, case_id: CaseId, output: FormatOption = None) -> None:
    """Close a resolved case.

    Example: crm case close 7
    """
    _change(ctx, case_id, "close", output)


@app.command("reopen")
def case_reopen(
    ctx: typer.Context, case_id: CaseId, reason: Reason = None, output: FormatOption = None
) -> None:
    """Reopen a resolved or closed case; the resolve SLA runs again (the time it stood
    resolved does not count).

    Example: crm case reopen 7 --reason "leaks again"
    """
    _change(ctx, case_id, "reopen", output, reason)


@app.command("comment")
def case_comment(
    ctx: typer.Context,
    case_id: CaseId,
    text: Annotated[str, typer.Option("--text", help="The comment.")],
    internal: Annotated[
        bool, typer.Option("--internal", help="An internal note, not for the customer.")
    ] = False,
    output: FormatOption = None,
) -> None:
    """Add a comment to a case (any status). Prints its id.

    Example: crm case comment 7 --text "Customer will send photos" --internal
    """
    from crmcli.services import cases

    row, tz = write_with_tz(ctx, lambda tx: cases.add_comment(tx, case_id, text, internal=internal))
    render.emit_created(row, fmt=output_format(ctx, output), tz=tz)


@app.command("attach")
def case_attach(
    ctx: typer.Context,
    case_id: CaseId,
    files: Annotated[list[str], typer.Argument(metavar="FILE…", help="Photos or documents.")],
    output: FormatOption = None,
) -> None:
    """Attach files: type judged by content, size limited by the policy, all or nothing.

    Example: crm case attach 7 seal.jpg report.pdf
    """
    from crmcli.services import cases
    from crmcli.services.attachments import blob_store

    ws = workspace(ctx)
    with blob_store(ws.url) as blobs:
        rows, tz = ws.write(
            lambda tx: (cases.attach(tx, blobs, case_id, files), tx.policy.timezone)
        )
    fmt = output_format(ctx, output)
    if fmt == "table":
        for row in rows:
            if row["already"]:
                render.note(f"{row['name']}: already attached as {row['id']}")
    render.emit(
        rows,
        fmt=fmt,
        columns=(*ATTACHMENT_COLUMNS, "sha256", "path", "already"),
        table_columns=ATTACHMENT_COLUMNS,
        tz=tz,
    )


@app.command("list")
def case_list(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="open, acknowledged, waiting, resolved, closed, or active (the first three).",
        ),
    ] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only cases I own.")] = False,
    severity: Annotated[
        str | None, typer.Option("--severity", help="low, normal, high or urgent.")
    ] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Cases of this user.")] = None,
    account: Annotated[
        int | None, typer.Option("--account", metavar="ID", help="Cases of this account.")
    ] = None,
    output: FormatOption = None,
) -> None:
    """List cases, oldest first, with their SLA due times and state.

    Example: crm case list --status active --mine --format json
    """
    from crmcli.errors import BadInput
    from crmcli.services.cases import CASE_FIELDS, CaseFilter, list_cases

    if mine and owner:
        raise BadInput("--mine and --owner: give one of them")
    where = CaseFilter(
        status=status, severity=severity, owner="me" if mine else owner, account_id=account
    )
    with workspace(ctx).reading() as tx:
        rows = list_cases(tx, where)
        tz = tx.policy.timezone
    render.emit(
        rows,
        fmt=output_format(ctx, output),
        columns=CASE_FIELDS,
        table_columns=LIST_COLUMNS,
        tz=tz,
        empty="no cases match",
    )


@app.command("show")
def case_show(ctx: typer.Context, case_id: CaseId, output: FormatOption = None) -> None:
    """Show a case: its SLA state, comments, attachments, clock stops and history.

    Example: crm case show 7 --format json
    """
    from crmcli.services import cases
    from crmcli.services.attachments import BlobStore, attachments_root

    ws = workspace(ctx)
    with ws.reading() as tx:
        found = cases.show_case(tx, case_id, BlobStore(attachments_root(ws.url)))
        tz = tx.policy.timezone
    fmt = output_format(ctx, output)
    history = found["history"]
    if fmt == "table":
        history = render.with_changes_text(history, tz)
    render.emit_record(
        found["case"],
        fmt=fmt,
        tz=tz,
        title=f"case {case_id}",
        sections={
            "sla": (found["sla"], SLA_COLUMNS),
            "comments": (found["comments"], COMMENT_COLUMNS),
            "attachments": (found["attachments"], ATTACHMENT_COLUMNS),
            "pauses": (found["pauses"], PAUSE_COLUMNS),
            "history": (history, HISTORY_COLUMNS),
        },
    )
