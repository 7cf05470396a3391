"""The stored stage-history facts (services.stage_facts, migration 0012) stay exactly what
the stage history says, through every path that writes, moves or re-dates history; and the
reports that read them give the figures the history itself gives (`--as-of` included).

The expected facts are worked out here in Python from the stage_change rows, not by the
SQL that keeps them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import Crm
from test_analytics import at, copy_of, history_database, move, report
from test_analytics import lead as new_lead
from test_import import person, write_csv

CHARTEC = str(Path(__file__).parent.parent / "examples" / "policies" / "chartec.toml")
FACTS = "stage_history_at, stage_history_mask, stage_history_last"


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def expected(crm: Crm) -> tuple[dict[int, tuple], dict[int, tuple]]:
    """(lead id -> (latest change time, mask of the stages entered, stage of the latest
    change), stage change id -> (whole seconds since its lead's creation, time of the lead's
    previous change in order of time then id)), from the history."""
    number = dict(crm.rows("SELECT key, id FROM stage_key"))
    created = dict(crm.rows("SELECT id, created_at FROM lead"))
    facts: dict[int, tuple] = {lead: (None, None, None) for lead in created}
    ages, previous = {}, {}
    history = crm.rows("SELECT id, lead_id, to_stage, at FROM stage_change ORDER BY id")
    for change, lead, stage, when in history:
        latest, mask, _last = facts[lead]
        facts[lead] = (max(latest or when, when), (mask or 0) | 1 << number[stage], stage)
        born = _when(created[lead]).replace(microsecond=0)
        ages[change] = int((_when(when).replace(microsecond=0) - born).total_seconds())
    last: dict[int, str] = {}
    for change, lead, _stage, when in sorted(history, key=lambda c: (_when(c[3]), c[0])):
        previous[change] = last.get(lead)
        last[lead] = when
    return facts, {change: (ages[change], previous[change]) for change in ages}


def assert_exact(crm: Crm) -> None:
    facts, changes = expected(crm)
    stored = {row[0]: tuple(row[1:]) for row in crm.rows(f"SELECT id, {FACTS} FROM lead")}
    assert stored == facts
    stored = crm.rows("SELECT id, seconds_since_created, previous_at FROM stage_change")
    assert {row[0]: tuple(row[1:]) for row in stored} == changes
    keys = crm.rows("SELECT key FROM stage_key ORDER BY key")
    assert keys == crm.rows("SELECT DISTINCT to_stage FROM stage_change ORDER BY 1")


def from_history_only(crm: Crm) -> None:
    """Make every report read the stage history itself (no lead has usable facts)."""
    crm.execute("UPDATE lead SET stage_history_mask = NULL")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return history_database(tmp_path_factory.mktemp("facts"))


@pytest.fixture
def history(built: Path, tmp_path: Path) -> Crm:
    return copy_of(built, tmp_path)


def test_adding_and_advancing_keep_the_facts(history: Crm) -> None:
    assert_exact(history)
    # A: prospecting .. closed_won; D: prospecting only; C ended lost
    leads = dict(history.rows("SELECT first_name, id FROM lead"))
    facts = {
        name: history.rows(f"SELECT {FACTS} FROM lead WHERE id = ?", leads[name])[0]
        for name in "ACD"
    }
    assert facts["A"][0] == "2026-02-20 14:00:00.000000"
    assert facts["A"][2] == "closed_won" and facts["C"][2] == "closed_lost"
    assert facts["D"][2] == "prospecting"
    assert bin(facts["A"][1]).count("1") == 6 and bin(facts["D"][1]).count("1") == 1
    move(history, leads["D"], "closed_lost", at("03-06"), "--lost-reason", "silence")
    assert_exact(history)
    assert history.rows(f"SELECT {FACTS} FROM lead WHERE id = ?", leads["D"])[0][2] == (
        "closed_lost"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["conversion"],
        ["conversion", "--by", "source"],
        ["conversion", "--by", "owner", "--bucket", "month"],
        ["conversion", "--as-of", "2026-02-15T00:00:00Z"],
        ["conversion", "--as-of", "2026-02-10T14:00:00Z", "--by", "owner"],
        ["sources"],
        ["sources", "--by", "campaign", "--as-of", "2026-02-18"],
        ["sources", "--owner", "ed"],
    ],
)
def test_reports_from_facts_equal_reports_from_history(history: Crm, args: list[str]) -> None:
    from_facts = report(history, *args)
    from_history_only(history)
    assert report(history, *args) == from_facts


def test_as_of_rebuilds_from_history_what_the_facts_no_longer_say(history: Crm) -> None:
    # F won on Mar 3: its facts say won; as of Feb 25 it was in negotiation (not a customer)
    now = report(history, "conversion", "--from", "2026-01-01")
    then = report(history, "conversion", "--from", "2026-01-01", "--as-of", "2026-02-25")
    assert (now["summary"]["customers"], then["summary"]["customers"]) == (2, 1)
    stages = {row["stage"]: row["reached"] for row in then["stages"]}
    assert (stages["negotiation"], stages["closed_won"]) == (2, 1)  # A won Feb 20, F not yet


def test_merging_moves_the_other_leads_history_into_the_facts(history: Crm) -> None:
    leads = dict(history.rows("SELECT first_name, id FROM lead"))
    # D (prospecting, created Feb 5) takes C's history (qualification, then lost)
    history.ok("lead", "merge", str(leads["D"]), str(leads["C"]), "--prefer", "keep")
    assert_exact(history)
    mask, last = history.rows(
        "SELECT stage_history_mask, stage_history_last FROM lead WHERE id = ?", leads["D"]
    )[0]
    assert last == "closed_lost" and bin(mask).count("1") == 3
    # C's lost deal closes 12 days after D's creation now (Feb 5 -> Feb 17)
    close = {r["outcome"]: r for r in report(history, "velocity", "--from", "2026-01-01")["close"]}
    assert close["lost"]["deals"] == 1 and str(close["lost"]["max_days"]) == "12.0"
    merged = report(history, "conversion", "--from", "2026-01-01")
    from_history_only(history)
    assert report(history, "conversion", "--from", "2026-01-01") == merged


def test_a_new_policy_with_other_stages_leaves_the_facts_right(history: Crm) -> None:
    history.ok(
        "policy", "import", CHARTEC,
        *("--map-stage", "prospecting=prospect", "--map-stage", "qualification=first_appointment"),
        *("--map-stage", "proposal=presentation"),
    )  # fmt: skip
    assert_exact(history)
    # the old stages have no place in the new funnel: only what the leads entered under the
    # new policy (the re-mapping, and the won and lost stages both policies have) counts
    data = report(history, "conversion", "--from", "2026-01-01")
    stages = {row["stage"]: row["reached"] for row in data["stages"]}
    assert stages["prospect"] == 6  # every lead of the cohort
    # past first_appointment: E (mapped), B (mapped to presentation), A and F (won); C
    # entered only stages the new funnel lacks, and lost
    assert (stages["first_appointment"], stages["presentation"]) == (4, 3)
    assert stages["closed_won"] == 2
    from_history_only(history)
    assert report(history, "conversion", "--from", "2026-01-01") == data


def test_bulk_import_writes_the_facts_of_what_it_adds(crm: Crm, tmp_path: Path) -> None:
    crm.add_lead(first="Ada", last="Lovelace", email="ada@example.com", company="AE")
    path = write_csv(tmp_path / "a.csv", [person(i) for i in range(1, 6)])
    crm.ok("lead", "import", str(path))
    assert crm.count("lead") == 6
    assert_exact(crm)
    ages = crm.rows("SELECT DISTINCT seconds_since_created FROM stage_change")
    assert ages == [(0,)]  # entered at creation
    crm.ok("imports", "undo", "1")
    assert crm.count("lead") == 1
    assert_exact(crm)


def test_example_data_is_placed_with_its_facts(tmp_path: Path) -> None:
    crm = Crm(tmp_path / "example.db")
    crm.ok("init", "--example")
    assert_exact(crm)
    # example leads were entered before now and moved on since: their ages are positive
    assert crm.rows("SELECT count(*) FROM stage_change WHERE seconds_since_created > 0")[0][0]
    data = report(crm, "conversion", "--from", "2025-01-01")
    from_history_only(crm)
    assert report(crm, "conversion", "--from", "2025-01-01") == data


def test_the_migration_backfills_the_facts_from_history(history: Crm) -> None:
    from crmcli.store import engine as store

    before = entered(history)
    ages = history.rows("SELECT id, seconds_since_created FROM stage_change ORDER BY id")
    engine = store.make_engine(f"sqlite:///{history.db}")
    _downgrade(engine, "0011")
    assert "stage_key" not in history.tables()
    history.ok("report", "pipeline")  # opening the database migrates it again
    assert entered(history) == before  # the keys may be numbered otherwise
    assert history.rows("SELECT id, seconds_since_created FROM stage_change ORDER BY id") == ages
    assert_exact(history)


def entered(crm: Crm) -> list[tuple]:
    """Each lead's stored facts with its mask spelled as the stage keys it has bits of."""
    keys = crm.rows("SELECT id, key FROM stage_key")
    return [
        (lead, when, sorted(key for number, key in keys if mask >> number & 1), last)
        for lead, when, mask, last in crm.rows(f"SELECT id, {FACTS} FROM lead ORDER BY id")
    ]


