"""HTML reports a manager forwards (issue 20 item 5): pages that state every filter and the
period, KPI captions in words, money in the policy's currency, a target-vs-actual bar, charts
with axes and an explicit empty state, a footer whose command reproduces the page, no external
references, and markup a strict HTML5 parser accepts."""

from __future__ import annotations

import re
import shlex
from html import unescape
from pathlib import Path

import html5lib
import pytest

from conftest import Crm, copy_sqlite
from crmcli.render import html as render_html

PAGES = [
    ["dashboard"],
    ["report", "pipeline"],
    ["report", "conversion"],
    ["report", "velocity"],
    ["report", "win-rate"],
    ["report", "sources"],
    ["report", "response"],
    ["report", "activity"],
    ["report", "forecast"],
    ["report", "cases"],
    ["report", "sla"],
    ["report", "overdue"],
]


@pytest.fixture(scope="module")
def example_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`crm init --example` once per module; each test works on its own copy."""
    path = tmp_path_factory.mktemp("example") / "crm.db"
    Crm(path).ok("init", "--example")
    return path


@pytest.fixture
def example(example_db: Path, tmp_path: Path) -> Crm:
    copy_sqlite(example_db, tmp_path / "crm.db")
    return Crm(tmp_path / "crm.db")


def page(crm: Crm, *args: str, **env: str) -> str:
    """The page a command writes to stdout (--html -)."""
    return crm.ok(*args, "--html", "-", **env).out


def text_of(html: str, css: str, end: str = "</(?:p|ul|div|footer)>") -> str:
    """The text of the first element with class `css` (up to `end`; tags dropped)."""
    found = re.search(rf'class="{css}">(.*?){end}', html, re.S)
    assert found, f"no .{css} in the page"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def footer_commands(html: str) -> dict[str, str]:
    footer = html[html.index("<footer>") :]
    return {
        label: unescape(command)
        for label, command in re.findall(r"<p>([^<:]+): <code>(.*?)</code></p>", footer)
    }


@pytest.mark.parametrize("args", PAGES, ids=[" ".join(a) for a in PAGES])
def test_every_page_is_self_contained_and_strict_html5(example: Crm, args: list[str]) -> None:
    html = page(example, *args)
    html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(html)
    lowered = html.lower()
    for reference in ("http:", "https:", "src=", "href=", "<link", "<script", "url(", "@import"):
        assert reference not in lowered, reference
    assert "<h1>" in html and 'class="period"' in html and 'class="subtitle"' in html
    assert footer_commands(html)["Made with"] == f"crm {' '.join(args)} --html -"


def test_filters_and_period_are_stated(example: Crm) -> None:
    team = page(example, "report", "pipeline")
    assert text_of(team, "subtitle") == "All reps"
    assert text_of(team, "period").startswith("Every deal, whenever created, up to 6 Mar 2026")

    mine = page(example, "report", "pipeline", "--owner", "me", user="maria")
    assert text_of(mine, "subtitle") == "Rep: maria"  # 'me' named, so it reads right forwarded
    assert "--owner maria --as-of" in footer_commands(mine)["Same figures later"]

    grouped = page(
        example, "report", "conversion", "--by", "source", "--bucket", "month",
        "--from", "2026-01-01", "--to", "2026-02-28",
    )  # fmt: skip
    assert text_of(grouped, "subtitle") == "All reps · Grouped by source · Trend per month"
    # dates alone mean whole days: the end reads inclusive, in the policy's timezone
    assert text_of(grouped, "period") == "Period: 1 Jan 2026 to 28 Feb 2026 (America/New_York)"

    sla = page(example, "report", "sla", "--rule", "lead.entry", "--owner", "maria")
    assert text_of(sla, "subtitle") == "Rep: maria · Rule: lead.entry"

    back = page(example, "report", "velocity", "--as-of", "2026-02-20")
    assert "figures as they stood at 20 Feb 2026, 00:00" in text_of(back, "period")


def test_a_user_limited_to_campaigns_gets_a_page_that_says_so(example: Crm) -> None:
    example.ok("user", "add", "cam", "--role", "editor")
    example.ok("campaign", "add", "Spring Fair")
    example.ok("user", "scope", "cam", "--campaign", "Spring Fair")
    html = page(example, "dashboard", user="cam")
    assert "Only the campaigns cam may see: Spring Fair" in text_of(html, "subtitle")


def test_footer_command_reproduces_the_page(example: Crm) -> None:
    args = ["report", "win-rate", "--owner", "maria", "--from", "2026-01-01"]
    first = page(example, "--db", str(example.db), *args)
    commands = footer_commands(first)
    # what was typed, with its filters (in the command's own order), but never where the
    # database is (a URL may hold a password)
    assert commands["Made with"] == "crm report win-rate --from 2026-01-01 --owner maria --html -"
    # the same command pinned: its period and instant as absolute times, 'me' by name
    later = commands["Same figures later"]
    assert later == (
        "crm report win-rate --from 2026-01-01T00:00:00-05:00 --owner maria "
        "--as-of 2026-03-06T16:30:00-05:00 --html -"
    )
    # a week on, with a deal lost since, the pinned command draws the same figures
    example.ok("advance", "13", "closed_lost", "--lost-reason", "price", user="maria",
               CRM_NOW="2026-03-10T15:00:00+00:00")  # fmt: skip
    words = shlex.split(later)
    assert words[0] == "crm"
    again = example.ok(*words[1:], CRM_NOW="2026-03-13T15:00:00+00:00").out
    assert text_of(again, "summary") == text_of(first, "summary")
    moved = page(example, *args, CRM_NOW="2026-03-13T15:00:00+00:00")
    assert text_of(moved, "summary") != text_of(first, "summary")


def test_kpi_captions_in_words_money_in_the_policy_currency(example: Crm, tmp_path: Path) -> None:
    html = page(example, "dashboard")
    summary = text_of(html, "summary")
    assert "$283,300.00 Open pipeline value" in summary
    assert "New leads answered within the first-response standard (4 of 13)" in summary
    assert "first response sla percent" not in html and "target_percent" not in html
    assert "First response within" not in summary  # folded into the caption above
    # stages by the policy's display names, in the funnel and its table
    assert ">Needs Analysis<" in html and ">needs_analysis<" not in html

    policy = tmp_path / "euro.toml"
    policy.write_text('[quotes]\ncurrency = "EUR"\n')
    example.ok("policy", "import", str(policy))
    euro = text_of(page(example, "report", "pipeline"), "summary")
    assert "€283,300.00 Open pipeline value" in euro and "$" not in euro


def test_target_against_actual(example: Crm, tmp_path: Path) -> None:
    html = page(example, "report", "forecast")
    target = text_of(html, "target", "</p></div>")
    assert target.strip().startswith("Won against target")
    assert "$62,500.00 won of $750,000.00 target (8.3 %); forecast $146,300.00 (19.5 %)" in target
    assert re.search(r'class="fill" style="width:8\.3%"', html)
    assert re.search(r'class="projected" style="width:19\.5%"', html)

    dashboard = page(example, "dashboard")
    assert "$0.00 won of $250,000.00 target (0.0 %)" in text_of(dashboard, "target", "</p></div>")

    policy = tmp_path / "no-target.toml"
    policy.write_text("[targets]\nmonthly = 0\n")
    example.ok("policy", "import", str(policy))
    none = page(example, "dashboard")
    assert (
        "No target is set in the policy" in text_of(none, "target") and 'class="goal"' not in none
    )


def test_charts_have_axes_labels_and_an_empty_state(example: Crm) -> None:
    html = page(example, "report", "win-rate")
    trend = html[html.index("<svg") : html.index("</svg>")]
    for tick in ("0 %", "25 %", "50 %", "75 %", "100 %"):
        assert f">{tick}<" in trend  # a percentage axis runs 0-100 %, labelled
    assert ">week starting<" in trend and ">1 Dec<" in trend
    assert 'aria-label="win rate per week"' in trend

    bars = page(example, "report", "overdue")
    chart = bars[bars.index("<svg") : bars.index("</svg>")]
    assert ">0<" in chart and ">10<" in chart and ">maria<" in chart  # an axis from 0

    rules = page(example, "report", "sla")
    chart = rules[rules.index("<svg") : rules.index("</svg>")]
    assert ">opportunity.next_step<" in chart and "…" not in chart  # labels whole, never clipped
    assert ">Attainment % by rule<" in rules  # each chart says what it draws

    empty = page(example, "report", "win-rate", "--from", "2025-01-01", "--to", "2025-02-01")
    assert "No data in this period." in empty and "<svg" not in empty


def test_overdue_page_matches_the_report(example: Crm, tmp_path: Path) -> None:
    listed = example.ok("report", "overdue", "--owner", "maria", "--format", "json").json()
    out = tmp_path / "overdue.html"
    run = example("report", "overdue", "--owner", "maria", "--check", "--html", str(out))
    assert run.code == 1 and run.out == ""
    assert run.err.splitlines() == [f"wrote {out}", f"crm: {len(listed)} obligations overdue"]
    html = out.read_text()
    assert text_of(html, "subtitle") == "Rep: maria"
    assert text_of(html, "period") == "As of 6 Mar 2026, 16:30 (America/New_York)"
    items = html[html.index("Every item") :]
    assert items.count("<tr><td>maria</td>") == len(listed)
    for row in listed:
        assert f"<td>{row['rule']}</td><td>{row['record_type']} {row['record_id']}</td>" in items

    soon = page(example, "report", "overdue", "--due-within", "2d")
    assert "Including items due within 2d" in text_of(soon, "subtitle")
    assert "Falling due soon" in text_of(soon, "summary") and 'class="flag"' in soon

    bad = example("report", "overdue", "--html", str(tmp_path / "no" / "x.html"))
    assert bad.code == 2 and bad.err.startswith("crm: --html: cannot write") and bad.out == ""


def test_axis_ticks_are_round_and_cover_the_top() -> None:
    assert render_html._ticks(10, percent=False) == [0, 2, 4, 6, 8, 10]
    assert render_html._ticks(62700, percent=False) == [0, 20000, 40000, 60000, 80000]
    assert render_html._ticks(3, percent=False) == [0, 1, 2, 3]
    assert render_html._ticks(12.5, percent=True) == [0, 25, 50, 75, 100]
