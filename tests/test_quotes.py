"""`crm quote …` through the real CLI: the workflow, every refusal, obligations, export."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Crm, Prepared

MONDAY_EVENING = "2026-03-09T21:00:00+00:00"  # after the approval's 8 business hours


def rows(crm: Crm, sql: str, *args) -> list[tuple]:
    return crm.rows(sql, *args)


def scored(crm: Crm, **fields: str) -> int:
    lead = crm.add_lead(**fields)
    bant = ["--budget", "20", "--authority", "15", "--need", "20", "--timeline", "10"]
    crm.ok("score", str(lead), *bant)
    return lead


def new_quote(crm: Crm, lead: int, *extra: str, user: str = "ed") -> str:
    return crm.ok("quote", "new", str(lead), *extra, user=user).out.strip()


def add_line(crm: Crm, quote: str, *extra: str, user: str = "ed") -> dict:
    args = ["quote", "line", quote, "--product", "Router X2", "--qty", "3", "--price", "1250"]
    return crm.ok(*args, *extra, "--format", "json", user=user).json()


def show(crm: Crm, quote: str, **env) -> dict:
    return crm.ok("quote", "show", quote, "--format", "json", **env).json()


@pytest.fixture
def quoted(team: Crm, prepared: Prepared) -> tuple[Crm, int, str]:
    """Ed's opportunity with a draft quote of one line within the policy."""
    lead, quote = prepared(team, make_quoted)
    return team, lead, quote


def make_quoted(crm: Crm) -> tuple[int, str]:
    lead = scored(crm, owner="ed")
    quote = new_quote(crm, lead)
    add_line(crm, quote)
    return lead, quote


def needs_approval(crm: Crm, quote: str) -> None:
    add_line(crm, quote, "--discount", "20")  # above quotes.approval.max_discount (15)
    crm.ok("quote", "submit", quote, user="ed")


def test_quoting_a_scored_lead_qualifies_it(team: Crm) -> None:
    lead = scored(team)
    run = team.ok("quote", "new", str(lead), "--format", "json", user="ed")
    data = run.json()
    assert data["number"] == "Q-0001" and data["status"] == "draft"
    assert data["kind"] == "opportunity" and data["currency"] == "USD"
    assert data["valid_until"] == "2026-04-05"  # policy quotes.valid_days = 30
    assert "qualified into an opportunity" in run.err
    assert rows(team, "SELECT kind, stage FROM lead") == [("opportunity", "qualification")]
    assert rows(team, "SELECT to_stage FROM stage_change ORDER BY id DESC LIMIT 1") == [
        ("qualification",)
    ]


def test_quoting_a_lead_the_gates_hold_back_attaches_the_quote(team: Crm) -> None:
    lead = team.add_lead()  # not scored: qualification requires a score
    run = team.ok("quote", "new", str(lead), "--valid-until", "2026-03-31", user="ed")
    assert run.out.strip() == "1"
    assert "stays a lead" in run.err and "requires a BANT score" in run.err
    assert rows(team, "SELECT kind, stage FROM lead") == [("lead", "prospecting")]
    assert rows(team, "SELECT lead_id, valid_until, owner_id FROM quote") == [
        (lead, "2026-03-31", 2)  # owned by ed, who made it (the lead has no owner)
    ]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["99"], 3, "lead 99 not found"),
        (["1", "--valid-until", "2026-03-05"], 2, "--valid-until: 2026-03-05 has passed"),
        (["1", "--valid-until", "next week"], 2, "--valid-until: 'next week' is not a date"),
        (["1", "--currency", "XYZ"], 2, "--currency: 'XYZ' is not an ISO 4217"),
        (["1", "--currency", "BHD"], 2, "at most 2"),
    ],
)
def test_new_quote_refusals(team: Crm, args, code, needle) -> None:
    team.add_lead()
    run = team("quote", "new", *args, user="ed")
    assert run.code == code and needle in run.err
    assert team.count("quote") == 0


def test_closed_leads_and_viewers_get_no_quote(team: Crm) -> None:
    lead = scored(team)
    assert team("quote", "new", str(lead), user="vi").code == 4
    team.ok("advance", str(lead), "closed_lost", "--lost-reason", "budget cut")
    run = team("quote", "new", str(lead), user="ed")
    assert run.code == 5 and "closed" in run.err
    assert team.count("quote") == 0


