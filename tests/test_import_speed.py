"""The bulk import's shortcuts keep its results: the worker process, the driver-level
inserts, the cached email/phone validation."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import Crm, examples
from crmcli.errors import BadInput, StorageError
from crmcli.rules import validation
from crmcli.services import importer

SF_HEADER = (
    "First Name,Last Name,Company,Title,Email,Phone,Lead Source,Industry,No. of Employees,"
    "State/Province,Country,Created Date,Description"
)


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def word(i: int, salt: str) -> str:
    """A made-up word, unlike the others (no fuzzy matches between different people)."""
    return hashlib.sha256(f"{salt}{i}".encode()).hexdigest()[:10].translate(_LETTERS).title()


_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def messy_file(path: Path) -> Path:
    lines = [SF_HEADER]
    for i in range(60):
        first, last, company = (word(i, part) for part in ("first", "last", "company"))
        lines.append(
            f"{first},{last},{company} Inc,,p{i}@Example.com,+1 212 555 {i:04d},Web,,"
            f"{i * 10},NY,United States,02/0{1 + i % 9}/2026 09:{i % 60:02d} AM,note {i}"
        )
    lines += [
        f"{word(3, 'first')},{word(3, 'last')},{word(3, 'company')},CTO,P3@EXAMPLE.COM,,Web,,,,,,",
        # a shared phone under another name: a new lead (listed by `lead dupes`)
        f"X,{word(5, 'last')},{word(5, 'company')},,,212-555-0005,Web,,,,,,",
        "Ann,Bad,Acme,,not-an-email@,,Web,,,,,,",
        "Bob,Bad,Acme,,,12,Web,,,,,,",
        "Cy,Bad,Acme,,c@acme.example,,Web,,many,,,,",
        "Di,Bad,Acme,,d@acme.example,,Web,,,,,12/31/2099 10:00 AM,",
        ",,Acme,,,,Web,,,,,,",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


TABLES = ("lead", "import_row", "review_item", "obligation", "stage_change", "audit_personal")


def test_checking_rows_in_a_worker_process_stores_exactly_what_in_process_does(
    tmp_path, monkeypatch
) -> None:
    path = messy_file(tmp_path / "leads.csv")
    results = {}
    for name, threshold in (("inline", 1 << 40), ("worker", 0)):
        monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", threshold)
        crm = Crm(tmp_path / f"{name}.db")
        crm.ok("init")
        summary = crm.ok(
            "--format", "json", "lead", "import", str(path), "--batch-size", "8"
        ).json()
        assert crm.ok("audit", "verify").code == 0
        results[name] = (summary, {t: rows(crm.db, f"SELECT * FROM {t}") for t in TABLES})
    assert results["worker"] == results["inline"]
    summary, stored = results["worker"]
    # Cy's head count and Di's future date are flags: both imported
    assert (summary["imported"], summary["merged"], summary["queued"], summary["rejected"]) == (
        63, 1, 0, 3,
    )  # fmt: skip
    assert summary["flags"] == {"date": 1, "employees": 1}
    reasons = [r for (_b, _n, outcome, _l, r, _c) in stored["import_row"] if outcome == "rejected"]
    assert any("not a valid email address" in r for r in reasons)
    assert any("'12' is not a valid phone number" in r for r in reasons)


def test_bulk_insert_stores_what_a_core_insert_stores(tmp_path) -> None:
    """JSON, aware datetimes, booleans and money go through SQLAlchemy's own processors."""
    from sqlalchemy import insert

    from crmcli.store.engine import make_engine
    from crmcli.store.models import Lead

    table = Lead.__table__
    columns = (
        "first_name", "last_name", "source", "stage", "status", "company_key", "last_key",
        "extra", "acquired_at", "created_at", "updated_at", "kind", "prospect_said_no",
        "amount", "employees",
    )  # fmt: skip
    when = datetime(2026, 3, 6, 21, 30, 5, 123456, tzinfo=UTC)
    values = [
        ("Ada", "L", "web", "new", "new", "", "", {"k": "é", "n": [1, True]}, when, when, when,
         "lead", False, Decimal("12.34"), 7),
        ("Bob", "M", "web", "new", "new", "", "", {}, when, when, when, "lead", True, None, None),
        ("Cy", "N", "web", "new", "new", "", "", [], when, when, when, "lead", False, None, 1),
    ]  # fmt: skip
    stored = []
    for name in ("core", "bulk", "bound"):
        Crm(tmp_path / f"{name}.db").ok("init")
        with make_engine(f"sqlite:///{tmp_path / name}.db").begin() as conn:
            if name == "core":
                conn.execute(
                    insert(table), [dict(zip(columns, row, strict=True)) for row in values]
                )
            elif name == "bulk":
                importer.BulkInsert(conn, table, columns)(conn, values)
            else:  # bound row by row (as the worker does obligations), inserted as they are
                bulk = importer.BulkInsert(conn, table, columns)
                bind = bulk.binder()
                bulk(conn, [bind(row) for row in values], bound=True)
        stored.append(rows(tmp_path / f"{name}.db", "SELECT * FROM lead"))
    assert stored[0] == stored[1] == stored[2]


