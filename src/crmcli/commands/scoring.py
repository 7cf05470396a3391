"""`crm score` and `crm lead event`: scoring leads and the engagement signals behind scores."""

from datetime import tzinfo
from typing import Annotated, Any

import typer

from crmcli import render
from crmcli.commands._shared import FormatOption, LeadId, output_format, write_with_tz


def _bant(flag: str, what: str) -> Any:
    return Annotated[
        int,
        typer.Option(flag, metavar="N", help=f"{what}, 0-25 (the policy's scoring.bant maximum)."),
    ]


Budget = _bant("--budget", "Budget: can they pay")
Authority = _bant("--authority", "Authority: do they decide")
Need = _bant("--need", "Need: how much they need it")
Timeline = _bant("--timeline", "Timeline: how soon they buy")


def score(
    ctx: typer.Context,
    lead_id: LeadId,
    budget: Budget,
    authority: Authority,
    need: Need,
    timeline: Timeline,
    output: FormatOption = None,
) -> None:
    """Score a lead with BANT (0-25 each, total 0-100) and act on its band.

    The band decides the next step: nurture (status nurture), scheduled follow-up (a task),
    immediate sales or executive contact (a task due within business hours; executives are
    notified). Every scoring is kept in the lead's score history and audited.

    Example: crm score 12 --budget 20 --authority 15 --need 25 --timeline 10
    """
    from crmcli.services import scoring

    values = {"budget": budget, "authority": authority, "need": need, "timeline": timeline}
    result, tz = write_with_tz(ctx, lambda tx: scoring.score_lead(tx, lead_id, values))
    if result["policy_model"] != result["model"]:
        render.note(
            f"note: the policy scores with the {result['policy_model']} model; this BANT "
            f"score stands until the next engagement event re-scores lead {lead_id}"
        )
    _emit(result, fmt=output_format(ctx, output), tz=tz, title=f"lead {lead_id} scored")


def lead_event(
    ctx: typer.Context,
    lead_id: LeadId,
    kind: Annotated[
        str,
        typer.Argument(
            metavar="KIND",
            help="An event kind of the policy's scoring.engagement.events; by default "
            "web-visit, download, email-open, demo-request, pricing-inquiry or form.",
        ),
    ],
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="WHEN",
            help="When it happened (default now), e.g. '2h ago' or '2026-03-06 16:30'.",
        ),
    ] = None,
    output: FormatOption = None,
) -> None:
    """Record an engagement event; under the engagement model the lead is re-scored.

    Example: crm lead event 12 demo-request --at "2026-03-06 10:15"
    """
    from crmcli.services import scoring

    result, tz = write_with_tz(ctx, lambda tx: scoring.record_event(tx, lead_id, kind, at=at))
    _emit(result, fmt=output_format(ctx, output), tz=tz, title=f"lead {lead_id}: {result['kind']}")


def _emit(result: dict[str, Any], *, fmt: str, tz: tzinfo, title: str) -> None:
    if fmt != "table":
        render.emit_record(result, fmt=fmt, tz=tz)
        return
    rows: dict[str, Any] = {}
    if "event" in result:
        rows["event"] = f"{result['event']}: {result['kind']}"
        rows["at"] = result["event_at"]
    was = result.get("previous_score")
    rows["score"] = "-" if result["score"] is None else str(result["score"])
    if result["scored"] and was is not None and was != result["score"]:
        rows["score"] += f" (was {was})"
    rows["band"] = result["band"] or "-"
    if result["scored"]:
        rows["breakdown"] = breakdown_text(result["breakdown"])
    rows["action"] = action_text(result, tz)
    render.emit_record(rows, fmt="table", tz=tz, title=title)


def breakdown_text(breakdown: dict[str, Any]) -> str:
    """ "budget 20 + authority 15 + …" (BANT) or the engagement model's capped subtotals."""
    terms = breakdown.get("subtotals", breakdown)
    return " + ".join(f"{term} {points}" for term, points in terms.items())


def action_text(result: dict[str, Any], tz: tzinfo) -> str:
    """What the band's action did, in a sentence for the table."""
    if not result["scored"]:
        return f"not scored (the policy's scoring model is {result['policy_model']})"
    taken, task = result["action_taken"], result["task"]
    parts = []
    if taken == "skipped":
        parts.append(f"none: {result['reason']}")
    if result["nurture"] == "enrolled":
        parts.append("entered the nurture program (status nurture)")
    elif result["nurture"] == "left":
        parts.append(f"left the nurture program (status {result['status']})")
    if task is not None:
        due = task["due_at"].astimezone(tz).strftime("%a %Y-%m-%d %H:%M")
        state = "created" if task["new"] else "already open"
        parts.append(
            f"task {task['id']} {state}: {task['subject']} for {task['assignee']}, due {due}"
        )
    if result["notified"]:
        parts.append(f"notified {', '.join(result['notified'])}")
    if result["cancelled_tasks"]:
        ids = ", ".join(str(i) for i in result["cancelled_tasks"])
        parts.append(f"cancelled task {ids} of the band left")
    return "; ".join(parts) or "none"
