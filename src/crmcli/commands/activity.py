"""Activities: `crm log-call|log-meeting|log-email|log-chat|note|next-step|done|agenda|points`."""

import sys
from datetime import tzinfo
from pathlib import Path
from typing import Annotated

import typer

from crmcli import render
from crmcli.commands._shared import FormatOption, LeadId, output_format, workspace, write_with_tz
from crmcli.errors import BadInput

AGENDA_COLUMNS = ("id", "start", "end", "kind", "lead", "subject", "overdue")
POINTS_COLUMNS = (
    "kind",
    "points_each",
    "count",
    "points",
    "recommended",
    "recommended_points",
    "quota",
)

At = Annotated[
    str | None,
    typer.Option(
        "--at",
        metavar="WHEN",
        help="When it happened (default now), e.g. '2h ago', 'yesterday 15:00' or "
        "'2026-03-06 14:00'.",
    ),
]
Duration = Annotated[
    str | None, typer.Option("--duration", metavar="DURATION", help="How long, e.g. 15m or 1h.")
]
Notes = Annotated[str | None, typer.Option("--notes", help="What was said or agreed.")]
Inbound = Annotated[bool, typer.Option("--inbound", help="They contacted us (default: outbound).")]
PointsAs = Annotated[
    str | None,
    typer.Option(
        "--points-as",
        metavar="KIND",
        help="Earn the points of this [activities.points] kind, e.g. discovery_meeting.",
    ),
]
AllowOverlap = Annotated[
    bool,
    typer.Option("--allow-overlap", help="Book it even if it clashes with your calendar."),
]
RepOption = Annotated[
    str | None,
    typer.Option("--user", metavar="USER", help="Whose (default: you; 'me' works too)."),
]


def _emit_activity(ctx: typer.Context, row: dict, tz: tzinfo, output: str | None) -> None:
    render.emit_created(row, fmt=output_format(ctx, output), tz=tz)


def log_call(
    ctx: typer.Context,
    lead_id: LeadId,
    outcome: Annotated[str, typer.Option("--outcome", help="connected, voicemail or no-answer.")],
    notes: Notes = None,
    at: At = None,
    duration: Duration = None,
    inbound: Inbound = False,
    points_as: PointsAs = None,
    output: FormatOption = None,
) -> None:
    """Log a phone call with a lead; an outbound call counts as a response. Prints its id.

    Example: crm log-call 12 --outcome connected --notes "wants a demo" --duration 15m
    """
    from crmcli.services import activities

    row, tz = write_with_tz(
        ctx,
        lambda tx: activities.log_call(
            tx,
            lead_id,
            outcome=outcome,
            notes=notes,
            at=at,
            duration=duration,
            inbound=inbound,
            points_as=points_as,
        ),
    )
    _emit_activity(ctx, row, tz, output)


def log_meeting(
    ctx: typer.Context,
    lead_id: LeadId,
    attendee: Annotated[
        list[str] | None,
        typer.Option(
            "--attendee", metavar="NAME", help="Who took part (repeatable; at least one)."
        ),
    ] = None,
    topic: Annotated[
        list[str] | None,
        typer.Option("--topic", metavar="TOPIC", help="A topic covered (repeatable)."),
    ] = None,
    issue: Annotated[
        list[str] | None,
        typer.Option(
            "--issue", metavar="ISSUE", help="An issue, request or opportunity raised (repeatable)."
        ),
    ] = None,
    action_item: Annotated[
        list[str] | None,
        typer.Option(
            "--action-item",
            metavar="TEXT@DUE",
            help="A follow-up and its due, e.g. 'send pricing@2026-03-10 09:00' (repeatable); "
            "each becomes an open task.",
        ),
    ] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="What the meeting was.")] = None,
    notes: Notes = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="WHEN",
            help="When it started (default now), e.g. '1h ago'; a later time, e.g. "
            "'tue 10:00', schedules the meeting.",
        ),
    ] = None,
    duration: Duration = None,
    allow_overlap: AllowOverlap = False,
    points_as: PointsAs = None,
    output: FormatOption = None,
) -> None:
    """Log a meeting with its call report: players, topics, issues, action items.

    Each action item becomes an open task. A meeting that double-books you is refused
    (exit 5) unless --allow-overlap. Prints the meeting's id.

    Example: crm log-meeting 12 --attendee Ada --topic pricing --action-item "send quote@2026-03-10"
    """
    from crmcli.services import activities

    row, tz = write_with_tz(
        ctx,
        lambda tx: activities.log_meeting(
            tx,
            lead_id,
            attendees=attendee or [],
            topics=topic or [],
            issues=issue or [],
            action_items=action_item or [],
            subject=subject,
            notes=notes,
            at=at,
            duration=duration,
            allow_overlap=allow_overlap,
            points_as=points_as,
        ),
    )
    if row["status"] == "open":
        render.note(f"scheduled: mark meeting {row['id']} done once held: crm done {row['id']}")
    if row["details"].get("overlaps"):
        render.note(_overlap_note(row))
    if row["tasks"]:
        render.note(f"action items are open tasks {', '.join(map(str, row['tasks']))}")
    messages_note(row["messages"], tz)
    _emit_activity(ctx, row, tz, output)


