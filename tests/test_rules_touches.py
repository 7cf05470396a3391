"""What a logged activity counts as (rules/touches.py): attempt, contact, reply."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcli.rules import touches
from crmcli.rules.policy import PolicyInvalid, default_policy, parse_policy

TABLE = default_policy().data["touches"]


def kinds(type: str, direction: str | None = None, outcome: str | None = None, status="logged"):
    found = touches.classify(TABLE, type, direction=direction, outcome=outcome, status=status)
    return sorted(found)


@pytest.mark.parametrize(
    ("activity", "expected"),
    [
        # an outbound attempt that did not reach anyone
        (("call", "outbound", "no-answer"), ["attempt"]),
        (("call", "outbound", "voicemail"), ["attempt"]),
        (("email", "outbound"), ["attempt"]),
        # a real conversation is a contact, and the lead answered: a reply too
        (("call", "outbound", "connected"), ["attempt", "contact", "reply"]),
        (("call", "inbound", "connected"), ["contact", "reply"]),
        (("meeting", None), ["attempt", "contact", "reply"]),
        (("chat", "outbound"), ["attempt", "contact"]),
        # the lead reached out
        (("email", "inbound"), ["reply"]),
        (("chat", "inbound"), ["reply"]),
        (("call", "inbound", "voicemail"), ["reply"]),
        # not touches at all
        (("note", None), []),
        (("task", None), []),
    ],
)
def test_default_classification_follows_the_seeds(activity: tuple, expected: list) -> None:
    assert kinds(*activity) == expected


def test_only_what_happened_counts() -> None:
    assert kinds("meeting", status="open") == []  # scheduled, not held
    assert kinds("call", "outbound", "connected", status="cancelled") == []


def test_a_policy_can_count_differently() -> None:
    policy = parse_policy('[touches]\ncontact = ["call:connected", "email"]\n')
    table = policy.data["touches"]
    found = touches.classify(table, "email", direction="inbound")
    assert found == frozenset({"contact", "reply"})
    assert touches.meets(table, "band.contact") == frozenset({"contact"})


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("fax", "'fax' is not an activity type"),
        ("call:busy", "'busy' is not one of inbound, outbound, connected"),
        ("email:connected", "'connected' is not one of inbound, outbound"),
        ("meeting:inbound", "a meeting counts when held"),
    ],
)
def test_patterns_name_the_fix(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        touches.parse_pattern(pattern)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[touches]\nreply = ["call:busy"]\n', "touches.reply[0]"),
        ('[touches.meets]\n"lead.follow_up" = []\n', 'touches.meets."lead.follow_up"'),
        ('[touches.meets]\n"lead.follow_up" = ["call"]\n', 'touches.meets."lead.follow_up"[0]'),
        ('[touches]\nattempt = "call"\n', "touches.attempt: must be a list"),
    ],
)
def test_policy_validation_points_at_the_key(text: str, where: str) -> None:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(text, "p.toml")
    assert where in str(caught.value) and "p.toml:" in str(caught.value)


@given(
    st.sampled_from(("call", "email", "chat", "meeting", "note", "task")),
    st.sampled_from((None, "inbound", "outbound")),
    st.sampled_from((None, "connected", "voicemail", "no-answer")),
    st.sampled_from(("logged", "open", "done", "cancelled")),
)
def test_classification_is_total_and_consistent(type, direction, outcome, status) -> None:
    found = touches.classify(TABLE, type, direction=direction, outcome=outcome, status=status)
    assert found <= set(touches.KINDS)
    if status != "logged" or type in ("note", "task"):
        assert found == frozenset()
    if "contact" in found and type == "call":
        assert outcome == "connected"  # only a call that connected is a conversation
    if direction == "inbound" and type in ("call", "email", "chat") and status == "logged":
        assert "reply" in found and "attempt" not in found  # they reached out, not we
