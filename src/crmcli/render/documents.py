"""Customer documents: a quote as self-contained Markdown or HTML (no external assets).

Every value from the database is escaped for the target format: HTML through html.escape
(quotes included), Markdown by backslash-escaping the characters that carry meaning.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from crmcli.errors import BadInput

KINDS = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}
# statuses in which the document is not (yet) an offer the customer can take up
NOT_AN_OFFER = {
    "draft": "DRAFT - not yet approved",
    "submitted": "AWAITING APPROVAL - not an offer",
    "rejected": "REJECTED - not an offer",
    "expired": "EXPIRED - no longer valid",
}
# characters with inline meaning (emphasis, code, links, HTML, tables, entities); values
# never start a line, so list and heading markers need no escape
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~&])")


def kind_for(path: Path) -> str:
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        raise BadInput(f"--out: {path.name!r} must end in .md or .html")
    return kind


def money(amount: Decimal, currency: str) -> str:
    from babel.numbers import format_currency

    return format_currency(amount, currency, locale="en_US")


def _quantity(value: Decimal) -> str:
    return f"{value:,f}"


def _when(value: datetime | None, tz: tzinfo | None) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d") if value else ""


def _facts(record: dict[str, Any], tz: tzinfo | None) -> list[tuple[str, str]]:
    facts = [
        ("Quote", record["number"]),
        ("For", record["lead"] or f"lead {record['lead_id']}"),
        ("Date", _when(record["sent_at"] or record["created_at"], tz)),
        ("Valid until", record["valid_until"]),
        ("Currency", record["currency"]),
    ]
    if record["po_number"]:
        facts.append(("Your PO", record["po_number"]))
    return facts


def _line_cells(record: dict[str, Any]) -> list[list[str]]:
    currency = record["currency"]
    return [
        [
            str(line["line"]),
            line["product"] or "",
            line["sku"] or "",
            _quantity(line["quantity"]),
            money(line["unit_price"], currency),
            f"{line['discount_pct'].normalize():f}%" if line["discount_pct"] else "",
            money(line["total"], currency),
        ]
        for line in record["lines"]
    ]


HEADERS = ["#", "Product", "SKU", "Qty", "Unit price", "Discount", "Amount"]


def _totals(record: dict[str, Any]) -> list[tuple[str, str]]:
    currency = record["currency"]
    rows = []
    if record["discount"]:  # line amounts are net: show what the discounts took off
        rows.append(("Total before discounts", money(record["subtotal"], currency)))
        rows.append(("Discounts", "-" + money(record["discount"], currency)))
    rows.append(("Total", money(record["total"], currency)))
    return rows


def md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def quote_markdown(record: dict[str, Any], tz: tzinfo | None = None) -> str:
    out = [f"# Quote {md_escape(record['number'])}", ""]
    banner = NOT_AN_OFFER.get(record["status"])
    if banner:
        out += [f"> **{md_escape(banner)}**", ""]
    out += [f"**{md_escape(k)}:** {md_escape(v)}  " for k, v in _facts(record, tz)]
    out += ["", "| " + " | ".join(HEADERS) + " |", "|" + "|".join(["---"] * 3 + ["--:"] * 4) + "|"]
    out += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in _line_cells(record)]
    out += [""]
    out += [f"**{md_escape(label)}:** {md_escape(value)}  " for label, value in _totals(record)]
    return "\n".join(out).rstrip() + "\n"


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;color:#222}"
    "table{border-collapse:collapse;width:100%}th,td{padding:.4rem .6rem;"
    "border-bottom:1px solid #ddd;text-align:left}td.n,th.n{text-align:right}"
    ".banner{border:2px solid #b00;color:#b00;padding:.5rem;font-weight:bold}"
    "dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}"
    "dt{font-weight:bold}dd{margin:0}.totals td{border:none}.total td{font-weight:bold}"
)


def quote_html(record: dict[str, Any], tz: tzinfo | None = None) -> str:
    e = html.escape
    title = f"Quote {record['number']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        f"<style>{_STYLE}</style></head>",
        "<body>",
        f"<h1>{e(title)}</h1>",
    ]
    banner = NOT_AN_OFFER.get(record["status"])
    if banner:
        parts.append(f'<p class="banner">{e(banner)}</p>')
    parts.append("<dl>")
    parts += [f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in _facts(record, tz)]
    parts.append("</dl>")
    numeric = {0, 3, 4, 5, 6}
    head = "".join(
        f'<th class="n">{e(h)}</th>' if i in numeric else f"<th>{e(h)}</th>"
        for i, h in enumerate(HEADERS)
    )
    parts += ["<table>", f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for row in _line_cells(record):
        cells = "".join(
            f'<td class="n">{e(c)}</td>' if i in numeric else f"<td>{e(c)}</td>"
            for i, c in enumerate(row)
        )
        parts.append(f"<tr>{cells}</tr>")
    parts += ["</tbody>", "</table>", '<table class="totals">']
    for label, value in _totals(record):
        css = ' class="total"' if label == "Total" else ""
        parts.append(f'<tr{css}><td>{e(label)}</td><td class="n">{e(value)}</td></tr>')
    parts += ["</table>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def quote_document(record: dict[str, Any], kind: str, *, tz: tzinfo | None = None) -> str:
    return quote_html(record, tz) if kind == "html" else quote_markdown(record, tz)