@settings(max_examples=examples(300), deadline=None)
@given(
    st.one_of(
        st.emails(),
        st.builds(
            lambda local, domain: f"{local}@{domain}",
            st.text(alphabet="aZ09._-+'!ä\" ", min_size=0, max_size=12),
            st.text(alphabet="aZ09.-äxn", min_size=0, max_size=14),
        ),
    )
)
@example("Ada.Lovelace@Example.COM")
@example("x@xn--bcher-kva.example")
@example("a@test")
@example("a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 60 + ".com")
def test_the_email_shortcut_gives_the_full_validations_result(address: str) -> None:
    def outcome(check):
        try:
            return check()
        except BadInput as exc:
            return exc.message

    fast = outcome(lambda: validation.normalise_email(address))
    full = outcome(lambda: validation._full_email(address.strip(), address, "email"))
    assert fast == full


@pytest.mark.parametrize(
    "raw", ["(212) 555-0100", "+1 212 555 0100", "12", "212 555 0100 x12", "+44 20 7946 0958"]
)
def test_cached_phone_validation_answers_like_phonenumbers(raw: str) -> None:
    import phonenumbers

    try:
        number = phonenumbers.parse(raw, "US")
        valid = phonenumbers.is_valid_number(number)
    except phonenumbers.NumberParseException:
        valid = False
    for _ in range(2):  # the second answer comes from the cache
        if valid:
            expected = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            if number.extension:  # kept, RFC 3966 style
                expected += f";ext={number.extension}"
            assert validation.normalise_phone(raw, region="US") == expected
            # the form given is valid as it is, in any region (the import normalises its
            # phone twice: the second time without parsing it again)
            assert validation.normalise_phone(expected, region="GB") == expected
            assert validation._parse_phone(expected, "GB") == expected
        else:
            with pytest.raises(BadInput, match="is not a valid phone number for region US"):
                validation.normalise_phone(raw, region="US")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=examples(200), deadline=None)
@given(_JSON)
@example('é\u2028\n"\x01')
def test_audit_encodings_are_json_dumps(value) -> None:
    """The audit log's prebuilt encoders write what json.dumps writes (the chain's hashes
    and the sealed values depend on it)."""
    import hashlib
    import hmac
    import json

    from crmcli.services import audit

    key = b"k" * 32
    plain = None if value is None else json.dumps(value, ensure_ascii=False)
    assert audit._text(value) == plain
    if value is not None:
        data = json.dumps(value, sort_keys=True, ensure_ascii=False).encode()
        assert audit.seal(key, value) == "hmac:" + hmac.new(key, data, hashlib.sha256).hexdigest()
    when = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)
    content = {
        "at": when.isoformat(), "actor": "a", "command": "c", "record_type": "lead",
        "record_id": 1, "action": "create", "changes": {"x": value}, "prev_hash": "0",
    }  # fmt: skip
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = hashlib.sha256(canonical.encode()).hexdigest()
    assert audit.content_hash(when, "a", "c", "lead", 1, "create", {"x": value}, "0") == expected


