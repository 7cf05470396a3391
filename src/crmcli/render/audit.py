"""The quarterly audit sample (`crm audit sample`, seed 003 §VI) for people: its title and
summary line, and one self-contained HTML page for the auditor."""

from __future__ import annotations

from datetime import timedelta
from typing import Any


def sample_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sampled leads for a table or CSV: each one's findings as one line."""
    return [{**row, "findings": "; ".join(row["findings"])} for row in rows]


def _period(result: dict[str, Any], tz: Any) -> str:
    first = result["starts_at"].astimezone(tz).date()
    last = (result["ends_before"].astimezone(tz) - timedelta(days=1)).date()
    return f"{first} to {last}" + ("" if result["complete"] else ", in progress")


def sample_title(result: dict[str, Any], tz: Any) -> str:
    return f"audit sample {result['quarter']} ({_period(result, tz)}), seed {result['seed']}"


def _reproduce(result: dict[str, Any]) -> str:
    size, quarter, seed = result["requested"], result["quarter"], result["seed"]
    return f"crm audit sample {size} --quarter {quarter} --seed {seed}"


def sample_summary(result: dict[str, Any], tz: Any) -> str:
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
