"""`crm campaign …`: the campaigns leads and user scopes refer to."""

from typing import Annotated

import typer

from crmcli import render
from crmcli.commands._shared import FormatOption, output_format, sub_app, workspace, write_with_tz

app = sub_app("Campaigns.")


@app.command("add")
def campaign_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    output: FormatOption = None,
) -> None:
    """Add a campaign (admin).

    Example: crm campaign add "Spring Expo 2026"
    """
    from crmcli.services import users

    row, tz = write_with_tz(ctx, lambda tx: users.add_campaign(tx, name))
    render.emit_created(row, fmt=output_format(ctx, output), tz=tz)


@app.command("list")
def campaign_list(ctx: typer.Context, output: FormatOption = None) -> None:
    """List campaigns.

    Example: crm campaign list --format json
    """
    from crmcli.services import users

    with workspace(ctx).reading() as tx:
        rows = users.list_campaigns(tx)
        tz = tx.policy.timezone
    render.emit(rows, fmt=output_format(ctx, output), tz=tz, empty="no campaigns yet")
