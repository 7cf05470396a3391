"""One self-contained HTML page per report, made to be forwarded: a title and a subtitle that
state the period and every filter, KPI captions in words, money in the policy's currency, a
target-vs-actual bar, charts with axes and an explicit empty state, and a footer with the
command that reproduces the page. Inline CSS and SVG, no JavaScript, no external assets (not
even an SVG namespace URL); every value escaped."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal
from html import escape
from typing import Any

from crmcli import render
from crmcli.render import charts

BAR_COLOUR = "#3d6fd8"
FUNNEL_COLOUR = "#2f9e8f"
AXIS_COLOUR = "#8a93a6"
GRID_COLOUR = "#e3e7ef"
NO_DATA = "No data in this period."
# one chart's drawing area, in SVG units; the page scales it to the screen's width
CHART_WIDTH = 600
ROW_HEIGHT = 50  # a label line, then its bar
BAR_HEIGHT = 18
FIGURE_WIDTH = 130
TREND_HEIGHT = 180
STYLE = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2433;
margin:28px auto;max-width:1080px;padding:0 20px;background:#fff}
h1{font-size:24px;margin:0 0 6px;line-height:1.25}
h2{font-size:17px;margin:30px 0 8px;color:#27324a}
.subtitle{color:#3b4457;margin:0 0 4px}.period{color:#5b6478;margin:0 0 18px}
.summary{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px;
margin:0 0 8px;padding:0;list-style:none}
.summary li{background:#f3f5fa;border-radius:6px;padding:10px 12px}
.summary b{display:block;font-size:20px;font-variant-numeric:tabular-nums}
.summary span{color:#4b5467;font-size:13px}
.target{margin:18px 0 6px;max-width:640px}
.track{position:relative;height:22px;background:#eef1f7;border-radius:4px;overflow:hidden}
.fill{position:absolute;left:0;top:0;bottom:0;background:#3d6fd8}
.projected{position:absolute;left:0;top:0;bottom:0;background:#a9c0f0}
.goal{position:absolute;top:0;bottom:0;width:2px;background:#1d2433}
.target p{margin:6px 0 0;color:#3b4457}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:6px 0 10px}
th,td{padding:5px 9px;border-bottom:1px solid #e3e7ef;text-align:left;white-space:nowrap}
th{background:#f3f5fa;font-weight:600;color:#27324a}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.wrap{white-space:normal;min-width:16em}
tr.flag td{background:#fff1f0;color:#a8071a}
svg{display:block;width:100%;max-width:600px;height:auto;margin:4px 0 12px}
svg text{font:13px system-ui,sans-serif;fill:#1d2433}svg .axis{fill:#5b6478;font-size:12px}
.empty{color:#5b6478;background:#f7f8fb;border:1px dashed #c9cfdb;border-radius:6px;
padding:14px;max-width:600px;margin:4px 0 12px}
.note{color:#5b6478;font-size:13px}.caption{margin:10px 0 0;color:#3b4457;font-weight:600}
footer{margin-top:30px;padding-top:10px;border-top:1px solid #e3e7ef;color:#5b6478;font-size:13px}
footer code{font:13px ui-monospace,Menlo,Consolas,monospace;color:#1d2433;background:#f3f5fa;
padding:2px 5px;border-radius:4px;word-break:break-all}
footer p{margin:4px 0}
@media (max-width:480px){body{margin:16px auto;padding:0 12px}h1{font-size:20px}
.summary{grid-template-columns:1fr 1fr}.summary b{font-size:17px}
svg text{font-size:21px}svg .axis{font-size:19px}table{font-size:14px}th,td{padding:4px 6px}}
"""

