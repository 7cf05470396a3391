"""What a logged activity counts as, by the policy's [touches] table (issue 18).

Three kinds of touch: an *attempt* (we reached out: an outbound call, email or chat, a held
meeting), a *contact* (a real conversation: a connected call, a held meeting, our chat) and
a *reply* (the lead answered: anything inbound, a connected call, a held meeting). One
activity may be several kinds, or none (a note, a task, a meeting not held yet).

The table names activities as "TYPE" or "TYPE:WHAT", WHAT being a direction (inbound,
outbound) or, for calls, an outcome (connected, voicemail, no-answer). `[touches.meets]`
says which kinds meet each rule that a touch can meet.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

KINDS = ("attempt", "contact", "reply")
TYPES = ("call", "email", "chat", "meeting")
DIRECTIONS = ("inbound", "outbound")
CALL_OUTCOMES = ("connected", "voicemail", "no-answer")
# what a touch can meet: rules, and the tasks a score band creates (by the band's action)
MEETABLE = (
    "lead.first_response",
    "lead.follow_up",
    "lead.cadence",
    "customer.response",
    "band.contact",
    "band.follow_up",
)

DEFAULT_TOUCHES: dict[str, Any] = {
    "attempt": ["call:outbound", "email:outbound", "chat:outbound", "meeting"],
    "contact": ["call:connected", "chat:outbound", "meeting"],
    "reply": ["call:inbound", "email:inbound", "chat:inbound", "call:connected", "meeting"],
    # a response, a follow-up or a cadence touch is any attempt (or conversation); the
    # score band's "contact now" asks for a conversation
    "meets": {
        "lead.first_response": ["attempt", "contact"],
        "lead.follow_up": ["attempt", "contact"],
        "lead.cadence": ["attempt", "contact"],
        "customer.response": ["attempt", "contact"],
        "band.contact": ["contact"],
        "band.follow_up": ["attempt", "contact"],
    },
}


def parse_pattern(text: str) -> tuple[str, str | None]:
    """("call", "connected") from "call:connected"; raises ValueError naming the fix."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not an activity; write e.g. call:connected or meeting")
    return _parse(text)


@lru_cache(maxsize=256)  # a policy names a dozen; every activity of every lead is classified
def _parse(text: str) -> tuple[str, str | None]:
    kind, _, what = text.strip().lower().partition(":")
    if kind not in TYPES:
        raise ValueError(f"{text!r}: {kind!r} is not an activity type; use {', '.join(TYPES)}")
    if not what:
        return kind, None
    if kind == "meeting":
        raise ValueError(f"{text!r}: a meeting counts when held; write meeting")
    allowed = DIRECTIONS + (CALL_OUTCOMES if kind == "call" else ())
    if what not in allowed:
        raise ValueError(f"{text!r}: {what!r} is not one of {', '.join(allowed)}")
    return kind, what


def classify(
    table: dict[str, Any],
    type: str,
    *,
    direction: str | None = None,
    outcome: str | None = None,
    status: str = "logged",
) -> frozenset[str]:
    """The kinds of touch a logged activity is (empty for notes, tasks, meetings not held)."""
    if status != "logged" or type not in TYPES:
        return frozenset()
    if type != "meeting":
        direction = direction or "outbound"
    return frozenset(
        kind
        for kind in KINDS
        if any(_matches(parse_pattern(p), type, direction, outcome) for p in table.get(kind, ()))
    )


def _matches(
    pattern: tuple[str, str | None], type: str, direction: str | None, outcome: str | None
) -> bool:
    kind, what = pattern
    return kind == type and (what is None or what in (direction, outcome))


def meets(table: dict[str, Any], what: str) -> frozenset[str]:
    """The kinds of touch that meet `what` (a MEETABLE name)."""
    return frozenset(table.get("meets", {}).get(what, ()))


def check(table: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems in a [touches] table, as (key path, message); shapes are checked elsewhere."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    if not isinstance(table, dict):
        return found
    for kind in KINDS:
        patterns = table.get(kind)
        for i, pattern in enumerate(_listed(patterns)):
            try:
                parse_pattern(pattern)
            except ValueError as exc:
                found.append((("touches", kind, i), str(exc)))
    meets_table = table.get("meets")
    for name, kinds in meets_table.items() if isinstance(meets_table, dict) else ():
        path: tuple[str | int, ...] = ("touches", "meets", name)
        if name not in MEETABLE:
            found.append((path, f"unknown; use one of {', '.join(MEETABLE)}"))
        elif not isinstance(kinds, list) or not kinds:
            found.append((path, 'must list at least one kind, e.g. ["attempt", "contact"]'))
        else:
            for i, kind in enumerate(kinds):
                if kind not in KINDS:
                    found.append(((*path, i), f"{kind!r} is not a kind; use {', '.join(KINDS)}"))
    return found


def _listed(value: Any) -> Iterable[Any]:
    return value if isinstance(value, list) else ()
