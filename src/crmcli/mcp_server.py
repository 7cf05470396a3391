"""`crm mcp`: the everyday commands as Model Context Protocol tools, over stdio.

Each tool is a thin peer of a command: it opens one transaction as the acting user (resolved
as the CLI resolves it), needs the role the equivalent command needs (roles.py), calls the
same service function, and returns the service's data as JSON. Writes are audited with the
command `mcp:<tool>`. A CrmError becomes a tool error carrying the CLI's message and its
exit-code class, so an assistant reads exactly what a person at the terminal would.

Imported only by `crm mcp`: the SDK (the optional extra crmcli[mcp]) stays out of `crm --help`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from crmcli import render
from crmcli.context import AppContext
from crmcli.errors import CrmError
from crmcli.services.workspace import Tx, Workspace

# SPEC §2, in the words an error names its class with
EXIT_MEANINGS = {
    1: "check found something",
    2: "bad input",
    3: "not found",
    4: "not permitted",
    5: "refused by policy",
    6: "storage problem",
}
# hints a client may show or act on: reads change nothing; writes add or change, never delete
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
ADDS_OR_CHANGES = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, open_world_hint=False
)

LeadId = Annotated[int, Field(description="The lead's id (as `crm lead list` shows it).")]
When = Annotated[
    str | None,
    Field(
        description="When it happened (default now): ISO 8601 or a human form such as "
        "'yesterday 15:00', '1h ago', read in the policy's timezone."
    ),
]
Duration = Annotated[str | None, Field(description="How long, e.g. 15m, 1h30m.")]
PointsAs = Annotated[
    str | None, Field(description="Count the activity's points as this kind (policy points).")
]
AllowOverlap = Annotated[
    bool, Field(description="Book it even when it double-books you (else refused, exit 5).")
]
Owner = Annotated[str | None, Field(description="A user name, 'me', or 'none' for unassigned.")]
AsOf = Annotated[str | None, Field(description="The figures as they stood then (date or time).")]
Pipeline = Annotated[str | None, Field(description="Only this pipeline (campaign).")]
Bant = Annotated[int, Field(description="0-25.", ge=0, le=25)]
Inbound = Annotated[bool, Field(description="They contacted us (default: we did).")]
Notes = Annotated[str | None, Field(description="What was said or done.")]


def error_text(exc: CrmError) -> str:
    """A CrmError as a tool error: its exit-code class, then the CLI's message and details."""
    meaning = EXIT_MEANINGS.get(exc.exit_code, "error")
    return "\n".join([f"exit {exc.exit_code} ({meaning}): {exc.message}", *exc.details])


class Crm:
    """The database as one acting user: a fresh Workspace (its clock, policy and schema
    check) and one transaction per tool call; the engine is the process's one per URL."""

    def __init__(self, app: AppContext) -> None:
        # the stored policy always: writing under another file is for an admin at a terminal
        self.app = replace(app, format="json", policy_file=None)

    def whoami(self) -> tuple[str, str]:
        """The acting user's name and role; refuses (NotPermitted) an unknown user now, at
        start, rather than on the assistant's first call."""
        with self._space("crm mcp").reading() as tx:
            return tx.actor.name, tx.actor.role

    def _space(self, command: str, *, mirrors: str | None = None) -> Workspace:
        return Workspace(replace(self.app, command=command), warn=render.note, role_of=mirrors)

    def run(self, tool: str, command: str, work: Callable[[Tx], Any], *, write: bool) -> Any:
        """`work` in one transaction as the acting user with the role `command` needs (the
        CLI command the tool mirrors); its result as JSON values in the policy's timezone."""
        space = self._space(f"mcp:{tool}", mirrors=command)

        def unit(tx: Tx) -> Any:
            return render.json_value(work(tx), tx.policy.timezone)

        try:
            # a write the database refused for a concurrent one runs again, as the CLI's do
            return space.write(unit) if write else space.read(unit)
        except CrmError as exc:
            raise ToolError(error_text(exc)) from None
        except Exception as exc:
            # a bug (SPEC §2: 70): said in one line; the traceback goes to the server's log
            logging.getLogger(__name__).exception("mcp:%s failed", tool)
            raise ToolError(
                f"exit 70 (a bug in crmcli): {type(exc).__name__}: {exc} (the traceback "
                "is in the server's log, its stderr)"
            ) from None