# KPI captions in words; a `<x>_percent` with `<x>_within` / `<x>_decided` reads "(4 of 13)"
CAPTIONS = {
    "open_deals": "Open deals",
    "open_value": "Open pipeline value",
    "weighted_value": "Weighted pipeline value (by stage probability)",
    "won_deals": "Deals won",
    "won_value": "Value won",
    "lost_deals": "Deals lost",
    "leads": "Leads",
    "opportunities": "Became opportunities",
    "customers": "Became customers",
    "lead_to_opportunity": "Leads that became opportunities",
    "opportunity_to_customer": "Opportunities that became customers",
    "lead_to_customer": "Leads that became customers",
    "won_median_days": "Median days from lead to won",
    "won_mean_days": "Average days from lead to won",
    "slow_stages": "Stages slower than the policy allows",
    "won": "Deals won",  # a count; the forecast's `won` is money (MONEY_CAPTIONS)
    "lost": "Deals lost",
    "closed": "Deals closed",
    "win_rate": "Win rate (won of closed)",
    "conversion": "Leads that became customers",
    "standard": "First-response standard",
    "responded": "Leads answered",
    "within_sla": "Answered within the standard",
    "late": "Answered late or not yet",
    "sla_percent": "Answered within the standard",
    "median_minutes": "Median minutes to first response",
    "mean_minutes": "Average minutes to first response",
    "points": "Activity points",
    "quota": "Activity quota for the period",
    "quota_percent": "Share of the activity quota",
    "reps_at_quota": "Reps at quota",
    "pipeline": "Open deals closing this quarter",
    "weighted": "Weighted by stage probability",
    "forecast": "Forecast (won + weighted)",
    "target": "Target",
    "attainment": "Won, share of target",
    "forecast_percent": "Forecast, share of target",
    "target_percent": "Won, share of the monthly target",
    "overdue": "Overdue obligations",
    "due_soon": "Falling due soon",
    "owners": "People with overdue items",
    "first_response_sla_percent": "New leads answered within the first-response standard",
    "case_sla_percent": "Cases handled within their SLA",
    "open_cases": "Open cases",
    "open_over_7d": "Open cases older than 7 days",
    "met_on_time": "Met on time",
    "met_late": "Met late",
    "open_overdue": "Open and overdue",
    "open_not_due": "Open, not yet due",
    "paused": "Paused",
    "lapsed": "Lapsed",
    "cancelled": "Cancelled",
    "total": "Obligations started",
    "breaches": "Breaches (late, overdue or lapsed)",
    "attainment_percent": "Met on time (SLA attainment)",
}
MONEY_CAPTIONS = {"won": "Value won", "pipeline": "Open pipeline closing this quarter"}
# summary keys the title or subtitle already states
NOT_CARDS = {"month", "quarter", "rule"}
MONEY = {
    "value",
    "weighted",
    "open_value",
    "weighted_value",
    "won_value",
    "target",
    "pipeline",
    "won",
    "forecast",
    "gap",
}
PERCENT = {"share", "rate", "conversion", "win_rate", "attainment", "probability"}
PERCENT |= {"lead_to_opportunity", "opportunity_to_customer", "lead_to_customer"}
# text bars the terminal draws; the page draws real charts instead
TERMINAL_ONLY = {"funnel", "bar"}


@dataclass
class Context:
    """What a page needs beyond the report: how to show values, and what the reader asked."""

    tz: tzinfo | None = None
    generated: datetime | None = None
    currency: str = "USD"
    stage_names: dict[str, str] = field(default_factory=dict)
    filters: list[str] = field(default_factory=list)  # "Rep: maria", "Grouped by source"
    command: str = ""  # what the reader typed, to make this page again
    later: str = ""  # the same command pinned to this page's instant (--as-of)
    historic: bool = False  # the reader asked for the figures as they stood (--as-of)

    @classmethod
    def of(cls, policy: Any, **values: Any) -> Context:
        """The policy's timezone, currency and stage names, plus `values`."""
        return cls(
            tz=policy.timezone,
            currency=policy.quotes.currency,
            stage_names={s["key"]: s.get("name") or s["key"] for s in policy.stages},
            **values,
        )


def page(report: Any, context: Context) -> str:
    """The report as one HTML document."""
    title = report.title
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="subtitle">{escape(subtitle(context))}</p>',
        f'<p class="period">{escape(period_words(report.period, context))}</p>',
        _summary(report.summary, context),
        _target(report.summary, context),
    ]
    for section in report.sections:
        parts.append(f"<h2>{escape(section.title)}</h2>")
        if section.chart:
            parts.append(chart(section, context))
        parts.append(_table(section, context))
    parts += [f'<p class="note">{escape(note)}</p>' for note in report.notes]
    parts.append(_footer(context))
    return "\n".join(p for p in parts if p) + "</body></html>\n"


