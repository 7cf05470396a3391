"""`crm policy …`: the sales policy as data (SPEC §4)."""

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from crmcli import render
from crmcli.commands._shared import FormatOption, output_format, sub_app, workspace
from crmcli.errors import BadInput

app = sub_app("Write, check, show and install the sales policy.")

FileArg = Annotated[Path, typer.Argument(metavar="FILE", help="A policy TOML file.")]


def _read(path: Path) -> str:
    from crmcli.files import POLICY_LIMIT, read_stdin, read_text

    if str(path) == "-":
        try:
            return read_stdin(option="FILE", limit=POLICY_LIMIT)
        except UnicodeDecodeError:
            raise BadInput("FILE: standard input is not UTF-8 text") from None
    return read_text(path, option="FILE", limit=POLICY_LIMIT)


@app.command("init")
def policy_init(
    path: FileArg,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write the default policy to FILE (- for stdout), to edit and then import.

    Example: crm policy init policy.toml
    """
    from crmcli.rules.policy import default_policy_toml

    text = default_policy_toml()
    if str(path) == "-":
        sys.stdout.write(text)
        return
    if path.exists() and not force:
        raise BadInput(f"FILE: {path} exists; choose another name or overwrite with --force")
    from crmcli.files import write_file

    write_file(path, text, option="FILE", private=False)  # the defaults: nothing personal
    render.note(f"wrote the default policy to {path}; check edits with: crm policy check {path}")


@app.command("check")
def policy_check(path: FileArg) -> None:
    """Validate a policy file; errors name the line and key (exit 2).

    Example: crm policy check policy.toml
    """
    from crmcli.services.workspace import parse_policy_file

    parse_policy_file(_read(path), path)
    render.note(f"{path}: ok")


@app.command("import")
def policy_import(
    ctx: typer.Context,
    path: FileArg,
    map_stage: Annotated[
        list[str] | None,
        typer.Option(
            "--map-stage",
            metavar="OLD=NEW",
            help="Move leads from a stage the new policy lacks (repeatable).",
        ),
    ] = None,
) -> None:
    """Install a policy file as the policy in force (admin; audited); obligations are
    recomputed under it.

    Example: crm policy import examples/policies/chartec.toml --map-stage prospecting=prospect
    """
    from crmcli.services import policies

    stage_map = {}
    for item in map_stage or []:
        old, sep, new = item.partition("=")
        if not (sep and old.strip() and new.strip()):
            raise BadInput(f"--map-stage: {item!r} is not OLD=NEW, e.g. prospecting=prospect")
        stage_map[old.strip()] = new.strip()
    from crmcli.services.policy_files import inline_template_files
    from crmcli.services.workspace import parse_policy_file

    written = _read(path)
    parse_policy_file(written, path)  # errors point into the file and its template files
    base = Path.cwd() if str(path) == "-" else path.parent
    text, _files = inline_template_files(written, base, source=str(path))
    ws = workspace(ctx)
    ws.tolerate_bad_policy = True
    result = ws.write(lambda tx: policies.install(tx, text, source=str(path), stage_map=stage_map))
    if result["installed"]:
        render.note(f"installed policy version {result['version']} ({result['sha256']})")
        if result["moved"]:
            render.note(f"moved {result['moved']} leads to the new policy's stages")
    else:
        render.note(f"policy unchanged (version {result['version']}); nothing installed")


@app.command("show")
def policy_show(
    ctx: typer.Context,
    explain: Annotated[
        bool, typer.Option("--explain", help="List every key with its value and meaning.")
    ] = False,
    output: FormatOption = None,
) -> None:
    """Print the policy in force (the stored one, or --policy FILE).

    Example: crm policy show --explain
    """
    with workspace(ctx).reading() as tx:
        policy = tx.policy
    fmt = output_format(ctx, output)
    if explain:
        render.emit(explain_rows(policy.data), fmt=fmt, columns=("key", "value", "meaning"))
    elif fmt == "json":
        render.emit_record(policy.data, fmt="json")
    else:
        sys.stdout.write(policy.text if policy.text.endswith("\n") else policy.text + "\n")


def explain_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    from crmcli.rules.policy import EXPLAIN

    rows = []

    def walk(prefix: str, node: Any) -> None:
        generic = prefix
        if prefix.startswith("rules."):
            parts = prefix.split(".")
            generic = "rules.<id>." + parts[-1]
        meaning = EXPLAIN.get(prefix) or EXPLAIN.get(generic)
        if isinstance(node, dict) and not meaning:
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else key, value)
            return
        rows.append({"key": prefix, "value": node, "meaning": meaning or ""})

    walk("", data)
    return rows
