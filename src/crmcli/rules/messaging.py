"""Templates and sequences of automated messages, as pure functions (issue 9).

Templates are Jinja2 in a sandbox with strict undefined: a template that names a field the
record does not have fails, at `policy check` against a sample record holding every field.
A sequence is a trigger (when a lead enters it: the anchor) and steps (days after the anchor,
or a repeating `every`); `plan` says which steps are due and whether the run was stopped.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from crmcli.limits import MAX_DURATION
from crmcli.rules import sandbox
from crmcli.rules.durations import parse_duration
from crmcli.rules.sandbox import TemplateLimit, TemplateProblem

if TYPE_CHECKING:
    from crmcli.rules.calendar import BusinessCalendar

CHANNELS = ("email",)
# acquired: on acquisition; nurture: entering a nurture-action band; no_reply: the first
# (human) outbound touch; inactive: a lead the cadence left inactive, since its last activity
TRIGGERS = ("acquired", "nurture", "no_reply", "inactive")
# every field a template may name, with a sample value for checking templates
FIELDS: dict[str, dict[str, str]] = {
    "lead": {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "full_name": "Ada Lovelace",
        "company": "Analytical Engines",
        "title": "CTO",
        "email": "ada@example.com",
        "industry": "saas",
        "country": "GB",
        "source": "web",
        "stage": "prospecting",
        "band": "nurture",
        "score": "25",
    },
    "owner": {"name": "Maria Lopez", "signature": "Maria Lopez\nSales, Example Co"},
    "sender": {"address": "sales@example.com"},
    # only in the templates [reminders] names (a meeting's confirmation, reminder, cancellation)
    "meeting": {
        "subject": "Product demo",
        "start": "Tuesday 10 March 2026, 10:00 EDT",
        "date": "Tuesday 10 March 2026",
        "time": "10:00 EDT",
        "end": "11:00 EDT",
        "duration": "1 hour",
    },
}
BACKOFF_CAP = timedelta(days=1)


class Fields(dict):
    """A group of fields (lead, owner, sender); names itself in errors."""

    def __init__(self, label: str, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.label = label


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import StrictUndefined

    class NamedUndefined(StrictUndefined):
        @property
        def _undefined_message(self) -> str:
            owner = self._undefined_obj
            if isinstance(owner, Fields):
                known = ", ".join(f"{owner.label}.{key}" for key in owner)
                return f"unknown field '{owner.label}.{self._undefined_name}'; known: {known}"
            groups = ", ".join(FIELDS)
            return f"unknown field {self._undefined_name!r}; fields are in {groups}"

    return sandbox.environment(NamedUndefined)


def lead_values(record: Mapping[str, Any]) -> dict[str, Any]:
    """The lead.* fields of a record (a row, or a lead's attributes), full_name made."""
    first, last = record.get("first_name") or "", record.get("last_name") or ""
    values = {name: record.get(name) for name in FIELDS["lead"]}
    return {**values, "full_name": f"{first} {last}".strip()}


def context(values: dict[str, dict[str, Any]]) -> dict[str, Fields]:
    return {group: Fields(group, values.get(group, {})) for group in FIELDS}


@lru_cache(maxsize=256)
def _compiled(text: str) -> Any:
    # compiling costs far more than rendering
    return sandbox.compile_template(_environment(), text)


def render(text: str, values: dict[str, dict[str, Any]]) -> str:
    """The template rendered with `values`, under the sandbox's limits; TemplateProblem
    (a TemplateLimit past a limit) says what is wrong, whatever it was."""
    from jinja2 import TemplateError

    with sandbox.budget():
        try:
            return sandbox.render_limited(_compiled(text), context(values))
        except TemplateProblem:
            raise
        except TemplateError as exc:
            where = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
            raise TemplateProblem(f"{exc.message or exc}{where}") from None
        except RecursionError:
            raise TemplateLimit("calls itself too deeply (a macro that never stops?)") from None
        except MemoryError:
            raise TemplateLimit("needs more memory than a message may take") from None
        except Exception as exc:  # the template's own doing (a filter on the wrong type …)
            raise TemplateProblem(f"{type(exc).__name__}: {exc}") from None


def check_templates(
    templates: dict[str, Any], meeting_templates: Collection[str] = ()
) -> list[tuple[tuple[str, ...], str]]:
    """(path, message) for each template that fails on a record holding every field (the
    meeting.* fields only for `meeting_templates`, those [reminders] sends)."""
    without_meeting = {group: values for group, values in FIELDS.items() if group != "meeting"}
    problems = []
    for name, template in templates.items():
        if not isinstance(template, dict):
            continue  # the shape check reports it
        if template.get("file") and not template.get("body"):
            continue  # checked once the file is read (services inline it)
        if not template.get("body"):
            problems.append((("templates", name, "body"), "a template needs a body (or file)"))
        channel = template.get("channel") or "email"
        if channel not in CHANNELS:
            problems.append(
                (("templates", name, "channel"), f"{channel!r}; use {', '.join(CHANNELS)}")
            )
        if channel == "email" and not template.get("subject"):
            problems.append((("templates", name, "subject"), "an email template needs a subject"))
        for part in ("subject", "body"):
            if not isinstance(template.get(part), str):
                continue
            try:
                render(template[part], FIELDS if name in meeting_templates else without_meeting)
            except TemplateProblem as exc:
                hint = (
                    "; meeting.* fields are for the templates [reminders] names"
                    if "'meeting." in str(exc)
                    else ""
                )
                problems.append((("templates", name, part), f"template {name!r}: {exc}{hint}"))
    return problems


def check_sequences(
    sequences: dict[str, Any], templates: dict[str, Any]
) -> list[tuple[tuple[Any, ...], str]]:
    problems: list[tuple[tuple[Any, ...], str]] = []

    def template_known(path: tuple[Any, ...], name: Any) -> None:
        if name not in templates:
            known = ", ".join(templates) or "none defined"
            problems.append((path, f"template {name!r} is not in [templates] ({known})"))

    for name, sequence in sequences.items():
        if not isinstance(sequence, dict):
            continue
        path = ("sequences", name)
        if sequence.get("trigger") not in TRIGGERS:
            problems.append(((*path, "trigger"), f"use one of {', '.join(TRIGGERS)}"))
        for key in ("every", "expire"):
            if sequence.get(key):
                try:
                    length = parse_duration(sequence[key])
                except ValueError as exc:
                    problems.append(((*path, key), str(exc)))
                    continue
                if key == "every" and not length:
                    problems.append(((*path, key), "must be longer than 0m, e.g. 30d"))
        steps = sequence.get("steps", [])
        if bool(steps) == bool(sequence.get("every")):
            problems.append((path, "give either steps = [{day, template}, …] or every + template"))
        if sequence.get("every"):
            template_known((*path, "template"), sequence.get("template"))
        days = []
        for i, step in enumerate(steps):
            if not isinstance(step, dict) or set(step) != {"day", "template"}:
                problems.append(((*path, "steps", i), "each step is {day = N, template = NAME}"))
                continue
            if not isinstance(step["day"], int) or step["day"] < 0:
                problems.append(((*path, "steps", i, "day"), "must be a whole day >= 0"))
            elif step["day"] > MAX_DURATION.days:
                problems.append(
                    ((*path, "steps", i, "day"), f"must be at most {MAX_DURATION.days} days")
                )
            days.append(step["day"])
            template_known((*path, "steps", i, "template"), step["template"])
        if days != sorted(set(days)):
            problems.append(((*path, "steps"), "days must increase, e.g. 0, 7, 21, 45"))
    return problems


# --- sequences ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    key: str  # unique within the sequence for this lead, ever
    template: str
    due_at: datetime


@dataclass(frozen=True)
class Plan:
    anchor: datetime | None  # None: the lead is not in the sequence
    stopped: str | None = None  # why the run stopped (reply, call, stage change)
    steps: tuple[Step, ...] = ()  # due now (due_at <= now), not yet expired


@dataclass(frozen=True)
class LeadHistory:
    """What a sequence needs to know of a lead (human activity only: automated excluded)."""

    acquired_at: datetime
    created_at: datetime
    status: str
    open: bool  # an open lead (not won or lost) that may be messaged at all
    nurture_since: datetime | None  # start of the current stay in a nurture band
    first_touch: datetime | None  # first human outbound touch
    last_activity: datetime | None  # last human activity of any direction
    inbound: tuple[datetime, ...] = ()
    calls: tuple[datetime, ...] = ()
    stage_changes: tuple[datetime, ...] = ()


def anchor(trigger: str, lead: LeadHistory) -> datetime | None:
    if not lead.open:
        return None
    if trigger == "acquired":
        return lead.acquired_at
    if trigger == "nurture":
        return lead.nurture_since
    if trigger == "no_reply":
        return lead.first_touch if lead.status not in ("inactive",) else None
    if trigger == "inactive":
        return (lead.last_activity or lead.created_at) if lead.status == "inactive" else None
    return None


def stop_reason(lead: LeadHistory, since: datetime) -> str | None:
    """A reply, a call or a stage change after the run started stops it."""
    for reason, times in (
        ("a reply", lead.inbound),
        ("a call", lead.calls),
        ("a stage change", lead.stage_changes),
    ):
        if any(at > since for at in times):
            return reason
    return None


def run_key(start: datetime) -> str:
    """The prefix of every step key of the run that started at `start`."""
    return f"{start:%Y%m%dT%H%M%S}"


def plan(sequence: dict[str, Any], lead: LeadHistory, now: datetime, expire: timedelta) -> Plan:
    start = anchor(sequence["trigger"], lead)
    if start is None:
        return Plan(None)
    stopped = stop_reason(lead, start)
    if stopped:
        return Plan(start, stopped)
    run = run_key(start)
    if sequence.get("every"):
        every = parse_duration(sequence["every"])
        periods = int((now - start) / every) if now >= start else 0
        if periods < 1:
            return Plan(start)
        due = start + periods * every  # only the latest period: never a backlog
        steps = [Step(f"{run}/every{periods}", sequence["template"], due)]
    else:
        steps = [
            Step(f"{run}/day{step['day']}", step["template"], start + timedelta(days=step["day"]))
            for step in sequence["steps"]
        ]
    live = tuple(s for s in steps if s.due_at <= now and now - s.due_at <= expire)
    return Plan(start, None, live)


def finishing(
    sequence: dict[str, Any],
    lead: LeadHistory,
    now: datetime,
    expire: timedelta,
    settled: Collection[str],
) -> bool:
    """Whether the lead's no-reply run of `sequence` has its last step still to send, so the
    lead is not yet marked inactive (which would stop the run): true until that step's message
    is settled (sent, cancelled, or failed for good; `settled` holds those step keys) or lies
    `expire` past its time (nobody is sending mail)."""
    if sequence.get("trigger") != "no_reply" or not sequence.get("steps"):
        return False
    start = anchor("no_reply", lead)
    if start is None or stop_reason(lead, start):
        return False
    last = sequence["steps"][-1]["day"]
    key = f"{run_key(start)}/day{last}"
    return key not in settled and now <= start + timedelta(days=last) + expire


@dataclass(frozen=True)
class Composed:
    """One message, rendered and scheduled: an outbox row but for its lead and status."""

    sequence: str
    step: str
    template: str
    channel: str
    subject: str
    body: str
    scheduled_at: datetime  # UTC


def compose(
    templates: dict[str, Any],
    sequence: str,
    step: Step,
    values: dict[str, dict[str, Any]],
    now: datetime,
    calendar: BusinessCalendar,
) -> Composed:
    """Render a step's template for a record's `values` and schedule it inside business
    hours, never in the past: a step due while closed waits for the opening."""
    template = templates[step.template]
    return Composed(
        sequence=sequence,
        step=step.key,
        template=step.template,
        channel=template.get("channel") or "email",
        subject=render(template.get("subject", ""), values).strip(),
        body=render(template["body"], values),
        scheduled_at=send_at(step, now, calendar),
    )


def send_at(step: Step, now: datetime, calendar: BusinessCalendar) -> datetime:
    """When a step's message goes out: inside business hours, never in the past."""
    return calendar.next_open(max(step.due_at, now)).astimezone(UTC)


@dataclass(frozen=True)
class Arrival:
    """What queues a new lead's messages when it arrives (its welcome), without the
    database: the sequences that start on acquisition, the templates, and the owner.* and
    sender.* fields (an imported lead has no owner yet). An import composes each new lead's
    messages with this as it checks the row, in its worker process."""

    sequences: dict[str, Any]  # trigger "acquired" only: no other starts with a new lead
    templates: dict[str, Any]
    expire: timedelta
    values: dict[str, dict[str, Any]]
    # the steps due for a lead acquired at an instant (an import's rows share a few instants)
    _due: dict[tuple[datetime, datetime], list[tuple[str, Step]]] = field(
        default_factory=dict, compare=False
    )

    def messages(
        self, lead: Mapping[str, Any], now: datetime, calendar: BusinessCalendar
    ) -> list[Composed]:
        """The messages due for a lead created `now` (none without an address); a template
        that fails to render is left out, as `crm tick` skips it."""
        if not lead.get("email"):
            return []
        due = self._steps(lead["acquired_at"], now)
        if not due:
            return []
        values = {**self.values, "lead": lead_values(lead)}
        found = []
        for name, step in due:
            try:
                found.append(compose(self.templates, name, step, values, now, calendar))
            except TemplateProblem:
                continue
        return found

    def _steps(self, acquired_at: datetime, now: datetime) -> list[tuple[str, Step]]:
        due = self._due.get((acquired_at, now))
        if due is None:
            history = LeadHistory(
                acquired_at=acquired_at,
                created_at=now,
                status="new",
                open=True,
                nurture_since=None,
                first_touch=None,
                last_activity=None,
            )
            due = [
                (name, step)
                for name, sequence in self.sequences.items()
                for step in plan(sequence, history, now, self.expire).steps
            ]
            if len(self._due) < 10_000:
                self._due[(acquired_at, now)] = due
        return due


def backoff(attempts: int, base: timedelta) -> timedelta:
    """Wait before attempt `attempts + 1`: base, 2×base, 4×base …, at most a day."""
    return min(base * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)
