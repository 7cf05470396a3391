"""One self-contained HTML page per report (the weekly pipeline review of seed 000): inline
CSS, inline SVG bar charts, no JavaScript, no external assets; every value escaped."""

from __future__ import annotations

from datetime import datetime, tzinfo
from decimal import Decimal
from html import escape
from typing import Any

from crmcli import render

CHART_WIDTH = 640
BAR_HEIGHT = 22
LABEL_WIDTH = 170
BAR_COLOUR = "#3d6fd8"
FUNNEL_COLOUR = "#2f9e8f"
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2433;
margin:32px auto;max-width:1080px;padding:0 24px;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;color:#27324a}
.period{color:#5b6478;margin:0 0 18px}
.summary{display:flex;flex-wrap:wrap;gap:10px;margin:0 0 8px;padding:0;list-style:none}
.summary li{background:#f3f5fa;border-radius:6px;padding:8px 12px;min-width:120px}
.summary b{display:block;font-size:17px}.summary span{color:#5b6478;font-size:12px}
table{border-collapse:collapse;min-width:55%;margin:6px 0 10px}
th,td{padding:5px 9px;border-bottom:1px solid #e3e7ef;text-align:left;white-space:nowrap}
th{background:#f3f5fa;font-weight:600;color:#27324a}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.flag td{background:#fff1f0;color:#a8071a}
svg{display:block;margin:4px 0 12px}svg text{font:12px system-ui,sans-serif;fill:#1d2433}
.note{color:#5b6478;font-size:12px}
footer{margin-top:28px;color:#8a93a6;font-size:12px}
"""


def page(report: Any, *, tz: tzinfo | None, generated: datetime) -> str:
    """The report as one HTML document."""
    from crmcli.render.report import period_text

    when = period_text(report)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(report.title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(report.title)}</h1>",
        f'<p class="period">{escape(when)}</p>',
        _summary(report.summary, tz),
    ]
    for section in report.sections:
        parts.append(f"<h2>{escape(section.title)}</h2>")
        if section.chart and section.rows:
            parts.append(bar_chart(section.rows, *section.chart, funnel=section.funnel))
        parts.append(_table(section, tz))
    parts += [f'<p class="note">{escape(note)}</p>' for note in report.notes]
    parts.append(
        f"<footer>crm report {escape(report.name)} · generated "
        f"{escape(generated.astimezone(tz).strftime('%Y-%m-%d %H:%M'))}"
        "</footer></body></html>\n"
    )
    return "\n".join(parts)


def _cell(value: Any, tz: tzinfo | None = None) -> str:
    if isinstance(value, str) and len(value) >= 16 and value[4:5] == "-" and "T" in value:
        return value[:16].replace("T", " ")  # the period's ISO stamps, to the minute
    return render.text_value(value, tz, for_table=True)


def _summary(summary: dict[str, Any], tz: tzinfo | None) -> str:
    items = [
        f"<li><b>{escape(_cell(value, tz) or '-')}</b>"
        f"<span>{escape(key.replace('_', ' '))}</span></li>"
        for key, value in summary.items()
        if not key.endswith("_bar")
    ]
    return f'<ul class="summary">{"".join(items)}</ul>'


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _table(section: Any, tz: tzinfo | None) -> str:
    columns = [c for c in (section.table_columns or section.columns) if c not in ("funnel", "bar")]
    numeric = {c for c in columns if any(_numeric(row.get(c)) for row in section.rows)}
    head = "".join(
        f"<th{' class=num' if c in numeric else ''}>{escape(section.header(c))}</th>"
        for c in columns
    )
    body = []
    for row in section.rows:
        css = ' class="flag"' if section.flag and row.get(section.flag) else ""
        cells = "".join(
            f"<td{' class=num' if _numeric(row.get(c)) else ''}>"
            f"{escape(_cell(row.get(c), tz))}</td>"
            for c in columns
        )
        body.append(f"<tr{css}>{cells}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(columns)}">nothing to show</td></tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def bar_chart(rows: list[dict[str, Any]], label: str, value: str, *, funnel: bool = False) -> str:
    """Horizontal SVG bars of `value` per row, labelled with `label` and the figure; a funnel
    centres each bar on one axis."""
    figures = [(str(r.get(label) or ""), r.get(value)) for r in rows]
    top = max((float(v) for _l, v in figures if _numeric(v) and v > 0), default=0.0)
    height = BAR_HEIGHT * len(figures) + 8
    room = CHART_WIDTH - LABEL_WIDTH - 90
    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{height}" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" role="img" '
        f'aria-label="{escape(value)} by {escape(label)}">'
    ]
    for i, (name, figure) in enumerate(figures):
        y = 4 + i * BAR_HEIGHT
        width = 0.0
        if top and _numeric(figure) and figure > 0:
            width = max(1.0, float(figure) / top * room)
        text_y = y + BAR_HEIGHT * 0.68
        left = LABEL_WIDTH + ((room - width) / 2 if funnel else 0)
        shown = escape(render.text_value(figure, None, for_table=True))
        figure_x = LABEL_WIDTH + room + 6 if funnel else left + width + 6
        lines.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{text_y:.1f}" text-anchor="end">'
            f"{escape(name[:24])}</text>"
            f'<rect x="{left:.1f}" y="{y + 3}" width="{width:.1f}" height="{BAR_HEIGHT - 6}" '
            f'rx="3" fill="{FUNNEL_COLOUR if funnel else BAR_COLOUR}"/>'
            f'<text x="{figure_x:.1f}" y="{text_y:.1f}">{shown}</text>'
        )
    lines.append("</svg>")
    return "".join(lines)
