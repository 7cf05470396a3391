"""`crm assign` and `crm user away` through the real CLI (routing rules: test_rules_routing)."""

from __future__ import annotations

from datetime import datetime

import pytest

from conftest import Crm, Prepared


def sql(crm: Crm, query: str, *params) -> list[tuple]:
    return crm.rows(query, *params)


def add(crm: Crm, n: int, **fields: str) -> int:
    """A lead with a unique name and email (so duplicate checks stay quiet)."""
    names = ["Ada", "Bea", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kit", "Lu"]
    return crm.add_lead(
        first=names[n % len(names)],
        last=f"Person{n}",
        company=f"Company {chr(65 + n)}{n}",
        email=f"lead{n}@example{n}.com",
        **fields,
    )


def owners(crm: Crm) -> dict[int, str | None]:
    return {row["id"]: row["owner"] for row in crm.ok("lead", "list", "--format", "json").json()}


@pytest.fixture
def sales(crm: Crm, prepared: Prepared) -> Crm:
    """Reps: maria (US-NY, saas, capacity 2), devon (US, capacity 3), nia (US), vi (viewer).

    boss, the admin `crm init` registered, has no territory, skill or capacity: not a rep, so
    routing never picks him.
    """
    prepared(crm, make_sales)
    return crm


def make_sales(crm: Crm) -> None:
    crm.ok("user", "add", "maria", "--territory", "US-NY", "--skill", "saas", "--capacity", "2")
    crm.ok("user", "add", "devon", "--territory", "US", "--capacity", "3")
    crm.ok("user", "add", "nia", "--territory", "US")
    crm.ok("user", "add", "vi", "--role", "viewer")


def test_assign_routes_by_territory_and_starts_the_follow_up_clock(sales: Crm) -> None:
    lead = add(sales, 1, country="US", region="NY", industry="SaaS")
    run = sales.ok("assign", str(lead))
    assert "maria" in run.out and "territory US-NY; closer territory than devon" in run.out
    shown = sales.ok("lead", "show", str(lead), "--format", "json").json()
    assert shown["owner"] == "maria"
    rows = sql(
        sales,
        "SELECT o.started_at, o.due_at, o.status, u.name FROM obligation o "
        "JOIN \"user\" u ON u.id = o.owner_id WHERE o.rule = 'lead.follow_up' AND o.record_id = ?",
        lead,
    )
    assert len(rows) == 1
    started, due, status, owner = rows[0]
    assert (status, owner) == ("open", "maria")
    assert datetime.fromisoformat(started) == datetime(2026, 3, 6, 21, 30)  # CRM_NOW, UTC
    # 48 h on the wall clock is Sunday 16:30: the rep's work waits for Monday 09:00 EDT
    assert datetime.fromisoformat(due) == datetime(2026, 3, 9, 13, 0)
    assigned = sql(sales, "SELECT assigned_at FROM lead WHERE id = ?", lead)[0][0]
    assert datetime.fromisoformat(assigned) == datetime(2026, 3, 6, 21, 30)


def test_assign_is_audited_with_its_reason(sales: Crm) -> None:
    lead = add(sales, 1, country="US", region="NY", industry="saas")
    sales.ok("assign", str(lead))
    history = sales.ok("lead", "show", str(lead), "--format", "json").json()["history"]
    event = history[-1]
    assert (event["action"], event["actor"], event["command"]) == ("assign", "boss", "crm assign")
    assert event["changes"]["owner"] == [None, "maria"]
    assert event["changes"]["reason"] == [
        None,
        "territory US-NY matches region NY; skill saas matches industry; load 0/2; "
        "closer territory than devon",
    ]


def test_explain_and_json(sales: Crm) -> None:
    lead = add(sales, 1, country="US", region="TX", industry="fintech")
    explained = sales.ok("assign", str(lead), "--explain").out
    # devon and nia tie on territory, skill and turn (neither was ever assigned): by name
    assert (
        "devon  territory US matches country US; nobody as well placed has skill fintech; "
        "load 0/3; first by name among equals (with nia)"
    ) in explained
    other = add(sales, 2, country="US", region="TX")
    row = sales.ok("assign", str(other), "--format", "json").json()[0]
    assert row["lead"] == other and row["owner"] == "nia"
    assert row["previous_owner"] is None and row["changed"] is True
    assert row["reason"] == "territory US; least recently assigned (never before)"
    assert row["reasons"] == [
        "territory US matches country US",
        "the lead has no industry",
        "load 0 (no cap)",
        "least recently assigned (never before)",
    ]
    assert row["warnings"] == []
    assert row["assigned_at"] == "2026-03-06T16:30:00-05:00"
    assert row["follow_up_due"] == "2026-03-09T09:00:00-04:00"  # 48 h, then the opening


def test_round_robin_across_single_assignments(sales: Crm) -> None:
    leads = [add(sales, n, country="US", region="TX") for n in range(1, 7)]
    for lead in leads:
        sales.ok("assign", str(lead))
    got = owners(sales)
    assert [got[lead] for lead in leads] == ["devon", "nia", "devon", "nia", "devon", "nia"]


def test_unassigned_shares_fairly_and_honours_capacity(sales: Crm) -> None:
    leads = [add(sales, n, country="US", region="NY", industry="saas") for n in range(1, 10)]
    run = sales.ok("assign", "--unassigned", "--format", "json")
    batch = run.json()
    assert (batch["dry_run"], batch["assigned"], batch["left"]) == (False, 9, 0)
    got = owners(sales)
    # maria (the NY specialist) first, up to her capacity; then the US reps in turn, devon
    # until his capacity of 3
    assert [got[lead] for lead in leads] == [
        "maria",
        "maria",
        "devon",
        "nia",
        "devon",
        "nia",
        "devon",
        "nia",
        "nia",
    ]
    reps = {rep["rep"]: rep for rep in batch["reps"]}
    assert reps["maria"] == {
        "rep": "maria",
        "capacity": 2,
        "load_before": 0,
        "load_after": 2,
        "assigned": 2,
        "availability": "available",
    }
    assert (reps["devon"]["load_after"], reps["nia"]["load_after"]) == (3, 4)
    assert "vi" not in reps and "boss" not in reps
    assert "assigned 9 lead(s); 0 left unassigned" in run.err
    follow_ups = sql(sales, "SELECT count(*) FROM obligation WHERE rule = 'lead.follow_up'")
    assert follow_ups == [(9,)]


def test_dry_run_writes_nothing_and_is_what_the_real_run_does(sales: Crm) -> None:
    for n in range(1, 6):
        add(sales, n, country="US", region="NY" if n % 2 else "CA", industry="saas")
    add(sales, 6, country="DE", region="BY")
    counts = {t: sales.count(t) for t in ("audit_event", "obligation", "lead")}
    planned = sales.ok("assign", "--unassigned", "--dry-run", "--format", "json").json()
    assert planned["dry_run"] is True and (planned["assigned"], planned["left"]) == (5, 1)
    assert {t: sales.count(t) for t in counts} == counts
    assert set(owners(sales).values()) == {None}
    table = sales.ok("assign", "--unassigned", "--dry-run")
    assert "plan (dry run: nothing written)" in table.out
    assert "0/2 → 2/2" in table.out
    assert "would assign 5 lead(s); 1 left unassigned" in table.err
    done = sales.ok("assign", "--unassigned", "--format", "json").json()
    strip = ("assigned_at", "follow_up_due")
    assert [{k: v for k, v in r.items() if k not in strip} for r in done["assignments"]] == [
        {k: v for k, v in r.items() if k not in strip} for r in planned["assignments"]
    ]
    assert done["reps"] == planned["reps"]
    left = done["assignments"][-1]
    assert (left["lead"], left["owner"]) == (6, None)
    assert left["reason"].startswith("nobody eligible: no rep covers DE-BY")
    assert owners(sales)[6] is None


def test_unassigned_exits_5_only_when_nothing_could_be_assigned(sales: Crm) -> None:
    add(sales, 1, country="DE")
    add(sales, 2, country="FR")
    run = sales("assign", "--unassigned", "--format", "json")
    assert run.code == 5
    assert run.json()["left"] == 2  # the plan is still printed for the script
    assert "no lead assigned: none of the 2 open unassigned leads has an eligible rep" in run.err
    assert "lead 1: nobody eligible: no rep covers DE" in run.err
    add(sales, 3, country="US")
    partial = sales("assign", "--unassigned")
    assert partial.code == 0
    assert "assigned 1 lead(s); 2 left unassigned" in partial.err
    assert sales("assign", "--unassigned").code == 5  # only DE and FR are left


def test_nothing_to_assign(sales: Crm) -> None:
    run = sales.ok("assign", "--unassigned")
    assert "no open unassigned leads" in run.err
    assert "assigned 0 lead(s); 0 left unassigned" in run.err


def test_no_eligible_rep_for_one_lead_exits_5_and_writes_nothing(sales: Crm) -> None:
    lead = add(sales, 1, country="DE", region="BY")
    events = sales.count("audit_event")
    run = sales("assign", str(lead))
    assert run.code == 5
    assert run.err.startswith(f"crm: lead {lead}: nobody eligible: no rep covers DE-BY")
    assert run.out == ""
    assert sales.count("audit_event") == events
    explained = sales("assign", str(lead), "--explain")
    assert explained.code == 5
    assert "  no rep without territories (a generalist) to take it" in explained.err.splitlines()


def test_away_dates_are_honoured(sales: Crm) -> None:
    first = add(sales, 1, country="US", region="NY")
    sales.ok("user", "away", "maria", "2026-03-06", "2026-03-10")
    run = sales.ok("assign", str(first), "--explain")
    assert "devon" in run.out and "passed over: maria is away until 2026-03-10" in run.out
    # away from Monday: still here today
    second = add(sales, 2, country="US", region="NY")
    sales.ok("user", "away", "maria", "--clear")
    sales.ok("user", "away", "maria", "2026-03-09", "2026-03-10")
    assert sales.ok("assign", str(second), "--format", "json").json()[0]["owner"] == "maria"
    # on Wednesday she is away, on Wednesday week she is back
    third = add(sales, 3, country="US", region="NY")
    wednesday = {"CRM_NOW": "2026-03-11T14:00:00+00:00"}
    sales.ok("user", "away", "maria", "2026-03-11", user="maria", **wednesday)
    row = sales.ok("assign", str(third), "--format", "json", **wednesday).json()[0]
    assert row["owner"] == "nia"  # the US reps take turns: devon had the first lead
    fourth = add(sales, 4, country="US", region="NY")
    later = {"CRM_NOW": "2026-03-18T14:00:00+00:00"}
    assert sales.ok("assign", str(fourth), "--format", "json", **later).json()[0]["owner"] == (
        "maria"
    )


def test_capacity_counts_only_open_leads(sales: Crm) -> None:
    ny = [add(sales, n, country="US", region="NY") for n in range(1, 4)]
    sales.ok("assign", str(ny[0]), "--to", "maria")
    sales.ok("assign", str(ny[1]), "--to", "maria")
    assert sales.ok("assign", str(ny[2]), "--format", "json").json()[0]["owner"] == "devon"
    sql(sales, "UPDATE lead SET status = 'won' WHERE id = ?", ny[0])
    fresh = add(sales, 4, country="US", region="NY")
    row = sales.ok("assign", str(fresh), "--format", "json", "--explain").json()[0]
    assert row["owner"] == "maria" and "load 1/2" in row["reason"]


def test_closed_leads_are_not_routed(sales: Crm) -> None:
    lead = add(sales, 1, country="US")
    sql(sales, "UPDATE lead SET status = 'lost' WHERE id = ?", lead)
    run = sales("assign", str(lead))
    assert run.code == 5 and "is closed (lost)" in run.err and "--to USER" in run.err
    assert "no open unassigned leads" in sales.ok("assign", "--unassigned").err
    assert sales.ok("assign", str(lead), "--to", "nia").code == 0


def test_assign_to_a_user_or_me(sales: Crm) -> None:
    lead = add(sales, 1, country="US", region="NY", industry="saas")
    row = sales.ok("assign", str(lead), "--to", "nia", "--format", "json").json()[0]
    assert (row["owner"], row["previous_owner"]) == ("nia", None)
    assert row["reason"] == "assigned by hand by boss"
    mine = sales.ok("assign", str(lead), "--to", "me", "--format", "json", user="devon").json()
    assert (mine[0]["owner"], mine[0]["previous_owner"]) == ("devon", "nia")
    history = sales.ok("lead", "show", str(lead), "--format", "json").json()["history"]
    assert history[-1]["changes"]["owner"] == ["nia", "devon"]
    assert history[-1]["actor"] == "devon"


def test_assign_by_hand_to_an_away_full_or_distant_rep_warns(sales: Crm) -> None:
    sales.ok("user", "away", "maria", "2026-03-06", "2026-03-09")
    leads = [add(sales, n, country="US", region="NY") for n in range(1, 4)]
    first = sales.ok("assign", str(leads[0]), "--to", "maria", "--format", "json")
    assert first.json()[0]["warnings"] == ["maria is away until 2026-03-09"]
    assert first.err == "warning: maria is away until 2026-03-09\n"
    sales.ok("assign", str(leads[1]), "--to", "maria")
    sales.ok("user", "away", "maria", "--clear")
    run = sales.ok("assign", str(add(sales, 4, country="FR")), "--to", "maria", "--explain")
    assert run.err.splitlines() == [
        "warning: maria is at capacity 2/2",
        "warning: maria covers US-NY, not FR",
    ]
    reason = "assigned by hand by boss; maria is at capacity 2/2; maria covers US-NY, not FR"
    assert reason in run.out
    history = sales.ok("lead", "show", "4", "--format", "json").json()["history"]
    assert history[-1]["changes"]["reason"] == [None, reason]


def test_reassigning_to_the_current_owner_changes_nothing(sales: Crm) -> None:
    lead = add(sales, 1, country="US", region="NY")
    sales.ok("assign", str(lead))
    events = sales.count("audit_event")
    again = sales.ok("assign", str(lead), "--format", "json", CRM_NOW="2026-03-07T10:00:00Z")
    row = again.json()[0]
    assert (row["owner"], row["changed"]) == ("maria", False)
    assert row["follow_up_due"] == "2026-03-09T09:00:00-04:00"  # the clock was not restarted
    assert f"lead {lead} already belongs to maria; nothing changed" in again.err
    assert sales.count("audit_event") == events


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["99"], 3, "lead 99 not found"),
        (["1", "--to", "ghost"], 3, "--to: no user named 'ghost'"),
        (["1", "--to", "vi"], 5, "--to: vi is a viewer; only editors and admins own leads"),
        ([], 2, "give a lead ID or --unassigned"),
        (["1", "--unassigned"], 2, "exactly one"),
        (["1", "--dry-run"], 2, "--dry-run works with --unassigned"),
        (["--unassigned", "--to", "nia"], 2, "--to assigns one lead"),
        (["1", "--format", "xml"], 2, "--format"),
        (["one"], 2, "ID"),
    ],
)
def test_assign_errors_change_nothing(sales: Crm, args: list[str], code: int, text: str) -> None:
    add(sales, 1, country="US")
    events = sales.count("audit_event")
    run = sales("assign", *args)
    assert run.code == code
    assert text in run.err
    assert sales.count("audit_event") == events
    assert owners(sales)[1] is None


