"""`crm quote …`: quotes with lines, approvals, sending, acceptance and export."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crmcli import render
from crmcli.commands._shared import (
    FormatOption,
    OpportunityId,
    output_format,
    sub_app,
    workspace,
    write_with_tz,
)
from crmcli.errors import BadInput

if TYPE_CHECKING:
    from crmcli.services.workspace import Tx

app = sub_app("Quotes: lines, approval, sending, the customer's PO, export.")

QuoteArg = Annotated[str, typer.Argument(metavar="QUOTE", help="Quote number (Q-0007 or 7).")]
Reason = Annotated[str, typer.Option("--reason", help="Why (kept with the decision).")]
SUMMARY = (
    "number",
    "lead",
    "kind",
    "status",
    "currency",
    "valid_until",
    "subtotal",
    "discount",
    "total",
    "owner",
    "po_number",
)


def _report(ctx: typer.Context, record: dict[str, Any], output: str | None, message: str) -> None:
    """A changed quote: the record for scripts (json, csv, ids), one line for people."""
    fmt = output_format(ctx, output)
    if fmt in ("json", "csv", "ids"):
        _emit_quote(record, fmt)
    else:
        render.note(message)


def _emit_quote(record: dict[str, Any], fmt: str, tz: Any = None) -> None:
    from crmcli.services.quotes import APPROVAL_FIELDS, LINE_FIELDS

    if fmt == "csv":  # a quote's rows are its lines
        render.emit(record["lines"], fmt="csv", columns=LINE_FIELDS)
    elif fmt in ("json", "ids"):
        render.emit_record(record, fmt=fmt, tz=tz)
    else:
        summary = {key: record[key] for key in SUMMARY}
        reasons = record["approval_reasons"]
        summary["approval"] = (
            "; ".join(reasons) if reasons else "not needed" if record["lines"] else ""
        )
        render.emit_record(
            {k: v for k, v in summary.items() if v not in (None, "")},
            fmt="table",
            tz=tz,
            title=f"quote {record['number']}",
            sections={
                "lines": (record["lines"], LINE_FIELDS),
                "approvals": (record["approvals"], APPROVAL_FIELDS),
            },
        )


def _status_line(record: dict[str, Any]) -> str:
    text = f"quote {record['number']}: {record['status']}, total {record['total']} "
    text += record["currency"]
    if record["status"] == "submitted" and record["approval_reasons"]:
        text += f"; needs approval: {'; '.join(record['approval_reasons'])}"
    return text


@app.command("new")
def quote_new(
    ctx: typer.Context,
    lead_id: OpportunityId,
    valid_until: Annotated[
        str | None,
        typer.Option(
            "--valid-until",
            metavar="YYYY-MM-DD",
            help="Last day the quote holds (default: policy quotes.valid_days from today).",
        ),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option("--currency", help="ISO 4217 code (default: policy quotes.currency)."),
    ] = None,
    output: FormatOption = None,
) -> None:
    """Start a draft quote for a lead or opportunity; prints its id. Quoting a lead qualifies
    it into an opportunity when the stage gates allow; otherwise the quote stays on the lead.

    Example: crm quote new 12 --valid-until 2026-04-30
    """
    from crmcli.services import quotes

    made, tz = write_with_tz(
        ctx, lambda tx: quotes.new_quote(tx, lead_id, valid_until=valid_until, currency=currency)
    )
    record = made.quote
    if made.qualified:
        render.note(f"lead {lead_id} qualified into an opportunity with this quote")
    elif made.not_qualified_because:
        render.note(
            f"quote attached to lead {lead_id}, which stays a lead: {made.not_qualified_because}"
        )
    render.emit_created(
        {k: v for k, v in record.items() if k not in ("lines", "approvals")},
        fmt=output_format(ctx, output),
        tz=tz,
    )


@app.command("line")
def quote_line(
    ctx: typer.Context,
    quote: QuoteArg,
    product: Annotated[str | None, typer.Option("--product", help="Product name.")] = None,
    sku: Annotated[str | None, typer.Option("--sku", help="Product SKU.")] = None,
    qty: Annotated[str, typer.Option("--qty", metavar="N", help="Quantity (e.g. 3 or 2.5).")] = (
        "1"
    ),
    price: Annotated[
        str | None, typer.Option("--price", metavar="AMOUNT", help="Unit price, e.g. 1250.00.")
    ] = None,
    discount: Annotated[
        str | None, typer.Option("--discount", metavar="PCT", help="Line discount in percent.")
    ] = None,
    remove: Annotated[
        int | None, typer.Option("--remove", metavar="LINE", help="Remove line number LINE.")
    ] = None,
    output: FormatOption = None,
) -> None:
    """Add a line to a draft quote (or --remove one); lines change only in draft.

    Example: crm quote line Q-0007 --product "Router X2" --qty 3 --price 1250 --discount 10
    """
    from crmcli.services import quotes

    def change(tx: "Tx") -> tuple[dict[str, Any], str]:
        if remove is not None:
            if any(v is not None for v in (product, sku, price, discount)):
                raise BadInput("--remove: give it alone, without the options of a new line")
            record = quotes.remove_line(tx, quote, remove)
            return record, f"removed line {remove} of quote {record['number']}"
        if price is None:
            raise BadInput("--price: give the unit price, e.g. --price 1250.00")
        line = quotes.LineInput(product, sku, qty, price, discount)
        record = quotes.add_line(tx, quote, line)
        return record, f"added line {len(record['lines'])} to quote {record['number']}"

    record, message = workspace(ctx).write(change)
    _report(ctx, record, output, f"{message}; total {record['total']} {record['currency']}")


@app.command("show")
def quote_show(ctx: typer.Context, quote: QuoteArg, output: FormatOption = None) -> None:
    """Show a quote: lines, subtotal, discount, total, status and approvals (csv: its lines).

    Example: crm quote show Q-0007 --format json
    """
    from crmcli.services import quotes

    with workspace(ctx).reading() as tx:
        record = quotes.show(tx, quote)
        tz = tx.policy.timezone
    _emit_quote(record, output_format(ctx, output), tz)


@app.command("list")
def quote_list(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="draft, submitted, approved, rejected, sent, accepted or expired.",
        ),
    ] = None,
    lead: Annotated[
        int | None, typer.Option("--lead", metavar="ID", help="Quotes of this lead.")
    ] = None,
    output: FormatOption = None,
) -> None:
    """List quotes, oldest first.

    Example: crm quote list --status submitted
    """
    from crmcli.services import quotes

    with workspace(ctx).reading() as tx:
        rows = quotes.list_quotes(tx, status=(status or "").strip().lower() or None, lead_id=lead)
        tz = tx.policy.timezone
    render.emit(
        rows,
        fmt=output_format(ctx, output),
        columns=quotes.QUOTE_FIELDS,
        table_columns=quotes.LIST_FIELDS,
        tz=tz,
        empty="no quotes match",
    )


@app.command("submit")
def quote_submit(ctx: typer.Context, quote: QuoteArg, output: FormatOption = None) -> None:
    """Submit a draft: within the policy it is approved at once; above a threshold (discount,
    total) it waits for an approver, who owes a decision (quote.approval).

    Example: crm quote submit Q-0007
    """
    from crmcli.services import quotes

    record = workspace(ctx).write(lambda tx: quotes.submit(tx, quote))
    _report(ctx, record, output, _status_line(record))


def _decide(ctx: typer.Context, quote: str, decision: str, reason: str, output: Any) -> None:
    from crmcli.services import quotes

    record = workspace(ctx).write(lambda tx: quotes.decide(tx, quote, decision, reason))
    _report(ctx, record, output, f"quote {record['number']} {decision}")


@app.command("approve")
def quote_approve(
    ctx: typer.Context, quote: QuoteArg, reason: Reason, output: FormatOption = None
) -> None:
    """Approve a submitted quote (the policy's approver role or named approvers).

    Example: crm quote approve Q-0007 --reason "strategic account, margin ok"
    """
    _decide(ctx, quote, "approved", reason, output)


@app.command("reject")
def quote_reject(
    ctx: typer.Context, quote: QuoteArg, reason: Reason, output: FormatOption = None
) -> None:
    """Reject a submitted quote; changing a line takes it back to draft to submit again.

    Example: crm quote reject Q-0007 --reason "discount above 20% needs a VP"
    """
    _decide(ctx, quote, "rejected", reason, output)


@app.command("send")
def quote_send(ctx: typer.Context, quote: QuoteArg, output: FormatOption = None) -> None:
    """Mark a quote sent to the customer; refused (exit 5) while an approval is needed and
    missing, or once the quote has expired.

    Example: crm quote send Q-0007
    """
    from crmcli.services import quotes

    record = workspace(ctx).write(lambda tx: quotes.send(tx, quote))
    _report(ctx, record, output, _status_line(record))


@app.command("accept")
def quote_accept(
    ctx: typer.Context,
    quote: QuoteArg,
    po: Annotated[str, typer.Option("--po", metavar="PO#", help="The customer's PO number.")],
    close: Annotated[
        bool,
        typer.Option(
            "--close/--no-close",
            help="Close the opportunity as won through its gate (default) or only record "
            "the order.",
        ),
    ] = True,
    output: FormatOption = None,
) -> None:
    """Record the customer's order on a sent quote and close its opportunity as won.

    Example: crm quote accept Q-0007 --po PO-4471
    """
    from crmcli.services import quotes

    accepted = workspace(ctx).write(lambda tx: quotes.accept(tx, quote, po, close=close))
    record = accepted.quote
    message = f"quote {record['number']} accepted with PO {record['po_number']}"
    if accepted.closed:
        message += f"; lead {record['lead_id']} is now {accepted.closed['stage']}"
    _report(ctx, record, output, message)


@app.command("export")
def quote_export(
    ctx: typer.Context,
    quote: QuoteArg,
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE.md|FILE.html", help="Where to write it.")
    ],
) -> None:
    """Write the quote as a self-contained Markdown or HTML document for the customer.

    Example: crm quote export Q-0007 --out quote-Q-0007.html
    """
    from crmcli.render import documents
    from crmcli.services import quotes

    kind = documents.kind_for(out)
    with workspace(ctx).reading() as tx:
        record = quotes.show(tx, quote)
        tz = tx.policy.timezone
    text = documents.quote_document(record, kind, tz=tz)
    from crmcli.files import write_file

    write_file(out, text, option="--out")  # owner-only: the customer's prices and names
    render.note(f"wrote quote {record['number']} to {out}")
