"""`crm audit …`, `crm history`, and the privacy commands (SPEC §7)."""

from pathlib import Path
from typing import Annotated

import typer

from crmcli import render
from crmcli.commands._shared import FormatOption, LeadId, output_format, sub_app, workspace
from crmcli.errors import BadInput, CheckFailed

app = sub_app("Audit log: verify the chain, anchor its head, list events, sample for audits.")

LOG_COLUMNS = ("id", "at", "actor", "login", "command", "record", "action", "changes", "policy")
# the table leaves out the policy hash (present only on an admin's --policy writes)
LOG_TABLE_COLUMNS = LOG_COLUMNS[:-1]


@app.command("verify")
def audit_verify(
    ctx: typer.Context,
    anchor: Annotated[
        Path | None,
        typer.Option(
            "--anchor", metavar="FILE", help="Also prove the chain extends every head in FILE."
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Print only problems (for cron); the exit code is the same."),
    ] = False,
    output: FormatOption = None,
) -> None:
    """Prove the audit log complete: recompute the hash chain, compare it with its head
    (kept outside it) and every anchored head, check every audited row against its seal
    and every readable personal value against its keyed hash; exit 1 on any sign of
    tampering, naming the record and the check that caught it.

    Example: crm audit verify --anchor anchors.jsonl
    """
    from crmcli.services import governance

    anchors = governance.read_anchors(anchor) if anchor else []
    with workspace(ctx).reading() as tx:
        result = governance.verify(tx, anchors)
        tz = tx.policy.timezone
    fmt = output_format(ctx, output)
    if fmt != "table":
        render.emit_record(result, fmt=fmt, tz=tz)
    elif result["ok"] and not check:
        render.note(
            f"audit log intact: {result['events']} events, head {result['head'][:16]}…, "
            + (
                f"{result['records_sealed']} records as sealed"
                if result["checks"]["seals"] == "ok"
                else "rows and personal values not checked (an admin's check on PostgreSQL)"
            )
            + (f", {result['anchors']} anchors extended" if result["anchors"] else "")
        )
    if not result["ok"]:
        first, *rest = result["problems"]
        raise CheckFailed(f"audit verification failed: {first}", details=rest)


@app.command("anchor")
def audit_anchor(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="FILE", help="Append the anchor line to FILE (keep it elsewhere)."
        ),
    ] = None,
) -> None:
    """Print (or append to FILE) the chain's head hash, event count (its sequence number)
    and time, for safekeeping outside the database: from cron, into a file only the admin
    can write, so a rewritten log and head are caught by `crm audit verify --anchor FILE`.

    Example: crm audit anchor --out /mnt/offsite/crm-anchors.jsonl
    """
    import json

    from crmcli.services import governance

    with workspace(ctx).reading() as tx:
        result = governance.anchor(tx)
    if not result.pop("chain_ok"):
        raise CheckFailed("the chain is broken; run crm audit verify before anchoring it")
    line = json.dumps(result, sort_keys=True)
    if out is None:
        typer.echo(line)
        return
    from crmcli.files import OutputFile

    with OutputFile(out, option="--out", append=True) as handle:
        handle.write(line + "\n")
    render.note(f"anchored {result['events']} events at {result['head'][:16]}… in {out}")


@app.command("log")
def audit_log(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Only this actor.")] = None,
    start: Annotated[
        str | None,
        typer.Option("--from", metavar="WHEN", help="From, e.g. 'last monday' or 2026-11-01."),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", metavar="WHEN", help="Until, e.g. 'yesterday 18:00'.")
    ] = None,
    seals: Annotated[
        bool,
        typer.Option("--seals", help="Also list seal events (the row seals each write recorded)."),
    ] = False,
    output: FormatOption = None,
) -> None:
    """List audit events, oldest first (without the seal events unless --seals).

    Example: crm audit log --user maria --from 2026-11-01
    """
    from datetime import datetime

    from crmcli.clock import read_when
    from crmcli.services import governance

    with workspace(ctx).reading() as tx:
        tz = tx.policy.timezone

        def when(text: str | None, field: str) -> "datetime | None":
            return read_when(text, policy=tx.policy, field=field, prefer="past") if text else None

        rows = governance.audit_log(
            tx, user=user, start=when(start, "--from"), end=when(end, "--to"), seals=seals
        )
    _emit_events(ctx, rows, output, tz)


