"""`crm report …`: what breached policy, and (later) how the pipeline performs."""

from typing import Annotated

import typer

from crmcli import render
from crmcli.commands import completion
from crmcli.commands._shared import FormatOption, output_format, sub_app, workspace
from crmcli.errors import BadInput, CheckFailed

app = sub_app("Reports: overdue obligations (cron-ready) and sales performance.")

TABLE_COLUMNS = ("rule", "record", "title", "due_at", "overdue_by")
HtmlOption = Annotated[
    str | None,
    typer.Option(
        "--html", metavar="FILE", help="Write one self-contained HTML page instead (- for stdout)."
    ),
]
# what falls due later today: how long is left, not a negative lateness
DUE_TODAY_COLUMNS = ("rule", "record", "title", "due_at", "due_in")


@app.command("overdue")
def report_overdue(
    ctx: typer.Context,
    owner: Annotated[
        str | None,
        typer.Option(
            "--owner",
            help="Only this user's items ('me', or 'none' for unassigned).",
            autocompletion=completion.user_names,
        ),
    ] = None,
    rule: Annotated[
        str | None,
        typer.Option("--rule", help="Only this rule id.", autocompletion=completion.rule_ids),
    ] = None,
    due_within: Annotated[
        str | None,
        typer.Option(
            "--due-within", metavar="DURATION", help="Also list what falls due within, e.g. 2d."
        ),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when anything is overdue (for cron).")
    ] = False,
    html: HtmlOption = None,
    output: FormatOption = None,
) -> None:
    """Every open obligation past its due time under the policy's rules, grouped by owner.

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
    if html is not None:
        overdue_count = _overdue_page(ctx, html, owner=owner, rule=rule, due_within=within)
        if check and overdue_count:
            raise CheckFailed(
                f"{overdue_count} obligation{'s' if overdue_count != 1 else ''} overdue"
            )
        return
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
        elif (
            made := overdue_lines(tx, fmt, render.LINE_SEPARATORS.get(fmt, b""), **filters)
        ) is not None:
            lines, count_overdue = made  # SQLite wrote each line: millions of rows
            render.emit_lines(lines, fmt=fmt, columns=OVERDUE_FIELDS)
            overdue_count = count_overdue()
        else:
            render.emit_stream(rows, fmt=fmt, columns=OVERDUE_FIELDS, tz=tz)
    if check and overdue_count:
        raise CheckFailed(f"{overdue_count} obligation{'s' if overdue_count != 1 else ''} overdue")


def _overdue_page(ctx: typer.Context, html: str, **filters) -> int:  # noqa: ANN003
    """Write the overdue report's HTML page; returns how many items are overdue."""
    from crmcli.files import OutputFile
    from crmcli.services.reports import overdue_report

    typed = {**filters, "due_within": ctx.params.get("due_within")}
    with OutputFile(html, option="--html") as out:  # first: an unwritable file fails early
        with workspace(ctx).reading() as tx:
            report = overdue_report(tx, **filters)
            context = page_context(ctx, tx, report.period, **typed)
        out.write(page_html(report, context))
    if html != "-":
        render.note(f"wrote {html}")
    return report.summary["overdue"]


def for_table(rows: list[dict]) -> list[dict]:
    """Report rows with the human columns the table shows (record, overdue_by, due_in)."""
    for row in rows:
        row["record"] = f"{row['record_type']} {row['record_id']}"
        row["overdue_by"] = render.overdue_text(row["overdue_by_seconds"])
        row["due_in"] = render.due_in_text(row["overdue_by_seconds"])
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


# --- performance reports (issue 7): one runner, options declared once ------------------------

FromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        metavar="WHEN",
        help="Start of the period, e.g. 'last monday' or 2026-01-01 (default: 13 weeks back).",
    ),
]
ToOption = Annotated[
    str | None,
    typer.Option(
        "--to",
        metavar="WHEN",
        help="End of the period, inclusive, e.g. yesterday or 2026-03-31 (default: now).",
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="WHEN",
        help="Rebuild the figures as they stood then (from history and the audit log), "
        "e.g. 'last fri eod'.",
    ),
]
BucketOption = Annotated[
    str | None,
    typer.Option(
        "--bucket", metavar="week|month", help="Trend buckets (default: by period length)."
    ),
]
OwnerOption = Annotated[
    str | None, typer.Option("--owner", help="Only this rep's deals ('me' for yours).")
]
PipelineOption = Annotated[
    str | None,
    typer.Option("--pipeline", metavar="CAMPAIGN", help="Only the pipeline of this campaign."),
]


