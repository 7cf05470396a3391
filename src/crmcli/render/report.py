"""Output of the performance reports (services/analytics.Report): a table view with funnel
bars and sparklines (render/charts), one JSON document, or the main section as CSV. Data
to stdout."""

from __future__ import annotations

import json
import sys
from datetime import tzinfo
from typing import Any

from crmcli import render
from crmcli.render import charts


def emit_report(report: Any, *, fmt: str, tz: tzinfo | None = None, labels: Any = None) -> None:
    """table: summary, then each section (with its bars and trend column); json: the whole
    document; csv: the main section's rows (the first unless the report names another; the
    others are in the JSON)."""
    if fmt == "json":
        payload = render.json_value(report.document(), tz)
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    if fmt == "csv":
        main = report.main_section()
        render.emit(main.rows, fmt="csv", columns=main.columns, tz=tz)
        return
    sys.stdout.write(heading(report) + "\n")
    render.emit_record(_summary(report.summary), fmt="table", tz=tz, labels=labels)
    for section in report.sections:
        columns = section.table_columns or section.columns
        rows = drawn(section, columns)
        if section.flag:
            rows = [_flagged(row, section.flag) for row in rows]
        title = section.title
        if section.spark:
            title += "  " + charts.sparkline([row.get(section.spark) for row in section.rows])
        if section.labels:  # readable headers: the table shows each row under its labels
            rows = [{section.header(c): row.get(c) for c in columns} for row in rows]
            columns = [section.header(c) for c in columns]
        render.emit(rows, fmt="table", columns=columns, title=title, tz=tz, labels=labels)
    for line in report.notes:
        render.note(f"note: {line}")


def heading(report: Any) -> str:
    return f"{report.title}: {period_text(report)}"


def period_text(report: Any) -> str:
    """'from … to … (as of …)' in local minutes."""
    period = report.period
    start = _short(period.get("from")) if period.get("from") else "the beginning"
    text = f"{start} to {_short(period.get('to'))}"
    if period.get("as_of") and period.get("as_of") != period.get("to"):
        text += f" (as of {_short(period['as_of'])})"
    return text


def _short(stamp: str | None) -> str:
    return (stamp or "")[:16].replace("T", " ")


def drawn(section: Any, columns: list[str]) -> list[dict[str, Any]]:
    """The section's rows with their charts drawn as text: a funnel or a bar of the chart's
    value (when the table shows one), and each row's trend as a sparkline."""
    draw = {c for c in ("funnel", "bar") if c in columns and section.chart}
    if not draw and "trend" not in columns:
        return section.rows
    value = section.chart[1] if section.chart else ""
    top = max((row.get(value) or 0 for row in section.rows), default=0)
    rows = []
    for row in section.rows:
        shown = dict(row)
        if "funnel" in draw:
            shown["funnel"] = charts.funnel_bar(row.get(value), top, charts.FUNNEL_WIDTH)
        if "bar" in draw:
            shown["bar"] = charts.bar(row.get(value), top, charts.BAR_WIDTH)
        if isinstance(row.get("trend"), list):
            shown["trend"] = charts.sparkline(row["trend"])
        rows.append(shown)
    return rows


def _summary(summary: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in summary.items():
        out[key] = "-" if value is None else value
        if key == "target_percent":  # won value against the target, drawn below its figure
            out["target_bar"] = target_bar(summary.get("won_value"), summary.get("target"))
    return out


def target_bar(won: Any, target: Any) -> str:
    """The won value as a bar on the scale of the target (or of the won value past it)."""
    if not target:
        return ""
    return charts.bar(won, max(target, won or 0), charts.TARGET_WIDTH)


def _flagged(row: dict[str, Any], flag: str) -> dict[str, Any]:
    """Highlighted rows get a marker in their first column (tables carry no colour when
    piped, so the marker is text)."""
    if not row.get(flag):
        return row
    first = next(iter(row))
    return {**row, first: f"! {row[first]}"}
