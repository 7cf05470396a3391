"""Issue 17 item 3: `crm audit verify` proves completeness, not only consistency.

Each attack of the issue is made with SQL behind crm's back (`crm.execute`, either backend),
then `crm audit verify` must exit 1 naming what is wrong and the check that caught it; a
database worked on only through crm verifies. Obligations are derived data: `crm doctor`
recomputes them and reports drift.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Crm, PgServer, new_crm

BANT = ("--budget", "20", "--authority", "20", "--need", "20", "--timeline", "20")
MONDAY = "2026-03-09T14:00:00Z"


def verify_fails(crm: Crm, *needles: str, args: tuple[str, ...] = ()) -> str:
    """`crm audit verify` exits 1 and its message holds every needle."""
    run = crm("audit", "verify", *args)
    assert run.code == 1, (run.code, run.err)
    for needle in needles:
        assert needle in run.err, (needle, run.err)
    return run.err


def verify_passes(crm: Crm) -> dict:
    run = crm("audit", "verify", "--format", "json")
    assert run.code == 0, run.out + run.err
    return run.json()


def write_csv(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def build_busy(crm: Crm) -> None:
    """Lead 1 (no owner, no campaign) qualified into account 1 and contact 1, with a logged
    call (activity 1), a quote with one line (quote 1) and a case (case 1); users ed (2)
    and vi (3), campaign Expo (1)."""
    crm.ok("user", "add", "ed", "--role", "editor")
    crm.ok("user", "add", "vi", "--role", "viewer")
    crm.ok("campaign", "add", "Expo")
    lead = crm.add_lead()
    crm.ok("score", str(lead), *BANT)
    crm.ok("advance", str(lead), "qualification")
    crm.ok("log-call", str(lead), "--outcome", "connected", "--notes", "wants a demo")
    quote = crm.ok("quote", "new", str(lead), user="ed").out.strip()
    line = ("--product", "Router", "--qty", "2", "--price", "1250")
    crm.ok("quote", "line", quote, *line, user="ed")
    crm.ok("case", "open", "account:1", "--title", "Pump leaks", "--severity", "normal")
    verify_passes(crm)


@pytest.fixture(scope="module")
def busy_file(tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer | None) -> Path | None:
    """`build_busy` once per module on SQLite (each test gets a copy of the file)."""
    if pg_server is not None:
        return None
    crm = Crm(tmp_path_factory.mktemp("busy") / "crm.db")
    crm.ok("init")
    build_busy(crm)
    return crm.db


@pytest.fixture
def busy(tmp_path: Path, pg_server: PgServer | None, busy_file: Path | None) -> Iterator[Crm]:
    if busy_file is not None:
        db = tmp_path / "crm.db"
        shutil.copyfile(busy_file, db)
        db.chmod(0o600)
        yield Crm(db)
        return
    for crm in new_crm(tmp_path / "crm.db", pg_server):
        crm.ok("init")
        build_busy(crm)
        yield crm


# --- the chain and its head ------------------------------------------------------------------


def test_an_emptied_chain_is_shorter_than_its_head(busy: Crm) -> None:
    events = busy.count("audit_event")
    busy.execute("DELETE FROM audit_event")
    verify_fails(
        busy,
        "head:",
        f"the chain is shorter than its recorded head ({events} events recorded, 0 present)",
    )
    assert busy("doctor").code == 1  # the doctor's chain line says so too


def test_deleting_the_last_event_is_caught_by_the_head(busy: Crm) -> None:
    events = busy.count("audit_event")
    busy.execute("DELETE FROM audit_event WHERE id = (SELECT max(id) FROM audit_event)")
    verify_fails(busy, f"({events} events recorded, {events - 1} present)")


def test_the_anchor_holds_the_head_sequence_and_catches_a_rewritten_head(
    busy: Crm, tmp_path: Path
) -> None:
    anchors = tmp_path / "anchors.jsonl"
    busy.ok("audit", "anchor", "--out", str(anchors))
    anchored = json.loads(anchors.read_text())
    head = busy.rows("SELECT events, hash FROM audit_head")
    assert head == [(anchored["events"], anchored["head"])]
    assert anchored["events"] == busy.count("audit_event")
    # someone deletes the newest events and rewrites the head to match: only the anchor,
    # kept where they cannot write, still knows
    last = busy.rows("SELECT id, prev_hash FROM audit_event ORDER BY id DESC LIMIT 1")[0]
    busy.execute("DELETE FROM audit_seal WHERE event_id = ?", params=(last[0],))
    busy.execute("DELETE FROM audit_event WHERE id = ?", params=(last[0],))
    busy.execute("UPDATE audit_head SET events = events - 1, hash = ?", params=(last[1],))
    err = verify_fails(
        busy, "anchor:", "shorter than the head anchored", args=("--anchor", str(anchors))
    )
    assert f"({anchored['events']} events" in err


# --- records and their seals -----------------------------------------------------------------


def test_a_users_role_changed_with_sql(busy: Crm) -> None:
    busy.execute("UPDATE \"user\" SET role = 'admin' WHERE name = 'vi'")
    verify_fails(busy, "seals:", "user 3: role changed outside crm")


def test_a_quote_line_price_changed_with_sql(busy: Crm) -> None:
    busy.execute("UPDATE quote_line SET unit_price = 100")
    # (a line's changes are recorded in its quote's events: the columns cannot be told)
    verify_fails(busy, "quote_line 1: changed outside crm")


@pytest.mark.parametrize(
    ("column", "value"),
    [("amount", "99999900"), ("po_number", "'PO-FAKE'"), ("close_date", "'2026-01-01'")],
)
def test_a_deal_changed_with_sql(busy: Crm, column: str, value: str) -> None:
    busy.execute(f"UPDATE lead SET {column} = {value} WHERE id = 1")
    verify_fails(busy, f"lead 1: {column} changed outside crm")


def test_an_owner_set_where_none_was(busy: Crm) -> None:
    busy.execute("UPDATE lead SET owner_id = (SELECT id FROM \"user\" WHERE name = 'ed')")
    verify_fails(busy, "lead 1: owner changed outside crm")


def test_a_campaign_set_where_none_was(busy: Crm) -> None:
    busy.execute("UPDATE lead SET campaign_id = (SELECT id FROM campaign WHERE name = 'Expo')")
    verify_fails(busy, "lead 1: campaign changed outside crm")


def test_a_lead_inserted_with_sql(busy: Crm) -> None:
    busy.execute(
        "INSERT INTO lead (first_name, last_name, source, stage, status, company_key, last_key, "
        "extra, acquired_at, created_at, updated_at, kind, prospect_said_no) VALUES ('Eve', "
        "'Forged', 'web', 'prospecting', 'new', '', 'f', '{}', '2026-03-01 10:00:00', "
        "'2026-03-01 10:00:00', '2026-03-01 10:00:00', 'lead', false)"
    )
    verify_fails(busy, "lead 2: no creating event (inserted outside crm)")


def test_activity_notes_changed_with_sql(busy: Crm) -> None:
    busy.execute("UPDATE activity SET notes = 'no demo wanted' WHERE id = 1")
    verify_fails(busy, "activity 1: changed outside crm")


def test_a_case_status_changed_with_sql(busy: Crm) -> None:
    busy.execute("UPDATE service_case SET status = 'closed' WHERE id = 1")
    verify_fails(busy, "case 1: status changed outside crm")


def test_stage_history_deleted_with_sql(busy: Crm) -> None:
    first = busy.rows("SELECT min(id) FROM stage_change")[0][0]
    busy.execute("DELETE FROM stage_change")
    verify_fails(busy, f"stage_change {first}: deleted outside crm")


def test_accounts_contacts_and_scopes_are_sealed(busy: Crm) -> None:
    busy.ok("user", "scope", "ed", "--campaign", "Expo")
    verify_passes(busy)
    busy.execute("UPDATE account SET key_account = true")
    busy.execute("UPDATE contact SET title = 'CEO'")
    busy.execute("DELETE FROM user_campaign")  # ed would see every campaign
    err = verify_fails(busy, "account 1: changed outside crm")
    assert "contact 1: changed outside crm" in err or "contact 1: title changed" in err
    assert "user_campaign 2/1: deleted outside crm" in err


def test_a_deleted_obligation_is_for_the_doctor_not_verify(busy: Crm) -> None:
    busy.execute(
        "DELETE FROM obligation WHERE record_type = 'lead' AND rule = 'lead.first_response'"
    )
    verify_passes(busy)
    run = busy("doctor", "--format", "json")
    assert run.code == 1
    report = run.json()
    assert any(
        "lead 1: lead.first_response missing" in problem for problem in report["problems"]
    ), report["problems"]
    line = next(c for c in report["checks"] if c["check"] == "obligations")
    assert line["status"] == "problem"


def test_obligation_drift_due_time_and_extra_ones(busy: Crm) -> None:
    busy.execute(
        "UPDATE obligation SET due_at = '2030-01-01 00:00:00' "
        "WHERE record_type = 'lead' AND rule = 'lead.first_response'"
    )
    busy.execute(
        "INSERT INTO obligation (rule, record_type, record_id, key, title, started_at, due_at, "
        "status, detail) VALUES ('lead.follow_up', 'lead', 77, '', 'ghost', "
        "'2026-03-01 10:00:00', '2026-03-02 10:00:00', 'open', '{}')"
    )
    problems = busy("doctor", "--format", "json").json()["problems"]
    text = "\n".join(problems)
    assert "lead 1: lead.first_response differs (due_at" in text
    assert "lead 77: lead.follow_up is stored but not owed" in text
    verify_passes(busy)


def test_a_forged_readable_personal_value(busy: Crm) -> None:
    event = busy.rows(
        "SELECT event_id FROM audit_personal WHERE field = 'email' ORDER BY event_id LIMIT 1"
    )[0][0]
    busy.execute(
        "UPDATE audit_personal SET new = ? WHERE field = 'email' AND event_id = ?",
        params=('"mallory@example.com"', event),
    )
    verify_fails(busy, "personal values:", f"event {event}: email does not match its sealed value")


def test_a_later_write_through_crm_does_not_seal_over_a_change_made_with_sql(busy: Crm) -> None:
    busy.execute("UPDATE lead SET amount = 99999900 WHERE id = 1")
    busy.ok("lead", "edit", "1", "--title", "CTO")  # crm writes the lead again
    err = verify_fails(busy, "lead 1: amount changed outside crm")
    assert "found when crm next wrote it" in err


def test_an_id_given_again_after_a_delete_with_sql_is_caught(busy: Crm) -> None:
    last = busy.rows("SELECT max(id) FROM stage_change")[0][0]
    busy.execute("DELETE FROM stage_change WHERE id = ?", params=(last,))
    busy.ok("advance", "1", "closed_lost", "--lost-reason", "budget")  # a new stage change
    verify_fails(busy, f"stage_change {last}: deleted outside crm")


def test_a_row_inserted_with_sql_and_then_written_by_crm_stays_unsealed(busy: Crm) -> None:
    busy.execute("INSERT INTO campaign (name, created_at) VALUES ('Forged', '2026-03-01 10:00:00')")
    busy.ok("lead", "edit", "1", "--campaign", "Forged")
    verify_fails(busy, "campaign 2: no creating event (inserted outside crm)")


def test_sealed_rows_cannot_be_rewritten_with_their_seal_rows(busy: Crm) -> None:
    # the seals are in the chain: editing the seal rows to match a changed row is caught
    busy.execute("UPDATE audit_seal SET seal = 'f' || substr(seal, 2) WHERE record_type = 'user'")
    verify_fails(busy, "chain:", "seal rows of event")


# --- a database used only through crm verifies -----------------------------------------------


def test_a_realistic_workload_verifies(busy: Crm, tmp_path: Path) -> None:
    crm = busy
    line = ("--product", "Switch", "--price", "900", "--discount", "20")
    crm.ok("quote", "line", "1", *line, user="ed")
    crm.ok("quote", "submit", "1", user="ed")
    crm.ok("quote", "approve", "1", "--reason", "strategic")
    crm.ok("quote", "send", "1", user="ed")
    crm.ok("case", "ack", "1", user="ed")
    crm.ok("case", "comment", "1", "--text", "photos please", user="ed")
    crm.ok("case", "wait", "1", "--reason", "asked for photos", user="ed")
    crm.ok("case", "resume", "1", user="ed", CRM_NOW=MONDAY)
    crm.ok("case", "resolve", "1", "--resolution", "new seal", user="ed", CRM_NOW=MONDAY)
    crm.ok("case", "close", "1", user="ed", CRM_NOW=MONDAY)
    crm.add_lead(first="Grace", last="Hopper", company="Navy", email="g@navy.example", owner="ed")
    header = "first_name,last_name,company,email,phone,source"
    first = write_csv(
        tmp_path / "first.csv",
        header,
        "Alan,Turing,Bletchley,alan@bletchley.example,,expo",
        "Grace,Hopper,Navy,g@navy.example,+1 212 555 0100,expo",  # enriches lead 2's phone
        "Katherine,Johnson,NASA,kj@nasa.example,,expo",
    )
    crm.ok("lead", "import", str(first), "--campaign", "Expo")
    second = write_csv(tmp_path / "second.csv", header, "Hedy,Lamarr,MGM,hedy@mgm.example,,expo")
    crm.ok("lead", "import", str(second))
    crm.ok("imports", "undo", "2")
    for n, phone in enumerate(("+1 212 555 0199", "+1 212 555 0177")):  # two conflicts: review
        conflict = write_csv(
            tmp_path / f"conflict{n}.csv", header, f"Grace,Hopper,Navy,g@navy.example,{phone},web"
        )
        assert crm.ok("lead", "import", str(conflict), "--format", "json").json()["queued"] == 1
    crm.ok("review", "reject", "1")
    twin = crm.ok(
        "lead",
        "add",
        "--first",
        "Alan",
        "--last",
        "Turing",
        "--company",
        "Bletchley",
        "--email",
        "turing@b.example",
        "--source",
        "web",
        "--force",
    ).out.strip()
    crm.ok("lead", "merge", "3", twin, "--prefer", "keep")
    crm.ok("lead", "edit", "4", "--owner", "ed", "--title", "Mathematician")
    crm.ok("lead", "forget", "4", "--yes")
    crm.ok("user", "set-role", "vi", "editor")
    crm.ok("user", "scope", "ed", "--campaign", "Expo")
    crm.ok("tick", CRM_NOW="2026-03-20T14:00:00Z")
    result = verify_passes(crm)
    assert result["problems"] == []
    assert result["records_sealed"] >= 20
    assert crm("doctor").code == 0, crm("doctor", "--format", "json").json()["problems"]
    # `crm history` shows a record's own events, not the seal events
    actions = [e["action"] for e in crm.ok("history", "lead:1", "--format", "json").json()]
    assert "seal" not in actions and actions[0] == "create"


def test_history_and_the_log_show_seal_events_compactly(busy: Crm) -> None:
    assert all(e["action"] != "seal" for e in busy.ok("audit", "log", "--format", "json").json())
    log = busy.ok("audit", "log", "--seals", "--format", "json").json()
    seals = [e for e in log if e["action"] == "seal"]
    assert seals and all(e["record"] == "seal" for e in seals)
    assert set(seals[0]["changes"]) == {"records", "digest"}


# --- one format whatever wrote the row -------------------------------------------------------


def test_lead_add_and_import_write_the_same_seal_and_event_format(crm: Crm, tmp_path: Path) -> None:
    fields = {
        "first": "Ada",
        "last": "Lovelace",
        "company": "Analytical Engines",
        "email": "ada@example.com",
        "phone": "+1 212 555 0100",
        "source": "web",
    }
    crm.add_lead(**fields)
    for other in new_crm(tmp_path / "other.db", crm.pg):
        other.ok("init")
        csv = write_csv(
            tmp_path / "one.csv",
            "first_name,last_name,company,email,phone,source",
            "Ada,Lovelace,Analytical Engines,ada@example.com,+1 212 555 0100,web",
        )
        other.ok("lead", "import", str(csv))
        # the same row, whichever wrote it, seals the same (under one personal key: each
        # database made its own) and its stage change seals the same
        assert lead_seal(crm) == lead_seal(other)
        stage_seals = [
            c.rows("SELECT record_id, seal FROM audit_seal WHERE record_type = 'stage_change'")
            for c in (crm, other)
        ]
        assert stage_seals[0] == stage_seals[1] and len(stage_seals[0]) == 1
        # the create events hold the same fields, whichever wrote them (the import adds its
        # batch), and each stored hash is the hash of the event as stored
        created = [
            json.loads(
                c.rows(
                    "SELECT changes FROM audit_event WHERE record_type = 'lead' "
                    "AND action = 'create'"
                )[0][0]
            )
            for c in (crm, other)
        ]
        personal = {"first_name", "last_name", "email", "phone", "title"}
        plain = [{k: v for k, v in c.items() if k not in personal} for c in created]
        assert plain[1].pop("import_batch") == [None, 1]
        assert plain[0] == plain[1]
        assert created[0].keys() - {"import_batch"} == created[1].keys() - {"import_batch"}
        verify_passes(other)


def lead_seal(crm: Crm) -> str:
    """Lead 1's seal from its row as stored, under a fixed personal key."""
    from crmcli.context import AppContext
    from crmcli.services import seals
    from crmcli.services.workspace import Workspace

    spec = seals.BY_TABLE["lead"]
    with Workspace(AppContext(db=crm.url(), user="boss")).reading() as tx:
        row = tx.session.connection().execute(seals.rows_query(spec)).mappings().one()
        return seals.row_seal(spec, row, b"k" * 32)