def _emit_events(ctx: typer.Context, rows: list, output: str | None, tz) -> None:  # noqa: ANN001
    fmt = output_format(ctx, output)
    if fmt == "table":
        rows = render.with_changes_text(rows, tz)
    render.emit(
        rows,
        fmt=fmt,
        columns=LOG_COLUMNS,
        table_columns=LOG_TABLE_COLUMNS,
        tz=tz,
        empty="no events",
    )


def history(
    ctx: typer.Context,
    record: Annotated[
        str,
        typer.Argument(
            metavar="RECORD", help="lead:12, contact:3, user:2 … (a bare number is a lead)."
        ),
    ],
    output: FormatOption = None,
) -> None:
    """A record's audit events: who changed what, when, with which command.

    Example: crm history lead:12
    """
    from crmcli.limits import checked_integer, whole_number
    from crmcli.services import governance
    from crmcli.services.lookups import load_lead

    kind, _, number = record.rpartition(":") if ":" in record else ("lead", ":", record)
    record_id = whole_number(number)
    if record_id is None or not kind:
        raise BadInput(f"RECORD: {record!r} is not a record; write TYPE:ID like lead:12")
    record_id = checked_integer(record_id, field="RECORD")
    case = None if kind == "lead" else "of a record other than a lead"  # roles.ROLE_CASES
    with workspace(ctx).reading(case) as tx:
        if kind == "lead":
            load_lead(tx, record_id)  # exists and in the user's scope
        rows = governance.audit_log(tx, user=None, start=None, end=None, record=(kind, record_id))
        tz = tx.policy.timezone
    _emit_events(ctx, rows, output, tz)


def _confirm(what: str, yes: bool) -> None:
    import sys

    if yes:
        return
    if not sys.stdin.isatty():
        raise BadInput(f"--yes: erasing {what} cannot be undone; confirm with --yes")
    typer.confirm(f"Erase {what}? This cannot be undone", abort=True)


def lead_forget(
    ctx: typer.Context,
    lead_id: LeadId,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a lead's personal data (names, email, phone, notes; its contact's too) and the
    personal values in its audit history, keeping the facts for reports (admin).

    Example: crm lead forget 12 --yes
    """
    from crmcli.services import governance

    _confirm(f"the personal data of lead {lead_id}", yes)
    result = workspace(ctx).write(lambda tx: governance.forget_lead(tx, lead_id))
    render.note(
        f"erased lead {lead_id}: {result['records']} records, "
        f"{result['values_erased']} audited values; the audit chain still verifies"
    )


def lead_export_personal(
    ctx: typer.Context,
    lead_id: LeadId,
) -> None:
    """Everything held about the person behind a lead, as JSON (a data-subject export).

    Example: crm lead export-personal 12 > subject-12.json
    """
    from crmcli.services import governance

    with workspace(ctx).reading() as tx:
        result = governance.export_personal(tx, lead_id)
        tz = tx.policy.timezone
    render.emit_record(result, fmt="json", tz=tz)


def contact_forget(
    ctx: typer.Context,
    contact_id: Annotated[int, typer.Argument(metavar="ID", help="Contact id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a contact's personal data and that of the leads that are the same person,
    keeping the facts for reports (admin).

    Example: crm contact forget 7 --yes
    """
    from crmcli.services import governance

    _confirm(f"the personal data of contact {contact_id}", yes)
    result = workspace(ctx).write(lambda tx: governance.forget_contact(tx, contact_id))
    leads = ", ".join(map(str, result["leads"])) or "none"
    render.note(
        f"erased contact {contact_id} (leads: {leads}); {result['values_erased']} "
        "audited values; the audit chain still verifies"
    )