def _footer(context: Context) -> str:
    """The command that made the page, as typed, and the same command pinned to this page's
    instant (a page forwarded next week can be checked against the same figures)."""
    lines = []
    if context.command:
        lines.append(f"Made with: <code>{escape(context.command)}</code>")
    if context.later and context.later != context.command:
        lines.append(f"Same figures later: <code>{escape(context.later)}</code>")
    if context.generated is not None:
        when = context.generated.astimezone(context.tz) if context.tz else context.generated
        lines.append(f"Generated {escape(_moment(when))} {escape(when.strftime('%Z'))}")
    return "<footer>" + "".join(f"<p>{line}</p>" for line in lines) + "</footer>"


def subtitle(context: Context) -> str:
    """Every filter the reader gave, so a forwarded page never reads as team-wide by mistake."""
    filters = context.filters or ["Whole team, all pipelines"]
    return " · ".join(filters)


def period_words(period: dict[str, Any], context: Context) -> str:
    """'Period: 1 Jan 2026 to 31 Mar 2026 (America/New_York)', the end shown inclusive, and
    the instant the figures stand at when the reader asked for an earlier one."""
    tz = context.tz
    start, end, as_of = (_instant(period.get(k), tz) for k in ("from", "to", "as_of"))
    zone = f" ({tz})" if tz else ""
    if end is None:
        return f"As of {_moment(as_of)}{zone}" if as_of else ""
    if start is None:
        text = f"Every deal, whenever created, up to {_moment(end)}"
    elif _midnight(start) and _midnight(end):
        from datetime import timedelta

        last = (end - timedelta(days=1)).date()
        text = f"Period: {_day(start.date())} to {_day(last)}"
    else:
        text = f"Period: {_moment(start)} to {_moment(end)}"
    if context.historic and as_of is not None:
        text += f"; figures as they stood at {_moment(as_of)}"
    return text + zone


def _instant(stamp: Any, tz: tzinfo | None) -> datetime | None:
    if not stamp:
        return None
    value = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp))
    return value.astimezone(tz) if tz else value


def _midnight(value: datetime) -> bool:
    return value.hour == value.minute == value.second == 0


def _day(day: Any) -> str:
    return f"{day.day} {day:%b %Y}"


def _moment(value: datetime) -> str:
    return f"{_day(value)}, {value:%H:%M}"


# --- values ------------------------------------------------------------------------------------


def money(amount: Decimal, currency: str) -> str:
    """$283,300.00 / €283,300.00 (babel; the same form as the quote documents)."""
    from babel.numbers import format_currency

    return format_currency(amount, currency, locale="en_US")


