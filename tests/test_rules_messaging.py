"""Pure rules of automated messages: rendering, template checks, sequence plans, backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crmcli.rules import messaging

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
EXPIRE = timedelta(days=3)


def lead(**changes) -> messaging.LeadHistory:
    values = {
        "acquired_at": T0,
        "created_at": T0,
        "status": "new",
        "open": True,
        "nurture_since": None,
        "first_touch": None,
        "last_activity": None,
    }
    return messaging.LeadHistory(**{**values, **changes})


def days(n: float) -> datetime:
    return T0 + timedelta(days=n)


DRIP = {"trigger": "nurture", "steps": [{"day": d, "template": f"n{d}"} for d in (0, 7, 21, 45)]}


def test_render_fills_fields_and_prints_missing_values_as_empty() -> None:
    text = messaging.render(
        "{{ lead.first_name }} / {{ lead.company }} / {{ owner.name }}",
        {"lead": {"first_name": "Zoë", "company": None}, "owner": {"name": "Maria"}},
    )
    assert text == "Zoë /  / Maria"


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("{{ lead.nickname }}", "unknown field 'lead.nickname'"),
        ("{{ first_name }}", "unknown field 'first_name'"),
        ("{{ lead.first_name.__class__.__mro__ }}", "unknown field"),  # the sandbox hides it
        ("{% for %}", "line 1"),
    ],
)
def test_render_refuses_unknown_fields_and_bad_syntax(template: str, says: str) -> None:
    with pytest.raises(messaging.TemplateProblem, match=says.replace("(", r"\(")):
        messaging.render(template, messaging.FIELDS)


def test_check_templates_accepts_every_documented_field() -> None:
    body = " ".join(
        f"{{{{ {group}.{name} }}}}" for group, fields in messaging.FIELDS.items() for name in fields
    )
    templates = {"all": {"subject": "s", "body": body}}
    assert messaging.check_templates(templates, meeting_templates={"all"}) == []
    # meeting.* only in the templates [reminders] sends (a meeting's confirmation, reminders)
    [(path, message)] = messaging.check_templates(templates)
    assert path == ("templates", "all", "body") and "meeting." in message


def test_acquired_sends_on_day_zero_and_expires_when_too_late() -> None:
    welcome = {"trigger": "acquired", "steps": [{"day": 0, "template": "welcome"}]}
    plan = messaging.plan(welcome, lead(), days(0.1), EXPIRE)
    assert [s.template for s in plan.steps] == ["welcome"]
    assert messaging.plan(welcome, lead(), days(10), EXPIRE).steps == ()  # imported late


def test_nurture_drip_steps_come_due_by_day() -> None:
    inside = lead(nurture_since=T0)
    assert [s.key.split("/")[1] for s in messaging.plan(DRIP, inside, days(1), EXPIRE).steps] == [
        "day0"
    ]
    assert [s.template for s in messaging.plan(DRIP, inside, days(22), EXPIRE).steps] == ["n21"]
    assert messaging.plan(DRIP, lead(), days(22), EXPIRE).anchor is None  # not in the band


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"inbound": (days(1),)}, "a reply"),
        ({"calls": (days(2),)}, "a call"),
        ({"stage_changes": (days(3),)}, "a stage change"),
    ],
)
def test_a_reply_call_or_stage_change_after_the_start_stops_the_run(changes, reason) -> None:
    plan = messaging.plan(DRIP, lead(nurture_since=T0, **changes), days(8), EXPIRE)
    assert (plan.stopped, plan.steps) == (reason, ())


def test_activity_before_the_start_does_not_stop_the_run() -> None:
    history = lead(nurture_since=T0, inbound=(T0 - timedelta(days=1),))
    assert messaging.plan(DRIP, history, days(8), EXPIRE).stopped is None


def test_no_reply_starts_at_the_first_touch() -> None:
    cadence = {"trigger": "no_reply", "steps": [{"day": 3, "template": "f3"}]}
    assert messaging.plan(cadence, lead(), days(5), EXPIRE).anchor is None
    plan = messaging.plan(cadence, lead(first_touch=days(1)), days(4.5), EXPIRE)
    assert [s.due_at for s in plan.steps] == [days(4)]


def test_re_engagement_repeats_monthly_from_the_last_activity_without_backlog() -> None:
    monthly = {"trigger": "inactive", "every": "30d", "template": "re"}
    inactive = lead(status="inactive", last_activity=days(10))
    assert messaging.plan(monthly, inactive, days(39), EXPIRE).steps == ()
    first = messaging.plan(monthly, inactive, days(40), EXPIRE).steps
    assert [s.key.split("/")[1] for s in first] == ["every1"]
    # a run that was not ticked for months gets the latest period only
    late = messaging.plan(monthly, inactive, days(101), EXPIRE).steps
    assert [s.key.split("/")[1] for s in late] == ["every3"]
    assert messaging.plan(monthly, lead(last_activity=days(10)), days(40), EXPIRE).anchor is None


def test_closed_or_unreachable_leads_are_in_no_sequence() -> None:
    welcome = {"trigger": "acquired", "steps": [{"day": 0, "template": "welcome"}]}
    assert messaging.plan(welcome, lead(open=False), days(0), EXPIRE).anchor is None


FOLLOW_UP = {
    "trigger": "no_reply",
    "steps": [{"day": d, "template": f"f{d}"} for d in (3, 7, 14)],
}


def test_a_follow_up_run_keeps_the_lead_active_until_its_last_step_is_settled() -> None:
    silent = lead(first_touch=T0)
    last = f"{messaging.run_key(T0)}/day14"
    assert messaging.finishing(FOLLOW_UP, silent, days(14), EXPIRE, settled=())
    assert messaging.finishing(FOLLOW_UP, silent, days(16), EXPIRE, settled={"other"})
    assert not messaging.finishing(FOLLOW_UP, silent, days(15), EXPIRE, settled={last})
    # nobody sends mail: the lead goes inactive `expire` after the last step's time
    assert not messaging.finishing(FOLLOW_UP, silent, days(17.01), EXPIRE, settled=())


def test_only_a_running_no_reply_sequence_holds_inactivity_off() -> None:
    replied = lead(first_touch=T0, inbound=(days(5),))
    assert not messaging.finishing(FOLLOW_UP, replied, days(14), EXPIRE, settled=())
    assert not messaging.finishing(FOLLOW_UP, lead(), days(14), EXPIRE, settled=())  # no touch
    monthly = {"trigger": "no_reply", "every": "30d", "template": "f"}
    assert not messaging.finishing(monthly, lead(first_touch=T0), days(14), EXPIRE, ())
    welcome = {"trigger": "acquired", "steps": [{"day": 0, "template": "w"}]}
    assert not messaging.finishing(welcome, lead(first_touch=T0), days(0), EXPIRE, ())


class AlwaysOpen:
    def next_open(self, instant: datetime) -> datetime:
        return instant


def test_a_new_lead_gets_what_is_due_on_arrival_rendered() -> None:
    arrival = messaging.Arrival(
        sequences={"welcome": {"trigger": "acquired", "steps": [{"day": 0, "template": "w"}]}},
        templates={"w": {"subject": "Hi {{ lead.full_name }}", "body": "{{ owner.signature }}"}},
        expire=EXPIRE,
        values={"owner": {"name": "", "signature": "The team"}, "sender": {"address": "s@x"}},
    )
    row = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@x", "acquired_at": T0}
    [message] = arrival.messages(row, T0, AlwaysOpen())
    assert (message.sequence, message.step, message.subject, message.body) == (
        "welcome",
        f"{messaging.run_key(T0)}/day0",
        "Hi Ada Lovelace",
        "The team",
    )
    assert message.scheduled_at == T0
    assert arrival.messages({**row, "email": None}, T0, AlwaysOpen()) == []
    assert arrival.messages(row, days(4), AlwaysOpen()) == []  # acquired long ago: expired


def test_backoff_doubles_up_to_a_day() -> None:
    base = timedelta(minutes=5)
    waits = [messaging.backoff(n, base) for n in (1, 2, 3, 4)]
    assert waits == [timedelta(minutes=m) for m in (5, 10, 20, 40)]
    assert messaging.backoff(20, base) == timedelta(days=1)


def test_sequence_checks() -> None:
    templates = {"a": {}}
    problems = messaging.check_sequences(
        {
            "bad_trigger": {"trigger": "later", "steps": [{"day": 0, "template": "a"}]},
            "both": {
                "trigger": "acquired",
                "steps": [{"day": 0, "template": "a"}],
                "every": "1d",
                "template": "a",
            },
            "order": {
                "trigger": "acquired",
                "steps": [{"day": 7, "template": "a"}, {"day": 3, "template": "a"}],
            },
            "every": {"trigger": "inactive", "every": "soon", "template": "zz"},
        },
        templates,
    )
    paths = {".".join(map(str, path)) for path, _ in problems}
    assert paths == {
        "sequences.bad_trigger.trigger",
        "sequences.both",
        "sequences.order.steps",
        "sequences.every.every",
        "sequences.every.template",
    }