def test_other_currency(team: Crm) -> None:
    lead = scored(team)
    quote = new_quote(team, lead, "--currency", "eur")
    data = add_line(team, quote, "--price", "99.99")
    assert data["currency"] == "EUR" and data["total"] == "299.97"
    # no exchange rates: a foreign-currency total always goes to an approver
    assert "the total is in EUR, not USD" in data["approval_reasons"][0]


def test_lines_totals_and_show(quoted) -> None:
    crm, lead, quote = quoted
    data = add_line(
        crm, quote, "--sku", "SUP-1", "--qty", "2.5", "--price", "99.99", "--discount", "7.5%"
    )
    assert [(line["line"], line["quantity"], line["total"]) for line in data["lines"]] == [
        (1, "3", "3750.00"),
        (2, "2.5", "231.23"),
    ]
    assert (data["subtotal"], data["discount"], data["total"]) == ("3999.98", "18.75", "3981.23")
    assert data["discount_pct"] == "0.47"
    assert rows(crm, "SELECT subtotal, discount, total FROM quote") == [(399998, 1875, 398123)]
    assert rows(crm, "SELECT quantity, unit_price, discount_pct FROM quote_line") == [
        (3000, 125000, 0),
        (2500, 9999, 750),
    ]
    table = crm.ok("quote", "show", quote).out
    assert "quote Q-0001" in table and "Router X2" in table and "3981.23" in table
    assert "not needed" in table
    csv_lines = crm.ok("quote", "show", quote, "--format", "csv").out.splitlines()
    assert csv_lines[0].startswith("line,product,sku,quantity") and len(csv_lines) == 3
    removed = crm.ok("quote", "line", quote, "--remove", "1", "--format", "json", user="ed").json()
    assert [(line["line"], line["sku"]) for line in removed["lines"]] == [(1, "SUP-1")]
    assert removed["total"] == "231.23"
    assert crm("quote", "line", quote, "--remove", "7", user="ed").code == 2


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["1", "--product", "X", "--price", "abc"], 2, "--price: 'abc' is not a number"),
        (["1", "--product", "X", "--price", "10.001"], 2, "--price: 10.001 has too many"),
        (["1", "--product", "X", "--price", "-1"], 2, "--price: -1 is too small"),
        (["1", "--product", "X"], 2, "--price: give the unit price"),
        (["1", "--product", "X", "--price", "5", "--qty", "0"], 2, "--qty: 0 is too small"),
        (["1", "--product", "X", "--price", "5", "--qty", "many"], 2, "--qty: 'many'"),
        (["1", "--product", "X", "--price", "5", "--discount", "150"], 2, "--discount: 150"),
        (["1", "--price", "5"], 2, "--product/--sku"),
        (["1", "--remove", "1", "--price", "5"], 2, "--remove: give it alone"),
        (["abc", "--product", "X", "--price", "5"], 2, "QUOTE: 'abc' is not a quote number"),
        (["Q-0042", "--product", "X", "--price", "5"], 3, "quote Q-0042 not found"),
        (
            ["1", "--product", "X", "--price", "999999999999", "--qty", "1000"],
            2,
            "above the 10,000,000,000,000",
        ),
    ],
)
def test_line_refusals_write_nothing(quoted, args, code, needle) -> None:
    crm, _lead, _quote = quoted
    events = crm.count("audit_event")
    run = crm("quote", "line", *args, user="ed")
    assert run.code == code, run.err
    assert needle in run.err and run.err.count("\n") == 1
    assert crm.count("quote_line") == 1 and crm.count("audit_event") == events


def test_submit_within_policy_is_approved_at_once_and_can_be_sent(quoted) -> None:
    crm, _lead, quote = quoted
    run = crm.ok("quote", "submit", quote, user="ed")
    assert "quote Q-0001: approved, total 3750.00 USD" in run.err
    data = show(crm, quote)
    assert data["status"] == "approved" and data["approval_needed"] is False
    assert rows(crm, "SELECT count(*) FROM obligation WHERE record_type = 'quote'") == [(0,)]
    line = crm("quote", "line", quote, "--product", "Y", "--price", "1", user="ed")
    assert line.code == 5 and "lines change only in draft" in line.err
    crm.ok("quote", "send", quote, user="ed")
    assert show(crm, quote)["status"] == "sent" and show(crm, quote)["sent_at"]


