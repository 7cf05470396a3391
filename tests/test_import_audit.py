"""Issue 19 items 5 and 6: the bulk import writes the audit chain in the one format the single
writes use, and its rows are as tamper-evident as any other."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import Crm

LEADS = (
    "first_name,last_name,company,title,email,phone,source\n"
    "Ada,Lovelace,Analytical Engines,Countess,ada@example.com,+1 212 555 0100,web\n"
    "Alan,Turing,Bletchley Park,,alan@example.com,+1 212 555 0101,web\n"
    "Grace,Hopper,Navy,Admiral,grace@example.com,+1 212 555 0102,referral\n"
)


def imported(crm: Crm, tmp_path: Path) -> list[int]:
    path = tmp_path / "leads.csv"
    path.write_text(LEADS, encoding="utf-8")
    crm.ok("lead", "import", str(path))
    ids = [row[0] for row in crm.rows("SELECT id FROM lead ORDER BY id")]
    assert len(ids) == 3
    run = crm("audit", "verify")
    assert run.code == 0, run.err
    return ids


def verify_fails(crm: Crm, *needles: str) -> None:
    run = crm("audit", "verify")
    assert run.code == 1, (run.code, run.err)
    for needle in needles:
        assert needle in run.err, (needle, run.err)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("company", "'Forged Ltd'"),
        ("email", "'mallory@example.com'"),
        ("title", "'Queen'"),
        ("source", "'event'"),
    ],
)
def test_a_hand_edited_imported_row_is_caught_by_audit_verify(
    crm: Crm, tmp_path: Path, column: str, value: str
) -> None:
    ids = imported(crm, tmp_path)
    crm.execute(f"UPDATE lead SET {column} = {value} WHERE id = {ids[0]}")
    verify_fails(crm, "seals:", f"lead {ids[0]}: {column} changed outside crm")


def test_a_hand_edited_import_event_is_caught_by_audit_verify(crm: Crm, tmp_path: Path) -> None:
    ids = imported(crm, tmp_path)
    event, changes = crm.rows(
        "SELECT id, changes FROM audit_event WHERE record_type = 'lead' AND record_id = ?",
        ids[2],
    )[0]
    forged = json.loads(changes)
    forged["company"] = [None, "Forged Ltd"]
    crm.execute(
        "UPDATE audit_event SET changes = ? WHERE id = ?", params=(json.dumps(forged), event)
    )
    verify_fails(crm, "chain:", f"event {event} was changed after it was written")


def test_history_shows_an_imported_leads_import(crm: Crm, tmp_path: Path) -> None:
    ids = imported(crm, tmp_path)
    events = crm.ok("history", f"lead:{ids[0]}", "--format", "json").json()
    created = [e for e in events if e["action"] == "create"]
    assert len(created) == 1 and created[0]["command"].endswith("lead import")
    assert created[0]["changes"]["email"] == [None, "ada@example.com"]
    assert created[0]["changes"]["company"] == [None, "Analytical Engines"]


# --- one hash format for single and bulk writes ------------------------------------------------


@pytest.mark.sqlite_only
def test_single_and_bulk_writes_give_identical_audit_hashes(
    crm: Crm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same events, appended to copies of one database at the same instant by the single
    writer (`Tx.audit`, as `lead add` writes) and by each bulk writer of the import
    (`append_events`, and `_append_prepared` of the events `LeadPreparer` prepares in a
    worker), are stored with identical hashes."""
    from crmcli.context import AppContext
    from crmcli.services import importer
    from crmcli.services.workspace import Workspace

    monkeypatch.setenv("CRM_NOW", "2026-03-09T14:00:00Z")
    lead = crm.add_lead(first="Ada", last="Lovelace", company="Analytical Engines")
    copies = {name: tmp_path / f"{name}.db" for name in ("single", "bulk", "prepared")}
    for path in copies.values():
        shutil.copyfile(crm.db, path)
        path.chmod(0o600)
    update = {"title": ["CEO", "Countess"], "employees": [None, 12], "extra": [None, {"b": 1}]}
    values = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "Analytical Engines",
        "title": "Countess",
        "email": "ada@example.com",
        "phone": "+12125550100",
        "source": "web",
        "employees": 12,
        "industry": None,
        "country": None,
        "region": None,
        "acquired_at": crm_now(),
    }

    def last_hashes(path: Path, write) -> list[str]:  # noqa: ANN001
        ws = Workspace(AppContext(db=str(path), user="boss"))
        with ws.writing() as tx:
            tx.command = "lead import"
            first = tx.session.connection().exec_driver_sql("SELECT max(id) FROM audit_event")
            start = first.scalar()
            write(tx)
            tx.session.flush()
            found = tx.session.connection().exec_driver_sql(
                "SELECT hash FROM audit_event WHERE id > ? AND record_type = 'lead' ORDER BY id",
                (start,),
            )
            return [row[0] for row in found]

    def created(tx) -> dict:  # noqa: ANN001
        preparer = importer.LeadPreparer(tx.policy, tx.calendar, tx.actor.name, tx.now)
        row = preparer.row(values)
        return {
            name: [None, row[name]] for name in importer._SHOWN_FIELDS if row.get(name) is not None
        }

    def single(tx) -> None:  # noqa: ANN001
        tx.audit("lead", lead, "update", update)
        tx.audit("lead", lead, "create", created(tx))

    def bulk(tx) -> None:  # noqa: ANN001
        importer.append_events(tx, [("lead", lead, "update", update)])
        importer.append_events(tx, [("lead", lead, "create", created(tx))])

    def prepared(tx) -> None:  # noqa: ANN001
        importer.append_events(tx, [("lead", lead, "update", update)])
        preparer = importer.LeadPreparer(tx.policy, tx.calendar, tx.actor.name, tx.now)
        key = tx.session.connection().exec_driver_sql(
            "SELECT key FROM personal_key WHERE record_type = 'lead' AND record_id = ?", (lead,)
        )
        _key, stored, parts, personal, *_rest = preparer.prepare(values, key.scalar())
        canonical = importer.audit.canonical_fields(part for part in parts if part)
        importer._append_prepared(tx, [(lead, "create", "{" + stored + "}", canonical, personal)])

    hashes = {
        "single": last_hashes(copies["single"], single),
        "bulk": last_hashes(copies["bulk"], bulk),
        "prepared": last_hashes(copies["prepared"], prepared),
    }
    assert len(hashes["single"]) == 2
    assert hashes["single"] == hashes["bulk"] == hashes["prepared"]


def crm_now():  # noqa: ANN201
    from crmcli.clock import now

    return now()
