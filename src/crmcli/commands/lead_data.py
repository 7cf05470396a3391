"""`crm lead import|dupes|merge|export`: leads in bulk, and their duplicates.

Registered on the `lead` sub-app in cli.py.
"""

import sys
from pathlib import Path
from typing import Annotated

import typer

from crmcli import render
from crmcli.commands import completion
from crmcli.commands._shared import (
    FormatOption,
    format_option,
    output_format,
    workspace,
    write_with_tz,
)
from crmcli.commands.lead import Campaign, Owner, Source
from crmcli.errors import BadInput

DUPES_COLUMNS = ("lead", "duplicate", "reason", "score", "lead_name", "duplicate_name")
SUMMARY_FIELDS = ("read", "imported", "merged", "enriched", "queued", "rejected", "unowned")
InputFormat = Annotated[
    str | None,
    typer.Option(
        "--input-format",
        metavar="csv|jsonl",
        help="The file's format (default: JSONL for .jsonl, .ndjson or .json, else CSV).",
    ),
]
INPUT_FORMATS = ("csv", "jsonl")
# lead import's -f/--format: an output format, or (until the next release) the file's format;
# _import_formats decides which, before the import starts
ImportFormatOption = format_option(check=None)


def _import_formats(
    ctx: typer.Context, input_format: str | None, output: str | None
) -> tuple[str | None, str]:
    """The file's format (None: from its name) and the output's. Until the next release,
    `-f/--format csv|jsonl` keeps its old meaning here (the file's format), with a warning:
    scripts written for it keep working while they move to --input-format."""
    given = (output or "").strip().lower()
    if input_format is None and given in INPUT_FORMATS:
        render.note(
            f"warning: --format {given} names the file's format only until the next release; "
            f"write --input-format {given} (-f/--format is the output format everywhere)"
        )
        return given, output_format(ctx, None)
    if input_format is None:
        return None, output_format(ctx, output)
    value = input_format.strip().lower()
    if value not in INPUT_FORMATS:
        raise BadInput(f"--input-format: {input_format!r} is not csv or jsonl")
    return value, output_format(ctx, output)