def test_a_draft_within_policy_can_be_sent_directly(quoted) -> None:
    crm, _lead, quote = quoted
    crm.ok("quote", "send", quote, user="ed")
    data = show(crm, quote)
    assert data["status"] == "sent" and data["submitted_by"] == "ed"


def test_empty_quotes_are_neither_submitted_nor_sent(team: Crm) -> None:
    quote = new_quote(team, scored(team))
    for verb in ("submit", "send"):
        run = team("quote", verb, quote, user="ed")
        assert run.code == 5 and "has no lines" in run.err


def test_approval_workflow_with_its_obligation(quoted) -> None:
    crm, _lead, quote = quoted
    needs_approval(crm, quote)
    data = show(crm, quote)
    assert data["status"] == "submitted" and data["approval_needed"] is True
    assert "line 2 discount 20% is above 15%" in data["approval_reasons"][0]

    send = crm("quote", "send", quote, user="ed")
    assert send.code == 5 and "needs approval before it is sent" in send.err
    line = crm("quote", "line", quote, "--product", "Y", "--price", "1", user="ed")
    assert line.code == 5 and "awaiting approval" in line.err
    by_editor = crm("quote", "approve", quote, "--reason", "fine by me", user="ed")
    assert by_editor.code == 4 and "needs the admin role" in by_editor.err
    assert crm("quote", "approve", quote, "--reason", "ok", user="vi").code == 4

    # the approval is owed by the approver (boss, the one admin) and shows in the report
    report = crm.ok(
        "report", "overdue", "--format", "json", CRM_NOW=MONDAY_EVENING, user="vi"
    ).json()
    owed = [r for r in report if r["rule"] == "quote.approval"]
    assert owed == [
        {
            "rule": "quote.approval",
            "record_type": "quote",
            "record_id": 1,
            "title": "approve quote Q-0001: Analytical Engines",  # no personal data
            "owner": "boss",
            "due_at": "2026-03-09T16:30:00-04:00",
            "overdue_by_seconds": 1800,
        }
    ]

    run = crm.ok("quote", "approve", quote, "--reason", "strategic account")
    assert "quote Q-0001 approved" in run.err
    data = show(crm, quote)
    assert data["status"] == "approved"
    assert [(a["decision"], a["decided_by"], a["reason"]) for a in data["approvals"]] == [
        ("approved", "boss", "strategic account")
    ]
    assert rows(crm, "SELECT status, met_by FROM obligation WHERE rule = 'quote.approval'") == [
        ("met", "boss")
    ]
    report = crm.ok("report", "overdue", "--format", "json", CRM_NOW=MONDAY_EVENING).json()
    assert not [r for r in report if r["rule"] == "quote.approval"]
    crm.ok("quote", "send", quote, user="ed")
    again = crm("quote", "approve", quote, "--reason", "twice")
    assert again.code == 5 and "it is sent" in again.err
    actions = [e["action"] for e in crm.ok("history", "quote:1", "--format", "json").json()]
    assert actions == ["create", "line", "line", "submit", "approve", "send"]


def test_reject_then_change_and_submit_again(quoted) -> None:
    crm, _lead, quote = quoted
    needs_approval(crm, quote)
    assert crm("quote", "reject", quote, user="boss").code == 2  # --reason is required
    crm.ok("quote", "reject", quote, "--reason", "20% needs the VP")
    assert show(crm, quote)["status"] == "rejected"
    send = crm("quote", "send", quote, user="ed")
    assert send.code == 5 and "rejected" in send.err and "submit again" in send.err
    # changing a line takes the rejected quote back to draft
    crm.ok("quote", "line", quote, "--remove", "2", user="ed")
    assert show(crm, quote)["status"] == "draft"
    add_line(crm, quote, "--discount", "16")
    crm.ok("quote", "submit", quote, user="ed", CRM_NOW="2026-03-09T14:00:00+00:00")
    states = rows(crm, "SELECT status, due_at FROM obligation ORDER BY id")
    approvals = [s for s in states if s[1] >= "2026-03-09"]
    assert ("met", "2026-03-09 20:30:00.000000") in states  # the first round, rejected
    assert ("open", "2026-03-10 14:00:00.000000") in approvals  # the second: Tue 10:00 EDT
    crm.ok("quote", "approve", quote, "--reason", "16% is fine")
    data = show(crm, quote)
    assert [a["decision"] for a in data["approvals"]] == ["rejected", "approved"]