def run_report(ctx: typer.Context, name: str, output: str | None, html: str | None, **options):  # noqa: ANN003, ANN201
    """Build report `name` (services/analytics.REPORTS) and print it, or write its page;
    returns the report."""
    from crmcli.render.terminal import Labels
    from crmcli.services.analytics import Options, build

    fmt = output_format(ctx, output)
    if fmt == "ids":
        raise BadInput("--format: reports have no ids; use table, json or csv")
    from contextlib import nullcontext

    from crmcli.files import OutputFile

    # the page's file is opened first: one that cannot be written fails before the report
    with OutputFile(html, option="--html") if html is not None else nullcontext() as out:
        with workspace(ctx).reading() as tx:
            report = build(tx, name, Options(**options))
            tz = tx.policy.timezone
            facts = None if out is None else page_context(ctx, tx, report.period, **options)
            labels = Labels.of(tx.policy)
        if out is None:
            from crmcli.render.report import emit_report

            emit_report(report, fmt=fmt, tz=tz, labels=labels)
            return report
        out.write(page_html(report, facts))
    if html != "-":
        render.note(f"wrote {html}")
    return report


def page_html(report, context) -> str:  # noqa: ANN001
    from crmcli.render.html import page

    return page(report, context)


def page_context(ctx: typer.Context, tx, period: dict, **options):  # noqa: ANN001, ANN003, ANN201
    """What the HTML page says beyond the figures: every filter in words (so a forwarded page
    never reads as team-wide when it is not), the command as typed, and that command pinned
    to what it meant here (the page's instant, its period, 'me'), which draws the same figures
    for whoever runs it later."""
    from crmcli.render.html import Context
    from crmcli.services.scope import scope_names

    owner = options.get("owner")
    if owner == "me":
        owner = tx.actor.name
    words = []
    if owner == "none":
        words.append("Unassigned items only")
    else:
        words.append(f"Rep: {owner}" if owner else "All reps")
    described = {
        "pipeline": "Pipeline (campaign): {}",
        "rule": "Rule: {}",
        "by": "Grouped by {}",
        "bucket": "Trend per {}",
        "month": "Month: {}",
        "quarter": "Quarter: {}",
        "due_within": "Including items due within {}",
    }
    words += [text.format(options[k]) for k, text in described.items() if options.get(k)]
    if options.get("breaches"):
        words.append("Each breach listed")
    campaigns = scope_names(tx)
    if campaigns is not None:
        words.append(f"Only the campaigns {tx.actor.name} may see: {', '.join(campaigns)}")
    pinned = {}
    if "as_of" in ctx.params:  # a report that can rebuild its figures as they stood
        pinned["as_of"] = period["as_of"]
        typed = {k: v for k, v in (("start", "from"), ("end", "to")) if options.get(k)}
        pinned |= {option: period[key] for option, key in typed.items() if period.get(key)}
        if options.get("owner") == "me":
            pinned["owner"] = owner
    return Context.of(
        tx.policy,
        generated=tx.now,
        filters=words,
        command=typed_command(ctx),
        later=typed_command(ctx, pinned) if pinned else "",
        historic=bool(options.get("as_of")),
    )


# global options a forwarded page must not carry: where the database is (a URL may hold a
# password) and the output format (the page is HTML whatever it says)
PRIVATE_OPTIONS = ("db", "output")


def typed_command(ctx: typer.Context, pinned: dict[str, str] | None = None) -> str:
    """The command line that ran, rebuilt from what was given on it (not from environment
    variables or defaults; options in the command's own order), quoted for a POSIX shell;
    `pinned` replaces (or adds) options of the command itself by parameter name."""
    import shlex

    from typer._click.core import ParameterSource

    chain = []
    level: typer.Context | None = ctx
    while level is not None:
        chain.append(level)
        level = level.parent
    words = []
    for level in reversed(chain):
        words.append("crm" if level.parent is None else level.info_name or "")
        for param in level.command.params:
            name = param.name or ""
            typed = level.get_parameter_source(name) == ParameterSource.COMMANDLINE
            value = level.params.get(name)
            if level is ctx and pinned and name in pinned:
                typed, value = True, pinned[name]
            if not typed or (level.parent is None and name in PRIVATE_OPTIONS):
                continue
            flag = max(param.opts, key=len)
            if getattr(param, "is_flag", False):
                words.append(flag if value else max(param.secondary_opts or [flag], key=len))
                continue
            for item in value if isinstance(value, list | tuple) else [value]:
                text = shlex.quote(str(item))
                words += [text] if param.param_type_name == "argument" else [flag, text]
    return " ".join(words)


