"""Account obligations and opportunity types as pure functions (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from crmcli.errors import BadInput
from crmcli.rules import account_rules as ar
from crmcli.rules.calendar import BusinessCalendar
from crmcli.rules.gates import normalise_type, type_required
from crmcli.rules.obligations import Task, obligations
from crmcli.rules.policy import PolicyInvalid, default_policy, parse_policy

POLICY = default_policy()
CALENDAR = BusinessCalendar.from_policy(POLICY)
T0 = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)  # Friday 16:30 in New York


def account(**facts) -> ar.AccountFacts:
    return ar.AccountFacts(**{"id": 1, "name": "Acme", "created_at": T0, **facts})


def by_rule(dues, rule_id):
    return [d for d in dues if d.rule == rule_id]


def test_renewal_is_due_90_days_before_the_contract_ends_at_local_midnight() -> None:
    [due] = ar.account_renewal(account(contract_end=date(2026, 9, 30)), POLICY, CALENDAR)
    # 90 days before 00:00 of 30 September is 00:00 of Thursday 2 July: 09:00 EDT, when a
    # rep can start it
    assert due.due_at == datetime(2026, 7, 2, 13, 0, tzinfo=UTC)
    assert due.key == "2026-09-30" and due.met_at is None
    assert "contract ends 2026-09-30" in due.title and due.title.endswith(": Acme")


def test_renewal_is_met_by_a_renewal_opportunity_in_its_window_only() -> None:
    end = date(2026, 9, 30)
    early = datetime(2026, 1, 1, tzinfo=UTC)  # more than 180 days before the end
    inside = datetime(2026, 5, 1, tzinfo=UTC)
    facts = account(contract_end=end, opportunities=(("renewal", early), ("project", inside)))
    assert ar.account_renewal(facts, POLICY, CALENDAR)[0].met_at is None
    facts = account(contract_end=end, opportunities=(("Renewal", inside),))
    assert ar.account_renewal(facts, POLICY, CALENDAR)[0].met_at == inside


def test_no_contract_end_no_renewal() -> None:
    assert ar.account_renewal(account(), POLICY, CALENDAR) == []


def test_qbr_is_quarterly_for_key_accounts_only() -> None:
    assert ar.account_qbr(account(key_account=False), POLICY, CALENDAR) == []
    [due] = ar.account_qbr(account(key_account=True, key_since=T0), POLICY, CALENDAR)
    # Friday 16:30 EST, 13 weeks on: Friday 16:30 EDT (an hour less than 13 x 7 x 24 h)
    assert due.started_at == T0 and due.due_at == T0 + timedelta(weeks=13, hours=-1)


def test_qbr_counts_from_the_last_qbr_meeting_not_other_meetings() -> None:
    held = T0 + timedelta(days=80)
    lunch = T0 + timedelta(days=85)
    facts = account(
        key_account=True,
        key_since=T0,
        meetings=((held, "Q1 QBR with the CFO"), (lunch, "lunch and learn")),
    )
    [due] = ar.account_qbr(facts, POLICY, CALENDAR)
    # held Monday 25 May 17:30 EDT: 13 weeks later is after closing, so Tuesday 09:00
    assert due.started_at == held and due.due_at == datetime(2026, 8, 25, 13, 0, tzinfo=UTC)
    assert ar.is_qbr("Quarterly business review", POLICY)
    assert not ar.is_qbr("qbrx planning", POLICY)  # whole words only


def test_onboarding_plan_is_due_30_days_after_the_won_date() -> None:
    steps = ar.onboarding_steps(POLICY, T0, CALENDAR)
    assert [s.title for s in steps][0] == "Kick-off call"
    # won Friday 16:30 EST: day 2 is a Sunday, so Monday 09:00 EDT; days 7 and 14 are
    # Fridays at 16:30 EDT; day 30 is Sunday 5 April, so Monday 6 April 09:00
    assert [s.due_at for s in steps] == [
        datetime(2026, 3, 9, 13, 0, tzinfo=UTC),
        datetime(2026, 3, 13, 20, 30, tzinfo=UTC),
        datetime(2026, 3, 20, 20, 30, tzinfo=UTC),
        datetime(2026, 4, 6, 13, 0, tzinfo=UTC),
    ]
    tasks = tuple(
        Task(10 + i, f"Onboarding: {s.title}", s.due_at, "open") for i, s in enumerate(steps)
    )
    dues = ar.account_onboarding(account(won_at=T0, onboarding_tasks=tasks), POLICY, CALENDAR)
    plan = next(d for d in dues if d.key == "plan")
    assert plan.due_at == datetime(2026, 4, 6, 13, 0, tzinfo=UTC) and plan.met_at is None
    assert len(dues) == len(steps) + 1
    assert {d.due_at for d in dues if d.key != "plan"} == {s.due_at for s in steps}


def test_onboarding_is_met_when_every_task_is_done() -> None:
    done_at = T0 + timedelta(days=20)
    tasks = (
        Task(1, "Kick-off call", T0 + timedelta(days=2), "done", T0 + timedelta(days=1), "ed"),
        Task(2, "Training", T0 + timedelta(days=14), "done", done_at, "ed"),
    )
    dues = ar.account_onboarding(account(won_at=T0, onboarding_tasks=tasks), POLICY, CALENDAR)
    plan = next(d for d in dues if d.key == "plan")
    assert plan.met_at == done_at and plan.met_by == "ed"


def test_no_onboarding_before_the_account_is_won() -> None:
    assert ar.account_onboarding(account(), POLICY, CALENDAR) == []


def test_contact_verify_is_quarterly_from_the_last_verification() -> None:
    contact = ar.ContactFacts(id=3, label="Grace Hopper, Acme", created_at=T0)
    [due] = ar.contact_verify(contact, POLICY, CALENDAR)
    assert due.due_at == T0 + timedelta(weeks=13, hours=-1)  # 16:30 EST -> 16:30 EDT
    verified = T0 + timedelta(days=40)  # Wednesday 15 April 17:30 EDT, after closing
    contact = ar.ContactFacts(id=3, label="G", created_at=T0, verified_at=verified)
    due_at = ar.contact_verify(contact, POLICY, CALENDAR)[0].due_at
    assert due_at == datetime(2026, 7, 16, 13, 0, tzinfo=UTC)  # Thursday 09:00 EDT
    gone = ar.ContactFacts(id=3, label="", created_at=T0, forgotten=True)
    assert ar.contact_verify(gone, POLICY, CALENDAR) == []


def test_rules_are_registered_with_the_engine() -> None:
    dues = obligations(
        "account", account(key_account=True, contract_end=date(2026, 6, 1)), POLICY, CALENDAR
    )
    assert {d.rule for d in dues} == {"account.qbr", "account.renewal"}
    contact = ar.ContactFacts(id=3, label="G", created_at=T0)
    assert [d.rule for d in obligations("contact", contact, POLICY, CALENDAR)] == ["contact.verify"]


def test_policy_durations_drive_the_rules() -> None:
    policy = parse_policy('[rules."account.renewal"]\nbefore = "30d"\nat = "10:00"\n')
    [due] = ar.account_renewal(account(contract_end=date(2026, 9, 30)), policy, CALENDAR)
    assert due.due_at == datetime(2026, 8, 31, 14, 0, tzinfo=UTC)  # Monday 10:00 EDT


TYPES = parse_policy('[pipeline]\nopportunity_types = ["Managed Services", "Project", "renewal"]\n')


def test_opportunity_types_are_matched_in_any_case() -> None:
    assert normalise_type(TYPES, "managed  services") == "Managed Services"
    with pytest.raises(BadInput, match="use one of Managed Services, Project, renewal"):
        normalise_type(TYPES, "hardware")
    assert normalise_type(POLICY, "anything goes") == "anything goes"  # [] allows any


def test_a_type_is_required_to_enter_opportunity_stages_when_listed() -> None:
    assert not type_required(TYPES, "prospecting")
    assert type_required(TYPES, "qualification") and type_required(TYPES, "closed_won")
    assert not type_required(TYPES, "closed_lost")  # losing a lead needs no type
    assert not type_required(POLICY, "qualification")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[pipeline]\nopportunity_types = ["a", "A"]\n', "appears twice"),
        ('[pipeline]\nopportunity_types = ["a"]\n', "the type that starts a renewal"),
        ('[rules."account.onboarding"]\ntasks = ["Training"]\n', "write each task as"),
        ('[rules."account.onboarding"]\ntasks = [{title = "x", day = 45}]\n', "30-day plan"),
        ('[rules."account.onboarding"]\ntasks = [{title = "", day = 4}]\n', "non-empty"),
        ('[rules."account.qbr"]\nmeeting_subjects = [""]\n', "word or phrase"),
    ],
)
def test_policy_check_validates_the_account_keys(text: str, needle: str) -> None:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(text)
    assert any(needle in issue.message for issue in caught.value.issues)
    assert all(issue.line for issue in caught.value.issues)