def test_event_hashes_have_one_definition() -> None:
    from datetime import UTC, datetime

    from crmcli.services import audit

    at = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)
    changes = {"email": [None, "hmac:ab"], "employees": [None, 12], "extra": [None, {"b": 1}]}
    expected = audit.content_hash(at, "boss", "lead add", "lead", 7, "create", changes, "0" * 64)
    hasher = audit.event_hasher(at, "boss", "lead add")
    assert hasher("lead", 7, "create", audit.canonical(changes), "0" * 64) == expected
    fields = sorted(audit.canonical_field(k, v) for k, v in changes.items())
    assert audit.canonical_fields([text for _name, text in fields]) == audit.canonical(changes)


# --- an upgraded database --------------------------------------------------------------------


def as_written_before_the_seals(db: Path) -> None:
    """The database as a crmcli of schema 0014 left it: no seal tables, no seal events (the
    chain is linked again without them, as it was written)."""
    import sqlite3
    from datetime import UTC, datetime

    from alembic import command
    from alembic.config import Config

    from crmcli.services import audit
    from crmcli.store import engine as store

    config = Config()
    config.set_main_option("script_location", str(store.MIGRATIONS_DIR))
    with store.make_engine(store.database_url(str(db))).begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0014")
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM audit_event WHERE record_type = 'seal'")
        previous = audit.GENESIS
        query = "SELECT id, at, actor, command, record_type, record_id, action, changes "
        for event_id, at, *fields, changes in conn.execute(query + "FROM audit_event ORDER BY id"):
            when = datetime.fromisoformat(at).replace(tzinfo=UTC)
            digest = audit.content_hash(when, *fields, json.loads(changes), previous)
            conn.execute(
                "UPDATE audit_event SET prev_hash = ?, hash = ? WHERE id = ?",
                (previous, digest, event_id),
            )
            previous = digest