def test_a_new_lead_enriched_later_in_its_batch_is_written_with_what_it_got(tmp_path) -> None:
    """The worker prepares each new lead's create event from its own row; when a later row of
    the same batch fills its empty fields, the writer prepares it again: the lead, its create
    event and its obligations all carry the enriched values, and the chain verifies."""
    path = tmp_path / "leads.csv"
    path.write_text(
        "First Name,Last Name,Company,Title,Email,Phone,Lead Source\n"
        "Ada,Lovelace,Analytical Engines,,ada@example.com,,Web\n"
        "Ada,Lovelace,Analytical Engines,CTO,ada@example.com,+1 212 555 0100,Web\n",
        encoding="utf-8",
    )
    crm = Crm(tmp_path / "crm.db")
    crm.ok("init")
    summary = crm.ok("--format", "json", "lead", "import", str(path)).json()
    assert (summary["imported"], summary["merged"]) == (1, 1)
    assert rows(crm.db, "SELECT title, phone FROM lead") == [("CTO", "+12125550100")]
    assert crm.ok("audit", "verify").code == 0
    history = crm.ok("--format", "json", "history", "lead:1").json()
    created = next(event for event in history if event["action"] == "create")
    assert created["changes"]["title"] == [None, "CTO"]
    assert created["changes"]["phone"] == [None, "+12125550100"]
    stored = rows(crm.db, "SELECT field, new FROM audit_personal ORDER BY event_id, field")
    assert ("title", '"CTO"') in stored and ("phone", '"+12125550100"') in stored


def test_a_batch_of_several_check_chunks_commits_whole_and_resumes(tmp_path, monkeypatch) -> None:
    """Rows are checked and written in chunks, but a batch (--batch-size rows) commits as one:
    a failure in a later chunk rolls back the batch's earlier chunks too, and the re-run
    completes exactly what one uninterrupted run stores."""
    path = messy_file(tmp_path / "leads.csv")
    reference = Crm(tmp_path / "reference.db")
    reference.ok("init")
    reference.ok("lead", "import", str(path), "--batch-size", "7")

    monkeypatch.setattr(importer, "CHECK_CHUNK", 3)
    process = importer.Importer.process
    calls = []

    def failing(self, tx, records, checked=None):
        calls.append(len(records))
        if len(calls) == 5:  # the second chunk of the second batch (chunks of 3, 3 and 1 rows)
            raise StorageError("disk I/O error")
        return process(self, tx, records, checked)

    monkeypatch.setattr(importer.Importer, "process", failing)
    crm = Crm(tmp_path / "crm.db")
    crm.ok("init")
    run = crm("lead", "import", str(path), "--batch-size", "7")
    assert run.code == 6 and "disk I/O error" in run.err
    assert calls == [3, 3, 1, 3, 3]
    # the first batch (rows 2-8) only, whole, with its leads and their events
    assert rows(crm.db, "SELECT min(row_number), max(row_number) FROM import_row") == [(2, 8)]
    assert (
        crm.count("lead")
        == 7
        == len(rows(crm.db, "SELECT id FROM audit_event WHERE record_type = 'lead'"))
    )

    monkeypatch.setattr(importer.Importer, "process", process)
    run = crm.ok("lead", "import", str(path), "--batch-size", "7")
    assert "resumed batch 1 after row 8" in run.err
    for table in TABLES:  # (a chunk writes its rejected rows' records first)
        assert sorted(rows(crm.db, f"SELECT * FROM {table}"), key=repr) == sorted(
            rows(reference.db, f"SELECT * FROM {table}"), key=repr
        ), table
    assert crm.ok("audit", "verify").code == 0


def test_the_import_restores_the_garbage_collectors_thresholds(
    crm: Crm, tmp_path, monkeypatch
) -> None:
    import gc

    before = gc.get_threshold()
    seen = []
    real = importer._run

    def spy(*args, **kwargs):
        seen.append(gc.get_threshold())
        if len(seen) == 2:
            raise StorageError("disk I/O error")
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "_run", spy)
    path = messy_file(tmp_path / "leads.csv")
    crm.ok("lead", "import", str(path))
    assert gc.get_threshold() == before
    assert crm("lead", "import", str(path)).code == 6  # failing: restored all the same
    assert seen == [importer.IMPORT_GC_THRESHOLD] * 2
    assert gc.get_threshold() == before