def lead_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="CSV or JSONL export.")],
    input_format: InputFormat = None,
    maps: Annotated[
        list[str] | None,
        typer.Option(
            "--map", metavar="COLUMN=FIELD", help="Map a column to a lead field (repeatable)."
        ),
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Source for rows that have none, e.g. expo.")
    ] = None,
    campaign: Campaign = None,
    encoding: Annotated[
        str | None,
        typer.Option("--encoding", help="Text encoding (default: UTF-8, BOM or cp1252 detected)."),
    ] = None,
    day_first: Annotated[
        bool, typer.Option("--day-first", help="Read 01/02/2026 as 1 February (default: US).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Do everything, then roll it back: a preview.")
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", metavar="FILE", help="Write rejected rows here, with reasons."),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", metavar="N", help="Rows per committed batch.")
    ] = 10_000,  # services.importer.DEFAULT_BATCH_SIZE (not imported: --help speed)
    assign: Annotated[
        bool,
        typer.Option(
            "--assign", help="Route the new leads without an owner, as crm assign --unassigned."
        ),
    ] = False,
    output: ImportFormatOption = None,
) -> None:
    """Import leads from a Salesforce/HubSpot-style CSV or JSONL export.

    Rows are validated like `lead add`; duplicates (same email or phone, or similar name and
    company) enrich the existing lead's empty fields, and conflicting values wait in
    `crm review`. Batches commit one by one: re-running a file resumes an interrupted import
    and adds nothing to a finished one. Exit 0 when rows were taken in, 2 when none could be
    (then nothing is written: no batch, no audit event; only the rejects file).

    An owner column (Lead Owner, Contact owner) names the owner of each new lead: a user of
    that name, login or email who may own it, else a flag (`crm review list --kind value`).

    Example: crm lead import leads.csv --source expo --rejects rejected.csv --assign
    (a file without its usual name: crm lead import export.txt --input-format csv)
    """
    from crmcli.render.progress import progress_bar
    from crmcli.services.importer import ImportOptions, run_import

    given_format, fmt = _import_formats(ctx, input_format, output)
    options = ImportOptions(
        path=file,
        file_format=given_format,
        maps=tuple(maps or ()),
        source=source,
        campaign=campaign,
        encoding=encoding,
        day_first=day_first,
        batch_size=batch_size,
        rejects=None if dry_run else rejects,  # a preview writes nothing, no file either
        assign=assign,
    )
    with progress_bar(sys.stderr.isatty(), "importing") as progress:
        summary = run_import(workspace(ctx), options, dry_run=dry_run, progress=progress)
    if summary.already_imported:
        render.note(
            f"{summary.file} was already imported as batch {summary.batch}; nothing new "
            f"(undo it with: crm imports undo {summary.batch})"
        )
    if summary.unknown_columns:
        render.note(
            f"kept {len(summary.unknown_columns)} unknown column"
            f"{'s' if len(summary.unknown_columns) != 1 else ''} in each lead's extra: "
            + ", ".join(summary.unknown_columns)
        )
    if summary.resumed_after_row:
        render.note(f"resumed batch {summary.batch} after row {summary.resumed_after_row}")
    for row, reason in summary.first_rejects:
        render.note(f"row {row}: {reason}")
    if summary.rejected > len(summary.first_rejects) and not options.rejects:
        render.note(f"… {summary.rejected} rejected in all; write them out with --rejects FILE")
    if summary.flags:
        render.note(
            "kept doubtful values unverified in extra, by kind: "
            + ", ".join(f"{kind} {count}" for kind, count in summary.flags.items())
            + "; see them with: crm review list --kind value"
        )
    if summary.owner_refusals:
        refused = list(summary.owner_refusals.items())[:5]
        render.note(
            "not made owner (the leads stay unowned): "
            + "; ".join(f"{text!r}: {why}" for text, why in refused)
        )
    if summary.late_entries:
        many = summary.late_entries != 1
        render.note(
            f"warning: {summary.late_entries} lead{'s' if many else ''} "
            f"{'were' if many else 'was'} entered later after acquisition than policy "
            "lead.entry allows; see them with: crm report sla --rule lead.entry --breaches"
        )
    if fmt == "json":
        render.emit_record(summary.as_dict(), fmt="json")
    else:
        what = f"{summary.file} ({summary.format}, {summary.encoding})"
        row = summary.as_dict()
        row["flags"] = ", ".join(f"{kind} {count}" for kind, count in summary.flags.items())
        row["reviews"] = ", ".join(f"{kind} {n}" for kind, n in summary.reviews.items() if n)
        assigned = ("assigned",) if summary.assigned is not None else ()
        render.emit(
            [row],
            fmt=fmt if fmt in ("csv", "table") else "table",
            columns=("batch", *SUMMARY_FIELDS, *assigned, "flags", "reviews"),
            title=(
                f"dry run: would import {summary.accepted} of {summary.read} rows of {what}"
                if summary.dry_run
                else f"import of {what}"
            ),
        )
    if summary.read and not summary.accepted and not summary.already_imported:
        raise BadInput(f"no row of {summary.file} could be imported ({summary.rejected} rejected)")
    if not summary.read and not summary.already_imported and not summary.resumed_after_row:
        raise BadInput(f"nothing to import: {summary.file} has no rows under its header")


def lead_dupes(
    ctx: typer.Context,
    threshold: Annotated[
        int | None,
        typer.Option(
            "--threshold",
            metavar="0-100",
            help="How similar names must be (default: the policy's dedupe.name_threshold).",
        ),
    ] = None,
    output: FormatOption = None,
) -> None:
    """List likely duplicate pairs already in the database (same email or phone, or similar
    name at a similar company), best first.

    Example: crm lead dupes --threshold 85 --format csv
    """
    from crmcli.services.lead_data import DUPE_FIELDS, find_dupes

    if threshold is not None and not 0 <= threshold <= 100:
        raise BadInput("--threshold: give a similarity from 0 to 100")
    with workspace(ctx).reading() as tx:
        pairs = find_dupes(tx, name_threshold=threshold)
    fmt = output_format(ctx, output)
    rows = [{"id": p["lead"], **p} for p in pairs]
    render.emit(
        rows,
        fmt=fmt,
        columns=("id", *DUPE_FIELDS) if fmt == "ids" else DUPE_FIELDS,
        table_columns=DUPES_COLUMNS,
        empty="no likely duplicates",
    )