@pytest.mark.parametrize("args", [["1"], ["--unassigned"], ["--unassigned", "--dry-run"]])
def test_viewers_and_strangers_cannot_assign(sales: Crm, args: list[str]) -> None:
    add(sales, 1, country="US")
    viewer = sales("assign", *args, user="vi")
    assert viewer.code == 4 and "needs the editor role" in viewer.err
    stranger = sales("assign", *args, user="mallory")
    assert stranger.code == 4 and "unknown user 'mallory'" in stranger.err
    assert owners(sales)[1] is None


def test_campaign_scope(sales: Crm) -> None:
    sales.ok("campaign", "add", "Expo")
    sales.ok("user", "add", "sam", "--territory", "US-CA", "--campaign", "Expo")
    plain = add(sales, 1, country="US", region="CA")
    expo = add(sales, 2, country="US", region="CA", campaign="Expo")
    assert sales.ok("assign", str(expo), "--format", "json").json()[0]["owner"] == "sam"
    # sam covers CA more closely than devon, but works only Expo leads
    assert sales.ok("assign", str(plain), "--format", "json").json()[0]["owner"] == "devon"
    refused = sales("assign", str(plain), "--to", "sam")
    assert refused.code == 5
    assert "sam works only campaign Expo (the lead is in no campaign)" in refused.err
    # a scoped user touches only their campaign's leads; others do not exist for them
    outside = sales("assign", str(plain), "--to", "me", user="sam")
    assert outside.code == 3 and f"lead {plain} not found" in outside.err


