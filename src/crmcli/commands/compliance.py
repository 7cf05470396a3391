"""`crm audit sample` (the quarterly audit of seed 003 §VI) and `crm doctor`."""

from pathlib import Path
from typing import Annotated, Any

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
        render.emit(_joined(rows), fmt="csv", columns=SAMPLE_FIELDS, tz=tz)
    elif rows:
        render.emit(_joined(rows), fmt="table", columns=SAMPLE_TABLE, title=_title(result, tz))
    render.note(_summary(result, tz))
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


# --- rendering the sample ----------------------------------------------------------------------


def _joined(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, "findings": "; ".join(row["findings"])} for row in rows]


def _period(result: dict[str, Any], tz: Any) -> str:
    from datetime import timedelta

    first = result["starts_at"].astimezone(tz).date()
    last = (result["ends_before"].astimezone(tz) - timedelta(days=1)).date()
    return f"{first} to {last}" + ("" if result["complete"] else ", in progress")


def _title(result: dict[str, Any], tz: Any) -> str:
    return f"audit sample {result['quarter']} ({_period(result, tz)}), seed {result['seed']}"


def _reproduce(result: dict[str, Any]) -> str:
    size, quarter, seed = result["requested"], result["quarter"], result["seed"]
    return f"crm audit sample {size} --quarter {quarter} --seed {seed}"


def _summary(result: dict[str, Any], tz: Any) -> str:
    if not result["population"]:
        return f"no leads were touched in {result['quarter']} ({_period(result, tz)})"
    return (
        f"{result['sample_size']} of {result['population']} leads touched in "
        f"{result['quarter']}; {result['failed']} failed; reproduce with: {_reproduce(result)}"
    )


def sample_html(result: dict[str, Any], tz: Any) -> str:
    """One self-contained page (no scripts, no external assets); every value escaped."""
    from html import escape

    checks: dict[str, str] = result["checks"]

    def cell(outcome: str) -> str:
        css = {"pass": "pass", "fail": "fail", "pending": "pending"}.get(outcome, "na")
        return f'<td class="{css}">{escape(outcome)}</td>'

    body = []
    for row in result["rows"]:
        findings = "".join(f"<li>{escape(text)}</li>" for text in row["findings"])
        body.append(
            "<tr>"
            f"<td>{escape(str(row['lead_id']))}</td>"
            f"<td>{escape(row['lead'])}</td>"
            f"<td>{escape(row['owner'] or '(unassigned)')}</td>"
            f"<td>{escape(row['stage'])} / {escape(row['status'])}</td>"
            + "".join(cell(row[check]) for check in checks)
            + cell(row["verdict"])
            + f"<td><ul>{findings}</ul></td>"
            "</tr>"
        )
    checked_at = result["checked_at"].astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
    facts = {
        "Period": f"{result['quarter']}: {_period(result, tz)} ({tz})",
        "Seed": str(result["seed"]),
        "Sample size": f"{result['sample_size']} of {result['population']} leads touched "
        f"in the period ({result['requested']} requested)",
        "Failed": f"{result['failed']} of {result['sample_size']}",
        "Checked": f"{checked_at} by {result['checked_by']}",
        "Reproduce": _reproduce(result),
    }
    meta = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts.items())
    heads = "".join(f"<th>{escape(label)}</th>" for label in checks.values())
    rows = "\n".join(body) or f'<tr><td colspan="{len(checks) + 6}">no leads sampled</td></tr>'
    title = escape(f"Lead audit sample {result['quarter']}")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }}
dt {{ font-weight: bold; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #bbb; padding: .3em .5em; text-align: left; vertical-align: top; }}
th {{ background: #eee; }}
td.pass {{ background: #e3f4e3; }}
td.fail {{ background: #f8dcdc; font-weight: bold; }}
td.pending {{ background: #fdf3d6; }}
td.na {{ color: #777; }}
ul {{ margin: 0; padding-left: 1.2em; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>Quarterly audit of a random sample of lead records (Sales Lead Management Policy,
section VI), checked against the policy in force.</p>
<dl>{meta}</dl>
<table>
<thead><tr><th>Lead</th><th>Name</th><th>Owner</th><th>Stage / status</th>{heads}\
<th>Verdict</th><th>Findings</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""