@pytest.mark.sqlite_only
def test_a_database_from_before_the_seals_is_baselined(busy: Crm) -> None:
    as_written_before_the_seals(busy.db)
    assert "audit_seal" not in busy.tables()
    result = verify_passes(busy)  # opening it upgrades it and seals every row once
    baseline = busy.ok("audit", "log", "--seals", "--format", "json").json()[-1]
    assert baseline["action"] == "baseline" and baseline["record"] == "seal"
    assert baseline["command"].startswith("upgrade from 0014 to ")
    assert result["records_sealed"] >= 10
    busy.execute("UPDATE quote_line SET unit_price = 1")
    verify_fails(busy, "quote_line 1: changed outside crm")
    busy.execute("DELETE FROM audit_event")
    verify_fails(busy, "the chain is shorter than its recorded head")


def test_every_table_is_sealed_or_says_why_not() -> None:
    from crmcli.services import seals
    from crmcli.store.models import all_metadata

    tables = set(all_metadata().tables)
    assert tables - set(seals.BY_TABLE) - set(seals.UNSEALED) == set()
    assert set(seals.BY_TABLE) & set(seals.UNSEALED) == set()
    for spec in seals.AUDITED:
        assert set(spec.caches) <= set(spec.model_table.c.keys()), spec.table
        assert set(spec.personal) <= set(spec.columns), spec.table
        if spec.key is not None:
            assert spec.key[1] in spec.model_table.c, spec.table