def test_lead_add_and_edit_give_a_lead_only_to_someone_who_may_own_it(sales: Crm) -> None:
    """The rule `assign --to` and the import follow holds for `--owner` too: no viewer, no
    deactivated user, no one scoped to another campaign (it used to be accepted, exit 0)."""
    sales.ok("campaign", "add", "Expo")
    sales.ok("campaign", "add", "Fair")
    sales.ok("user", "add", "sam", "--campaign", "Expo")
    before = sales.count("lead")
    viewer = sales("lead", "add", "--first", "Al", "--last", "Vee", "--email", "al@v.example",
                   "--source", "referral", "--owner", "vi")  # fmt: skip
    assert viewer.code == 5 and "--owner: vi is a viewer" in viewer.err
    scoped = sales("lead", "add", "--first", "Al", "--last", "Vee", "--email", "al@v.example",
                   "--source", "referral", "--owner", "sam")  # fmt: skip
    assert scoped.code == 5 and "--owner: sam works only campaign Expo" in scoped.err
    assert sales.count("lead") == before
    lead = add(sales, 1, country="US", campaign="Expo", owner="sam")
    moved = sales("lead", "edit", str(lead), "--campaign", "Fair")
    assert moved.code == 5 and "--campaign: sam works only campaign Expo" in moved.err
    assert sales("lead", "edit", str(lead), "--owner", "vi").code == 5
    assert owners(sales)[lead] == "sam"
    assert sales.ok("lead", "edit", str(lead), "--owner", "devon").code == 0