def test_self_approval_is_refused_unless_the_policy_allows(team: Crm, tmp_path: Path) -> None:
    quote = new_quote(team, scored(team), user="boss")
    add_line(team, quote, "--discount", "30", user="boss")
    team.ok("quote", "submit", quote)
    run = team("quote", "approve", quote, "--reason", "mine")
    assert run.code == 5 and "self_approval" in run.err
    policy = tmp_path / "p.toml"
    policy.write_text("[quotes.approval]\nself_approval = true\n")
    team.ok("--policy", str(policy), "quote", "approve", quote, "--reason", "mine")


def test_named_approvers_may_approve_and_own_the_deadline(team: Crm, tmp_path: Path) -> None:
    team.ok("user", "add", "dana", "--role", "editor")
    policy = tmp_path / "p.toml"
    policy.write_text('[quotes.approval]\napprovers = ["dana"]\n')
    team.ok("policy", "import", str(policy))
    lead = scored(team, owner="ed")
    quote = new_quote(team, lead)
    needs_approval(team, quote)
    assert rows(
        team,
        'SELECT u.name FROM obligation o JOIN "user" u ON u.id = o.owner_id '
        "WHERE o.rule = 'quote.approval'",
    ) == [("dana",)]
    assert team("quote", "approve", quote, "--reason", "x", user="ed").code == 4
    team.ok("quote", "approve", quote, "--reason", "within my authority", user="dana")


def test_policy_import_recomputes_approval_deadlines(quoted, tmp_path: Path) -> None:
    crm, _lead, quote = quoted
    needs_approval(crm, quote)
    due = "SELECT due_at FROM obligation WHERE rule = 'quote.approval'"
    assert rows(crm, due) == [("2026-03-09 20:30:00.000000",)]
    policy = tmp_path / "slow.toml"
    policy.write_text('[rules."quote.approval"]\nafter = "16h"\nclock = "business"\n')
    crm.ok("policy", "import", str(policy))
    assert rows(crm, due) == [("2026-03-10 20:30:00.000000",)]


def test_expired_quotes_are_not_sent_or_accepted(quoted) -> None:
    crm, _lead, quote = quoted
    later = {"CRM_NOW": "2026-04-06T16:00:00+00:00"}  # the day after valid-until
    assert show(crm, quote, **later)["status"] == "expired"
    listed = crm.ok("quote", "list", "--status", "expired", "--format", "ids", **later).out
    assert listed.split() == ["1"]
    assert crm.ok("quote", "list", "--status", "draft", "--format", "ids", **later).out == ""
    run = crm("quote", "send", quote, user="ed", **later)
    assert run.code == 5 and "expired on 2026-04-05" in run.err
    crm.ok("quote", "send", quote, user="ed")
    run = crm("quote", "accept", quote, "--po", "PO-1", user="ed", **later)
    assert run.code == 5 and "expired" in run.err


def to_negotiation(crm: Crm, lead: int, quote: str) -> None:
    crm.ok("advance", str(lead), "needs_analysis", user="ed")
    crm.ok("quote", "submit", quote, user="ed")
    crm.ok("advance", str(lead), "proposal", user="ed")
    crm.ok("advance", str(lead), "negotiation", user="ed")
    crm.ok("quote", "send", quote, user="ed")


def test_accept_with_po_closes_the_opportunity_as_won(quoted) -> None:
    crm, lead, quote = quoted
    to_negotiation(crm, lead, quote)
    assert rows(crm, "SELECT quote_ref FROM lead") == [("Q-0001",)]  # the proposal's quote
    run = crm.ok("quote", "accept", quote, "--po", "PO-4471", user="ed")
    assert "accepted with PO PO-4471" in run.err and "now closed_won" in run.err
    assert rows(crm, "SELECT stage, status, po_number, amount FROM lead") == [
        ("closed_won", "won", "PO-4471", 375000)
    ]
    data = show(crm, quote)
    assert data["status"] == "accepted" and data["po_number"] == "PO-4471"
    history = [
        e["action"] for e in crm.ok("lead", "show", str(lead), "--format", "json").json()["history"]
    ]
    assert history[-1] == "advance"
    assert crm("audit", "verify").code == 0