def log_email(
    ctx: typer.Context,
    lead_id: LeadId,
    subject: Annotated[str | None, typer.Option("--subject", help="The email's subject.")] = None,
    notes: Notes = None,
    inbound: Inbound = False,
    at: At = None,
    points_as: PointsAs = None,
    eml: Annotated[
        Path | None,
        typer.Option(
            "--eml",
            metavar="FILE",
            help="Log a saved RFC 5322 message: subject, date, body, direction from it.",
        ),
    ] = None,
    output: FormatOption = None,
) -> None:
    """Log an email to (or with --inbound, from) a lead, or a saved message (--eml).
    Prints its id.

    Example: crm log-email 12 --subject "Pricing" --notes "sent the price list"
    """
    from crmcli.services import activities

    if eml is not None:
        given = [
            flag
            for flag, value in (
                ("--subject", subject),
                ("--notes", notes),
                ("--at", at),
                ("--inbound", inbound or None),
            )
            if value is not None
        ]
        if given:
            raise BadInput(f"{given[0]}: --eml takes these from the message; drop {given[0]}")
        from crmcli.services import mailbox

        (row, logged), tz = write_with_tz(ctx, lambda tx: mailbox.log_eml(tx, lead_id, eml))
        if not logged:
            render.note(f"already logged as activity {row['id']}; nothing changed")
        _emit_activity(ctx, row, tz, output)
        return
    row, tz = write_with_tz(
        ctx,
        lambda tx: activities.log_email(
            tx,
            lead_id,
            subject=subject,
            notes=notes,
            inbound=inbound,
            at=at,
            points_as=points_as,
        ),
    )
    _emit_activity(ctx, row, tz, output)


def log_chat(
    ctx: typer.Context,
    lead_id: LeadId,
    notes: Notes = None,
    inbound: Inbound = False,
    at: At = None,
    points_as: PointsAs = None,
    output: FormatOption = None,
) -> None:
    """Log a chat or text message with a lead. Prints its id.

    Example: crm log-chat 12 --notes "confirmed Tuesday" --inbound
    """
    from crmcli.services import activities

    row, tz = write_with_tz(
        ctx,
        lambda tx: activities.log_chat(
            tx, lead_id, notes=notes, inbound=inbound, at=at, points_as=points_as
        ),
    )
    _emit_activity(ctx, row, tz, output)


def note(
    ctx: typer.Context,
    lead_id: LeadId,
    text: Annotated[str, typer.Argument(help="The note.")],
    at: At = None,
    output: FormatOption = None,
) -> None:
    """Add a note to a lead (not a contact with them). Prints its id.

    Example: crm note 12 "prefers email after 3pm"
    """
    from crmcli.services import activities

    row, tz = write_with_tz(ctx, lambda tx: activities.note(tx, lead_id, text, at=at))
    _emit_activity(ctx, row, tz, output)


