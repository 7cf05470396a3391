"""`crm case …`: service cases, their SLAs in the overdue report, and attachments."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from conftest import Crm, Prepared
from test_rules_sla import png

# the conftest clock: Friday 2026-03-06 16:30 New York
MONDAY_1000 = "2026-03-09T14:00:00Z"  # 10:00 EDT
MONDAY_1100 = "2026-03-09T15:00:00Z"


def make_desk(crm: Crm) -> None:
    lead = crm.add_lead(company="Acme Pumps", email="ann@acme.example", first="Ann", last="Lee")
    scores = ("--budget", "20", "--authority", "20", "--need", "20", "--timeline", "20")
    crm.ok("score", str(lead), *scores)
    crm.ok("advance", str(lead), "qualification")


@pytest.fixture
def desk(team: Crm, prepared: Prepared) -> Crm:
    """A team with an account (1) and its contact (1), made by qualifying a lead."""
    prepared(team, make_desk)
    assert rows(team, "SELECT id, account_id FROM contact") == [(1, 1)]
    return team


def rows(crm: Crm, query: str, *params) -> list[tuple]:
    return crm.rows(query, *params)


def open_case(crm: Crm, *extra: str, target: str = "account:1", user: str = "ed") -> int:
    args = ["case", "open", target, "--title", "Pump leaks at the seal", *extra]
    if "--severity" not in extra:
        args += ["--severity", "normal"]
    return int(crm.ok(*args, user=user).out)


def overdue(crm: Crm, **env: str) -> list[tuple[str, int]]:
    report = crm.ok("report", "overdue", "--format", "json", **env).json()
    return [(r["rule"], r["record_id"]) for r in report if r["record_type"] == "case"]


def case_json(crm: Crm, case_id: int, **env: str) -> dict:
    return crm.ok("case", "show", str(case_id), "--format", "json", **env).json()


# --- open ----------------------------------------------------------------------------------


def test_open_for_an_account_or_a_contact(desk: Crm) -> None:
    first = open_case(desk, "--severity", "high", "--product", "P-100", "--warranty")
    assert first == 1
    shown = case_json(desk, 1)
    assert {k: shown[k] for k in ("title", "severity", "status", "account", "owner")} == {
        "title": "Pump leaks at the seal",
        "severity": "high",
        "status": "open",
        "account": "Acme Pumps",
        "owner": "ed",
    }
    assert shown["product"] == "P-100" and shown["warranty"] is True
    # high: ack 1 business hour, resolve 8 calendar hours (the default policy's [cases.sla])
    assert shown["ack_due_at"] == "2026-03-09T09:30:00-04:00"
    assert shown["resolve_due_at"] == "2026-03-07T00:30:00-05:00"
    by_contact = desk.ok(
        "case",
        "open",
        "contact:1",
        "--title",
        "Manual missing",
        "--severity",
        "LOW",
        "--owner",
        "boss",
        "--no-warranty",
        "--format",
        "json",
    ).json()
    assert (by_contact["contact"], by_contact["account_id"]) == ("Ann Lee", 1)
    assert by_contact["warranty"] is False
    created = desk.ok("history", "case:2", "--format", "json").json()[0]["changes"]
    assert created["warranty"] == [None, False] and "product" not in created
    assert by_contact["owner"] == "boss" and by_contact["severity"] == "low"
    bare = open_case(desk, target="1")  # a bare number is an account
    assert case_json(desk, bare)["account_id"] == 1
    events = desk.ok("history", "case:1", "--format", "json").json()
    assert events[0]["action"] == "create"
    assert events[0]["changes"]["title"] == [None, "Pump leaks at the seal"]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["account:1", "--title", "x", "--severity", "sev1"], 2, "--severity: 'sev1'"),
        (["account:1", "--title", "  ", "--severity", "low"], 2, "--title: must not be empty"),
        (["lead:1", "--title", "x", "--severity", "low"], 2, "account:12, contact:7"),
        (["account:9", "--title", "x", "--severity", "low"], 3, "account 9 not found"),
        (["contact:9", "--title", "x", "--severity", "low"], 3, "contact 9 not found"),
        (["1", "--title", "x", "--severity", "low", "--owner", "zed"], 3, "no user named 'zed'"),
        (["1", "--title", "x", "--severity", "low", "--at", "2026-03-07 09:00"], 2, "future"),
    ],
)
def test_open_refusals_write_nothing(desk: Crm, args: list[str], code: int, needle: str) -> None:
    events = rows(desk, "SELECT count(*) FROM audit_event")
    obligations = desk.count("obligation")
    run = desk("case", "open", *args, user="ed")
    assert run.code == code and needle in run.err
    assert run.err.count("\n") == 1 and run.err.startswith("crm: ")
    assert desk.count("service_case") == 0 and desk.count("obligation") == obligations
    assert rows(desk, "SELECT count(*) FROM audit_event") == events


def test_viewers_read_cases_but_change_nothing(desk: Crm, tmp_path: Path) -> None:
    case = open_case(desk)
    (tmp_path / "p.png").write_bytes(png())
    for args in (
        ["open", "account:1", "--title", "x", "--severity", "low"],
        ["ack", str(case)],
        ["wait", str(case)],
        ["resume", str(case)],
        ["resolve", str(case), "--resolution", "x"],
        ["close", str(case)],
        ["reopen", str(case)],
        ["comment", str(case), "--text", "x"],
        ["attach", str(case), str(tmp_path / "p.png")],
    ):
        run = desk("case", *args, user="vi")
        assert run.code == 4 and "needs the editor role" in run.err, args
    assert desk.ok("case", "list", "--format", "ids", user="vi").out == f"{case}\n"
    assert desk.ok("case", "show", str(case), user="vi").out.startswith("case 1")
    assert desk.count("case_comment") == 0 and desk.count("case_attachment") == 0


@pytest.mark.parametrize(
    "args",
    [
        ["ack", "9"],
        ["wait", "9"],
        ["resume", "9"],
        ["resolve", "9", "--resolution", "x"],
        ["close", "9"],
        ["reopen", "9"],
        ["comment", "9", "--text", "x"],
        ["show", "9"],
    ],
)
def test_unknown_case_is_not_found(desk: Crm, args: list[str]) -> None:
    run = desk("case", *args, user="ed")
    assert run.code == 3
    assert run.err == "crm: case 9 not found; list cases with: crm case list\n"


# --- the status machine ----------------------------------------------------------------------


def test_a_case_moves_through_its_statuses(desk: Crm) -> None:
    case = str(open_case(desk))
    desk.ok("case", "ack", case, user="ed")
    desk.ok("case", "wait", case, "--reason", "asked for photos", user="ed")
    desk.ok("case", "resume", case, user="ed", CRM_NOW=MONDAY_1000)
    resolved = desk.ok(
        "case", "resolve", case, "--resolution", "Replaced the seal", "--format", "json",
        user="ed", CRM_NOW=MONDAY_1100,
    ).json()  # fmt: skip
    assert resolved["status"] == "resolved" and resolved["sla_state"] == "met"
    desk.ok("case", "close", case, user="ed", CRM_NOW=MONDAY_1100)
    shown = case_json(desk, 1, CRM_NOW=MONDAY_1100)
    assert (shown["status"], shown["resolution"], shown["closed_by"]) == (
        "closed",
        "Replaced the seal",
        "ed",
    )
    assert [p["kind"] for p in shown["pauses"]] == ["waiting", "resolved"]
    assert shown["pauses"][0]["reason"] == "asked for photos"
    desk.ok("case", "reopen", case, "--reason", "leaks again", user="ed", CRM_NOW=MONDAY_1100)
    reopened = case_json(desk, 1, CRM_NOW=MONDAY_1100)
    assert reopened["status"] == "acknowledged" and reopened["resolution"] is None
    assert reopened["pauses"][1]["ended_at"] == "2026-03-09T11:00:00-04:00"
    actions = [e["changes"]["status"] for e in reopened["history"] if "status" in e["changes"]]
    assert actions[1:] == [
        ["open", "acknowledged"],
        ["acknowledged", "waiting"],
        ["waiting", "acknowledged"],
        ["acknowledged", "resolved"],
        ["resolved", "closed"],
        ["closed", "acknowledged"],
    ]
    assert desk("audit", "verify").code == 0


@pytest.mark.parametrize(
    ("steps", "action", "allowed"),
    [
        ([], ["resolve", "--resolution", "x"], "crm case ack 1"),
        ([], ["wait"], "crm case ack 1"),
        ([], ["close"], "crm case ack 1"),
        ([["ack"]], ["ack"], "crm case wait 1 or crm case resolve 1"),
        ([["ack"]], ["resume"], "crm case wait 1 or crm case resolve 1"),
        ([["ack"]], ["reopen"], "crm case wait 1 or crm case resolve 1"),
        ([["ack"], ["resolve", "--resolution", "x"]], ["wait"], "close 1 or crm case reopen 1"),
    ],
)
def test_illegal_transitions_are_refused_saying_what_is_allowed(
    desk: Crm, steps: list[list[str]], action: list[str], allowed: str
) -> None:
    case = str(open_case(desk))
    for step in steps:
        desk.ok("case", step[0], case, *step[1:], user="ed")
    before = rows(desk, "SELECT status, updated_at FROM service_case")
    run = desk("case", action[0], case, *action[1:], user="ed")
    assert run.code == 5 and allowed in run.err and f"cannot {action[0]} it" in run.err
    assert rows(desk, "SELECT status, updated_at FROM service_case") == before


def test_resolve_needs_a_resolution(desk: Crm) -> None:
    case = str(open_case(desk))
    desk.ok("case", "ack", case, user="ed")
    run = desk("case", "resolve", case, "--resolution", " ", user="ed")
    assert run.code == 2 and "--resolution: must not be empty" in run.err
    assert rows(desk, "SELECT status FROM service_case") == [("acknowledged",)]


# --- comments and listing --------------------------------------------------------------------


def test_comments_public_and_internal(desk: Crm) -> None:
    case = str(open_case(desk))
    assert desk.ok("case", "comment", case, "--text", "Photos received", user="ed").out == "1\n"
    desk.ok("case", "comment", case, "--text", "Seal batch 7 again", "--internal", user="ed")
    comments = case_json(desk, 1)["comments"]
    assert [(c["text"], c["internal"], c["author"]) for c in comments] == [
        ("Photos received", False, "ed"),
        ("Seal batch 7 again", True, "ed"),
    ]
    run = desk("case", "comment", case, "--text", "", user="ed")
    assert run.code == 2 and "--text" in run.err and desk.count("case_comment") == 2


def test_list_filters(desk: Crm) -> None:
    open_case(desk, "--severity", "urgent")
    open_case(desk, "--severity", "low", user="boss")
    desk.ok("case", "ack", "1", user="ed")
    listed = desk.ok("case", "list", "--format", "json").json()
    assert [(c["id"], c["status"], c["owner"]) for c in listed] == [
        (1, "acknowledged", "ed"),
        (2, "open", "boss"),
    ]
    ids = lambda *args: desk.ok("case", "list", *args, "--format", "ids", user="ed").out.split()  # noqa: E731
    assert ids("--mine") == ["1"]
    assert ids("--status", "open") == ["2"]
    assert ids("--status", "active") == ["1", "2"]
    assert ids("--severity", "urgent") == ["1"]
    assert ids("--owner", "boss") == ["2"]
    assert ids("--account", "1") == ["1", "2"]
    assert desk("case", "list", "--status", "pending").code == 2
    assert desk("case", "list", "--severity", "meh").code == 2
    table = desk.ok("case", "list").out
    assert "Pump leaks at the seal" in table and "sla_state" in table
    assert desk.ok("case", "list", "--status", "closed").err == "no cases match\n"


# --- SLA obligations in the overdue report ------------------------------------------------------


def test_case_ack_turns_overdue_when_the_clock_passes_it(desk: Crm) -> None:
    open_case(desk)  # normal: ack 2 business hours -> Monday 10:30; resolve 24 h -> Sat 16:30
    assert overdue(desk) == []
    assert overdue(desk, CRM_NOW="2026-03-09T14:29:00Z") == [("case.resolve", 1)]
    late = desk.ok("report", "overdue", "--format", "json", CRM_NOW="2026-03-09T14:45:00Z").json()
    ack = next(r for r in late if r["rule"] == "case.ack")
    assert ack["owner"] == "ed" and ack["record_id"] == 1
    assert ack["due_at"] == "2026-03-09T10:30:00-04:00" and ack["overdue_by_seconds"] == 900
    assert "acknowledge case 1 (normal): Pump leaks at the seal" in ack["title"]
    desk.ok("case", "ack", "1", user="ed", CRM_NOW="2026-03-09T14:45:00Z")
    assert overdue(desk, CRM_NOW="2026-03-09T14:45:00Z") == [("case.resolve", 1)]
    sla = {s["rule"]: s for s in case_json(desk, 1, CRM_NOW="2026-03-09T14:45:00Z")["sla"]}
    assert sla["case.ack"]["state"] == "met_late" and sla["case.ack"]["overdue_by"] == "15m"
    # my day of the case owner lists it too
    day = desk.ok("--format", "json", user="ed", CRM_NOW="2026-03-09T14:45:00Z").json()
    assert ("case.resolve", 1) in [(r["rule"], r["record_id"]) for r in day["overdue"]]


def test_waiting_on_the_customer_is_never_overdue_and_resuming_moves_the_deadline(
    desk: Crm,
) -> None:
    open_case(desk, "--severity", "urgent")  # resolve within 4 calendar hours: 20:30
    desk.ok("case", "ack", "1", user="ed")
    desk.ok("case", "wait", "1", user="ed", CRM_NOW="2026-03-06T22:30:00Z")  # 17:30, 3 h left
    for later in ("2026-03-07T12:00:00Z", "2026-03-20T12:00:00Z"):
        assert overdue(desk, CRM_NOW=later) == []
    paused = case_json(desk, 1, CRM_NOW="2026-03-08T12:00:00Z")
    assert paused["sla_state"] == "paused" and paused["resolve_due_at"] is None
    resolve = next(s for s in paused["sla"] if s["rule"] == "case.resolve")
    assert (resolve["state"], resolve["remaining"]) == ("paused", "3h")
    desk.ok("case", "resume", "1", user="ed", CRM_NOW=MONDAY_1000)  # 3 h left from 10:00
    shown = case_json(desk, 1, CRM_NOW=MONDAY_1000)
    assert shown["resolve_due_at"] == "2026-03-09T13:00:00-04:00"
    assert overdue(desk, CRM_NOW="2026-03-09T16:59:00Z") == []
    assert overdue(desk, CRM_NOW="2026-03-09T17:01:00Z") == [("case.resolve", 1)]


def test_policy_import_recomputes_case_deadlines(desk: Crm, tmp_path: Path) -> None:
    open_case(desk, "--severity", "urgent")  # ack 30 business minutes: Friday 17:00
    assert case_json(desk, 1)["ack_due_at"] == "2026-03-06T17:00:00-05:00"
    policy = tmp_path / "p.toml"
    policy.write_text('[cases.sla.urgent]\nack = "15m"\nack_clock = "calendar"\n')
    desk.ok("policy", "import", str(policy))
    assert case_json(desk, 1)["ack_due_at"] == "2026-03-06T16:45:00-05:00"
    assert overdue(desk, CRM_NOW="2026-03-06T21:50:00Z") == [("case.ack", 1)]


# --- attachments -----------------------------------------------------------------------------


def blobs(crm: Crm) -> list[Path]:
    root = crm.attachments
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_attach_stores_a_png_by_its_hash_privately(desk: Crm, tmp_path: Path) -> None:
    import hashlib

    case = str(open_case(desk))
    photo = tmp_path / "seal.png"
    photo.write_bytes(png())
    notes = tmp_path / "notes.txt"
    notes.write_text("Pressure 3 bar, leak at the seal\n")
    out = desk.ok("case", "attach", case, str(photo), str(notes), "--format", "json", user="ed")
    attached = out.json()
    digest = hashlib.sha256(png()).hexdigest()
    assert [(a["name"], a["media_type"], a["size"]) for a in attached] == [
        ("seal.png", "image/png", len(png())),
        ("notes.txt", "text/plain", notes.stat().st_size),
    ]
    stored = desk.attachments / digest[:2] / digest
    assert attached[0]["sha256"] == digest and attached[0]["path"] == str(stored)
    assert stored.read_bytes() == png()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    for directory in (stored.parent, stored.parent.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    shown = case_json(desk, 1)["attachments"]
    assert [a["name"] for a in shown] == ["seal.png", "notes.txt"]
    assert rows(desk, "SELECT sha256, name, media_type, size FROM case_attachment")[0] == (
        digest,
        "seal.png",
        "image/png",
        len(png()),
    )


def test_same_content_is_stored_once(desk: Crm, tmp_path: Path) -> None:
    open_case(desk)
    open_case(desk)
    (tmp_path / "a.png").write_bytes(png())
    (tmp_path / "renamed.jpg").write_bytes(png())  # the name says jpeg; the content is PNG
    desk.ok("case", "attach", "1", str(tmp_path / "a.png"), user="ed")
    desk.ok("case", "attach", "2", str(tmp_path / "renamed.jpg"), user="ed")
    again = desk.ok("case", "attach", "1", str(tmp_path / "renamed.jpg"), user="ed")
    assert "already attached as 1" in again.err
    assert len(blobs(desk)) == 1
    assert rows(desk, "SELECT case_id, name, media_type FROM case_attachment") == [
        (1, "a.png", "image/png"),
        (2, "renamed.jpg", "image/png"),
    ]


def test_oversize_disallowed_and_missing_files_are_refused_leaving_nothing(
    desk: Crm, tmp_path: Path
) -> None:
    case = str(open_case(desk))
    good = tmp_path / "ok.png"
    good.write_bytes(png())
    big = tmp_path / "big.pdf"
    with big.open("wb") as handle:  # sparse: 10 MiB + 1 byte without writing them
        handle.write(b"%PDF-1.7\n")
        handle.truncate(10 * 1024 * 1024 + 1)
    exe = tmp_path / "invoice.pdf"
    exe.write_bytes(b"MZ\x90\x00\x03" + b"\x00" * 200)  # a Windows program named .pdf
    events = rows(desk, "SELECT count(*) FROM audit_event")
    run = desk("case", "attach", case, str(good), str(big), user="ed")
    assert run.code == 2
    assert run.err == (
        f"crm: FILE: {big} is 10.0 MB, over the 10.0 MB limit (policy cases.max_attachment_mb)\n"
    )
    run = desk("case", "attach", case, str(good), str(exe), user="ed")
    assert run.code == 2 and str(exe) in run.err
    assert "application/x-msdownload (by its content)" in run.err
    run = desk("case", "attach", case, str(tmp_path / "nope.png"), user="ed")
    assert run.code == 2 and "nope.png does not exist" in run.err
    assert desk("case", "attach", case, str(tmp_path), user="ed").code == 2  # a directory
    assert blobs(desk) == [] and desk.count("case_attachment") == 0
    assert rows(desk, "SELECT count(*) FROM audit_event") == events


def test_the_size_limit_comes_from_the_policy(desk: Crm, tmp_path: Path) -> None:
    case = str(open_case(desk))
    policy = tmp_path / "small.toml"
    policy.write_text("[cases]\nmax_attachment_mb = 0.01\n")  # 10 KiB
    text = tmp_path / "log.txt"
    text.write_text("pressure reading\n" * 1000)  # 17 KB
    # a write under another policy than the stored one: an admin's (audited) what-if
    run = desk("case", "attach", case, str(text), user="boss", CRM_POLICY=str(policy))
    assert run.code == 2 and "over the 10.2 KB limit" in run.err
    desk.ok("case", "attach", case, str(text), user="ed")  # the default 10 MB takes it
    assert len(blobs(desk)) == 1


def test_a_failed_transaction_removes_the_blobs_it_wrote(
    desk: Crm, tmp_path: Path, monkeypatch
) -> None:
    from crmcli.errors import StorageError
    from crmcli.services import cases

    case = str(open_case(desk))
    photo = tmp_path / "p.png"
    photo.write_bytes(png())
    real_attach = cases.attach

    def attach_then_fail(*args, **kwargs):
        real_attach(*args, **kwargs)
        raise StorageError("database busy for more than 10s; try again")

    monkeypatch.setattr(cases, "attach", attach_then_fail)
    assert desk("case", "attach", case, str(photo), user="ed").code == 6
    assert blobs(desk) == [] and desk.count("case_attachment") == 0
