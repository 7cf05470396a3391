"""`crm mcp` (issue 22): the everyday commands as MCP tools, driven here by the SDK's own client
over stdio against `python -m crmcli mcp`, with the CLI's roles, scopes, refusals and audit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from conftest import NOW, Crm

pytest.importorskip("mcp.server.mcpserver", reason="crm mcp needs the extra crmcli[mcp]")

from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

SRC = str(Path(__file__).resolve().parents[1] / "src")
READ_TOOLS = {
    "my_day",
    "report_overdue",
    "lead_search",
    "lead_show",
    "explain",
    "report_pipeline",
    "dashboard",
    "quote_show",
}
# each write tool, and arguments valid enough that only the role check stops a viewer
WRITES: dict[str, dict[str, Any]] = {
    "lead_add": {
        "first_name": "Bo",
        "last_name": "Vik",
        "email": "bo@example.com",
        "source": "web",
    },
    "lead_edit": {"lead_id": 1, "company": "Renamed"},
    "score": {"lead_id": 1, "budget": 20, "authority": 15, "need": 20, "timeline": 10},
    "assign": {"lead_id": 1, "to": "ed"},
    "advance": {"lead_id": 1, "stage": "qualification"},
    "log_call": {"lead_id": 1, "outcome": "connected"},
    "log_meeting": {"lead_id": 1, "attendees": ["Ada"]},
    "log_email": {"lead_id": 1, "subject": "Pricing"},
    "note": {"lead_id": 1, "text": "prefers email"},
    "next_step": {"lead_id": 1, "text": "demo", "due": "2026-03-09 10:00"},
    "done": {"task_id": 1},
    "case_open": {"target": "account:1", "title": "Leak", "severity": "normal"},
    "case_comment": {"case_id": 1, "text": "photos coming"},
}
BANT = ("--budget", "20", "--authority", "20", "--need", "20", "--timeline", "20")
DESTRUCTIVE = ("forget", "undo", "import", "policy", "user", "restore", "merge", "delete")

Session = Callable[[Client], Awaitable[Any]]


def serve(crm: Crm, user: str, work: Session) -> Any:
    """Run `work` against `python -m crmcli mcp` acting as `user` (stderr: the server's log)."""
    env = {
        "CRM_DB": crm.url(user),
        "CRM_USER": user,
        "CRM_NOW": NOW,
        "NO_COLOR": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])),
    }
    env |= {k: v for k, v in crm.env.items() if k == "XDG_DATA_HOME" and v}
    params = StdioServerParameters(command=sys.executable, args=["-m", "crmcli", "mcp"], env=env)

    outcome: dict[str, Any] = {}

    async def session() -> None:
        with anyio.fail_after(120):
            async with Client(params, cache=None) as client:
                try:
                    outcome["result"] = await work(client)
                except Exception as exc:  # raised below, not wrapped in a task group's
                    outcome["failed"] = exc

    anyio.run(session)
    if "failed" in outcome:
        raise outcome["failed"]
    return outcome["result"]


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool call that must succeed: its structured result."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool}: {result.content[0].text}"
    return result.structured_content


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    """A tool call that must fail: its error text."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} succeeded: {result.structured_content}"
    return result.content[0].text


def test_lists_typed_documented_tools_and_read_only_resources(team: Crm) -> None:
    async def work(client: Client) -> tuple[Any, Any, Any]:
        tools = (await client.list_tools()).tools
        templates = (await client.list_resource_templates()).resource_templates
        resources = (await client.list_resources()).resources
        return tools, templates, resources

    tools, templates, resources = serve(team, "ed", work)
    by_name = {tool.name: tool for tool in tools}
    assert set(by_name) == READ_TOOLS | set(WRITES)
    assert not [name for name in by_name if any(word in name for word in DESTRUCTIVE)]
    for tool in tools:
        assert tool.description, tool.name
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), (tool.name, name)
    for name in READ_TOOLS:
        assert by_name[name].annotations.read_only_hint is True, name
    for name in WRITES:
        hints = by_name[name].annotations
        assert (hints.read_only_hint, hints.destructive_hint) == (False, False), name
    assert by_name["log_call"].input_schema["required"] == ["lead_id", "outcome"]
    assert by_name["score"].input_schema["properties"]["budget"]["maximum"] == 25
    assert {t.uri_template for t in templates} == {"lead://{lead_id}", "account://{account_id}"}
    assert [str(r.uri) for r in resources] == ["policy://"]


def test_every_tool_works_as_its_command_and_each_write_is_audited(team: Crm) -> None:
    lead = team.add_lead(company="Acme Pumps", email="ann@acme.example", first="Ann", last="Lee")

    async def work(client: Client) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        added = await call(
            client,
            "lead_add",
            first_name="Bo",
            last_name="Vik",
            email="bo@example.com",
            source="web",
        )
        seen["added"] = added["lead"]["id"]
        edited = await call(client, "lead_edit", lead_id=lead, title="CTO", owner="ed")
        seen["edited"] = edited["title"], edited["owner"]
        scores = {"budget": 20, "authority": 20, "need": 20, "timeline": 20}
        seen["score"] = (await call(client, "score", lead_id=lead, **scores))["score"]
        seen["assign"] = (await call(client, "assign", lead_id=seen["added"], to="me"))["owner"]
        moved = await call(client, "advance", lead_id=lead, stage="qualification")
        seen["advance"] = moved["stage"], moved["account_id"]
        call_row = await call(
            client, "log_call", lead_id=lead, outcome="connected", at="2026-03-06 15:00"
        )
        seen["call_at"] = call_row["at"]
        meeting = await call(
            client,
            "log_meeting",
            lead_id=lead,
            attendees=["Ann"],
            topics=["pricing"],
            action_items=["send pricing@2026-03-10 09:00"],
        )
        seen["meeting_tasks"] = meeting["tasks"]
        await call(client, "log_email", lead_id=lead, subject="Pricing")
        await call(client, "note", lead_id=lead, text="prefers email after 3pm")
        step = await call(client, "next_step", lead_id=lead, text="demo", due="2026-03-09 11:00")
        finished = await call(client, "done", task_id=step["id"])
        seen["done"] = finished["changed"], finished["activity"]["status"]
        case = await call(
            client, "case_open", target="account:1", title="Pump leaks", severity="high"
        )
        await call(client, "case_comment", case_id=case["id"], text="photos coming")
        seen["case"] = case["id"]
        shown = await call(client, "lead_show", lead_id=lead)
        seen["show"] = shown["stage"], [a["type"] for a in shown["activities"]]
        found = await call(client, "lead_search", search="Vik")
        seen["search"] = [row["id"] for row in found["leads"]]
        seen["explain"] = (await call(client, "explain", lead_id=lead))["score"]
        seen["my_day"] = sorted(await call(client, "my_day"))
        seen["overdue"] = sorted(await call(client, "report_overdue", owner="ed"))
        seen["pipeline"] = (await call(client, "report_pipeline"))["report"]
        seen["dashboard"] = (await call(client, "dashboard"))["report"]
        return seen

    seen = serve(team, "ed", work)
    assert seen["edited"] == ("CTO", "ed")
    assert seen["score"] == 80
    assert seen["assign"] == "ed"
    assert seen["advance"] == ("qualification", 1)
    assert seen["call_at"].startswith("2026-03-06T15:00:00-05:00")  # policy timezone, echoed
    assert len(seen["meeting_tasks"]) == 1
    assert seen["done"] == (True, "done")
    assert seen["show"][0] == "qualification"
    assert {"call", "meeting", "email", "note"} <= set(seen["show"][1])
    assert seen["search"] == [seen["added"]]
    assert seen["explain"] == 80
    assert seen["my_day"] == ["agenda", "due_today", "inbox_unread", "overdue"]
    assert seen["overdue"] == ["items", "overdue", "truncated"]
    assert (seen["pipeline"], seen["dashboard"]) == ("pipeline", "dashboard")
    assert team.rows("SELECT title, severity FROM service_case") == [("Pump leaks", "high")]
    commands = {c for (c,) in team.rows("SELECT DISTINCT command FROM audit_event")}
    expected = {f"mcp:{tool}" for tool in WRITES}
    assert expected <= commands, expected - commands
    actors = team.rows("SELECT DISTINCT actor FROM audit_event WHERE command LIKE 'mcp:%'")
    assert actors == [("ed",)]
    verified = team("audit", "verify")
    assert verified.code == 0, verified.err


def test_quote_show_and_resources_read_what_the_cli_shows(team: Crm) -> None:
    lead = team.add_lead(company="Acme Pumps", email="ann@acme.example")
    team.ok("score", str(lead), *BANT)
    team.ok("advance", str(lead), "qualification")
    quote = team.ok("quote", "new", str(lead), user="ed").out.strip()
    team.ok("quote", "line", quote, "--product", "Router X2", "--qty", "3", "--price", "1250")
    cli_quote = team.ok("quote", "show", quote, "--format", "json").json()
    cli_account = team.ok("account", "show", "1", "--format", "json").json()

    async def work(client: Client) -> tuple[Any, ...]:
        shown = await call(client, "quote_show", quote=quote)
        lead_doc = (await client.read_resource(f"lead://{lead}")).contents[0].text
        account_doc = (await client.read_resource("account://1")).contents[0].text
        policy_doc = (await client.read_resource("policy://")).contents[0].text
        return shown, json.loads(lead_doc), json.loads(account_doc), policy_doc

    shown, lead_doc, account_doc, policy_doc = serve(team, "vi", work)
    assert shown["total"] == cli_quote["total"] and shown["lines"] == cli_quote["lines"]
    assert lead_doc["id"] == lead and lead_doc["stage"] == "qualification"
    assert account_doc["name"] == cli_account["name"] == "Acme Pumps"
    assert account_doc["contacts"] == cli_account["contacts"]
    assert policy_doc.rstrip("\n") == team.ok("policy", "show").out.rstrip("\n")


def test_refusals_carry_the_cli_message_and_exit_class_and_write_nothing(team: Crm) -> None:
    lead = team.add_lead()  # Ada, ada@example.com
    cli_gate = team("advance", str(lead), "closed_won", user="ed")
    assert cli_gate.code == 5
    before = team.snapshot()

    async def work(client: Client) -> dict[str, str]:
        return {
            "gate": await refused(client, "advance", lead_id=lead, stage="closed_won"),
            "duplicate": await refused(
                client,
                "lead_add",
                first_name="Ada",
                last_name="Lovelace",
                email="ada@example.com",
                source="web",
            ),
            "email": await refused(
                client, "lead_add", first_name="X", email="not-an-email", source="web"
            ),
            "missing": await refused(client, "lead_show", lead_id=999),
            "past": await refused(
                client, "next_step", lead_id=lead, text="demo", due="2026-03-01 10:00"
            ),
            "outcome": await refused(client, "log_call", lead_id=lead, outcome="maybe"),
        }

    errors = serve(team, "ed", work)
    cli_message = cli_gate.err.splitlines()[0].removeprefix("crm: ")
    assert f"exit 5 (refused by policy): {cli_message}" in errors["gate"]
    assert "exit 5 (refused by policy)" in errors["duplicate"]
    assert "exit 2 (bad input)" in errors["email"] and "email" in errors["email"]
    assert "exit 3 (not found): lead 999" in errors["missing"]
    assert "exit 2 (bad input)" in errors["past"]
    assert "exit 2 (bad input): --outcome" in errors["outcome"]
    assert team.snapshot() == before


def test_a_viewer_is_refused_every_write_and_nothing_changes(team: Crm) -> None:
    team.add_lead()
    before = team.snapshot()

    async def work(client: Client) -> dict[str, str]:
        return {tool: await refused(client, tool, **args) for tool, args in WRITES.items()}

    errors = serve(team, "vi", work)
    for tool, text in errors.items():
        assert f"exit 4 (not permitted): mcp:{tool} needs the editor role; vi is a viewer" in text
    assert team.snapshot() == before


def test_a_campaign_scoped_user_sees_only_their_campaigns(team: Crm) -> None:
    team.ok("campaign", "add", "Expo")
    team.ok("campaign", "add", "Webinar")
    mine = team.add_lead(email="in@example.com", last="Inside", campaign="Expo")
    other = team.add_lead(email="out@example.com", last="Outside", campaign="Webinar")
    team.ok("user", "scope", "ed", "--campaign", "Expo")
    before = team.snapshot()

    async def work(client: Client) -> tuple[Any, ...]:
        found = await call(client, "lead_search")
        hidden = await refused(client, "lead_show", lead_id=other)
        untouched = await refused(client, "note", lead_id=other, text="peek")
        try:
            await client.read_resource(f"lead://{other}")
            resource = ""
        except Exception as exc:  # the SDK raises the server's error for a failed read
            resource = str(exc)
        return [row["id"] for row in found["leads"]], hidden, untouched, resource

    ids, hidden, untouched, resource = serve(team, "ed", work)
    assert ids == [mine]
    assert hidden.endswith(
        f"exit 3 (not found): lead {other} not found; list leads with: crm lead list"
    )
    assert "exit 3 (not found)" in untouched
    assert "exit 3 (not found)" in resource
    assert team.snapshot() == before


def test_a_bug_in_a_tool_is_one_line_exit_70_and_rolls_back(team: Crm) -> None:
    from mcp.server.mcpserver.exceptions import ToolError

    from crmcli.context import AppContext
    from crmcli.mcp_server import Crm as Server

    def broken(tx: Any) -> None:
        tx.audit("lead", None, "create", {"half": "written"})
        raise RuntimeError("boom")

    before = team.snapshot()
    server = Server(AppContext(db=team.url("ed"), user="ed"))
    with pytest.raises(ToolError) as refused_with:
        server.run("note", "note", broken, write=True)
    assert str(refused_with.value).startswith("exit 70 (a bug in crmcli): RuntimeError: boom")
    assert team.snapshot() == before


def test_an_unknown_user_is_refused_when_the_server_starts(team: Crm) -> None:
    run = team("mcp", user="nobody")
    assert run.code == 4
    assert "unknown user 'nobody'" in run.err


def test_without_the_sdk_crm_mcp_says_what_to_install(
    team: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crmcli

    monkeypatch.delitem(sys.modules, "crmcli.mcp_server", raising=False)
    monkeypatch.delattr(crmcli, "mcp_server", raising=False)
    for name in [m for m in sys.modules if m == "mcp" or m.startswith("mcp.")] or ["mcp"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if the extra were not installed
    run = team("mcp")
    assert run.code == 2
    assert "install crmcli[mcp]" in run.err


def test_a_policy_file_is_refused(team: Crm, tmp_path: Path) -> None:
    run = team("mcp", CRM_POLICY=str(tmp_path / "what-if.toml"))
    assert run.code == 2
    assert "stored policy" in run.err


def test_crm_help_does_not_import_the_sdk() -> None:
    env = {**os.environ, "PYTHONPATH": SRC}
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "crmcli", "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    modules = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines()}
    assert "mcp" in run.stdout
    assert not [m for m in modules if m == "mcp" or m.startswith(("mcp.", "crmcli.mcp"))]