def lead_merge(
    ctx: typer.Context,
    keep: Annotated[int, typer.Argument(metavar="KEEP", help="The lead that stays.")],
    other: Annotated[int, typer.Argument(metavar="OTHER", help="The lead merged into KEEP.")],
    prefer: Annotated[
        str | None,
        typer.Option(
            "--prefer", metavar="keep|other", help="Whose value wins where both have one."
        ),
    ] = None,
    take: Annotated[
        list[str] | None,
        typer.Option("--take", metavar="FIELD", help="Take this field from OTHER (repeatable)."),
    ] = None,
    keep_field: Annotated[
        list[str] | None,
        typer.Option("--keep", metavar="FIELD", help="Keep this field from KEEP (repeatable)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the merge, change nothing.")] = (
        False
    ),
    output: FormatOption = None,
) -> None:
    """Merge OTHER into KEEP: empty fields of KEEP are filled from OTHER; activities,
    obligations, stage history and scores move to KEEP; OTHER is deleted. Audited, with
    OTHER's full record, so it can be rebuilt from the audit trail.

    Example: crm lead merge 12 31 --prefer keep --take phone
    """
    from crmcli.services.lead_data import merge_leads

    if prefer is not None and prefer not in ("keep", "other"):
        raise BadInput("--prefer: give keep or other")
    result, tz = write_with_tz(
        ctx,
        lambda tx: merge_leads(
            tx,
            keep,
            other,
            prefer=prefer,
            take=tuple(take or ()),
            keep_fields=tuple(keep_field or ()),
        ),
        dry_run=dry_run,
    )
    fmt = output_format(ctx, output)
    if fmt in ("json", "csv"):
        render.emit_record(result, fmt=fmt, tz=tz)
        return
    moved = ", ".join(f"{n} {kind}" for kind, n in result["moved"].items() if n) or "nothing"
    verb = "would merge" if dry_run else "merged"
    render.note(f"{verb} lead {other} into {keep}; moved {moved}")
    if result["changes"]:
        render.note("changed on lead " + f"{keep}: " + render.changes_text(result["changes"]))


def lead_export(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", help="Where to write ('-': stdout).")],
    file_format: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", metavar="csv|jsonl", help="File format (default: from its name)."
        ),
    ] = None,
    owner: Owner = None,
    stage: Annotated[
        str | None,
        typer.Option("--stage", help="Pipeline stage key.", autocompletion=completion.stage_keys),
    ] = None,
    source: Source = None,
    campaign: Campaign = None,
    search: Annotated[
        str | None, typer.Option("--search", help="Text in name, company, email or phone.")
    ] = None,
) -> None:
    """Export leads (with the filters of `lead list`) to CSV or JSONL. CSV cells that start
    with = + - @ are prefixed with ' so spreadsheets show them as text, never run them.

    Example: crm lead export leads.csv --stage prospecting --campaign "Spring Expo"
    """
    from crmcli.services.lead_data import export_leads
    from crmcli.services.leads import LeadFilter

    fmt = file_format or ("jsonl" if file.lower().endswith((".jsonl", ".ndjson")) else "csv")
    fmt = fmt.strip().lower()
    if fmt not in ("csv", "jsonl"):
        raise BadInput(f"--format: {file_format!r} is not csv or jsonl")
    where = LeadFilter(owner=owner, stage=stage, source=source, campaign=campaign, search=search)
    with workspace(ctx).reading() as tx:
        count = export_leads(tx, where, file, fmt=fmt)
    render.note(
        f"exported {count} lead{'s' if count != 1 else ''}" + ("" if file == "-" else f" to {file}")
    )