def test_ids_and_csv_formats(sales: Crm) -> None:
    add(sales, 1, country="US")
    add(sales, 2, country="DE")
    add(sales, 3, country="US")
    assert sales.ok("assign", "--unassigned", "--dry-run", "--format", "ids").out == "1\n3\n"
    lines = sales.ok("assign", "--unassigned", "--format", "csv").out.splitlines()
    assert lines[0] == (
        "lead,name,owner,previous_owner,changed,reason,reasons,warnings,assigned_at,follow_up_due"
    )
    assert len(lines) == 4 and lines[2].startswith("2,Cy Person2,,")


# --- crm user away ----------------------------------------------------------------------------


def test_user_away_set_list_clear_and_audit(sales: Crm) -> None:
    run = sales.ok("user", "away", "maria", "2026-03-09", "2026-03-13")
    assert run.out.strip().isdigit()
    assert "maria away 2026-03-09 → 2026-03-13 (5 day(s))" in run.err
    sales.ok("user", "away", "maria", "03/20/2026")  # one day, a US-style date
    listed = sales.ok("user", "away", "maria", "--format", "json").json()
    assert [(p["starts_on"], p["ends_on"], p["days"], p["current"]) for p in listed] == [
        ("2026-03-09", "2026-03-13", 5, False),
        ("2026-03-20", "2026-03-20", 1, False),
    ]
    assert "2026-03-09" in sales.ok("user", "away", "maria", user="vi").out  # viewers may read
    maria_id = sql(sales, "SELECT id FROM \"user\" WHERE name = 'maria'")[0][0]
    events = sql(
        sales,
        "SELECT action, changes FROM audit_event WHERE record_type = 'user' AND record_id = ? "
        "ORDER BY id",
        maria_id,
    )
    assert [e[0] for e in events] == ["create", "away", "away"]
    assert '"from": "2026-03-09"' in events[1][1] and '"to": "2026-03-13"' in events[1][1]
    cleared = sales.ok("user", "away", "maria", "--clear")
    assert "cleared 2 away period(s)" in cleared.err
    assert sales.ok("user", "away", "maria", "--format", "json").json() == []
    assert sql(
        sales,
        "SELECT action FROM audit_event WHERE record_type = 'user' AND record_id = ? "
        "ORDER BY id DESC LIMIT 1",
        maria_id,
    ) == [("away_clear",)]


