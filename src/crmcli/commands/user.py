"""`crm user …`: people, their roles and what they cover."""

from typing import Annotated

import typer

from crmcli import render
from crmcli.commands._shared import FormatOption, output_format, sub_app, workspace, write_with_tz

app = sub_app("Users, roles, territories, skills and capacity.")

USER_COLUMNS = ("id", "name", "role", "login", "territories", "skills", "capacity", "campaigns")


@app.command("add")
def user_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Login-style name; what --as takes.")],
    role: Annotated[str, typer.Option("--role", help="viewer, editor or admin.")] = "editor",
    territory: Annotated[
        list[str] | None,
        typer.Option(
            "--territory", help="Country or country-region, e.g. US or US-NY (repeatable)."
        ),
    ] = None,
    skill: Annotated[
        list[str] | None,
        typer.Option("--skill", help="Industry or product expertise (repeatable)."),
    ] = None,
    capacity: Annotated[
        int | None, typer.Option("--capacity", help="How many open leads this rep can carry.")
    ] = None,
    campaign: Annotated[
        list[str] | None,
        typer.Option("--campaign", help="Limit the user to this campaign (repeatable)."),
    ] = None,
    signature: Annotated[
        str | None,
        typer.Option("--signature", help="Closes automated messages to their leads; \\n breaks."),
    ] = None,
    login: Annotated[
        str | None,
        typer.Option("--login", help="Bind the user to this OS login (see: crm user bind)."),
    ] = None,
    email: Annotated[
        str | None,
        typer.Option("--email", help="Their email; an import's owner column may name them by it."),
    ] = None,
    output: FormatOption = None,
) -> None:
    """Add a user (admin).

    Example: crm user add maria --role editor --login maria --territory US-NY --skill saas
    """
    from crmcli.services import users

    row, tz = write_with_tz(
        ctx,
        lambda tx: users.add_user(
            tx,
            name,
            role=role,
            territories=territory or [],
            skills=skill or [],
            capacity=capacity,
            campaigns=campaign or [],
            signature=signature,
            login=login,
            email=email,
        ),
    )
    render.emit_created(row, fmt=output_format(ctx, output), tz=tz)


@app.command("list")
def user_list(ctx: typer.Context, output: FormatOption = None) -> None:
    """List users.

    Example: crm user list --format csv
    """
    from crmcli.services import users

    with workspace(ctx).reading() as tx:
        rows = users.list_users(tx)
        tz = tx.policy.timezone
    render.emit(rows, fmt=output_format(ctx, output), tz=tz, table_columns=USER_COLUMNS)


@app.command("set-role")
def user_set_role(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user.")],
    role: Annotated[str, typer.Argument(help="viewer, editor or admin.")],
) -> None:
    """Change a user's role (admin).

    Example: crm user set-role sam viewer
    """
    from crmcli.services import users

    row = workspace(ctx).write(lambda tx: users.set_role(tx, name, role))
    render.note(f"{row['name']} is now {row['role']}")


@app.command("bind")
def user_bind(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user.")],
    login: Annotated[
        str | None, typer.Option("--login", help="The OS login (whoami) to bind the user to.")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Unbind the user.")] = False,
) -> None:
    """Bind a user to an OS login, or unbind them (admin). On a SQLite file, whoever runs crm
    under that login acts as the user; --as another user needs a login bound to an admin.

    Example: crm user bind maria --login maria
    """
    from crmcli.errors import BadInput
    from crmcli.services import users

    if clear == (login is not None):
        raise BadInput("--login: give the OS login to bind the user to, or --clear")
    row = workspace(ctx).write(lambda tx: users.bind_login(tx, name, login))
    bound = f"bound to the login {row['login']}" if row["login"] else "not bound to a login"
    render.note(f"{row['name']} is {bound}")


@app.command("scope")
def user_scope(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user.")],
    campaign: Annotated[
        list[str] | None,
        typer.Option("--campaign", help="A campaign the user works in (repeatable)."),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Lift the limit.")] = False,
) -> None:
    """Limit a user to campaigns: they see and touch only those campaigns' leads (admin).

    Example: crm user scope pat --campaign "Spring Expo 2026"
    """
    from crmcli.services import users

    row = workspace(ctx).write(lambda tx: users.set_scope(tx, name, campaign or [], clear=clear))
    scope = ", ".join(row["campaigns"]) or "every campaign"
    render.note(f"{row['name']} now works in {scope}")


@app.command("set-signature")
def user_set_signature(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user.")],
    text: Annotated[str, typer.Argument(help='The signature; \\n breaks lines, "" removes it.')],
) -> None:
    """Set the signature that closes automated messages to a user's leads (admin).

    Example: crm user set-signature maria "Maria Lopez\\nSales, Example Co"
    """
    from crmcli.services import users

    row = workspace(ctx).write(lambda tx: users.set_signature(tx, name, text))
    render.note(f"{row['name']}: signature {'set' if row['signature'] else 'removed'}")


@app.command("set-email")
def user_set_email(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user.")],
    email: Annotated[str, typer.Argument(help='Their email; "" removes it.')],
) -> None:
    """Set a user's email (admin): an import's owner column (HubSpot's Contact owner) may
    name them by it.

    Example: crm user set-email maria maria.lopez@example.com
    """
    from crmcli.services import users

    row = workspace(ctx).write(lambda tx: users.set_email(tx, name, email))
    render.note(f"{row['name']}: email {row['email'] or 'removed'}")
