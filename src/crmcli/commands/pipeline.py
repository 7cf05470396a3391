"""`crm advance` and `crm explain`: moving through the pipeline, and why things stand."""

from typing import Annotated

import typer

from crmcli import render
from crmcli.commands import completion
from crmcli.commands._shared import (
    FormatOption,
    OpportunityId,
    output_format,
    workspace,
    write_with_tz,
)


def _date(text: str | None, field: str):  # noqa: ANN202
    from crmcli.clock import parse_date

    return None if text is None else parse_date(text, field=field)


def _money(text: str | None):  # noqa: ANN202
    from crmcli.rules.deals import parse_amount

    return None if text is None else parse_amount(text)


def advance(
    ctx: typer.Context,
    lead_id: OpportunityId,
    stage: Annotated[
        str,
        typer.Argument(
            metavar="STAGE",
            help="Target stage key, or nurture (out of the active pipeline).",
            autocompletion=completion.stage_keys,
        ),
    ],
    po: Annotated[str | None, typer.Option("--po", help="Purchase order number.")] = None,
    lost_reason: Annotated[
        str | None, typer.Option("--lost-reason", help="Why it was lost.")
    ] = None,
    quote: Annotated[str | None, typer.Option("--quote", help="Quote reference.")] = None,
    close_date: Annotated[
        str | None,
        typer.Option("--close-date", metavar="YYYY-MM-DD", help="Expected or actual close date."),
    ] = None,
    amount: Annotated[
        str | None,
        typer.Option("--amount", help="Deal value (default past the quote stage: its quote's)."),
    ] = None,
    prospect_said_no: Annotated[
        bool,
        typer.Option(
            "--prospect-said-no",
            help="The prospect said no themselves (a policy may demand it for Closed Lost).",
        ),
    ] = False,
    type: Annotated[
        str | None,
        typer.Option("--type", help="Opportunity type (policy pipeline.opportunity_types)."),
    ] = None,
    output: FormatOption = None,
) -> None:
    """Move a lead to STAGE through the policy's gates (exit 5 names what is missing);
    `nurture` takes it out of the active pipeline into the nurture program instead.

    Example: crm advance 12 closed_won --po PO-4471 --amount 18000
    """
    from crmcli.services.pipeline import Move
    from crmcli.services.pipeline import advance as advance_lead

    move = Move(
        po_number=(po or "").strip() or None,
        lost_reason=(lost_reason or "").strip() or None,
        quote_ref=(quote or "").strip() or None,
        close_date=_date(close_date, "--close-date"),
        amount=_money(amount),
        prospect_said_no=prospect_said_no,
        type=type,
    )
    result, tz = write_with_tz(ctx, lambda tx: advance_lead(tx, lead_id, stage, move))
    fmt = output_format(ctx, output)
    if fmt in ("json", "csv"):
        render.emit_record(result, fmt=fmt, tz=tz)
        return
    message = f"lead {lead_id} is now in {result['stage']} ({result['status']})"
    if result["converted"]:
        message += (
            f"; converted to an opportunity (account {result['account_id']}, "
            f"contact {result['contact_id']})"
        )
    if result["skipped"]:
        message += f"; skipped {', '.join(result['skipped'])}"
    if result["amount_from"]:
        message += f"; amount {result['amount']} from quote {result['amount_from']}"
    render.note(message)


def explain(ctx: typer.Context, lead_id: OpportunityId, output: FormatOption = None) -> None:
    """Show a lead's score term by term, its band and what it triggers, its open obligations
    with the rule behind each, the ones met (and the activity that met each) or ended, and
    the gate before its next stage.

    Example: crm explain 12
    """
    from crmcli.services.pipeline import explain as explain_lead

    with workspace(ctx).reading() as tx:
        result = explain_lead(tx, lead_id)
        tz = tx.policy.timezone
    fmt = output_format(ctx, output)
    if fmt != "table":
        render.emit_record(result, fmt=fmt, tz=tz)
        return
    gate = result["next_gate"]
    summary = {
        "lead": f"{result['id']} {result['name']}",
        "kind / stage / status": f"{result['kind']} / {result['stage']} / {result['status']}",
        "score": "not scored"
        if result["score"] is None
        else f"{result['score']} ({result['score_model'] or 'set directly'})",
        "band": result["band"] or "",
        "band triggers": result["band_triggers"] or "",
        "next stage": ""
        if gate is None
        else (
            f"{gate['next_stage']}: "
            + ("open" if gate["allowed"] else "; ".join(gate["blocked_by"]))
        ),
    }
    terms = [{"term": k, "points": v} for k, v in result["score_terms"].items()]
    render.emit_record(
        summary,
        fmt="table",
        tz=tz,
        title=f"lead {lead_id}",
        sections={
            "score terms": (terms, ("term", "points")),
            "open obligations": (
                result["obligations"],
                ("rule", "title", "due_at", "overdue", "policy"),
            ),
            "met or ended": (
                result["settled"],
                ("rule", "title", "due_at", "status", "met_at", "met_with", "late"),
            ),
        },
    )