@app.command("cases")
def report_cases(
    ctx: typer.Context,
    owner: OwnerOption = None,
    start: FromOption = None,
    end: ToOption = None,
    as_of: AsOfOption = None,
    html: HtmlOption = None,
    output: FormatOption = None,
) -> None:
    """Open service cases by age and severity, and SLA attainment (acknowledged and resolved in
    time, per severity) of the cases opened in the period.

    Example: crm report cases --from 2026-01-01 --format json
    """
    run_report(ctx, "cases", output, html, owner=owner, start=start, end=end, as_of=as_of)


@app.command("pipeline")
def report_pipeline(
    ctx: typer.Context,
    owner: OwnerOption = None,
    pipeline: PipelineOption = None,
    start: FromOption = None,
    end: ToOption = None,
    as_of: AsOfOption = None,
    html: HtmlOption = None,
    output: FormatOption = None,
) -> None:
    """Count, value and probability-weighted value per stage, as a funnel; share of open deals
    per stage (pipeline health). --from/--to keep deals created in that period.

    Example: crm report pipeline --owner maria --html pipeline.html
    """
    run_report(
        ctx,
        "pipeline",
        output,
        html,
        owner=owner,
        pipeline=pipeline,
        start=start,
        end=end,
        as_of=as_of,
    )


@app.command("conversion")
def report_conversion(
    ctx: typer.Context,
    start: FromOption = None,
    end: ToOption = None,
    by: Annotated[str | None, typer.Option("--by", metavar="source|owner")] = None,
    owner: OwnerOption = None,
    pipeline: PipelineOption = None,
    bucket: BucketOption = None,
    as_of: AsOfOption = None,
    html: HtmlOption = None,
    output: FormatOption = None,
) -> None:
    """Stage-to-stage conversion and lead -> opportunity -> customer ratios of the leads
    created in the period, from recorded stage history.

    Example: crm report conversion --from 2026-01-01 --to 2026-03-31 --by source
    """
    run_report(
        ctx,
        "conversion",
        output,
        html,
        start=start,
        end=end,
        by=by,
        owner=owner,
        pipeline=pipeline,
        bucket=bucket,
        as_of=as_of,
    )


@app.command("velocity")
def report_velocity(
    ctx: typer.Context,
    start: FromOption = None,
    end: ToOption = None,
    owner: OwnerOption = None,
    pipeline: PipelineOption = None,
    bucket: BucketOption = None,
    as_of: AsOfOption = None,
    html: HtmlOption = None,
    output: FormatOption = None,
) -> None:
    """Median and mean days in each stage, lead-to-close time; stages whose median passes the
    policy's stagnation limit (stale_after) are marked "!".

    Example: crm report velocity --from 2026-01-01 --format json
    """
    run_report(
        ctx,
        "velocity",
        output,
        html,
        start=start,
        end=end,
        owner=owner,
        pipeline=pipeline,
        bucket=bucket,
        as_of=as_of,
    )


@app.command("win-rate")
def report_win_rate(
    ctx: typer.Context,
    by: Annotated[str | None, typer.Option("--by", metavar="owner|source|type")] = None,
    start: FromOption = None,
    end: ToOption = None,
    owner: OwnerOption = None,
    pipeline: PipelineOption = None,
    bucket: BucketOption = None,
    as_of: AsOfOption = None,
    html: HtmlOption = None,
    output: FormatOption = None,
) -> None:
    """Won / (won + lost) of the deals closed in the period, with won value; --by type reads
    the opportunity type imported into a lead's extra fields.

    Example: crm report win-rate --by owner --from 2026-01-01
    """
    run_report(
        ctx,
        "win-rate",
        output,
        html,
        by=by,
        start=start,
        end=end,
        owner=owner,
        pipeline=pipeline,
        bucket=bucket,
        as_of=as_of,
    )


@app.command("sources")
def report_sources(
    ctx: typer.Context,
    by: Annotated[str | None, typer.Option("--by", metavar="source|campaign")] = None,
    start: FromOption = None,
    end: ToOption = None,
    owner: OwnerOption = None,
    bucket: BucketOption = None,
    as_of: AsOfOption = None,
    html: HtmlOption = None,
    output: FormatOption = None,
) -> None:
    """Channel effectiveness: leads created per source (or campaign), how many became
    opportunities and customers, and the value won.

    Example: crm report sources --by campaign --format csv
    """
    run_report(
        ctx,
        "sources",
        output,
        html,
        by=by,
        start=start,
        end=end,
        owner=owner,
        bucket=bucket,
        as_of=as_of,
    )


@app.command("response")
def report_response(
    ctx: typer.Context,
    start: FromOption = None,
    end: ToOption = None,
    owner: OwnerOption = None,
    pipeline: PipelineOption = None,
    bucket: BucketOption = None,
    as_of: AsOfOption = None,
    html: HtmlOption = None,
    output: FormatOption = None,
) -> None:
    """First-response time per rep against the policy's standard (1 business hour by
    default) and the share of new leads answered within it.

    Example: crm report response --from 2026-02-01 --bucket week
    """
    run_report(
        ctx,
        "response",
        output,
        html,
        start=start,
        end=end,
        owner=owner,
        pipeline=pipeline,
        bucket=bucket,
        as_of=as_of,
    )