def next_step(
    ctx: typer.Context,
    lead_id: LeadId,
    text: Annotated[str, typer.Argument(help="What the next step is.")],
    due: Annotated[
        str | None,
        typer.Option(
            "--due",
            metavar="WHEN",
            help="When it is due, e.g. 'tomorrow 10:00', 'fri 14:00', '+2d', 'eod' or "
            "'2026-03-09 10:00'.",
        ),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration", metavar="DURATION", help="Time to allocate (default: policy, 30m)."
        ),
    ] = None,
    allow_overlap: AllowOverlap = False,
    points_as: PointsAs = None,
    output: FormatOption = None,
) -> None:
    """Schedule a lead's next step: an open task with time allocated on your calendar.

    Refused if --due is past (exit 2) or it double-books you (exit 5; --allow-overlap).
    Prints the task's id.

    Example: crm next-step 12 "demo for the CTO" --due "2026-03-09 10:00" --duration 1h
    """
    from crmcli.services import activities

    row, tz = write_with_tz(
        ctx,
        lambda tx: activities.next_step(
            tx,
            lead_id,
            text,
            due=due,
            duration=duration,
            allow_overlap=allow_overlap,
            points_as=points_as,
        ),
    )
    if row["details"].get("overlaps"):
        render.note(_overlap_note(row))
    _emit_activity(ctx, row, tz, output)


def done(
    ctx: typer.Context,
    task_id: Annotated[int, typer.Argument(metavar="TASK_ID", help="Task (or meeting) id.")],
    output: FormatOption = None,
) -> None:
    """Mark a task (or a scheduled meeting) done and earn its points; again is a no-op.

    Example: crm done 31
    """
    from crmcli.services import activities

    result, tz = write_with_tz(ctx, lambda tx: activities.done(tx, task_id))
    render.note(result.message)
    fmt = output_format(ctx, output)
    if fmt in ("json", "csv", "ids"):
        render.emit_record(result.activity, fmt=fmt, tz=tz)


def points(
    ctx: typer.Context,
    user: RepOption = None,
    month: Annotated[
        str | None,
        typer.Option("--month", metavar="YYYY-MM", help="Which month (default: this one)."),
    ] = None,
    output: FormatOption = None,
) -> None:
    """Activity points of a rep for a month, per kind, against recommended counts and quota.

    Example: crm points --user maria --month 2026-03 --format csv
    """
    from crmcli.services import activities

    fmt = output_format(ctx, output)
    if fmt == "ids":
        raise BadInput("--format: points rows have no ids; use table, json or csv")
    with workspace(ctx).reading() as tx:
        report = activities.points(tx, user, month)
    render.emit(report.rows(), fmt=fmt, columns=POINTS_COLUMNS)
    if fmt == "table":
        render.note(report.headline)


def agenda(
    ctx: typer.Context,
    days: Annotated[
        int, typer.Option("--days", help="How many days, today included (1 = rest of today).")
    ] = 7,
    user: RepOption = None,
    ics: Annotated[
        Path | None,
        typer.Option(
            "--ics", metavar="FILE", help="Also write an iCalendar (.ics) file; - for stdout."
        ),
    ] = None,
    output: FormatOption = None,
) -> None:
    """A rep's open tasks and scheduled meetings, overdue ones first. In the .ics file each
    meeting has an alarm per [reminders] before.

    Example: crm agenda --days 1 --ics today.ics
    """
    from crmcli.services import activities

    with workspace(ctx).reading() as tx:
        rows = activities.agenda(tx, user, days)
        tz = tx.policy.timezone
        stamp = tx.now
        alarms = activities.meeting_alarms(tx)
    if ics is not None:
        from crmcli.files import write_file
        from crmcli.render.calendar import agenda_ics

        calendar = agenda_ics(rows, stamp=stamp, alarms=alarms)
        if str(ics) == "-":
            sys.stdout.write(calendar.decode("utf-8"))
            return
        write_file(ics, calendar, option="--ics")  # owner-only: it names people
        render.note(f"wrote {sum(1 for r in rows if r['start'])} events to {ics}")
    render.emit(
        rows,
        fmt=output_format(ctx, output),
        columns=activities.AGENDA_FIELDS,
        table_columns=AGENDA_COLUMNS,
        tz=tz,
        empty="nothing on the agenda",
    )


def _overlap_note(row: dict) -> str:
    ids = ", ".join(map(str, row["details"]["overlaps"]))
    return f"booked despite a clash with {ids} (--allow-overlap, audited)"


def messages_note(messages: list[dict], tz: tzinfo) -> None:
    """One line per message a meeting queued (confirmation, reminders): what, to whom, when."""
    for item in messages:
        if item["outbox"] is None:
            render.note(item["detail"])
            continue
        when = item["scheduled_at"].astimezone(tz)
        render.note(f"queued: {item['detail']} for {when:%Y-%m-%d %H:%M} (outbox {item['outbox']})")
