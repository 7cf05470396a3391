"""`crm lead …`: add, list, show and edit leads."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from crmcli import render
from crmcli.commands import completion
from crmcli.commands._shared import (
    FormatOption,
    LeadId,
    output_format,
    sub_app,
    workspace,
    write_with_tz,
)

if TYPE_CHECKING:
    from crmcli.services.workspace import Tx

app = sub_app("Leads (and the opportunities they become).")

LIST_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "company",
    "stage",
    "status",
    "score",
    "band",
    "owner",
    "campaign",
    "source",
    "acquired_at",
)
HISTORY_COLUMNS = ("at", "actor", "command", "action", "changes")


def _opt(flag: str, help_text: str, kind: type = str) -> Any:
    return Annotated[kind | None, typer.Option(flag, help=help_text)]


# declared once, shared by add and edit
First = _opt("--first", "First name.")
Last = _opt("--last", "Last name.")
Company = _opt("--company", "Company name.")
Email = _opt("--email", "Email address (validated, stored normalised).")
Phone = _opt("--phone", "Phone number (stored as E.164; policy's region by default).")
Source = _opt("--source", "Where the lead came from: web, referral, trade_show, …")
Title = _opt("--title", "Job title.")
Industry = _opt("--industry", "Industry.")
Employees = _opt("--employees", "Company size (employees).", int)
Country = _opt("--country", "ISO country code, e.g. US.")
Region = _opt("--region", "Region or state, e.g. NY (or US-NY).")
Campaign = _opt("--campaign", "Campaign name.")
Owner = Annotated[
    str | None,
    typer.Option("--owner", help="Owning user (or 'me').", autocompletion=completion.user_names),
]
Type = _opt("--type", "Opportunity type (one of the policy's pipeline.opportunity_types).")
Force = Annotated[bool, typer.Option("--force", help="Save even if it looks like a duplicate.")]


# command option name -> lead field, for the options add and edit share
FIELD_OPTIONS = {
    "first": "first_name",
    "last": "last_name",
    "company": "company",
    "email": "email",
    "phone": "phone",
    "source": "source",
    "title": "title",
    "industry": "industry",
    "employees": "employees",
    "country": "country",
    "region": "region",
    "campaign": "campaign",
    "owner": "owner",
    "type": "type",
    "acquired": "acquired",
    "amount": "amount",
    "close_date": "close_date",
    "probability": "probability",
}


def _fields(options: dict[str, Any]) -> dict[str, Any]:
    """The field options given on the command line, keyed by lead field name."""
    return {
        field: options[name]
        for name, field in FIELD_OPTIONS.items()
        if options.get(name) is not None
    }


@app.command("add")
def lead_add(
    ctx: typer.Context,
    first: First = None,
    last: Last = None,
    company: Company = None,
    email: Email = None,
    phone: Phone = None,
    source: Source = None,
    title: Title = None,
    industry: Industry = None,
    employees: Employees = None,
    country: Country = None,
    region: Region = None,
    campaign: Campaign = None,
    owner: Owner = None,
    acquired: Annotated[
        str | None,
        typer.Option(
            "--acquired",
            metavar="WHEN",
            help="When the lead was acquired (default now), e.g. 'yesterday 16:30' or "
            "'2026-03-06 16:30'.",
        ),
    ] = None,
    force: Force = False,
    output: FormatOption = None,
) -> None:
    """Add a lead; refuses likely duplicates (exit 5) unless --force. Prints the new id.

    Example: crm lead add --first Ada --last Lovelace --email ada@example.com --source web
    """
    from crmcli.services import leads

    raw = _fields(locals())

    def add(tx: "Tx") -> tuple[Any, Any, Any]:
        result = leads.add_lead(tx, raw, force=force)
        tz = tx.policy.timezone
        entry_limit = tx.policy.rule_settings("lead.entry")["after"]
        return result, tz, entry_limit

    result, tz, entry_limit = workspace(ctx).write(add)
    if result.forced_over:
        ids = ", ".join(str(m.record_id) for m in result.forced_over)
        render.note(f"added despite likely duplicate of lead {ids} (--force, audited)")
    if result.late_entry is not None:
        from crmcli.rules.durations import format_duration

        render.note(
            f"warning: lead {result.lead['id']} was entered {format_duration(result.late_entry)} "
            f"after it was acquired, later than policy lead.entry allows ({entry_limit}); "
            "it counts as a late entry in crm report sla"
        )
    render.emit_created(result.lead, fmt=output_format(ctx, output), tz=tz)


@app.command("list")
def lead_list(
    ctx: typer.Context,
    owner: Annotated[
        str | None,
        typer.Option(
            "--owner",
            help="A user name, 'me', or 'none' for unassigned.",
            autocompletion=completion.user_names,
        ),
    ] = None,
    stage: Annotated[
        str | None,
        typer.Option("--stage", help="Pipeline stage key.", autocompletion=completion.stage_keys),
    ] = None,
    source: Source = None,
    campaign: Campaign = None,
    search: Annotated[
        str | None, typer.Option("--search", help="Text in name, company, email or phone.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.")] = None,
    output: FormatOption = None,
) -> None:
    """List leads, oldest first.

    Example: crm lead list --owner me --stage proposal --format csv
    """
    from crmcli.render.terminal import Labels
    from crmcli.services.leads import LEAD_FIELDS, LeadFilter, list_leads

    where = LeadFilter(
        owner=owner, stage=stage, source=source, campaign=campaign, search=search, limit=limit
    )
    with workspace(ctx).reading() as tx:
        rows = list_leads(tx, where)
        tz, labels = tx.policy.timezone, Labels.of(tx.policy)
    render.emit(
        rows,
        fmt=output_format(ctx, output),
        columns=LEAD_FIELDS,
        table_columns=LIST_COLUMNS,
        tz=tz,
        empty="no leads match",
        labels=labels,
    )


ACTIVITY_TABLE = ("id", "at", "type", "user", "outcome", "status", "subject", "report")


def _report_text(report: dict[str, Any] | None, tz: Any) -> str:
    """A call report in one cell: attendees, topics, issues, action items (with their due)."""
    if not report:
        return ""
    items = [
        f"{item['text']} (due {render.text_value(item['due_at'], tz, for_table=True)})"
        if item.get("due_at")
        else str(item["text"])
        for item in report["action_items"]
    ]
    parts = [
        ("attendees", report["attendees"]),
        ("topics", report["topics"]),
        ("issues", report["issues"]),
        ("action items", items),
    ]
    return "; ".join(f"{name}: {', '.join(values)}" for name, values in parts if values)


@app.command("show")
def lead_show(ctx: typer.Context, lead_id: LeadId, output: FormatOption = None) -> None:
    """Show a lead: its fields, an opportunity's amount, close date, probability and lost
    reason, its recent activities with their call reports (their words to editors and
    admins), and its audit history.

    Example: crm lead show 12 --format json
    """
    from crmcli.render.terminal import Labels
    from crmcli.services.leads import lead_history, lead_record, recent_activities
    from crmcli.services.lookups import load_lead

    with workspace(ctx).reading() as tx:
        lead = lead_record(tx, load_lead(tx, lead_id))
        activities = recent_activities(tx, lead_id)
        history = lead_history(tx, lead_id)
        tz, labels = tx.policy.timezone, Labels.of(tx.policy)
    fmt = output_format(ctx, output)
    if fmt == "table":
        history = render.with_changes_text(history, tz)
        activities = [{**a, "report": _report_text(a["call_report"], tz)} for a in activities]
    render.emit_record(
        lead,
        fmt=fmt,
        tz=tz,
        title=f"lead {lead_id}",
        sections={
            "activities": (activities, ACTIVITY_TABLE),
            "history": (history, HISTORY_COLUMNS),
        },
        labels=labels,
    )


@app.command("edit")
def lead_edit(
    ctx: typer.Context,
    lead_id: LeadId,
    first: First = None,
    last: Last = None,
    company: Company = None,
    email: Email = None,
    phone: Phone = None,
    source: Source = None,
    title: Title = None,
    industry: Industry = None,
    employees: Employees = None,
    country: Country = None,
    region: Region = None,
    campaign: Campaign = None,
    owner: Owner = None,
    type: Type = None,
    amount: _opt("--amount", "An opportunity's value, e.g. 18500.00.") = None,
    close_date: _opt(
        "--close-date", "When the opportunity is expected to close (YYYY-MM-DD, not past)."
    ) = None,
    probability: _opt("--probability", "An opportunity's win probability, 0-100 %.") = None,
    force: Force = False,
    output: FormatOption = None,
) -> None:
    """Change a lead's fields, validated like add; an opportunity's amount, close date and
    win probability too; audited old → new.

    Example: crm lead edit 12 --amount 18500 --close-date 2026-06-30 --probability 60
    """
    from crmcli.services import leads

    raw = _fields(locals())
    lead, tz = write_with_tz(ctx, lambda tx: leads.edit_lead(tx, lead_id, raw, force=force))
    fmt = output_format(ctx, output)
    if fmt in ("json", "csv"):
        render.emit_record(lead, fmt=fmt, tz=tz)
    else:
        render.note(f"updated lead {lead_id}")