def test_accept_refusals(quoted) -> None:
    crm, lead, quote = quoted
    run = crm("quote", "accept", quote, "--po", "PO-1", user="ed")
    assert run.code == 5 and "send it first" in run.err
    assert crm("quote", "accept", quote, user="ed").code == 2  # --po is required
    crm.ok("quote", "send", quote, user="ed")
    assert crm("quote", "accept", quote, "--po", "  ", user="ed").code == 2
    # the opportunity is in qualification: Closed Won would skip stages the policy keeps
    events = crm.count("audit_event")
    run = crm("quote", "accept", quote, "--po", "PO-1", user="ed")
    assert run.code == 5 and "it would skip" in run.err and "--no-close" in run.err
    assert crm.count("audit_event") == events and show(crm, quote)["status"] == "sent"
    crm.ok("quote", "accept", quote, "--po", "PO-1", "--no-close", user="ed")
    assert show(crm, quote)["status"] == "accepted"
    assert rows(crm, "SELECT stage, status FROM lead") == [("qualification", "qualified")]
    # the accepted quote's PO satisfies the Closed Won gate later
    for stage in ("needs_analysis", "proposal", "negotiation", "closed_won"):
        crm.ok("advance", str(lead), stage, user="ed")
    assert rows(crm, "SELECT status, po_number FROM lead") == [("won", "PO-1")]


def test_advance_names_only_the_leads_own_real_quotes(quoted) -> None:
    crm, lead, quote = quoted
    crm.ok("advance", str(lead), "needs_analysis", user="ed")
    crm.ok("quote", "submit", quote, user="ed")
    other = scored(crm, first="Grace", last="Hopper", company="Navy", email="g@navy.example")
    other_quote = new_quote(crm, other)
    run = crm("advance", str(lead), "proposal", "--quote", other_quote)
    assert run.code == 2 and "is a quote of lead 2, not of lead 1" in run.err
    assert crm("advance", str(lead), "proposal", "--quote", "Q-0099").code == 3
    crm.ok("advance", str(lead), "proposal", "--quote", quote)


def test_list_filters(quoted) -> None:
    crm, lead, quote = quoted
    other = scored(crm, first="Grace", last="Hopper", company="Navy", email="g@navy.example")
    new_quote(crm, other)
    crm.ok("quote", "submit", quote, user="ed")
    data = crm.ok("quote", "list", "--format", "json", user="vi").json()
    assert [(q["number"], q["status"], q["total"]) for q in data] == [
        ("Q-0001", "approved", "3750.00"),
        ("Q-0002", "draft", "0.00"),
    ]
    assert crm.ok("quote", "list", "--lead", str(other), "--format", "ids").out.split() == ["2"]
    assert crm.ok("quote", "list", "--status", "approved", "--format", "ids").out.split() == ["1"]
    assert crm("quote", "list", "--status", "lost").code == 2
    assert crm("quote", "list", "--lead", "99").code == 3
    table = crm.ok("quote", "list").out
    assert "Q-0001" in table and "Grace Hopper, Navy" in table


def test_campaign_scope_hides_quotes(team: Crm) -> None:
    team.ok("campaign", "add", "Expo")
    team.ok("user", "scope", "ed", "--campaign", "Expo")
    outside = scored(team)  # no campaign: outside ed's scope
    quote = new_quote(team, outside, user="boss")
    assert team("quote", "show", quote, user="ed").code == 3
    assert team.ok("quote", "list", "--format", "ids", user="ed").out == ""