def test_user_away_same_period_twice_is_stored_once(sales: Crm) -> None:
    first = sales.ok("user", "away", "nia", "2026-03-09", "2026-03-10").out
    assert sales.ok("user", "away", "nia", "2026-03-09", "2026-03-10").out == first
    assert sales.count("user_away") == 1


def test_user_away_permissions(sales: Crm) -> None:
    assert sales.ok("user", "away", "me", "2026-03-09", user="maria").code == 0
    other = sales("user", "away", "devon", "2026-03-09", user="maria")
    assert other.code == 4
    assert "only an admin or devon can change devon's away dates" in other.err
    assert sales("user", "away", "devon", "--clear", user="maria").code == 4
    viewer = sales("user", "away", "vi", "2026-03-09", user="vi")
    assert viewer.code == 4 and "needs the editor role" in viewer.err
    assert sales.ok("user", "away", "devon", "2026-03-09").code == 0  # the admin may
    assert sales.count("user_away") == 2  # maria's and devon's


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["maria", "2026-03-10", "2026-03-09"], 2, "TO: 2026-03-09 is before FROM 2026-03-10"),
        (["maria", "someday"], 2, "FROM: cannot read 'someday' as a date"),
        (["maria", "2026-03-09", "never"], 2, "TO: cannot read 'never'"),
        (["maria", "2026-02-01", "2026-02-03"], 2, "is in the past (today is 2026-03-06)"),
        (["maria", "2026-03-09", "--clear"], 2, "--clear removes every"),
        (["ghost", "2026-03-09"], 3, "no user named 'ghost'"),
        (["ghost"], 3, "no user named 'ghost'"),
    ],
)
def test_user_away_errors(sales: Crm, args: list[str], code: int, text: str) -> None:
    periods = sales.count("user_away")
    run = sales("user", "away", *args)
    assert run.code == code
    assert text in run.err
    assert sales.count("user_away") == periods


def test_an_admin_set_up_as_a_rep_is_routed(sales: Crm) -> None:
    lead = add(sales, 1, country="FR")
    assert sales("assign", str(lead)).code == 5  # boss manages; he is not a rep
    sales.ok("user", "add", "chef", "--role", "admin", "--territory", "FR")
    sales.ok("assign", str(lead))
    assert owners(sales)[lead] == "chef"