def show(column: str, value: Any, context: Context) -> str:
    """One value as a reader wants it: money, %, days, stage names, thousands separators."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal) and column in MONEY:
        return money(value, context.currency)
    if _numeric(value) and _is_percent(column):
        return f"{value:,} %" if isinstance(value, int) else f"{value:,.1f} %"
    if column.endswith("_seconds") and isinstance(value, int):
        return render.overdue_text(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Decimal | float):
        shown = f"{value:,.1f}"
        if "days" in column.split("_"):
            return f"{shown} d"
        if column.endswith("_minutes"):
            return f"{shown} min"
        return shown
    if isinstance(value, str) and column == "stage":
        return context.stage_names.get(value, value)
    if column == "trend" and isinstance(value, list):  # a row's values per bucket
        return charts.sparkline(value)
    if isinstance(value, list | tuple):
        return ", ".join(show(column, v, context) for v in value) or "none"
    if isinstance(value, datetime):
        return _moment(value.astimezone(context.tz) if context.tz else value)
    return render.text_value(value, context.tz, for_table=True)


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


# --- summary and target ------------------------------------------------------------------------


def _summary(summary: dict[str, Any], context: Context) -> str:
    items = []
    for key, value in summary.items():
        if key in NOT_CARDS or _folded(key, summary):
            continue
        caption = CAPTIONS.get(key) or key.replace("_", " ").capitalize()
        if isinstance(value, Decimal) and key in MONEY_CAPTIONS:
            caption = MONEY_CAPTIONS[key]
        if key.endswith("_percent"):
            stem = _stem(key, summary)
            within, decided = summary.get(f"{stem}_within"), summary.get(f"{stem}_decided")
            if decided is not None:
                caption += f" ({within or 0:,} of {decided:,})"
                if not decided:
                    value = None
        shown = "none" if value is None and key.endswith("_percent") else show(key, value, context)
        if key == "slow_stages":
            shown = show("stage", value, context)
        items.append(f"<li><b>{escape(shown)}</b><span>{escape(caption)}</span></li>")
    return f'<ul class="summary">{"".join(items)}</ul>' if items else ""


def _stem(percent_key: str, summary: dict[str, Any]) -> str | None:
    """The prefix of a percentage's counts: case_sla_percent -> case_sla (case_sla_within),
    first_response_sla_percent -> first_response (first_response_within); None: no counts."""
    stem = percent_key.removesuffix("_percent")
    for candidate in (stem, stem.removesuffix("_sla")):
        if f"{candidate}_decided" in summary:
            return candidate
    return None


def _folded(key: str, summary: dict[str, Any]) -> bool:
    """`<x>_within` and `<x>_decided` read as part of `<x>[_sla]_percent`'s caption."""
    stems = {_stem(k, summary) for k in summary if k.endswith("_percent")}
    return any(
        key.endswith(end) and key.removesuffix(end) in stems for end in ("_within", "_decided")
    )


def _target(summary: dict[str, Any], context: Context) -> str:
    """Target against actual: the won value filled, a forecast lighter, the target a line."""
    if "target" not in summary:
        return ""
    target = Decimal(summary["target"] or 0)
    actual = Decimal(summary.get("won_value", summary.get("won")) or 0)
    projected = summary.get("forecast")
    if not target:
        return (
            '<div class="target"><p>No target is set in the policy ([targets]); '
            f"won so far: {escape(money(actual, context.currency))}.</p></div>"
        )
    scale = max(target, actual, Decimal(projected or 0))
    parts = ['<div class="target"><h2>Won against target</h2><div class="track">']
    words = f"{money(actual, context.currency)} won of {money(target, context.currency)} target"
    words += f" ({actual / target * 100:.1f} %)"
    if projected is not None:
        parts.append(f'<div class="projected" style="width:{_share(projected, scale)}"></div>')
        words += (
            f"; forecast {money(Decimal(projected), context.currency)} "
            f"({Decimal(projected) / target * 100:.1f} %)"
        )
    parts.append(f'<div class="fill" style="width:{_share(actual, scale)}"></div>')
    parts.append(f'<div class="goal" style="left:calc({_share(target, scale)} - 2px)"></div>')
    parts.append(f"</div><p>{escape(words)}</p></div>")
    return "".join(parts)


def _share(part: Any, whole: Decimal) -> str:
    return f"{min(Decimal(part or 0) / whole * 100, Decimal(100)):.1f}%"


# --- tables ------------------------------------------------------------------------------------


