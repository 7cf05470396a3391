"""`crm contact …`: add, list, show, edit and verify contacts (`forget` lives with the
privacy commands in commands/audit.py and is registered here by cli.py)."""

from typing import Annotated, Any

import typer

from crmcli import render
from crmcli.commands._shared import FormatOption, output_format, sub_app, workspace, write_with_tz

app = sub_app("Contacts (the people behind accounts and opportunities).")

LIST_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "title",
    "email",
    "phone",
    "account",
    "verified_at",
)
HISTORY_COLUMNS = ("at", "actor", "command", "action", "changes")

ContactId = Annotated[int, typer.Argument(metavar="ID", help="Contact id.")]
AccountOption = Annotated[
    int | None, typer.Option("--account", metavar="ID", help="The contact's account id.")
]
First = Annotated[str | None, typer.Option("--first", help="First name.")]
Last = Annotated[str | None, typer.Option("--last", help="Last name.")]
Email = Annotated[
    str | None, typer.Option("--email", help="Email address (validated, stored normalised).")
]
Phone = Annotated[
    str | None, typer.Option("--phone", help="Phone number (stored as E.164; policy's region).")
]
Title = Annotated[str | None, typer.Option("--title", help="Job title.")]
Force = Annotated[
    bool, typer.Option("--force", help="Save even if the email or phone belongs to a contact.")
]


def _raw(options: dict[str, Any]) -> dict[str, Any]:
    names = {
        "account": "account_id",
        "first": "first_name",
        "last": "last_name",
        "email": "email",
        "phone": "phone",
        "title": "title",
    }
    return {field: options[name] for name, field in names.items() if options.get(name) is not None}


def _forced(saved: Any, verb: str) -> None:
    if saved.forced_over:
        ids = ", ".join(map(str, saved.forced_over))
        render.note(f"{verb} despite likely duplicate of contact {ids} (--force, audited)")


@app.command("add")
def contact_add(
    ctx: typer.Context,
    account: AccountOption = None,
    first: First = None,
    last: Last = None,
    email: Email = None,
    phone: Phone = None,
    title: Title = None,
    force: Force = False,
    output: FormatOption = None,
) -> None:
    """Add a contact to an account, validated like a lead; refuses a known email or phone
    (exit 5) unless --force. Prints the new id.

    Example: crm contact add --account 3 --first Grace --last Hopper --email grace@acme.example
    """
    from crmcli.services import contacts

    raw = _raw(locals())
    saved, tz = write_with_tz(ctx, lambda tx: contacts.add_contact(tx, raw, force=force))
    _forced(saved, "added")
    render.emit_created(saved.record, fmt=output_format(ctx, output), tz=tz)


@app.command("list")
def contact_list(
    ctx: typer.Context,
    account: Annotated[
        int | None, typer.Option("--account", metavar="ID", help="Only this account's.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.")] = None,
    output: FormatOption = None,
) -> None:
    """List contacts, oldest first.

    Example: crm contact list --account 3 --format csv
    """
    from crmcli.services.contacts import CONTACT_FIELDS, list_contacts

    with workspace(ctx).reading() as tx:
        rows = list_contacts(tx, account_id=account, limit=limit)
        tz = tx.policy.timezone
    render.emit(
        rows,
        fmt=output_format(ctx, output),
        columns=CONTACT_FIELDS,
        table_columns=LIST_COLUMNS,
        tz=tz,
        empty="no contacts match",
    )


@app.command("show")
def contact_show(ctx: typer.Context, contact_id: ContactId, output: FormatOption = None) -> None:
    """Show a contact with its open obligations and audit history.

    Example: crm contact show 7 --format json
    """
    from crmcli.services import contacts

    with workspace(ctx).reading() as tx:
        record = contacts.get_contact(tx, contact_id)
        obligations = contacts.open_obligations(tx, contact_id)
        events = contacts.history(tx, contact_id)
        tz = tx.policy.timezone
    fmt = output_format(ctx, output)
    if fmt == "table":
        events = render.with_changes_text(events, tz)
    render.emit_record(
        record,
        fmt=fmt,
        tz=tz,
        title=f"contact {contact_id}",
        sections={
            "open_obligations" if fmt != "table" else "open obligations": (
                obligations,
                ("rule", "title", "due_at", "overdue"),
            ),
            "history": (events, HISTORY_COLUMNS),
        },
    )


@app.command("edit")
def contact_edit(
    ctx: typer.Context,
    contact_id: ContactId,
    account: AccountOption = None,
    first: First = None,
    last: Last = None,
    email: Email = None,
    phone: Phone = None,
    title: Title = None,
    force: Force = False,
    output: FormatOption = None,
) -> None:
    """Change a contact's fields, validated like add; audited old → new.

    Example: crm contact edit 7 --phone "+1 212 555 0142" --title CTO
    """
    from crmcli.services import contacts

    raw = _raw({k: v for k, v in locals().items() if k != "contact_id"})
    saved, tz = write_with_tz(
        ctx, lambda tx: contacts.edit_contact(tx, contact_id, raw, force=force)
    )
    _forced(saved, "updated")
    fmt = output_format(ctx, output)
    if fmt in ("json", "csv"):
        render.emit_record(saved.record, fmt=fmt, tz=tz)
    else:
        render.note(f"updated contact {contact_id}")


@app.command("verify")
def contact_verify(ctx: typer.Context, contact_id: ContactId, output: FormatOption = None) -> None:
    """Record that the contact's details were checked with them now (audited); the quarterly
    contact.verify obligation starts again.

    Example: crm contact verify 7
    """
    from crmcli.services import contacts

    record, tz = write_with_tz(ctx, lambda tx: contacts.verify_contact(tx, contact_id))
    fmt = output_format(ctx, output)
    if fmt in ("json", "csv"):
        render.emit_record(record, fmt=fmt, tz=tz)
    else:
        render.note(f"verified contact {contact_id}")
