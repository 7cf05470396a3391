"""`crm audit sample` (the quarterly audit of seed 003 §VI) and `crm doctor`."""

from pathlib import Path
from typing import Annotated

import typer

from crmcli import render
from crmcli.commands._shared import FormatOption, app_context, output_format, workspace
from crmcli.errors import BadInput, CheckFailed

SAMPLE_TABLE = (
    "lead_id",
    "lead",
    "owner",
    "entered",
    "responded",
    "followed_up",
    "changes_logged",
    "verdict",
    "findings",
)
DOCTOR_COLUMNS = ("check", "subject", "status", "detail")


def audit_sample(
    ctx: typer.Context,
    size: Annotated[
        int, typer.Argument(metavar="N", help="How many leads to draw (all, if fewer).")
    ],
    quarter: Annotated[
        str | None,
        typer.Option(
            "--quarter",
            metavar="YYYYQn",
            help="The quarter to audit, e.g. 2026Q3 (default: the last complete quarter).",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="Random seed: the same seed draws the same sample (default: a new one, shown).",
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="FILE",
            help="Also write the sample as one self-contained HTML page for the auditor "
            "(created owner-only: it names people).",
        ),
    ] = None,
    output: FormatOption = None,
) -> None:
    """Draw a reproducible random sample of N leads touched in a quarter and check each
    against the policy: entered within 24 h, responded within the SLA, followed up within
    48 h of assignment, every status change logged (the quarterly audit). Viewers may run
    it.

    Example: crm audit sample 25 --quarter 2026Q1 --seed 4711 --html audit-2026Q1.html
    """
    from crmcli.render.audit import sample_html, sample_rows, sample_summary, sample_title
    from crmcli.services.compliance import SAMPLE_FIELDS
    from crmcli.services.compliance import audit_sample as draw_and_check

    fmt = output_format(ctx, output)
    with workspace(ctx).reading() as tx:
        result = draw_and_check(tx, size, quarter, seed)
        tz = tx.policy.timezone
    if html is not None:  # first: a file that cannot be written fails the command cleanly
        from crmcli.files import write_file

        write_file(html, sample_html(result, tz), option="--html")  # owner-only: names people
    rows = result["rows"]
    meta = {key: value for key, value in result.items() if key != "rows"}
    if fmt == "json":
        render.emit_record(meta, fmt="json", tz=tz, sections={"leads": (rows, SAMPLE_FIELDS)})
    elif fmt == "ids":
        render.emit([{"id": row["lead_id"]} for row in rows], fmt="ids")
    elif fmt == "csv":
        render.emit(sample_rows(rows), fmt="csv", columns=SAMPLE_FIELDS, tz=tz)
    elif rows:
        render.emit(
            sample_rows(rows), fmt="table", columns=SAMPLE_TABLE, title=sample_title(result, tz)
        )
    render.note(sample_summary(result, tz))
    if html is not None:
        render.note(f"wrote {html}")


def doctor(ctx: typer.Context, output: FormatOption = None) -> None:
    """Check the database's health: owner-only permissions of the database file (0600) and
    its directory (0700), the schema version, the stored policy, the audit chain, and every
    record's obligations recomputed against the stored ones (drift). Exits 1 listing each
    problem on its own line. Read-only: viewers may run it.

    Example: crm doctor --format json
    """
    from crmcli.services.compliance import doctor as examine

    fmt = output_format(ctx, output)
    if fmt == "ids":
        raise BadInput("--format: doctor has no ids to list; use table, json or csv")
    report = examine(app_context(ctx))
    checks, problems = report["checks"], report["problems"]
    if fmt == "json":
        summary = {key: report[key] for key in ("database", "ok", "problems")}
        render.emit_record(summary, fmt="json", sections={"checks": (checks, DOCTOR_COLUMNS)})
    else:
        render.emit(
            checks, fmt=fmt, columns=DOCTOR_COLUMNS, title=f"crm doctor: {report['database']}"
        )
    if problems:
        count = len(problems)
        raise CheckFailed(f"{count} problem{'s' if count != 1 else ''} found", details=problems)
    render.note("no problems found")
