"""`crm assign` (who owns a lead) and `crm user away` (who is out of the office)."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from crmcli import render
from crmcli.commands import completion
from crmcli.commands._shared import FormatOption, output_format, workspace, write_with_tz
from crmcli.errors import BadInput

if TYPE_CHECKING:
    from crmcli.services.workspace import Tx

ASSIGN_COLUMNS = ("lead", "name", "owner", "reason", "follow_up_due")
# json/csv: stable for scripts; `reasons` and `warnings` are lists (joined in csv)
ASSIGN_FIELDS = (
    "lead",
    "name",
    "owner",
    "previous_owner",
    "changed",
    "reason",
    "reasons",
    "warnings",
    "assigned_at",
    "follow_up_due",
)
REP_FIELDS = ("rep", "capacity", "load_before", "load_after", "assigned", "availability")
REP_COLUMNS = ("rep", "load", "assigned", "availability")
AWAY_COLUMNS = ("id", "user", "starts_on", "ends_on", "days", "current")


def assign(
    ctx: typer.Context,
    lead_id: Annotated[
        int | None,
        typer.Argument(
            metavar="ID", help="The lead to assign.", autocompletion=completion.lead_ids
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="USER",
            autocompletion=completion.user_names,
            help="Give the lead to this user ('me' for yourself) instead of routing it.",
        ),
    ] = None,
    unassigned: Annotated[
        bool, typer.Option("--unassigned", help="Route every open lead that has no owner.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="With --unassigned: show the plan, change nothing."),
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show the full reason chain for each choice.")
    ] = False,
    output: FormatOption = None,
) -> None:
    """Assign a lead by territory, expertise and availability, or by hand.

    Routing prefers a rep whose territory names the lead's region, then its country, then a
    rep without territories; then a skill matching the lead's industry; away and full reps are
    skipped; ties go to the rep assigned least recently. Assigning starts the 48-hour
    follow-up clock. --unassigned exits 5 only if leads were waiting and none could be given.

    Example: crm assign 12 --explain

    Example: crm assign --unassigned --dry-run
    """
    from crmcli.services import assignment

    if (lead_id is None) == (not unassigned):
        raise BadInput("give a lead ID or --unassigned (exactly one); e.g. crm assign 12")
    if dry_run and not unassigned:
        raise BadInput("--dry-run works with --unassigned; e.g. crm assign --unassigned --dry-run")
    if to is not None and unassigned:
        raise BadInput("--to assigns one lead; give an ID: crm assign 12 --to maria")
    fmt = output_format(ctx, output)
    space = workspace(ctx)
    if lead_id is not None:
        row, tz = write_with_tz(
            ctx, lambda tx: assignment.assign_lead(tx, lead_id, to=to, explain=explain)
        )
        for warning in row["warnings"]:
            render.note(f"warning: {warning}")
        if not row["changed"]:
            render.note(f"lead {lead_id} already belongs to {row['owner']}; nothing changed")
        _emit_assignments([row], fmt=fmt, tz=tz)
        return

    def assign_all(tx: "Tx") -> tuple[Any, Any]:
        batch = assignment.assign_unassigned(tx, dry_run=dry_run, explain=explain)
        return batch, tx.policy.timezone

    batch, tz = (space.read if dry_run else space.write)(assign_all)  # a dry run only reads
    if fmt == "json":
        summary = {"dry_run": batch.dry_run, "assigned": batch.assigned, "left": batch.left}
        sections = {
            "assignments": (batch.assignments, ASSIGN_FIELDS),
            "reps": (batch.reps, REP_FIELDS),
        }
        render.emit_record(summary, fmt=fmt, tz=tz, sections=sections)
    elif fmt == "table":
        title = "plan (dry run: nothing written)" if dry_run else "assignments"
        _emit_assignments(batch.assignments, fmt=fmt, tz=tz, title=title)
        reps = [{**rep, "load": _load_change(rep)} for rep in batch.reps]
        render.emit(reps, fmt=fmt, table_columns=REP_COLUMNS, title="reps", empty="no reps")
    else:
        _emit_assignments(batch.assignments, fmt=fmt, tz=tz)
    verb = "would assign" if dry_run else "assigned"
    render.note(f"{verb} {batch.assigned} lead(s); {batch.left} left unassigned")
    refusal = batch.refusal()
    if refusal is not None:
        raise refusal


def _emit_assignments(
    rows: list[dict[str, Any]], *, fmt: str, tz: Any, title: str | None = None
) -> None:
    if fmt == "ids":  # the leads that have (or would have) an owner, for xargs
        rows = [{"id": row["lead"]} for row in rows if row["owner"]]
    render.emit(
        rows,
        fmt=fmt,
        columns=ASSIGN_FIELDS if fmt != "ids" else ("id",),
        table_columns=ASSIGN_COLUMNS,
        title=title,
        tz=tz,
        empty="no open unassigned leads",
    )


def _load_change(rep: dict[str, Any]) -> str:
    cap = "" if rep["capacity"] is None else f"/{rep['capacity']}"
    return f"{rep['load_before']}{cap} → {rep['load_after']}{cap}"


def user_away(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="USER", help="The user ('me' for yourself).")],
    starts: Annotated[
        str | None,
        typer.Argument(metavar="FROM", help="First day away, e.g. 2026-03-09."),
    ] = None,
    ends: Annotated[
        str | None,
        typer.Argument(metavar="TO", help="Last day away, inclusive (default: FROM)."),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove USER's current and future away periods.")
    ] = False,
    output: FormatOption = None,
) -> None:
    """Mark a user out of office (routing skips them), list their absences, or --clear them.

    Admins set anyone's dates; editors their own. With only USER, lists the periods.

    Example: crm user away maria 2026-03-09 2026-03-13
    """
    from crmcli.services import assignment

    fmt = output_format(ctx, output)
    space = workspace(ctx)
    if clear:
        if starts is not None:
            raise BadInput("--clear removes every current and future period; give no dates")
        rows = space.write(lambda tx: assignment.clear_away(tx, name))
        if fmt == "table":
            render.note(f"cleared {len(rows)} away period(s)")
        else:
            render.emit(rows, fmt=fmt, columns=AWAY_COLUMNS)
        return
    if starts is None:
        with space.reading() as tx:
            rows = assignment.list_away(tx, name)
        render.emit(rows, fmt=fmt, columns=AWAY_COLUMNS, empty="no away periods")
        return
    row = space.write(lambda tx: assignment.set_away(tx, name, starts, ends))
    render.note(f"{row['user']} away {row['starts_on']} → {row['ends_on']} ({row['days']} day(s))")
    render.emit_created(row, fmt=fmt)
