"""A write the database refused because of a concurrent one (PostgreSQL: a serialisation
failure or deadlock, store.engine raises Conflict) runs again inside Workspace.write, in a
fresh session, and is reported only after the last attempt. Conflicts happen only on
PostgreSQL under load; here a service raises one (test_concurrency.py has the real thing)."""

from __future__ import annotations

import pytest

from conftest import Crm
from crmcli.context import AppContext
from crmcli.errors import Conflict
from crmcli.services import users, workspace
from crmcli.services.workspace import CONFLICT_ATTEMPTS, Workspace

REFUSED = (
    "the database refused this transaction because of a concurrent one (could not serialize "
    "access due to concurrent update); nothing was written; run the command again"
)


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The attempts after which Workspace.write paused (none actually waits)."""
    paused: list[int] = []

    def pause(attempt: int) -> float:
        paused.append(attempt)
        return 0.0

    monkeypatch.setattr(workspace, "conflict_pause", pause)
    return paused


def conflicting(monkeypatch: pytest.MonkeyPatch, conflicts: int) -> list[int]:
    """`users.add_campaign` does its work, then the database refuses the first `conflicts`
    transactions (as a commit on PostgreSQL would): what was written must be rolled back."""
    real = users.add_campaign
    calls: list[int] = []

    def add_campaign(tx, name):  # noqa: ANN001, ANN202
        calls.append(1)
        row = real(tx, name)
        tx.session.flush()
        if len(calls) <= conflicts:
            raise Conflict(REFUSED)
        return row

    monkeypatch.setattr(users, "add_campaign", add_campaign)
    return calls


def campaign_events(crm: Crm) -> list[tuple]:
    return crm.rows("SELECT action FROM audit_event WHERE record_type = 'campaign' ORDER BY id")


def test_a_conflict_twice_then_success_is_retried_and_committed_once(
    crm: Crm, monkeypatch: pytest.MonkeyPatch, pauses: list[int]
) -> None:
    calls = conflicting(monkeypatch, conflicts=2)
    run = crm("campaign", "add", "Spring Expo", "--format", "json")
    assert run.code == 0, run.err
    assert run.err == "" and run.json()["name"] == "Spring Expo"
    assert len(calls) == 3 and pauses == [1, 2]
    assert crm.rows("SELECT name FROM campaign WHERE name = 'Spring Expo'") == [("Spring Expo",)]
    assert campaign_events(crm) == [("create",)]  # one audit event: the committed attempt's
    assert crm("audit", "verify").code == 0


def test_a_conflict_on_every_attempt_exits_6_with_one_line_and_writes_nothing(
    crm: Crm, monkeypatch: pytest.MonkeyPatch, pauses: list[int]
) -> None:
    calls = conflicting(monkeypatch, conflicts=CONFLICT_ATTEMPTS)
    before = crm.snapshot()
    run = crm("campaign", "add", "Spring Expo")
    assert run.code == 6 and run.out == ""
    assert run.err.strip().splitlines() == [f"crm: {REFUSED}"]
    assert len(calls) == CONFLICT_ATTEMPTS and pauses == list(range(1, CONFLICT_ATTEMPTS))
    assert crm.snapshot() == before


def test_write_runs_the_work_again_in_a_fresh_session(crm: Crm, pauses: list[int]) -> None:
    space = Workspace(AppContext(db=crm.url(), user="boss", command="crm campaign add"))
    sessions = []

    def work(tx: workspace.Tx) -> str:
        sessions.append(tx.session)
        if len(sessions) < 3:
            raise Conflict(REFUSED)
        return users.add_campaign(tx, "Autumn")["name"]

    assert space.write(work) == "Autumn"
    assert len(set(map(id, sessions))) == 3 and pauses == [1, 2]
    assert crm.rows("SELECT count(*) FROM campaign WHERE name = 'Autumn'") == [(1,)]


def test_other_errors_are_not_retried(crm: Crm, pauses: list[int]) -> None:
    space = Workspace(AppContext(db=crm.url(), user="boss", command="crm campaign add"))
    calls = []

    def work(tx: workspace.Tx) -> None:
        calls.append(1)
        users.add_campaign(tx, "")  # bad input

    with pytest.raises(Exception) as refused:
        space.write(work)
    assert not isinstance(refused.value, Conflict)
    assert calls == [1] and pauses == []
