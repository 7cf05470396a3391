"""Calendar exports: the agenda as an iCalendar (RFC 5545) file for a calendar app.

The service returns the agenda's rows (services/activities.agenda) and the policy's
reminder offsets; this module writes them in the calendar's format.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any


def agenda_ics(
    rows: Iterable[dict[str, Any]],
    *,
    stamp: datetime,
    alarms: Sequence[tuple[str, timedelta]] = (),
) -> bytes:
    """The agenda as an RFC 5545 calendar: one VEVENT per timed item, times in UTC; each
    meeting carries a VALARM per reminder in `alarms` ((label, how long before) pairs)."""
    from icalendar import Alarm, Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", "-//crmcli//agenda//EN")
    calendar.add("version", "2.0")
    for row in rows:
        if row["start"] is None:
            continue  # an undated task has no place on a calendar
        event = Event()
        event.add("uid", f"activity-{row['id']}@crmcli")
        event.add("dtstamp", stamp.astimezone(UTC))
        event.add("dtstart", row["start"].astimezone(UTC))
        event.add("dtend", row["end"].astimezone(UTC))
        summary = row["subject"] + (f" — {row['lead']}" if row["lead"] else "")
        event.add("summary", summary)
        if row["lead_id"] is not None:
            event.add("description", f"{row['kind']} {row['id']} on lead {row['lead_id']}")
        for label, before in alarms if row["kind"] == "meeting" else ():
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("trigger", -before)  # relative to the start: the calendar app's own clock
            alarm.add("description", f"in {label}: {summary}")
            event.add_component(alarm)
        calendar.add_component(event)
    return calendar.to_ical()
