"""`crm report …`: what breached policy, and (later) how the pipeline performs."""

from typing import Annotated

import typer

from crmcli import render
from crmcli.commands._shared import FormatOption, output_format, sub_app, workspace
from crmcli.errors import BadInput, CheckFailed

app = sub_app("Reports: overdue obligations (cron-ready).")

TABLE_COLUMNS = ("rule", "record", "title", "due_at", "overdue_by")


def _overdue_by(seconds: int) -> str:
    from datetime import timedelta

    from crmcli.rules.durations import format_duration

    text = format_duration(timedelta(seconds=abs(seconds)))
    return text if seconds > 0 else f"due in {text}"


@app.command("overdue")
def report_overdue(
    ctx: typer.Context,
    owner: Annotated[
        str | None,
        typer.Option("--owner", help="Only this user's items ('me', or 'none' for unassigned)."),
    ] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="Only this rule id.")] = None,
    due_within: Annotated[
        str | None,
        typer.Option(
            "--due-within", metavar="DURATION", help="Also list what falls due within, e.g. 2d."
        ),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when anything is overdue (for cron).")
    ] = False,
    output: FormatOption = None,
) -> None:
    """Every open obligation past its due time (SPEC §4 rules), grouped by owner.

    Example: crm report overdue --owner me --due-within 2d
    """
    from crmcli.rules.durations import parse_duration
    from crmcli.services.reports import OVERDUE_FIELDS, overdue_lines, overdue_rows

    within = None
    if due_within is not None:
        try:
            within = parse_duration(due_within)
        except ValueError as exc:
            raise BadInput(f"--due-within: {exc}") from None
    fmt = output_format(ctx, output)
    overdue_count = 0
    late = OVERDUE_FIELDS.index("overdue_by_seconds")

    def counted(rows):  # noqa: ANN001, ANN202
        nonlocal overdue_count
        for row in rows:
            overdue_count += row[late] > 0
            yield row

    with workspace(ctx).reading() as tx:
        tz = tx.policy.timezone
        filters = {"owner": owner, "rule": rule, "due_within": within}
        rows = counted(overdue_rows(tx, **filters))
        if fmt == "table":
            _table([dict(zip(OVERDUE_FIELDS, row, strict=True)) for row in rows], tz)
        elif fmt == "ids":
            record = OVERDUE_FIELDS.index("record_id")
            render.emit_stream(((row[record],) for row in rows), fmt="ids", columns=("id",))
        elif (made := overdue_lines(tx, fmt, **filters)) is not None:
            lines, overdue_count = made  # SQLite wrote each line: millions of rows
            render.emit_lines(lines, fmt=fmt, columns=OVERDUE_FIELDS)
        else:
            render.emit_stream(rows, fmt=fmt, columns=OVERDUE_FIELDS, tz=tz)
    if check and overdue_count:
        raise CheckFailed(f"{overdue_count} obligation{'s' if overdue_count != 1 else ''} overdue")


def for_table(rows: list[dict]) -> list[dict]:
    """Report rows with the human columns the table shows (record, overdue_by)."""
    for row in rows:
        row["record"] = f"{row['record_type']} {row['record_id']}"
        row["overdue_by"] = _overdue_by(row["overdue_by_seconds"])
    return rows


def _table(rows: list[dict], tz) -> None:  # noqa: ANN001
    if not rows:
        render.note("nothing overdue")
        return
    groups: dict[str, list[dict]] = {}
    for row in for_table(rows):
        groups.setdefault(row["owner"] or "(unassigned)", []).append(row)
    for owner, items in groups.items():
        late = sum(1 for r in items if r["overdue_by_seconds"] > 0)
        soon = len(items) - late
        title = f"{owner}: {late} overdue" + (f", {soon} due soon" if soon else "")
        render.emit(items, fmt="table", columns=TABLE_COLUMNS, title=title, tz=tz)
