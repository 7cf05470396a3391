"""`crm db backup|restore|copy`: round trips that keep every record and the audit chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Crm, Prepared


def records(crm: Crm) -> dict[str, list]:
    """Every table's rows except the audit log (a restore adds its own event there)."""
    # (SQLite's own bookkeeping differs by backend; the head counts the restore's event)
    skip = ("audit_event", "audit_head", "sqlite_sequence")
    return {t: rows for t, rows in crm.snapshot().items() if t not in skip}


def events(crm: Crm) -> list[tuple]:
    return crm.rows("SELECT id, hash, prev_hash FROM audit_event ORDER BY id")


def make_busy(crm: Crm) -> None:
    crm.ok("init", "--example")
    crm.ok("lead", "edit", "3", "--title", "VP")
    crm.ok("log-call", "3", "--outcome", "connected", "--notes", "talked")


@pytest.fixture
def busy(team: Crm, prepared: Prepared) -> Crm:
    prepared(team, make_busy)
    return team


@pytest.mark.parametrize("kind", ["auto", "jsonl"])
def test_backup_and_restore_round_trip(busy: Crm, fresh: Crm, tmp_path: Path, kind: str) -> None:
    file = tmp_path / f"crm.{kind}"
    run = busy.ok("db", "backup", str(file), "--kind", kind, "--format", "json")
    assert run.json()["file"] == str(file) and file.stat().st_mode & 0o077 == 0
    restored = fresh.ok("db", "restore", str(file))
    assert "restored" in restored.err
    assert records(fresh) == records(busy)
    before, after = events(busy), events(fresh)
    assert after[: len(before)] == before and len(after) == len(before) + 1  # + the restore
    assert fresh("audit", "verify").code == 0
    assert fresh("doctor").code == 0 or fresh.pg is None  # (file modes of tmp dirs on SQLite)
    # ids go on from where the backup left off
    assert fresh.add_lead(first="New", last="Person", email="n@p.example") == busy.add_lead(
        first="New", last="Person", email="n@p.example"
    )


def test_a_jsonl_backup_restores_into_sqlite_from_either_backend(busy: Crm, tmp_path: Path) -> None:
    file = tmp_path / "crm.jsonl"
    busy.ok("db", "backup", str(file), "--kind", "jsonl")
    target = Crm(tmp_path / "elsewhere.db")
    target.ok("db", "restore", str(file))
    assert records(target) == records(busy)
    assert target("audit", "verify").code == 0


def test_restore_refuses_a_database_with_records(busy: Crm, tmp_path: Path) -> None:
    file = tmp_path / "crm.jsonl"
    busy.ok("db", "backup", str(file), "--kind", "jsonl")
    before = busy.snapshot()
    run = busy("db", "restore", str(file))
    assert run.code == 5 and "not empty" in run.err and len(run.err.splitlines()) == 1
    assert busy.snapshot() == before


def test_restore_needs_an_admin_of_the_backup(busy: Crm, fresh: Crm, tmp_path: Path) -> None:
    file = tmp_path / "crm.jsonl"
    busy.ok("db", "backup", str(file), "--kind", "jsonl")
    run = fresh("db", "restore", str(file), user="ed")
    assert run.code == 4 and "needs an admin of the restored data" in run.err
    assert fresh.count("lead") == 0 if fresh.created() else True


def test_backup_never_overwrites_and_needs_an_admin(busy: Crm, tmp_path: Path) -> None:
    file = tmp_path / "taken"
    file.write_text("keep me")
    run = busy("db", "backup", str(file))
    assert run.code == 2 and "exists" in run.err
    assert file.read_text() == "keep me"
    assert busy("db", "backup", str(tmp_path / "x"), user="ed").code == 4
    assert busy("db", "copy", "--to", str(tmp_path / "y.db"), user="vi").code == 4
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "not a crm db backup"),
        (b"not json at all\n", "line 1: not JSON"),
        (b'{"format": "other"}\n', "not a crm db backup"),
        (b'{"format": "crmcli-backup", "schema": "0001"}\n', "holds schema 0001"),
        (b"\xff\xfe\x00garbage", "not a crm db backup"),
    ],
)
def test_restore_rejects_files_that_are_not_backups(
    fresh: Crm, tmp_path: Path, content: bytes, needle: str
) -> None:
    file = tmp_path / "bad"
    file.write_bytes(content)
    run = fresh("db", "restore", str(file))
    assert run.code == 2 and needle in run.err and len(run.err.splitlines()) == 1


def test_copy_moves_everything_and_verifies(busy: Crm, fresh: Crm, tmp_path: Path) -> None:
    # from this backend to the other fixture database (SQLite -> PostgreSQL in the PG run)
    source = Crm(tmp_path / "team.db") if busy.pg is not None else busy
    if source is not busy:
        source.ok("init", "--example")
    run = source.ok("db", "copy", "--to", fresh.url(), "--format", "json")
    assert run.json()["verified"] is True
    assert records(fresh) == records(source)
    assert fresh("audit", "verify").code == 0
    again = source("db", "copy", "--to", fresh.url())
    assert again.code == 5 and "not empty" in again.err