def build(app: AppContext) -> tuple[MCPServer, str, str]:
    """The server with every tool and resource; also the acting user's name and role."""
    crm = Crm(app)
    name, role = crm.whoami()
    from crmcli import __version__

    server = MCPServer(
        name="crm",
        version=__version__,
        instructions=(
            f"A CRM that enforces a written sales policy. You act as {name} ({role}); the "
            "policy's gates, roles and campaign scopes apply to every call, and every write "
            "is audited. A tool error starts with the CLI's exit-code class, e.g. "
            "'exit 5 (refused by policy): ...'; tell the user what it says."
        ),
    )
    _reading_tools(server, crm)
    _lead_tools(server, crm)
    _activity_tools(server, crm)
    _other_tools(server, crm)
    _resources(server, crm)
    return server, name, role


def serve(app: AppContext) -> None:
    """Run the server on stdin/stdout until the client closes it."""
    server, name, role = build(app)
    # the SDK logs each request at INFO on stderr; a client shows stderr as the server's log
    logging.getLogger("mcp").setLevel(logging.WARNING)
    render.note(f"crm mcp: serving as {name} ({role}) on stdio")
    server.run("stdio")


# --- reading ---------------------------------------------------------------------------------


def _reading_tools(server: MCPServer, crm: Crm) -> None:
    @server.tool(annotations=READ_ONLY)
    def my_day() -> dict[str, Any]:
        """My overdue items, what falls due today, today's agenda, unread inbox count
        (like `crm` with no command)."""
        from crmcli.services.reports import my_day as load

        return crm.run("my_day", "agenda", load, write=False)

    @server.tool(annotations=READ_ONLY)
    def report_overdue(
        owner: Owner = None,
        rule: Annotated[str | None, Field(description="Only this policy rule id.")] = None,
        due_within: Annotated[
            str | None, Field(description="Also list what falls due within, e.g. 2d.")
        ] = None,
        limit: Annotated[int, Field(description="At most this many items.", ge=1)] = 200,
    ) -> dict[str, Any]:
        """Every open obligation past its due time (`crm report overdue`), most overdue
        first per owner; `overdue` counts the items past due."""
        import itertools

        from crmcli.errors import BadInput
        from crmcli.rules.durations import parse_duration
        from crmcli.services.reports import overdue

        within = None
        if due_within is not None:
            try:
                within = parse_duration(due_within)
            except ValueError as exc:
                raise ToolError(error_text(BadInput(f"due_within: {exc}"))) from None

        def load(tx: Tx) -> dict[str, Any]:
            rows = overdue(tx, owner=owner, rule=rule, due_within=within)
            items = list(itertools.islice(rows, limit))
            late = sum(1 for item in items if item["overdue_by_seconds"] > 0)
            return {"items": items, "overdue": late, "truncated": next(rows, None) is not None}

        return crm.run("report_overdue", "report overdue", load, write=False)

    @server.tool(annotations=READ_ONLY)
    def lead_search(
        search: Annotated[
            str | None, Field(description="Text in name, company, email or phone.")
        ] = None,
        owner: Owner = None,
        stage: Annotated[str | None, Field(description="Pipeline stage key.")] = None,
        source: Annotated[str | None, Field(description="Lead source, e.g. web.")] = None,
        campaign: Annotated[str | None, Field(description="Campaign name.")] = None,
        limit: Annotated[int, Field(description="At most this many leads.", ge=1)] = 50,
    ) -> dict[str, Any]:
        """Find leads (`crm lead list`), oldest first; only those your campaigns allow."""
        from crmcli.services.leads import LeadFilter, list_leads

        where = LeadFilter(
            owner=owner, stage=stage, source=source, campaign=campaign, search=search, limit=limit
        )
        return crm.run(
            "lead_search", "lead list", lambda tx: {"leads": list_leads(tx, where)}, write=False
        )

    @server.tool(annotations=READ_ONLY)
    def lead_show(lead_id: LeadId) -> dict[str, Any]:
        """A lead's fields, its recent activities with call reports, and its audit history
        (`crm lead show`)."""
        return crm.run("lead_show", "lead show", lambda tx: _lead(tx, lead_id), write=False)

    @server.tool(annotations=READ_ONLY)
    def explain(lead_id: LeadId) -> dict[str, Any]:
        """Why a lead stands where it does (`crm explain`): score terms, band, open and met
        obligations with the rule behind each, and the gate before its next stage."""
        from crmcli.services.pipeline import explain as explain_lead

        return crm.run("explain", "explain", lambda tx: explain_lead(tx, lead_id), write=False)

    def figures(tool: str, command: str, report: str, **options: Any) -> dict[str, Any]:
        from crmcli.services.analytics import Options
        from crmcli.services.analytics import build as build_report

        def load(tx: Tx) -> dict[str, Any]:
            return build_report(tx, report, Options(**options)).document()

        return crm.run(tool, command, load, write=False)

    @server.tool(annotations=READ_ONLY)
    def report_pipeline(
        owner: Owner = None,
        pipeline: Pipeline = None,
        start: Annotated[str | None, Field(description="Deals created from (date).")] = None,
        end: Annotated[str | None, Field(description="Deals created before (date).")] = None,
        as_of: AsOf = None,
    ) -> dict[str, Any]:
        """Count, value and weighted value per stage (`crm report pipeline`)."""
        return figures(
            "report_pipeline",
            "report pipeline",
            "pipeline",
            owner=owner,
            pipeline=pipeline,
            start=start,
            end=end,
            as_of=as_of,
        )

    @server.tool(annotations=READ_ONLY)
    def dashboard(
        owner: Owner = None, pipeline: Pipeline = None, as_of: AsOf = None
    ) -> dict[str, Any]:
        """A manager's figures (`crm dashboard`): funnel, won value against the target,
        overdue obligations per rep, first-response SLA attainment."""
        return figures(
            "dashboard", "dashboard", "dashboard", owner=owner, pipeline=pipeline, as_of=as_of
        )

    @server.tool(annotations=READ_ONLY)
    def quote_show(
        quote: Annotated[str, Field(description="Quote reference (Q-0007) or id.")],
    ) -> dict[str, Any]:
        """A quote's lines, subtotal, discount, total, status and approvals."""
        from crmcli.services import quotes

        return crm.run("quote_show", "quote show", lambda tx: quotes.show(tx, quote), write=False)


