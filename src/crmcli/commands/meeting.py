"""`crm meeting schedule|move|cancel`: meetings with a lead, their confirmation and reminders."""

from typing import Annotated

import typer

from crmcli import render
from crmcli.commands._shared import (
    FormatOption,
    LeadId,
    output_format,
    sub_app,
    write_with_tz,
)
from crmcli.commands.activity import AllowOverlap, Duration, PointsAs, messages_note

app = sub_app("Meetings with a lead: book, move or cancel them (confirmation and reminders).")

MeetingId = Annotated[int, typer.Argument(metavar="MEETING_ID", help="The meeting's id.")]


@app.command("schedule")
def meeting_schedule(
    ctx: typer.Context,
    lead_id: LeadId,
    at: Annotated[
        str | None,
        typer.Option(
            "--at", metavar="WHEN", help="When it starts, e.g. 'tue 10:00' or '2026-03-10 10:00'."
        ),
    ] = None,
    duration: Duration = None,
    subject: Annotated[str | None, typer.Option("--subject", help="What it is about.")] = None,
    attendee: Annotated[
        list[str] | None,
        typer.Option("--attendee", metavar="NAME", help="Who is expected (repeatable)."),
    ] = None,
    allow_overlap: AllowOverlap = False,
    points_as: PointsAs = None,
    output: FormatOption = None,
) -> None:
    """Book a meeting with a lead on your calendar; queues its confirmation to the lead and
    reminders ([reminders] before) to the lead and you, in business hours. Prints its id.

    Refused if --at is not ahead (exit 2) or it double-books you (exit 5; --allow-overlap).
    Mark it held with crm done ID.

    Example: crm meeting schedule 12 --at "2026-03-10 10:00" --duration 1h --subject Demo
    """
    from crmcli.services import activities

    row, tz = write_with_tz(
        ctx,
        lambda tx: activities.schedule_meeting(
            tx,
            lead_id,
            at=at,
            duration=duration,
            subject=subject,
            attendees=attendee or [],
            allow_overlap=allow_overlap,
            points_as=points_as,
        ),
    )
    if row["details"].get("overlaps"):
        ids = ", ".join(map(str, row["details"]["overlaps"]))
        render.note(f"booked despite a clash with {ids} (--allow-overlap, audited)")
    messages_note(row["messages"], tz)
    render.emit_created(row, fmt=output_format(ctx, output), tz=tz)


@app.command("move")
def meeting_move(
    ctx: typer.Context,
    meeting_id: MeetingId,
    at: Annotated[
        str | None,
        typer.Option(
            "--at", metavar="WHEN", help="Its new start, e.g. 'wed 14:00' or '2026-03-11 14:00'."
        ),
    ] = None,
    duration: Duration = None,
    allow_overlap: AllowOverlap = False,
    output: FormatOption = None,
) -> None:
    """Move a booked meeting: what was queued for it is cancelled and a new confirmation and
    reminders are queued for the new time.

    Example: crm meeting move 31 --at "2026-03-11 14:00"
    """
    from crmcli.services import activities

    row, tz = write_with_tz(
        ctx,
        lambda tx: activities.move_meeting(
            tx, meeting_id, at=at, duration=duration, allow_overlap=allow_overlap
        ),
    )
    if not row["changed"]:
        render.note(f"meeting {meeting_id} is already booked then; nothing changed")
    messages_note(row["messages"], tz)
    fmt = output_format(ctx, output)
    if fmt in ("json", "csv", "ids"):
        render.emit_record(row, fmt=fmt, tz=tz)


@app.command("cancel")
def meeting_cancel(
    ctx: typer.Context,
    meeting_id: MeetingId,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in history).")] = None,
    output: FormatOption = None,
) -> None:
    """Cancel a booked meeting: its queued confirmation and reminders are cancelled, and the
    lead gets [reminders] cancellation if they had been told of it. Again is a no-op.

    Example: crm meeting cancel 31 --reason "customer asked to postpone"
    """
    from crmcli.services import activities

    row, tz = write_with_tz(
        ctx, lambda tx: activities.cancel_meeting(tx, meeting_id, reason=reason)
    )
    render.note(
        f"meeting {meeting_id} cancelled"
        if row["changed"]
        else f"meeting {meeting_id} was already cancelled; nothing changed"
    )
    messages_note(row["messages"], tz)
    fmt = output_format(ctx, output)
    if fmt in ("json", "csv", "ids"):
        render.emit_record(row, fmt=fmt, tz=tz)