def _downgrade(engine, revision: str) -> None:  # noqa: ANN001
    from alembic import command
    from alembic.config import Config

    from crmcli.store import engine as store

    config = Config()
    config.set_main_option("script_location", str(store.MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


# --- velocity's "stuck now" as of a past instant (stage_change.previous_at) ------------------

# the default policy's stale_after, in days
LIMIT_DAYS = {
    "prospecting": 14,
    "qualification": 14,
    "needs_analysis": 21,
    "proposal": 14,
    "negotiation": 14,
}


def stuck(crm: Crm, *args: str) -> dict[str, int]:
    stages = report(crm, "velocity", *args)["stages"]
    return {row["stage"]: row["stuck_now"] for row in stages if row["stuck_now"]}


@pytest.mark.parametrize(
    ("as_of", "owner", "expected_stuck"),
    [
        # F in proposal since Jan 21 14:00: 10.4 days, not yet
        ("2026-02-01T00:00:00Z", None, {}),
        # F in negotiation since Feb 2 14:00: exactly 14 days is not past the limit
        ("2026-02-16T14:00:00Z", None, {}),
        ("2026-02-16T14:00:01Z", None, {"negotiation": 1}),
        # F (won since: read from its first change after) 17.9 days in negotiation, D
        # (unmoved since) 14.9 days in prospecting; A entered negotiation on Feb 16
        ("2026-02-20T12:00:00Z", None, {"negotiation": 1, "prospecting": 1}),
        ("2026-02-20T12:00:00Z", "al", {"negotiation": 1, "prospecting": 1}),
        ("2026-02-20T12:00:00Z", "ed", {}),
    ],
)
def test_velocity_counts_the_deals_stuck_as_of_then(
    history: Crm, as_of: str, owner: str | None, expected_stuck: dict[str, int]
) -> None:
    args = ["--as-of", as_of, *(["--owner", owner] if owner else [])]
    assert stuck(history, *args) == expected_stuck


def stages_from_history(crm: Crm, as_of: datetime) -> dict[int, tuple]:
    """Each lead's stage as of `as_of` and since when, worked out in Python: from its
    stage_entered_at when it has not moved since, else from its history in order of time
    (the stage its first later change left; its latest change by then)."""
    history: dict[int, list[tuple]] = {}
    for change, lead, from_stage, when in crm.rows(
        "SELECT id, lead_id, from_stage, at FROM stage_change"
    ):
        history.setdefault(lead, []).append((_when(when), change, from_stage))
    then = {}
    for lead, created, stage, entered in crm.rows(
        "SELECT id, created_at, stage, stage_entered_at FROM lead"
    ):
        if _when(created) > as_of:
            continue
        since = _when(entered)
        if since > as_of:
            changes = sorted(history.get(lead, []))
            later = [c for c in changes if c[0] > as_of]
            if later and later[0][2] is not None:
                stage = later[0][2]
                before = [c[0] for c in changes if c[0] <= as_of]
                since = before[-1] if before else None
        then[lead] = (stage, since)
    return then


def stuck_from_history(crm: Crm, as_of: datetime) -> dict[str, int]:
    counts: dict[str, int] = {}
    for stage, since in stages_from_history(crm, as_of).values():
        limit = LIMIT_DAYS.get(stage)
        if limit and since is not None and since < as_of - timedelta(days=limit):
            counts[stage] = counts.get(stage, 0) + 1
    return counts


def pipeline_from_history(crm: Crm, as_of: datetime) -> dict[str, int]:
    counts: dict[str, int] = {}
    for stage, _since in stages_from_history(crm, as_of).values():
        counts[stage] = counts.get(stage, 0) + 1
    return counts


def pipeline_counts(crm: Crm, as_of: datetime) -> dict[str, int]:
    stages = report(crm, "pipeline", "--as-of", as_of.isoformat())["stages"]
    return {row["stage"]: row["count"] for row in stages if row["count"]}


@pytest.mark.parametrize("change", ["none", "merge", "skewed clock"])
def test_as_of_stages_equal_the_history_on_every_day(history: Crm, change: str) -> None:
    leads = dict(history.rows("SELECT first_name, id FROM lead"))
    if change == "merge":  # D takes C's history
        history.ok("lead", "merge", str(leads["D"]), str(leads["C"]), "--prefer", "keep")
    if change == "skewed clock":
        # B's next two moves come from a machine whose clock is behind: recorded after its
        # Feb 19 move into proposal (by id) but dated before it, so by time its history
        # reads proposal -> negotiation (Feb 15), -> lost (Feb 17), needs_analysis ->
        # proposal (Feb 19)
        move(history, leads["B"], "negotiation", at("02-15"))
        move(history, leads["B"], "closed_lost", at("02-17"), "--lost-reason", "skew")
    # at noon, between the changes made at 14:00 (the pipeline counts leads created before
    # the instant, the velocity report those created by then)
    start = datetime(2026, 1, 20, 12, tzinfo=UTC)
    seen = set()
    for day in range(0, 46, 3):
        as_of = start + timedelta(days=day)
        counts = stuck_from_history(history, as_of)
        assert stuck(history, "--as-of", as_of.isoformat()) == counts, as_of
        assert pipeline_counts(history, as_of) == pipeline_from_history(history, as_of), as_of
        seen.update(counts)
    assert {"negotiation", "prospecting"} <= seen  # the instants do find stuck deals


def test_as_of_stages_in_the_example_data(tmp_path: Path) -> None:
    # example leads are entered at init and placed as if they had moved on earlier
    crm = Crm(tmp_path / "example.db")
    crm.ok("init", "--example")
    now = _when(crm.rows("SELECT max(at) FROM stage_change")[0][0])
    seen = set()
    for days in (3, 10, 20, 40):
        as_of = now - timedelta(days=days)
        counts = stuck_from_history(crm, as_of)
        assert stuck(crm, "--as-of", as_of.isoformat()) == counts, as_of
        assert pipeline_counts(crm, as_of) == pipeline_from_history(crm, as_of), as_of
        seen.update(counts)
    assert seen


def test_dashboard_overdue_as_of_equals_the_obligations(history: Crm) -> None:
    # overdue as of then: started and due by then, not cancelled, not met by then (met later
    # counts: only those met late can be, read from their own index)
    # G's first call comes a day late: overdue on the evening of Mar 4, met since
    g = new_lead(history, "G", "ed", "web", at("03-04"))
    history.ok("log-call", str(g), "--outcome", "connected", user="ed", CRM_NOW=at("03-05"))
    names = dict(history.rows('SELECT id, name FROM "user"'))
    rows = history.rows("SELECT owner_id, status, started_at, due_at, met_at FROM obligation")
    late_seen = 0
    every_sixth_day = [
        datetime(2026, 1, 5, 18, tzinfo=UTC) + timedelta(days=d) for d in range(0, 60, 6)
    ]
    for as_of in [*every_sixth_day, _when(at("03-04", "18:00"))]:
        counts: dict[str, int] = {}
        for owner, status, started, due, met in rows:
            if status == "cancelled" or _when(started) > as_of or _when(due) > as_of:
                continue
            if met is None or _when(met) > as_of:
                rep = names[owner] if owner else "(unassigned)"
                counts[rep] = counts.get(rep, 0) + 1
                late_seen += met is not None
        data = history.ok("dashboard", "--as-of", as_of.isoformat(), "--format", "json").json()
        assert {r["rep"]: r["overdue"] for r in data["overdue"]} == counts, as_of
    assert late_seen  # some obligations overdue then were met since