def _lead(tx: Tx, lead_id: int) -> dict[str, Any]:
    from crmcli.services.leads import lead_history, lead_record, recent_activities
    from crmcli.services.lookups import load_lead

    lead = lead_record(tx, load_lead(tx, lead_id))
    return {
        **lead,
        "activities": recent_activities(tx, lead_id),
        "history": lead_history(tx, lead_id),
    }


# --- leads -----------------------------------------------------------------------------------

Text = Annotated[str | None, Field(description="Leave out to keep (edit) or leave empty (add).")]


def _given(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields a call gave, keyed as the lead services name them (as the CLI's options)."""
    return {name: value for name, value in fields.items() if value is not None}


def _lead_tools(server: MCPServer, crm: Crm) -> None:
    @server.tool(annotations=ADDS_OR_CHANGES)
    def lead_add(
        first_name: Text = None,
        last_name: Text = None,
        company: Text = None,
        email: Annotated[str | None, Field(description="Validated, stored normalised.")] = None,
        phone: Annotated[str | None, Field(description="Stored as E.164.")] = None,
        source: Annotated[str | None, Field(description="web, referral, trade_show, …")] = None,
        title: Text = None,
        industry: Text = None,
        employees: Annotated[int | None, Field(description="Company size.")] = None,
        country: Annotated[str | None, Field(description="ISO country code, e.g. US.")] = None,
        region: Annotated[str | None, Field(description="Region or state, e.g. NY.")] = None,
        campaign: Annotated[str | None, Field(description="Campaign name.")] = None,
        owner: Annotated[str | None, Field(description="Owning user, or 'me'.")] = None,
        acquired: When = None,
        force: Annotated[
            bool, Field(description="Save a likely duplicate (else refused, exit 5; audited).")
        ] = False,
    ) -> dict[str, Any]:
        """Add a lead (`crm lead add`), validated; a likely duplicate is refused unless force."""
        from crmcli.services import leads

        raw = _given(
            {
                "first_name": first_name,
                "last_name": last_name,
                "company": company,
                "email": email,
                "phone": phone,
                "source": source,
                "title": title,
                "industry": industry,
                "employees": employees,
                "country": country,
                "region": region,
                "campaign": campaign,
                "owner": owner,
                "acquired": acquired,
            }
        )

        def add(tx: Tx) -> dict[str, Any]:
            result = leads.add_lead(tx, raw, force=force)
            return {
                "lead": result.lead,
                "forced_over": [match.record_id for match in result.forced_over],
                "late_entry": result.late_entry is not None,
            }

        return crm.run("lead_add", "lead add", add, write=True)

    @server.tool(annotations=ADDS_OR_CHANGES)
    def lead_edit(
        lead_id: LeadId,
        first_name: Text = None,
        last_name: Text = None,
        company: Text = None,
        email: Text = None,
        phone: Text = None,
        source: Text = None,
        title: Text = None,
        industry: Text = None,
        employees: Annotated[int | None, Field(description="Company size.")] = None,
        country: Text = None,
        region: Text = None,
        campaign: Text = None,
        owner: Annotated[str | None, Field(description="Owning user, or 'me'.")] = None,
        type: Annotated[str | None, Field(description="Opportunity type.")] = None,
        amount: Annotated[str | None, Field(description="Opportunity value, e.g. 18500.")] = None,
        close_date: Annotated[str | None, Field(description="YYYY-MM-DD, not past.")] = None,
        probability: Annotated[str | None, Field(description="Win probability 0-100.")] = None,
        force: Annotated[bool, Field(description="Save even if it now looks a duplicate.")] = False,
    ) -> dict[str, Any]:
        """Change a lead's fields (`crm lead edit`), validated like add; audited old → new."""
        from crmcli.services import leads

        raw = _given(
            {
                "first_name": first_name,
                "last_name": last_name,
                "company": company,
                "email": email,
                "phone": phone,
                "source": source,
                "title": title,
                "industry": industry,
                "employees": employees,
                "country": country,
                "region": region,
                "campaign": campaign,
                "owner": owner,
                "type": type,
                "amount": amount,
                "close_date": close_date,
                "probability": probability,
            }
        )
        return crm.run(
            "lead_edit",
            "lead edit",
            lambda tx: leads.edit_lead(tx, lead_id, raw, force=force),
            write=True,
        )

    @server.tool(annotations=ADDS_OR_CHANGES)
    def score(
        lead_id: LeadId, budget: Bant, authority: Bant, need: Bant, timeline: Bant
    ) -> dict[str, Any]:
        """Score a lead with BANT, 0-25 each (`crm score`); its band decides the next step."""
        from crmcli.services import scoring

        values = {"budget": budget, "authority": authority, "need": need, "timeline": timeline}
        return crm.run(
            "score", "score", lambda tx: scoring.score_lead(tx, lead_id, values), write=True
        )

    @server.tool(annotations=ADDS_OR_CHANGES)
    def assign(
        lead_id: LeadId,
        to: Annotated[
            str | None, Field(description="Give it to this user ('me'); default: route it.")
        ] = None,
    ) -> dict[str, Any]:
        """Assign a lead by the policy's routing (territory, skills, availability) or to a
        user (`crm assign`); starts the follow-up clock."""
        from crmcli.services import assignment

        return crm.run(
            "assign",
            "assign",
            lambda tx: assignment.assign_lead(tx, lead_id, to=to, explain=True),
            write=True,
        )

    @server.tool(annotations=ADDS_OR_CHANGES)
    def advance(
        lead_id: LeadId,
        stage: Annotated[str, Field(description="Target stage key, or nurture.")],
        po: Annotated[str | None, Field(description="Purchase order number.")] = None,
        lost_reason: Annotated[str | None, Field(description="Why it was lost.")] = None,
        quote: Annotated[str | None, Field(description="Quote reference.")] = None,
        close_date: Annotated[str | None, Field(description="YYYY-MM-DD.")] = None,
        amount: Annotated[str | None, Field(description="Deal value.")] = None,
        prospect_said_no: Annotated[
            bool, Field(description="The prospect said no themselves.")
        ] = False,
        type: Annotated[str | None, Field(description="Opportunity type.")] = None,
    ) -> dict[str, Any]:
        """Move a lead to a stage through the policy's gates (`crm advance`); a gate not met
        is refused (exit 5) naming what is missing."""
        from crmcli.clock import parse_date
        from crmcli.rules.deals import parse_amount
        from crmcli.services.pipeline import Move
        from crmcli.services.pipeline import advance as advance_lead

        def move(tx: Tx) -> dict[str, Any]:
            given = Move(
                po_number=(po or "").strip() or None,
                lost_reason=(lost_reason or "").strip() or None,
                quote_ref=(quote or "").strip() or None,
                close_date=None
                if close_date is None
                else parse_date(close_date, field="--close-date"),
                amount=None if amount is None else parse_amount(amount),
                prospect_said_no=prospect_said_no,
                type=type,
            )
            return advance_lead(tx, lead_id, stage, given)

        return crm.run("advance", "advance", move, write=True)


# --- activities ------------------------------------------------------------------------------


def _activity_tools(server: MCPServer, crm: Crm) -> None:
    from crmcli.services import activities

    @server.tool(annotations=ADDS_OR_CHANGES)
    def log_call(
        lead_id: LeadId,
        outcome: Annotated[str, Field(description="connected, voicemail or no-answer.")],
        notes: Notes = None,
        at: When = None,
        duration: Duration = None,
        inbound: Inbound = False,
        points_as: PointsAs = None,
    ) -> dict[str, Any]:
        """Log a phone call with a lead (`crm log-call`)."""
        return crm.run(
            "log_call",
            "log-call",
            lambda tx: activities.log_call(
                tx,
                lead_id,
                outcome=outcome,
                notes=notes,
                at=at,
                duration=duration,
                inbound=inbound,
                points_as=points_as,
            ),
            write=True,
        )

    @server.tool(annotations=ADDS_OR_CHANGES)
    def log_meeting(
        lead_id: LeadId,
        attendees: Annotated[list[str], Field(description="Who took part (at least one).")],
        topics: Annotated[list[str] | None, Field(description="Topics covered.")] = None,
        issues: Annotated[list[str] | None, Field(description="Issues or requests.")] = None,
        action_items: Annotated[
            list[str] | None,
            Field(description="Follow-ups as 'text@due', e.g. 'send pricing@fri 10:00'."),
        ] = None,
        subject: Annotated[str | None, Field(description="What the meeting was.")] = None,
        notes: Notes = None,
        at: Annotated[
            str | None, Field(description="When it started (default now); later schedules it.")
        ] = None,
        duration: Duration = None,
        allow_overlap: AllowOverlap = False,
        points_as: PointsAs = None,
    ) -> dict[str, Any]:
        """Log a meeting with its call report (`crm log-meeting`); each action item becomes
        an open task. A double booking is refused (exit 5) unless allow_overlap."""
        return crm.run(
            "log_meeting",
            "log-meeting",
            lambda tx: activities.log_meeting(
                tx,
                lead_id,
                attendees=attendees,
                topics=topics or [],
                issues=issues or [],
                action_items=action_items or [],
                subject=subject,
                notes=notes,
                at=at,
                duration=duration,
                allow_overlap=allow_overlap,
                points_as=points_as,
            ),
            write=True,
        )

    @server.tool(annotations=ADDS_OR_CHANGES)
    def log_email(
        lead_id: LeadId,
        subject: Annotated[str | None, Field(description="The email's subject.")] = None,
        notes: Notes = None,
        inbound: Inbound = False,
        at: When = None,
        points_as: PointsAs = None,
    ) -> dict[str, Any]:
        """Log an email to (or, inbound, from) a lead (`crm log-email`)."""
        return crm.run(
            "log_email",
            "log-email",
            lambda tx: activities.log_email(
                tx,
                lead_id,
                subject=subject,
                notes=notes,
                inbound=inbound,
                at=at,
                points_as=points_as,
            ),
            write=True,
        )

    @server.tool(annotations=ADDS_OR_CHANGES)
    def note(
        lead_id: LeadId, text: Annotated[str, Field(description="The note.")], at: When = None
    ) -> dict[str, Any]:
        """Add a note to a lead, not a contact with them (`crm note`)."""
        return crm.run(
            "note", "note", lambda tx: activities.note(tx, lead_id, text, at=at), write=True
        )

    @server.tool(annotations=ADDS_OR_CHANGES)
    def next_step(
        lead_id: LeadId,
        text: Annotated[str, Field(description="What the next step is.")],
        due: Annotated[
            str | None,
            Field(description="When it starts: ISO 8601 or e.g. 'fri 14:00', 'tomorrow 10:00'."),
        ] = None,
        duration: Duration = None,
        allow_overlap: AllowOverlap = False,
        points_as: PointsAs = None,
    ) -> dict[str, Any]:
        """Schedule a lead's next step (`crm next-step`): an open task with time on your
        calendar; a past due is refused (exit 2), a double booking too (exit 5)."""
        return crm.run(
            "next_step",
            "next-step",
            lambda tx: activities.next_step(
                tx,
                lead_id,
                text,
                due=due,
                duration=duration,
                allow_overlap=allow_overlap,
                points_as=points_as,
            ),
            write=True,
        )

    @server.tool(annotations=ADDS_OR_CHANGES)
    def done(
        task_id: Annotated[int, Field(description="Task (or scheduled meeting) id.")],
    ) -> dict[str, Any]:
        """Mark a task or scheduled meeting done and earn its points (`crm done`); again is
        a no-op that says so."""

        def finish(tx: Tx) -> dict[str, Any]:
            result = activities.done(tx, task_id)
            return {
                "activity": result.activity,
                "changed": result.changed,
                "message": result.message,
            }

        return crm.run("done", "done", finish, write=True)


# --- cases -----------------------------------------------------------------------------------


def _other_tools(server: MCPServer, crm: Crm) -> None:
    from crmcli.services import cases

    @server.tool(annotations=ADDS_OR_CHANGES)
    def case_open(
        target: Annotated[
            str, Field(description="account:12, contact:7, or a bare number for an account.")
        ],
        title: Annotated[str, Field(description="What the customer reports.")],
        severity: Annotated[str, Field(description="low, normal, high or urgent.")],
        product: Annotated[str | None, Field(description="The product concerned.")] = None,
        warranty: Annotated[bool | None, Field(description="A warranty issue or not.")] = None,
        owner: Annotated[str | None, Field(description="Who handles it (default: you).")] = None,
        at: When = None,
    ) -> dict[str, Any]:
        """Open a case for an account or contact (`crm case open`); its SLAs start."""
        return crm.run(
            "case_open",
            "case open",
            lambda tx: cases.open_case(
                tx,
                target=target,
                title=title,
                severity=severity,
                product=product,
                warranty=warranty,
                owner=owner,
                at=at,
            ),
            write=True,
        )

    @server.tool(annotations=ADDS_OR_CHANGES)
    def case_comment(
        case_id: Annotated[int, Field(description="The case's id.")],
        text: Annotated[str, Field(description="The comment.")],
        internal: Annotated[
            bool, Field(description="An internal note, not for the customer.")
        ] = False,
    ) -> dict[str, Any]:
        """Add a comment to a case (`crm case comment`)."""
        return crm.run(
            "case_comment",
            "case comment",
            lambda tx: cases.add_comment(tx, case_id, text, internal=internal),
            write=True,
        )


# --- resources -------------------------------------------------------------------------------


def _resources(server: MCPServer, crm: Crm) -> None:
    import json

    def read(tool: str, command: str, work: Callable[[Tx], Any]) -> str:
        """A resource's text: the record as JSON (text as it is); errors as the tools say them."""
        try:
            found = crm.run(tool, command, work, write=False)
        except ToolError as exc:
            raise ResourceError(str(exc)) from None
        return found if isinstance(found, str) else json.dumps(found, ensure_ascii=False)

    @server.resource("lead://{lead_id}", mime_type="application/json")
    def lead(lead_id: str) -> str:
        """A lead with its recent activities and audit history (as `crm lead show`)."""
        return read("lead", "lead show", lambda tx: _lead(tx, _number(lead_id, "lead")))

    @server.resource("account://{account_id}", mime_type="application/json")
    def account(account_id: str) -> str:
        """An account's 360° view: fields, contacts, opportunities, activities, obligations."""
        from crmcli.services.accounts import account_view

        def load(tx: Tx) -> dict[str, Any]:
            record, sections = account_view(tx, _number(account_id, "account"))
            return {**record, **{section.name: rows for section, rows in sections}}

        return read("account", "account show", load)

    @server.resource("policy://", mime_type="application/toml")
    def policy() -> str:
        """The sales policy in force (the stored one), as TOML."""
        return read("policy", "policy show", lambda tx: tx.policy.text)


def _number(text: str, record: str) -> int:
    from crmcli.errors import BadInput

    if not text.isdigit():
        raise BadInput(f"{record} id: {text!r} is not a number; e.g. {record}://12")
    return int(text)
