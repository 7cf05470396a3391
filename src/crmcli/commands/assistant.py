"""`crm mcp`: serve the CRM to an AI assistant over the Model Context Protocol (stdio)."""

import typer

from crmcli.commands._shared import app_context
from crmcli.errors import BadInput


def mcp(ctx: typer.Context) -> None:
    """Run an MCP server on stdin/stdout for an AI assistant, acting as you (your bound
    login, --as, or the PostgreSQL login) under the stored policy: the everyday commands as
    tools, with the same roles, scopes, gates and audit log. Needs crmcli[mcp].

    Example: crm mcp
    """
    try:  # the SDK is an optional extra, imported only here (crm --help stays fast)
        from crmcli import mcp_server
    except ImportError as exc:
        if not (exc.name or "").startswith("mcp"):
            raise
        raise BadInput(
            "crm mcp needs the MCP SDK (mcp>=2): install crmcli[mcp], e.g. "
            "pip install 'crmcli[mcp]'"
        ) from None
    context = app_context(ctx)
    if context.policy_file is not None:
        raise BadInput(
            "--policy (or CRM_POLICY): crm mcp works under the stored policy; drop --policy "
            "and CRM_POLICY (an admin installs a policy with: crm policy import FILE)"
        )
    mcp_server.serve(context)
