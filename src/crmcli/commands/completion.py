"""`crm completion SHELL` and the dynamic values completion offers.

Completion is Click's `_CRM_COMPLETE` protocol (the shell runs `crm` with that variable set);
the callbacks here are only called then, so they cost `crm --help` nothing: the database
layer is imported inside them.
"""

from __future__ import annotations

from typing import Annotated

import typer

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_CRM_COMPLETE"


def completion(
    shell: Annotated[str, typer.Argument(metavar="bash|zsh|fish", help="Your shell.")],
) -> None:
    """Print the script that makes your shell complete crm's commands, options, stage keys,
    user names, rule ids and lead ids. Load it from your shell's start-up file.

    Example: crm completion bash >> ~/.bashrc
    (zsh: crm completion zsh > "${fpath[1]}/_crm"; fish: crm completion fish >
    ~/.config/fish/completions/crm.fish)
    """
    from crmcli.errors import BadInput

    name = shell.strip().lower()
    if name not in SHELLS:
        raise BadInput(f"SHELL: {shell!r} is not a shell crm completes; use {', '.join(SHELLS)}")
    enable()
    from typer._click.shell_completion import get_completion_class

    script = get_completion_class(name)(None, {}, "crm", COMPLETE_VAR).source()  # type: ignore[arg-type, misc]
    typer.echo(script.strip())


def enable() -> None:
    """Register Typer's bash/zsh/fish completion classes (Typer does it only when it adds
    its own --install-completion options, which crm leaves out)."""
    from typer._completion_classes import completion_init

    completion_init()


def _values(ctx: typer.Context, kind: str, incomplete: str) -> list[tuple[str, str]]:
    """The values of `kind` for the database and user the command line names so far; none
    when that cannot be read (a shell must never show an error mid-word)."""
    from crmcli.context import AppContext

    params = ctx.find_root().params
    context = AppContext(
        db=params.get("db") or None,
        user=(params.get("as_user") or "").strip(),
        policy_file=params.get("policy_file"),
    )
    try:
        from crmcli.services.completion import choices

        return choices(context, kind, incomplete)
    except Exception:  # noqa: BLE001 - any failure just means nothing to offer
        return []


def stage_keys(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    return _values(ctx, "stage", incomplete)


def user_names(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    return _values(ctx, "user", incomplete)


def rule_ids(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    return _values(ctx, "rule", incomplete)


def lead_ids(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    return _values(ctx, "lead", incomplete)