def test_export_markdown_and_html(quoted, tmp_path: Path) -> None:
    crm, _lead, quote = quoted
    add_line(
        crm,
        quote,
        *["--product", '<script>alert("x")</script> & Co | *bold*', "--sku", "A_1"],
        *["--discount", "10"],
    )
    crm.ok("quote", "send", quote, user="ed")
    md = tmp_path / "q.md"
    crm.ok("quote", "export", quote, "--out", str(md), user="vi")
    text = md.read_text()
    assert text.startswith("# Quote Q-0001\n")
    assert "**For:** Ada Lovelace, Analytical Engines" in text
    assert "| 1 | Router X2 |  | 3 | $1,250.00 |  | $3,750.00 |" in text
    assert r'\<script\>alert("x")\</script\> \& Co \| \*bold\*' in text
    assert "| A\\_1 | 3 | $1,250.00 | 10% | $3,375.00 |" in text
    # the line amounts are net, so the totals say what the discounts took off
    assert "**Total before discounts:** $7,500.00  \n**Discounts:** -$375.00  \n" in text
    assert text.endswith("**Total:** $7,125.00\n")
    assert "DRAFT" not in text  # sent: a real offer
    page = tmp_path / "q.html"
    crm.ok("quote", "export", quote, "--out", str(page))
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html and "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co | *bold*" in html
    assert '<tr class="total"><td>Total</td><td class="n">$7,125.00</td></tr>' in html
    assert "http" not in html  # self-contained: no external stylesheet, font or image


def test_export_marks_unapproved_quotes_and_refuses_bad_names(quoted, tmp_path: Path) -> None:
    crm, _lead, quote = quoted
    out = tmp_path / "draft.html"
    crm.ok("quote", "export", quote, "--out", str(out))
    assert "DRAFT - not yet approved" in out.read_text()
    run = crm("quote", "export", quote, "--out", str(tmp_path / "q.pdf"))
    assert run.code == 2 and "must end in .md or .html" in run.err
    run = crm("quote", "export", quote, "--out", str(tmp_path / "missing" / "q.md"))
    assert run.code == 2 and "--out: cannot write" in run.err
    assert crm("quote", "export", "7", "--out", str(out)).code == 3


def test_example_data_has_quotes_behind_every_proposal(fresh: Crm) -> None:
    fresh.ok("init", "--example")
    leads = fresh.ok("lead", "list", "--format", "json").json()
    past_proposal = {
        lead["id"] for lead in leads if lead["stage"] in ("proposal", "negotiation", "closed_won")
    }
    quoted_leads = {q["lead_id"] for q in fresh.ok("quote", "list", "--format", "json").json()}
    assert past_proposal <= quoted_leads
    report = fresh.ok("report", "overdue", "--format", "json").json()
    assert any(r["rule"] == "quote.approval" for r in report)
    assert fresh("audit", "verify").code == 0


def test_policy_check_names_quote_keys_by_line(crm: Crm, tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[quotes]\ncurrency = "XYZ"\nrounding = "up"\n\n[quotes.approval]\n'
        'max_discount = 150\napprover_role = "viewer"\n'
    )
    run = crm("policy", "check", str(path))
    assert run.code == 2
    assert f"{path}:2: quotes.currency: 'XYZ' is not an ISO 4217" in run.err
    assert f"{path}:3: quotes.rounding: use one of half_up, half_even" in run.err
    assert f"{path}:6: quotes.approval.max_discount: 150 is out of range" in run.err
    assert f"{path}:7: quotes.approval.approver_role: use editor or admin" in run.err
    keys = {r["key"] for r in crm.ok("policy", "show", "--explain", "--format", "json").json()}
    assert {"quotes.currency", "quotes.approval.max_discount", "quotes.rounding"} <= keys


def test_forgetting_the_person_leaves_no_name_in_quote_deadlines(quoted) -> None:
    crm, lead, quote = quoted
    needs_approval(crm, quote)
    crm.ok("lead", "forget", str(lead), "--yes")
    titles = [title for (title,) in rows(crm, "SELECT title FROM obligation")]
    assert "approve quote Q-0001: Analytical Engines" in titles
    assert not [t for t in titles if "Ada" in t or "Lovelace" in t]


def test_a_quote_keeps_the_rounding_it_was_made_with(team: Crm, tmp_path: Path) -> None:
    lead = scored(team)
    half_up = new_quote(team, lead)
    policy = tmp_path / "bankers.toml"
    policy.write_text('[quotes]\nrounding = "half_even"\n')
    team.ok("policy", "import", str(policy))
    half_even = new_quote(team, lead)
    for quote in (half_up, half_even):
        add_line(team, quote, "--qty", "1", "--price", "0.50", "--discount", "5")
    # 5% of 0.50 is 0.025: half-up takes 0.03 off, banker's rounding 0.02
    assert [show(team, q)["total"] for q in (half_up, half_even)] == ["0.47", "0.48"]
