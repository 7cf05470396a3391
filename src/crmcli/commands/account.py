"""`crm account …`: add, list, show (the 360° view) and edit accounts."""

from typing import Annotated, Any

import typer

from crmcli import render
from crmcli.commands._shared import FormatOption, output_format, sub_app, workspace, write_with_tz

app = sub_app("Accounts: the organisations you sell to, with their 360° view.")

LIST_COLUMNS = ("id", "name", "key_account", "contract_end", "won_at", "country", "owner")
HISTORY_COLUMNS = ("at", "actor", "command", "action", "changes")

AccountId = Annotated[int, typer.Argument(metavar="ID", help="Account id.")]
Name = Annotated[str | None, typer.Option("--name", help="Account (organisation) name.")]
ContractEnd = Annotated[
    str | None,
    typer.Option(
        "--contract-end",
        metavar="YYYY-MM-DD",
        help="When the contract ends (renewal starts 90 days before; 'none' clears it).",
    ),
]
Industry = Annotated[str | None, typer.Option("--industry", help="Industry.")]
Country = Annotated[str | None, typer.Option("--country", help="ISO country code, e.g. US.")]
Region = Annotated[str | None, typer.Option("--region", help="Region or state, e.g. NY.")]
Owner = Annotated[
    str | None, typer.Option("--owner", help="Account owner: a user name, 'me' (or 'none').")
]
Force = Annotated[bool, typer.Option("--force", help="Save even if the name is already taken.")]


FIELDS = ("name", "key", "contract_end", "industry", "country", "region", "owner")


def _raw(options: dict[str, Any]) -> dict[str, Any]:
    """The account fields given on the command line."""
    return {name: options[name] for name in FIELDS if options.get(name) is not None}


def _emit_saved(ctx: typer.Context, saved: Any, tz: Any, output: str | None, verb: str) -> None:
    if saved.forced_over:
        ids = ", ".join(map(str, saved.forced_over))
        render.note(f"{verb} despite likely duplicate of account {ids} (--force, audited)")
    fmt = output_format(ctx, output)
    if verb == "added":
        render.emit_created(saved.record, fmt=fmt, tz=tz)
    elif fmt in ("json", "csv"):
        render.emit_record(saved.record, fmt=fmt, tz=tz)
    else:
        render.note(f"updated account {saved.record['id']}")


@app.command("add")
def account_add(
    ctx: typer.Context,
    name: Name = None,
    key: Annotated[
        bool, typer.Option("--key", help="A key account (quarterly business reviews).")
    ] = False,
    contract_end: ContractEnd = None,
    industry: Industry = None,
    country: Country = None,
    region: Region = None,
    owner: Owner = None,
    force: Force = False,
    output: FormatOption = None,
) -> None:
    """Add an account; refuses a name already taken once normalised (exit 5) unless --force.
    Prints the new id.

    Example: crm account add --name "Acme Corp" --key --contract-end 2026-12-31 --owner ed
    """
    from crmcli.services import accounts

    raw = _raw({**locals(), "key": key or None})
    saved, tz = write_with_tz(ctx, lambda tx: accounts.add_account(tx, raw, force=force))
    _emit_saved(ctx, saved, tz, output, "added")


@app.command("list")
def account_list(
    ctx: typer.Context,
    key: Annotated[
        bool | None, typer.Option("--key/--not-key", help="Only key accounts (or only others).")
    ] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", help="A user name, 'me', or 'none' for unowned.")
    ] = None,
    country: Country = None,
    search: Annotated[str | None, typer.Option("--search", help="Text in the name.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.")] = None,
    output: FormatOption = None,
) -> None:
    """List accounts, oldest first.

    Example: crm account list --key --owner me --format csv
    """
    from crmcli.services.accounts import ACCOUNT_FIELDS, AccountFilter, list_accounts

    where = AccountFilter(key=key, owner=owner, country=country, search=search, limit=limit)
    with workspace(ctx).reading() as tx:
        rows = list_accounts(tx, where)
        tz = tx.policy.timezone
    render.emit(
        rows,
        fmt=output_format(ctx, output),
        columns=ACCOUNT_FIELDS,
        table_columns=LIST_COLUMNS,
        tz=tz,
        empty="no accounts match",
    )


@app.command("show")
def account_show(ctx: typer.Context, account_id: AccountId, output: FormatOption = None) -> None:
    """The account's 360° view: its fields, contacts, open opportunities, recent activities
    and open obligations (its own and its contacts').

    Example: crm account show 3 --format json
    """
    from crmcli.services.accounts import account_view, history

    with workspace(ctx).reading() as tx:
        record, sections = account_view(tx, account_id)
        events = history(tx, account_id)
        tz = tx.policy.timezone
    fmt = output_format(ctx, output)
    if fmt == "table":
        events = render.with_changes_text(events, tz)
    # JSON keys are snake_case (open_opportunities); table titles read as words
    parts = {
        (section.name.replace("_", " ") if fmt == "table" else section.name): (
            rows,
            section.columns,
        )
        for section, rows in sections
    }
    render.emit_record(
        record,
        fmt=fmt,
        tz=tz,
        title=f"account {account_id}: {record['name']}",
        sections={**parts, "history": (events, HISTORY_COLUMNS)},
    )


@app.command("edit")
def account_edit(
    ctx: typer.Context,
    account_id: AccountId,
    name: Name = None,
    key: Annotated[
        bool | None, typer.Option("--key/--not-key", help="Flag or unflag as a key account.")
    ] = None,
    contract_end: ContractEnd = None,
    industry: Industry = None,
    country: Country = None,
    region: Region = None,
    owner: Owner = None,
    force: Force = False,
    output: FormatOption = None,
) -> None:
    """Change an account's fields, validated like add; audited old → new.

    Example: crm account edit 3 --contract-end 2027-12-31 --key
    """
    from crmcli.services import accounts

    raw = _raw(locals())
    saved, tz = write_with_tz(
        ctx, lambda tx: accounts.edit_account(tx, account_id, raw, force=force)
    )
    _emit_saved(ctx, saved, tz, output, "updated")
