"""SLA arithmetic with a clock that stops, the case status machine and its obligations,
attachment sniffing, and the [cases] policy section: pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import examples
from crmcli.rules import attachments, sla
from crmcli.rules.calendar import BusinessCalendar
from crmcli.rules.cases import (
    CaseFacts,
    IllegalTransition,
    PauseFact,
    case_ack,
    case_resolve,
    next_status,
)
from crmcli.rules.policy import PolicyInvalid, default_policy, parse_policy

NY = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)
BUSINESS_2H = sla.Target(2 * HOUR, "business")
CALENDAR_24H = sla.Target(24 * HOUR, "calendar")


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    return BusinessCalendar.from_policy(default_policy())


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY).astimezone(UTC)


def pause(start: datetime, end: datetime | None = None) -> sla.Pause:
    return sla.Pause(start, end)


# --- deadlines ----------------------------------------------------------------------------


def test_without_pauses_the_deadline_is_the_plain_clock(calendar: BusinessCalendar) -> None:
    opened = ny(2026, 3, 6, 16, 30)  # Friday
    assert sla.deadline(opened, BUSINESS_2H, [], calendar).due_at == ny(2026, 3, 9, 10, 30)
    assert sla.deadline(opened, CALENDAR_24H, [], calendar).due_at == ny(2026, 3, 7, 16, 30)


def test_business_pause_over_the_weekend_stops_only_business_hours(
    calendar: BusinessCalendar,
) -> None:
    opened = ny(2026, 3, 6, 9, 0)  # Friday 09:00, 8 business hours: due Friday 17:00
    target = sla.Target(8 * HOUR, "business")
    waited = [pause(ny(2026, 3, 6, 16, 0), ny(2026, 3, 9, 10, 0))]  # Fri 16:00 -> Mon 10:00
    # 16-17 on Friday and 9-10 on Monday: two business hours stopped, 66 wall-clock hours
    assert sla.stopped(opened, waited, "business", calendar, ny(2026, 3, 10)) == 2 * HOUR
    # 7 hours spent before the pause, the last one runs Monday 10:00-11:00
    assert sla.deadline(opened, target, waited, calendar).due_at == ny(2026, 3, 9, 11, 0)


def test_business_pause_from_friday_to_monday_opening_stops_one_hour(
    calendar: BusinessCalendar,
) -> None:
    opened = ny(2026, 3, 6, 9, 0)
    waited = [pause(ny(2026, 3, 6, 16, 0), ny(2026, 3, 9, 9, 0))]
    assert sla.stopped(opened, waited, "business", calendar, ny(2026, 3, 10)) == HOUR
    target = sla.Target(8 * HOUR, "business")
    assert sla.deadline(opened, target, waited, calendar).due_at == ny(2026, 3, 9, 10, 0)


def test_calendar_pause_across_the_weekend_counts_every_hour(calendar: BusinessCalendar) -> None:
    opened = ny(2026, 3, 6, 12, 0)  # Friday noon; 24 calendar hours
    waited = [pause(ny(2026, 3, 6, 16, 0), ny(2026, 3, 9, 10, 0))]  # over the DST change
    # 4 hours ran before the pause; the other 20 run from Monday 10:00 EDT
    assert sla.deadline(opened, CALENDAR_24H, waited, calendar).due_at == ny(2026, 3, 10, 6, 0)
    stopped = sla.stopped(opened, waited, "calendar", calendar, ny(2026, 3, 11))
    assert stopped == ny(2026, 3, 9, 10, 0) - ny(2026, 3, 6, 16, 0) == 65 * HOUR


def test_several_pauses_add_up(calendar: BusinessCalendar) -> None:
    opened = ny(2026, 3, 9, 9, 0)  # Monday 09:00, 2 business hours: due 11:00
    waited = [
        pause(ny(2026, 3, 9, 9, 30), ny(2026, 3, 9, 10, 0)),  # 30 min
        pause(ny(2026, 3, 9, 10, 15), ny(2026, 3, 9, 11, 0)),  # 45 min
    ]
    assert sla.deadline(opened, BUSINESS_2H, waited, calendar).due_at == ny(2026, 3, 9, 12, 15)


def test_overlapping_pauses_count_once(calendar: BusinessCalendar) -> None:
    opened = ny(2026, 3, 9, 9, 0)
    waited = [
        pause(ny(2026, 3, 9, 9, 30), ny(2026, 3, 9, 10, 30)),
        pause(ny(2026, 3, 9, 10, 0), ny(2026, 3, 9, 10, 15)),  # inside the first
        pause(ny(2026, 3, 9, 10, 20), ny(2026, 3, 9, 10, 45)),  # overlaps its end
    ]
    assert sla.deadline(opened, BUSINESS_2H, waited, calendar).due_at == ny(2026, 3, 9, 12, 15)


def test_a_pause_still_open_leaves_no_deadline_but_the_time_left(
    calendar: BusinessCalendar,
) -> None:
    opened = ny(2026, 3, 9, 9, 0)
    found = sla.deadline(opened, BUSINESS_2H, [pause(ny(2026, 3, 9, 10, 30))], calendar)
    assert found.paused and found.due_at is None
    assert found.paused_since == ny(2026, 3, 9, 10, 30)
    assert found.remaining == timedelta(minutes=30)


def test_a_pause_after_the_deadline_does_not_undo_the_breach(calendar: BusinessCalendar) -> None:
    opened = ny(2026, 3, 9, 9, 0)  # due 11:00
    late = [pause(ny(2026, 3, 9, 12, 0), ny(2026, 3, 9, 16, 0))]
    assert sla.deadline(opened, BUSINESS_2H, late, calendar).due_at == ny(2026, 3, 9, 11, 0)
    still_open = [pause(ny(2026, 3, 9, 12, 0))]
    assert sla.deadline(opened, BUSINESS_2H, still_open, calendar).due_at == ny(2026, 3, 9, 11, 0)


def test_a_pause_outside_business_hours_moves_nothing(calendar: BusinessCalendar) -> None:
    opened = ny(2026, 3, 6, 16, 30)
    night = [pause(ny(2026, 3, 6, 18, 0), ny(2026, 3, 7, 12, 0))]  # Friday evening to Saturday
    assert sla.deadline(opened, BUSINESS_2H, night, calendar).due_at == ny(2026, 3, 9, 10, 30)


moments = st.integers(min_value=0, max_value=14 * 24 * 60).map(
    lambda minutes: ny(2026, 3, 2) + timedelta(minutes=minutes)
)


@settings(max_examples=examples(150), deadline=None)
@given(
    after=st.integers(min_value=1, max_value=40 * 60).map(lambda m: timedelta(minutes=m)),
    clock=st.sampled_from(["business", "calendar"]),
    spans=st.lists(st.tuples(moments, st.integers(min_value=1, max_value=3 * 24 * 60)), max_size=4),
)
def test_running_time_between_open_and_due_is_the_target(
    calendar: BusinessCalendar, after: timedelta, clock: str, spans: list
) -> None:
    opened = ny(2026, 3, 2, 10, 0)
    pauses = [pause(start, start + timedelta(minutes=length)) for start, length in spans]
    due = sla.deadline(opened, sla.Target(after, clock), pauses, calendar).due_at
    assert due is not None
    plain = sla.deadline(opened, sla.Target(after, clock), [], calendar).due_at
    assert due >= plain  # stopping the clock never brings a deadline closer
    stopped = sum(
        (
            sla.elapsed(p.started_at, min(p.ended_at, due), clock, calendar)  # type: ignore[type-var]
            for p in sla.merged(pauses, opened)
            if p.started_at < due
        ),
        timedelta(0),
    )
    assert sla.elapsed(opened, due, clock, calendar) - stopped == after


def test_targets_come_from_the_severity_else_the_rule() -> None:
    policy = parse_policy(
        '[cases.sla.urgent]\nack = "15m"\nack_clock = "calendar"\n'
        '[rules."case.resolve"]\nafter = "2d"\n'
    )
    assert sla.target(policy, "urgent", "ack") == sla.Target(timedelta(minutes=15), "calendar")
    assert sla.target(policy, "urgent", "resolve") == sla.Target(4 * HOUR, "calendar")
    assert sla.target(policy, "normal", "ack") == sla.Target(2 * HOUR, "business")  # SPEC §4
    assert sla.target(policy, "low", "resolve") == sla.Target(48 * HOUR, "calendar")
    with pytest.raises(ValueError):
        sla.target(policy, "critical", "ack")


# --- status machine and obligations --------------------------------------------------------


def test_status_machine_allows_the_documented_moves_only() -> None:
    assert next_status(1, "open", "ack") == "acknowledged"
    assert next_status(1, "acknowledged", "wait") == "waiting"
    assert next_status(1, "waiting", "resume") == "acknowledged"
    assert next_status(1, "waiting", "resolve") == "resolved"
    assert next_status(1, "resolved", "close") == "closed"
    assert next_status(1, "closed", "reopen") == "acknowledged"
    with pytest.raises(IllegalTransition) as refused:
        next_status(4, "open", "close")
    assert str(refused.value) == (
        "case 4 is open: cannot close it (only from resolved); from open you can run: "
        "crm case ack 4"
    )


def _case(**changes) -> CaseFacts:
    base = {
        "id": 3,
        "title": "Pump leaks",
        "severity": "normal",
        "status": "open",
        "opened_at": ny(2026, 3, 6, 16, 30),
        "label": "Acme",
    }
    return CaseFacts(**(base | changes))


def test_case_obligations_fall_due_per_spec_and_are_met_by_ack_and_resolve(
    calendar: BusinessCalendar,
) -> None:
    policy = default_policy()
    [ack] = case_ack(_case(), policy, calendar)
    [resolve] = case_resolve(_case(), policy, calendar)
    assert (ack.rule, ack.due_at, ack.met_at) == ("case.ack", ny(2026, 3, 9, 10, 30), None)
    assert ack.title == "acknowledge case 3 (normal): Pump leaks — Acme"
    assert resolve.due_at == ny(2026, 3, 7, 16, 30)
    acked = _case(status="resolved", acknowledged_at=ny(2026, 3, 9, 9, 5), acknowledged_by="ed")
    assert case_ack(acked, policy, calendar)[0].met_by == "ed"
    done = acked.__class__(
        **{**acked.__dict__, "resolved_at": ny(2026, 3, 9, 12, 0), "resolved_by": "ed"}
    )
    assert case_resolve(done, policy, calendar)[0].met_at == ny(2026, 3, 9, 12, 0)


def test_waiting_pauses_the_resolve_obligation(calendar: BusinessCalendar) -> None:
    policy = default_policy()
    waiting = _case(
        status="waiting",
        acknowledged_at=ny(2026, 3, 6, 17, 0),
        pauses=(PauseFact("waiting", ny(2026, 3, 6, 18, 30)),),
    )
    [resolve] = case_resolve(waiting, policy, calendar)
    assert resolve.paused and resolve.met_at is None
    assert resolve.detail["remaining_seconds"] == 22 * 3600
    resumed = _case(
        status="acknowledged",
        acknowledged_at=ny(2026, 3, 6, 17, 0),
        pauses=(PauseFact("waiting", ny(2026, 3, 6, 18, 30), ny(2026, 3, 9, 8, 30)),),
    )
    [resolve] = case_resolve(resumed, policy, calendar)
    assert not resolve.paused and resolve.due_at == ny(2026, 3, 10, 6, 30)


def test_time_resolved_before_a_reopen_does_not_count(calendar: BusinessCalendar) -> None:
    reopened = _case(
        status="acknowledged",
        acknowledged_at=ny(2026, 3, 6, 17, 0),
        pauses=(PauseFact("resolved", ny(2026, 3, 6, 20, 30), ny(2026, 3, 7, 20, 30)),),
    )
    [resolve] = case_resolve(reopened, default_policy(), calendar)
    assert resolve.met_at is None and resolve.due_at == ny(2026, 3, 8, 16, 30) + HOUR  # DST


# --- attachments ----------------------------------------------------------------------------


def png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (png(), "image/png"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "application/pdf"),
        ("Pumpe läuft aus\r\n".encode(), "text/plain"),
        ("Caf\xe9 cr\xe8me\n".encode("cp1252"), "text/plain"),
        ("\ufeffBOM text".encode("utf-16"), "text/plain"),
        (b"  <svg xmlns='http://www.w3.org/2000/svg'></svg>", "image/svg+xml"),
        (b"<!DOCTYPE html><html><script>x</script>", "text/html"),
        (b"MZ\x90\x00\x03" + b"\x00" * 100, "application/x-msdownload"),
        (b"\x00\x01\x02\x03garbage", "application/octet-stream"),
    ],
)
def test_type_is_sniffed_from_content(content: bytes, media_type: str) -> None:
    assert attachments.sniff(content) == media_type


def test_allow_list_takes_patterns() -> None:
    allowed = default_policy().data["cases"]["allowed_types"]
    assert attachments.allowed("image/png", allowed)
    assert attachments.allowed(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", allowed
    )
    assert not attachments.allowed("text/html", allowed)
    assert not attachments.allowed("application/x-msdownload", allowed)
    assert attachments.allowed("image/x-icon", ["image/*"])
    assert attachments.size_limit(10) == 10 * 1024 * 1024


# --- policy ---------------------------------------------------------------------------------


def test_cases_policy_errors_name_the_line() -> None:
    text = (
        "[cases]\n"
        "max_attachment_mb = 0\n"
        'allowed_types = ["image/png", "pictures"]\n'
        "\n"
        "[cases.sla.urgent]\n"
        'ack = "soon"\n'
        'resolve_clock = "wall"\n'
        "\n"
        "[cases.sla.critical]\n"
        'ack = "5m"\n'
    )
    with pytest.raises(PolicyInvalid) as invalid:
        parse_policy(text, source="p.toml")
    found = sorted((i.line, i.render("p.toml")) for i in invalid.value.issues)
    assert [line for line, _ in found] == [2, 3, 6, 7, 9]
    assert "cases.sla.urgent.ack: 'soon' is not a duration" in found[2][1]
    assert "cases.sla.critical: unknown key" in found[4][1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[cases]\nsla = 5\n", "cases.sla: must be a table"),
        ('[cases]\nallowed_types = "image/png"\n', "cases.allowed_types: must be a list"),
        ('[cases]\nmax_attachment_mb = "ten"\n', "cases.max_attachment_mb: must be a number"),
        ('[cases.sla]\nurgent = "30m"\n', "cases.sla.urgent: must be a table"),
    ],
)
def test_cases_policy_of_the_wrong_shape_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(PolicyInvalid) as invalid:
        parse_policy(text, source="p.toml")
    [issue] = invalid.value.issues
    assert issue.line == 2 and issue.render("p.toml").startswith(f"p.toml:2: {message}")