@app.command("activity")
def report_activity(
    ctx: typer.Context,
    month: Annotated[
        str | None, typer.Option("--month", metavar="YYYY-MM", help="Which month (default: this).")
    ] = None,
    start: FromOption = None,
    end: ToOption = None,
    owner: OwnerOption = None,
    pipeline: PipelineOption = None,
    bucket: BucketOption = None,
    as_of: AsOfOption = None,
    html: HtmlOption = None,
    output: FormatOption = None,
) -> None:
    """Calls, emails, meetings, chats and done tasks per rep, and activity points against the
    monthly quota (a free --from/--to period gets its share of the quota).

    Example: crm report activity --month 2026-03
    """
    run_report(
        ctx,
        "activity",
        output,
        html,
        month=month,
        start=start,
        end=end,
        owner=owner,
        pipeline=pipeline,
        bucket=bucket,
        as_of=as_of,
    )


@app.command("forecast")
def report_forecast(
    ctx: typer.Context,
    quarter: Annotated[
        str | None,
        typer.Option("--quarter", metavar="YYYY-QN", help="Which quarter (default: this one)."),
    ] = None,
    owner: OwnerOption = None,
    pipeline: PipelineOption = None,
    as_of: AsOfOption = None,
    html: HtmlOption = None,
    output: FormatOption = None,
) -> None:
    """Per rep: open deals closing in the quarter weighted by stage probability, plus what was
    won, against the rep's quarterly target (policy [targets]).

    Example: crm report forecast --quarter 2026-Q1
    """
    run_report(
        ctx, "forecast", output, html, quarter=quarter, owner=owner, pipeline=pipeline, as_of=as_of
    )


def dashboard(
    ctx: typer.Context,
    owner: OwnerOption = None,
    pipeline: PipelineOption = None,
    as_of: AsOfOption = None,
    html: HtmlOption = None,
    output: FormatOption = None,
) -> None:
    """One screen for a manager: pipeline funnel, this month's won value against the team's
    target, overdue obligations per rep, first-response SLA attainment.

    Example: crm dashboard --html dashboard.html
    """
    run_report(ctx, "dashboard", output, html, owner=owner, pipeline=pipeline, as_of=as_of)


@app.command("sla")
def report_sla(
    ctx: typer.Context,
    rule: Annotated[
        str | None,
        typer.Option("--rule", help="Only this rule id.", autocompletion=completion.rule_ids),
    ] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", help="Only this rep's obligations ('me' for yours).")
    ] = None,
    start: FromOption = None,
    end: ToOption = None,
    breaches: Annotated[
        bool,
        typer.Option(
            "--breaches", help="List each breach: met late, overdue, lapsed (late entries too)."
        ),
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when anything breached (for cron).")
    ] = False,
    html: HtmlOption = None,
    output: FormatOption = None,
) -> None:
    """What became of every obligation that started in the period, per rule and per rep:
    met on time, met late, open and overdue, open and not yet due, paused, lapsed, cancelled,
    and attainment % = on time / (on time + late + overdue + lapsed).

    Example: crm report sla --from 2026-01-01 --breaches --rule lead.entry
    """
    options = {"rule": rule, "owner": owner, "start": start, "end": end}
    if breaches and html is None:
        found = _breach_list(ctx, output, options)
    else:
        report = run_report(ctx, "sla", output, html, breaches=breaches, **options)
        found = report.summary["breaches"]
    if check and found:
        raise CheckFailed(
            f"{found} breach{'es' if found != 1 else ''} (met late, overdue or lapsed)"
        )


def _breach_list(ctx: typer.Context, output: str | None, options: dict) -> int:
    """Each breach, streamed (json, csv) or as one table; returns how many."""
    from crmcli.services.analytics import Options
    from crmcli.services.sla import BREACH_FIELDS, BREACH_TABLE, breaches, for_people

    fmt = output_format(ctx, output)
    if fmt == "ids":
        raise BadInput("--format: the breach list has no ids; use table, json or csv")
    with workspace(ctx).reading() as tx:
        tz = tx.policy.timezone
        rows = breaches(tx, Options(**options, breaches=True))
        if fmt != "table":
            return render.emit_stream(rows, fmt=fmt, columns=BREACH_FIELDS, tz=tz)
        listed = [for_people(row) for row in rows]
    render.emit(listed, fmt="table", columns=BREACH_TABLE, tz=tz, empty="no breaches")
    return len(listed)
