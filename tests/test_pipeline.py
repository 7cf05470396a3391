"""`crm advance` and `crm explain` through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Crm

CHARTEC = str(Path(__file__).parent.parent / "examples" / "policies" / "chartec.toml")


def rows(crm: Crm, sql: str, *args) -> list[tuple]:
    return crm.rows(sql, *args)


def scored(crm: Crm, **fields: str) -> int:
    lead = crm.add_lead(**fields)
    crm.ok(
        "score",
        str(lead),
        "--budget",
        "20",
        "--authority",
        "15",
        "--need",
        "20",
        "--timeline",
        "10",
    )
    return lead


def submitted_quote(crm: Crm, lead: int) -> str:
    """A real quote in the CRM, submitted (and, within the policy, approved at once)."""
    quote = crm.ok("quote", "new", str(lead)).out.strip()
    crm.ok("quote", "line", quote, "--product", "Router", "--qty", "2", "--price", "9250.25")
    crm.ok("quote", "submit", quote)
    return quote


def test_happy_path_to_closed_won_records_every_stage(team: Crm) -> None:
    lead = scored(team)
    team.ok("advance", str(lead), "qualification", user="ed")
    team.ok("advance", str(lead), "needs_analysis")
    quote = submitted_quote(team, lead)
    team.ok(
        "advance",
        str(lead),
        "proposal",
        "--quote",
        f"Q-{quote}",
        "--amount",
        "18,500.50",
        "--close-date",
        "2026-04-30",
    )
    team.ok("advance", str(lead), "negotiation")
    won = team.ok("advance", str(lead), "closed_won", "--po", "PO-4471", "--format", "json").json()
    assert won["status"] == "won" and won["stage"] == "closed_won"
    data = team.ok("lead", "show", str(lead), "--format", "json").json()
    assert data["stage"] == "closed_won" and data["status"] == "won"
    history = rows(
        team,
        "SELECT from_stage, to_stage, seconds_in_from FROM stage_change "
        "WHERE lead_id = ? ORDER BY id",
        lead,
    )
    assert [h[1] for h in history] == [
        "prospecting",
        "qualification",
        "needs_analysis",
        "proposal",
        "negotiation",
        "closed_won",
    ]
    assert history[0][0] is None and all(h[2] == 0 for h in history[1:])  # CRM_NOW is fixed
    assert rows(
        team, "SELECT amount, po_number, quote_ref, close_date FROM lead WHERE id = ?", lead
    ) == [(1850050, "PO-4471", "Q-0001", "2026-04-30")]
    actions = [e["action"] for e in data["history"]]
    assert actions.count("advance") == 5


def test_time_in_stage_is_recorded(team: Crm) -> None:
    lead = scored(team)
    team.ok("advance", str(lead), "qualification", CRM_NOW="2026-03-09T15:30:00+00:00")
    assert rows(
        team, "SELECT seconds_in_from FROM stage_change WHERE to_stage = 'qualification'"
    ) == [(3 * 86400 - 6 * 3600,)]


def test_qualifying_converts_to_opportunity_with_account_and_contact(team: Crm) -> None:
    lead = scored(team, company="Analytical Engines Ltd", email="ada@ae.example")
    result = team.ok("advance", str(lead), "qualification", "--format", "json").json()
    assert result["converted"] is True and result["kind"] == "opportunity"
    assert rows(team, "SELECT name FROM account") == [("Analytical Engines Ltd",)]
    assert rows(team, "SELECT first_name, email, account_id FROM contact") == [
        ("Ada", "ada@ae.example", result["account_id"])
    ]
    # a second lead at the same company joins the existing account
    other = scored(
        team, first="Charles", last="Babbage", company="analytical engines", email="cb@ae.example"
    )
    second = team.ok("advance", str(other), "qualification", "--format", "json").json()
    assert second["account_id"] == result["account_id"]
    assert len(rows(team, "SELECT id FROM contact")) == 2


@pytest.mark.parametrize(
    ("setup", "target", "flags", "needle"),
    [
        ([], "qualification", [], "qualification requires a BANT score"),
        (
            ["qualification", "needs_analysis"],
            "proposal",
            [],
            "proposal requires a submitted quote",
        ),
        # a draft is not yet a quote the customer could see
        (
            ["qualification", "needs_analysis", "draft"],
            "proposal",
            [],
            "requires a submitted quote",
        ),
        (
            ["qualification", "needs_analysis", "draft"],
            "proposal",
            ["--quote", "1"],
            "--quote Q-0001 is draft",
        ),
        (
            ["qualification", "needs_analysis", "quote", "proposal", "negotiation"],
            "closed_won",
            [],
            "closed_won requires a PO number",
        ),
        (["qualification"], "closed_lost", [], "closed_lost requires a lost reason"),
        (["qualification"], "negotiation", [], "it would skip needs_analysis, proposal"),
    ],
)
def test_gate_failures_exit_5_and_change_nothing(team: Crm, setup, target, flags, needle) -> None:
    lead = team.add_lead() if target == "qualification" else scored(team)
    for step in setup:
        if step == "quote":
            submitted_quote(team, lead)
        elif step == "draft":
            team.ok("quote", "new", str(lead))
        else:
            team.ok("advance", str(lead), step)
    events = team.count("audit_event")
    before = team.ok("lead", "show", str(lead), "--format", "json").json()["stage"]
    run = team("advance", str(lead), target, *flags)
    assert run.code == 5
    assert needle in run.err and "policy" in run.err
    assert team.count("audit_event") == events
    assert team.ok("lead", "show", str(lead), "--format", "json").json()["stage"] == before


def test_lost_with_reason_and_closed_is_final(team: Crm) -> None:
    lead = scored(team)
    team.ok("advance", str(lead), "closed_lost", "--lost-reason", "chose a competitor")
    assert rows(team, "SELECT status, lost_reason FROM lead") == [("lost", "chose a competitor")]
    again = team("advance", str(lead), "qualification")
    assert again.code == 5 and "closed" in again.err


def test_chartec_policy_skip_and_prospects_no(team: Crm) -> None:
    lead = int(
        team.ok(
            "--policy",
            CHARTEC,
            "lead",
            "add",
            "--first",
            "A",
            "--email",
            "a@example.com",
            "--source",
            "web",
        ).out
    )
    assert (
        team.ok("--policy", CHARTEC, "lead", "show", str(lead), "--format", "json").json()["stage"]
        == "prospect"
    )
    run = team("--policy", CHARTEC, "advance", str(lead), "discovery")
    assert run.code == 5 and "first_appointment" in run.err
    refused = team(
        "--policy", CHARTEC, "advance", str(lead), "closed_lost", "--lost-reason", "went quiet"
    )
    assert refused.code == 5 and "prospect's own no" in refused.err
    team.ok(
        "--policy",
        CHARTEC,
        "advance",
        str(lead),
        "closed_lost",
        "--lost-reason",
        "said no to price",
        "--prospect-said-no",
    )


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["1", "heaven"], 2, "not a stage"),
        (["1", "prospecting"], 2, "already in prospecting"),
        (["1", "qualification", "--amount", "lots"], 2, "--amount"),
        (["1", "qualification", "--close-date", "31/04/2026"], 2, "--close-date"),
        (["99", "qualification"], 3, "lead 99 not found"),
    ],
)
def test_advance_bad_input(team: Crm, args, code, needle) -> None:
    team.add_lead()
    run = team("advance", *args)
    assert run.code == code and needle in run.err


def test_viewer_cannot_advance(team: Crm) -> None:
    lead = scored(team)
    assert team("advance", str(lead), "qualification", user="vi").code == 4


def test_explain_shows_terms_band_obligations_and_gate(team: Crm) -> None:
    lead = scored(team)
    data = team.ok("explain", str(lead), "--format", "json").json()
    assert data["score"] == 65 and data["band"] == "immediate_sales"
    assert data["score_terms"]["budget"] == 20
    assert "contact the lead" in data["band_triggers"]
    rules = {o["rule"] for o in data["obligations"]}
    assert "lead.first_response" in rules
    response = next(o for o in data["obligations"] if o["rule"] == "lead.first_response")
    assert response["due_at"] == "2026-03-09T09:30:00-04:00"
    assert response["policy"] == "after = 1h, clock = business"
    assert data["next_gate"] == {"next_stage": "qualification", "allowed": True, "blocked_by": []}
    table = team.ok("explain", str(lead)).out
    assert "score terms" in table and "open obligations" in table and "budget" in table
    blocked = team.ok(
        "explain", str(team.add_lead(first="Bo", email="bo@x.example")), "--format", "json"
    ).json()
    assert "requires a BANT score" in blocked["next_gate"]["blocked_by"][0]
    assert team("explain", "404").code == 3


def test_a_stage_the_policy_lacks_is_refused_not_crashed(team: Crm) -> None:
    lead = team.add_lead()  # in the default policy's "prospecting"
    run = team("--policy", CHARTEC, "advance", str(lead), "discovery")
    assert run.code == 5
    assert "prospecting" in run.err and "policy in force does not have" in run.err


def test_policy_import_maps_stranded_stages(team: Crm) -> None:
    lead = team.add_lead()
    refused = team("policy", "import", CHARTEC)
    assert refused.code == 5
    assert "prospecting (1)" in refused.err and "--map-stage prospecting=prospect" in refused.err
    assert team("policy", "import", CHARTEC, "--map-stage", "prospecting=nowhere").code == 2
    assert team("policy", "import", CHARTEC, "--map-stage", "prospecting").code == 2
    team.ok("policy", "import", CHARTEC, "--map-stage", "prospecting=prospect")
    assert team.ok("lead", "show", str(lead), "--format", "json").json()["stage"] == "prospect"
    assert rows(team, "SELECT from_stage, to_stage FROM stage_change ORDER BY id DESC LIMIT 1") == [
        ("prospecting", "prospect")
    ]


def test_policy_import_recomputes_obligations(team: Crm, tmp_path: Path) -> None:
    team.add_lead()
    due = "SELECT due_at FROM obligation WHERE rule = 'lead.first_response'"
    assert rows(team, due) == [("2026-03-09 13:30:00.000000",)]  # Monday 09:30 EDT in UTC
    policy = tmp_path / "slow.toml"
    policy.write_text('[rules."lead.first_response"]\nafter = "3h"\nclock = "business"\n')
    team.ok("policy", "import", str(policy))
    assert rows(team, due) == [("2026-03-09 15:30:00.000000",)]