def test_a_seal_reads_values_alike_whatever_their_python_form() -> None:
    from datetime import UTC, date, datetime, timedelta, timezone
    from decimal import Decimal

    from crmcli.services import seals

    spec = seals.BY_TABLE["quote_line"]
    row = {"id": 1, "quote_id": 2, "position": 1, "product": "Router", "sku": None,
           "quantity": Decimal("2.000"), "unit_price": Decimal("12.5"),
           "discount_pct": Decimal("0")}  # fmt: skip
    same = {**row, "quantity": Decimal("2"), "unit_price": Decimal("12.50"),
            "discount_pct": Decimal("0.00")}  # fmt: skip
    assert seals.row_seal(spec, row, None) == seals.row_seal(spec, same, None)
    assert seals.row_seal(spec, row, None) != seals.row_seal(
        spec, {**row, "unit_price": Decimal("12.51")}, None
    )
    when = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)
    elsewhere = when.astimezone(timezone(timedelta(hours=-5)))
    assert seals._plain(when) == seals._plain(elsewhere) == "2026-03-06T21:30:00+00:00"
    assert seals._plain(date(2026, 3, 6)) == "2026-03-06"
    assert seals._plain({"a": [Decimal("1.50"), True]}) == {"a": ["1.5", True]}


def test_welcome_messages_queued_by_an_import_and_removed_by_its_undo_verify(
    crm: Crm, tmp_path: Path
) -> None:
    # the import queues each new lead's welcome in bulk (its own insert and events); undoing
    # the batch removes the unsent ones: the seals must follow both, on both backends
    automation = Path(__file__).resolve().parents[1] / "examples" / "policies" / "automation.toml"
    crm.ok("policy", "import", str(automation))
    crm.ok("user", "add", "ed", "--role", "editor")
    rows = write_csv(
        tmp_path / "people.csv",
        "first_name,last_name,company,email,source",
        "Alan,Turing,Bletchley,alan@bletchley.example,expo",
        "Grace,Hopper,Navy,grace@navy.example,expo",
    )
    crm.ok("lead", "import", str(rows), user="ed")
    assert crm.count("outbox") == 2
    verify_passes(crm)
    crm.ok("imports", "undo", "1", user="ed")
    assert crm.count("outbox") == 0
    verify_passes(crm)