def _table(section: Any, context: Context) -> str:
    columns = [c for c in (section.table_columns or section.columns) if c not in TERMINAL_ONLY]
    numeric = {c for c in columns if any(_numeric(row.get(c)) for row in section.rows)}
    head = "".join(
        f"<th{' class=num' if c in numeric else ''}>{escape(_header(section, c))}</th>"
        for c in columns
    )
    body = []
    for row in section.rows:
        css = ' class="flag"' if section.flag and row.get(section.flag) else ""
        cells = "".join(
            f"<td{_cell_class(row.get(c), c in numeric)}>"
            f"{escape(show(c, row.get(c), context))}</td>"
            for c in columns
        )
        body.append(f"<tr{css}>{cells}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(columns)}">nothing to show</td></tr>')
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _cell_class(value: Any, numeric_column: bool) -> str:
    """Numbers (and the dash of a missing one) align right; long text (a title) may wrap, so
    the other columns stay on screen."""
    if _numeric(value) or (value is None and numeric_column):
        return " class=num"
    return " class=wrap" if isinstance(value, str) and len(value) > 40 else ""


def _header(section: Any, column: str) -> str:
    header = section.header(column)
    if column.endswith("_seconds"):
        return header.removesuffix(" seconds")
    return header


# --- charts ------------------------------------------------------------------------------------


def chart(section: Any, context: Context) -> str:
    """The section's chart: columns over time for a trend, a funnel, or bars with an axis;
    "no data in this period" when there is nothing to draw."""
    label, value = section.chart
    figures = [r.get(value) for r in section.rows]
    if not any(_numeric(f) and f > 0 for f in figures):
        return f'<p class="empty">{escape(NO_DATA)}</p>'
    if label == "bucket":
        caption = f"{section.header(value)} per {_bucket_unit(section.rows)}"
        drawn = trend_chart(section, context)
    else:
        caption = f"{section.header(value)} by {section.header(label)}"
        drawn = bar_chart(section, context)
    return f'<p class="caption">{escape(caption.capitalize())}</p>{drawn}'


def _ticks(top: float, *, percent: bool) -> list[float]:
    """0 and three or four round steps up to at least `top` (100 for a percentage)."""
    if percent:
        return [0, 25, 50, 75, 100]
    step = 1.0
    while top / step > 5:
        for factor in (2, 2.5, 2):
            step *= factor
            if top / step <= 5:
                break
    count = max(1, -(-top // step))
    return [step * i for i in range(int(count) + 1)]


def _axis_text(column: str, tick: float, context: Context) -> str:
    if column.endswith("percent") or column in PERCENT:
        return f"{tick:.0f} %"
    if column in MONEY:
        from babel.numbers import format_compact_currency

        return format_compact_currency(tick, context.currency, locale="en_US")
    return f"{tick:,.0f}" if tick == int(tick) else f"{tick:,.1f}"


def _is_percent(column: str) -> bool:
    return column.endswith("percent") or column in PERCENT


def bar_chart(section: Any, context: Context) -> str:
    """Horizontal bars of the value per row, each under its label (whole: a rule id or a
    stage name never clipped, on a phone too) with its figure, over an axis from 0 (a
    funnel centres each bar and needs no axis)."""
    label, value = section.chart
    funnel = section.funnel
    rows = section.rows
    top = max(float(r[value]) for r in rows if _numeric(r.get(value)))
    ticks = [] if funnel else _ticks(top, percent=_is_percent(value))
    scale = ticks[-1] if ticks else top
    room = CHART_WIDTH - FIGURE_WIDTH
    bottom = ROW_HEIGHT * len(rows) + 4
    height = bottom + (0 if funnel else 30)
    name = escape(f"{section.header(value)} by {section.header(label)}")
    lines = [f'<svg viewBox="0 0 {CHART_WIDTH} {height}" role="img" aria-label="{name}">']
    for tick in ticks:
        x = tick / scale * room
        anchor = "start" if tick == 0 else "middle"
        lines.append(
            f'<line x1="{x:.1f}" y1="2" x2="{x:.1f}" y2="{bottom}" stroke="{GRID_COLOUR}"/>'
            f'<text class="axis" x="{x:.1f}" y="{bottom + 20}" text-anchor="{anchor}">'
            f"{escape(_axis_text(value, tick, context))}</text>"
        )
    for i, row in enumerate(rows):
        figure = row.get(value)
        y = 4 + i * ROW_HEIGHT
        width = 0.0
        if _numeric(figure) and figure > 0:
            width = max(1.0, float(figure) / scale * room)
        left = (room - width) / 2 if funnel else 0
        bar_y = y + 24
        name_at = f'x="{room / 2:.1f}" text-anchor="middle"' if funnel else 'x="0"'
        lines.append(
            f'<text {name_at} y="{y + 16}">{escape(show(label, row.get(label), context))}</text>'
            f'<rect x="{left:.1f}" y="{bar_y}" width="{width:.1f}" height="{BAR_HEIGHT}" '
            f'rx="3" fill="{FUNNEL_COLOUR if funnel else BAR_COLOUR}"/>'
            f'<text x="{left + width + 6:.1f}" y="{bar_y + BAR_HEIGHT - 2}">'
            f"{escape(show(value, figure, context))}</text>"
        )
    if ticks:
        lines.append(
            f'<line x1="0" y1="{bottom}" x2="{room}" y2="{bottom}" stroke="{AXIS_COLOUR}"/>'
        )
    lines.append("</svg>")
    return "".join(lines)


def trend_chart(section: Any, context: Context) -> str:
    """Columns per bucket over a y axis from 0 (0–100 for a percentage); a bucket with no
    figure (nothing to divide) is left empty, not drawn as zero."""
    label, value = section.chart
    rows = section.rows
    top = max(float(r[value]) for r in rows if _numeric(r.get(value)))
    ticks = _ticks(top, percent=_is_percent(value))
    scale = ticks[-1]
    left, right, top_pad, bottom_pad = 70, 8, 28, 60
    width = CHART_WIDTH - left - right
    step = width / len(rows)
    base = top_pad + TREND_HEIGHT
    name = escape(f"{section.header(value)} per {_bucket_unit(rows)}")
    lines = [
        f'<svg viewBox="0 0 {CHART_WIDTH} {base + bottom_pad}" role="img" aria-label="{name}">'
    ]
    for tick in ticks:
        y = base - tick / scale * TREND_HEIGHT
        lines.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{CHART_WIDTH - right}" y2="{y:.1f}" '
            f'stroke="{GRID_COLOUR}"/>'
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_axis_text(value, tick, context))}</text>"
        )
    every = max(1, -(-len(rows) // 5))  # at most five labels under the axis: phones too
    # where some buckets had nothing to measure, a measured 0 is labelled to tell them apart
    zeros = any(row.get(value) is None for row in rows)
    for i, row in enumerate(rows):
        figure = row.get(value)
        x = left + i * step
        if _numeric(figure) and (figure > 0 or zeros):  # nothing to measure: left blank
            height = float(figure) / scale * TREND_HEIGHT if figure > 0 else 0.0
            shown = escape(_axis_text(value, float(figure), context))
            lines.append(
                f'<rect x="{x + step * 0.15:.1f}" y="{base - height:.1f}" '
                f'width="{step * 0.7:.1f}" height="{height:.1f}" fill="{BAR_COLOUR}">'
                f"<title>{escape(str(row.get(label)))}: "
                f"{escape(show(value, figure, context))}</title></rect>"
                f'<text class="axis" x="{x + step / 2:.1f}" y="{base - height - 4:.1f}" '
                f'text-anchor="middle">{shown}</text>'
            )
        if i % every == 0:
            lines.append(
                f'<text class="axis" x="{x + step / 2:.1f}" y="{base + 18}" '
                f'text-anchor="middle">{escape(_bucket_label(str(row.get(label))))}</text>'
            )
    lines.append(
        f'<line x1="{left}" y1="{base}" x2="{CHART_WIDTH - right}" y2="{base}" '
        f'stroke="{AXIS_COLOUR}"/>'
        f'<text class="axis" x="{left + width / 2:.1f}" y="{base + 50}" text-anchor="middle">'
        f"{escape(_bucket_unit(rows))} starting</text>"
    )
    lines.append("</svg>")
    return "".join(lines)


def _bucket_unit(rows: list[dict[str, Any]]) -> str:
    """'week' for buckets labelled by their first day, 'month' for YYYY-MM."""
    first = str(rows[0].get("bucket", "")) if rows else ""
    return "month" if len(first) == 7 else "week"


def _bucket_label(label: str) -> str:
    """2026-01-05 -> 5 Jan; 2026-01 -> Jan 2026."""
    try:
        if len(label) == 7:
            return f"{datetime.strptime(label, '%Y-%m'):%b %Y}"
        day = datetime.strptime(label, "%Y-%m-%d")
    except ValueError:
        return label
    return f"{day.day} {day:%b}"
