"""The layers of ARCHITECTURE.md, checked from the source: rules do no I/O and know no
services, services know no commands, nothing below the CLI imports Typer, and only render/
draws (no Rich, no calendar files, no bar or box characters elsewhere)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "crmcli"

# what a pure rule must not reach: storage, the terminal, the network, processes, files
RULES_MAY_NOT_IMPORT = (
    "sqlalchemy",
    "sqlmodel",
    "sqlite3",
    "psycopg",
    "typer",
    "rich",
    "subprocess",
    "socket",
    "smtplib",
    "crmcli.services",
    "crmcli.commands",
    "crmcli.store",
    "crmcli.render",
    "crmcli.files",
    "crmcli.cli",
)
SERVICES_MAY_NOT_IMPORT = ("typer", "rich", "icalendar", "crmcli.commands", "crmcli.cli")
# drawing is render/'s (issue 20): commands parse and hand data to a renderer
COMMANDS_MAY_NOT_IMPORT = ("rich", "icalendar")


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, at any depth (lazy ones included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def violations(directory: str, forbidden: tuple[str, ...], root: Path = PACKAGE) -> list[str]:
    files = sorted((root / directory).rglob("*.py"))
    assert files, directory
    return [
        f"{path.relative_to(root)}:{line} imports {module}"
        for path in files
        for line, module in imported(path)
        if any(module == name or module.startswith(name + ".") for name in forbidden)
    ]


@pytest.mark.parametrize(
    ("directory", "forbidden"),
    [
        ("rules", RULES_MAY_NOT_IMPORT),
        ("services", SERVICES_MAY_NOT_IMPORT),
        ("commands", COMMANDS_MAY_NOT_IMPORT),
    ],
)
def test_layers_import_only_downwards(directory: str, forbidden: tuple[str, ...]) -> None:
    assert violations(directory, forbidden) == []


def test_the_check_sees_a_lazy_import(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "bad.py").write_text("def f():\n    from sqlmodel import select\n")
    assert violations("rules", RULES_MAY_NOT_IMPORT, tmp_path) == [
        "rules/bad.py:2 imports sqlmodel",
        "rules/bad.py:2 imports sqlmodel.select",
    ]


def drawn_characters(directory: str, root: Path = PACKAGE) -> list[str]:
    """Lines that hold box-drawing or block characters (U+2500-U+259F: rules, bars, sparks)."""
    return [
        f"{path.relative_to(root)}:{number}"
        for path in sorted((root / directory).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if any("\u2500" <= ch <= "\u259f" for ch in line)
    ]


@pytest.mark.parametrize("directory", ["rules", "services", "commands", "store"])
def test_only_render_draws(directory: str) -> None:
    assert drawn_characters(directory) == []


def test_the_drawing_check_sees_a_bar(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "bad.py").write_text('"""Bars."""\nBAR = "\u2588"\n')
    assert drawn_characters("rules", tmp_path) == ["rules/bad.py:2"]


# Only the policy module reads the policy's raw data (issue 21): everything else goes through
# its typed accessors. Showing or fingerprinting the whole policy is not a lookup.
POLICY_MODULES = ("rules/policy.py",)
# files that still index the raw data; shrinks to nothing
RAW_POLICY_ALLOWED: set[str] = set()


def _is_policy(node: ast.expr) -> bool:
    """`policy`, `tx.policy`, `self.policy`, `stored_policy()`, `default_policy()`."""
    if isinstance(node, ast.Call):
        node = node.func
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return name.endswith("policy")


def raw_policy_lookups(root: Path = PACKAGE) -> list[str]:
    """`policy.data[...]`, `policy.data.get(...)` and `x = policy.data` outside the policy module."""
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative in POLICY_MODULES or relative in RAW_POLICY_ALLOWED:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Subscript | ast.Attribute | ast.Assign):
                continue
            inner = node.value
            if (
                isinstance(inner, ast.Attribute)
                and inner.attr == "data"
                and _is_policy(inner.value)
            ):
                found.append(f"{relative}:{node.lineno}")
    return sorted(set(found))


def test_only_the_policy_module_reads_raw_policy_data() -> None:
    assert raw_policy_lookups() == []


def test_the_raw_policy_check_sees_lookups(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(
        "a = tx.policy.data['quotes']\n"
        "b = policy.data.get('cases', {})\n"
        "c = stored_policy().data['identity']\n"
        "d = policy.data\n"
        "e = json.dumps(policy.data)\n"
        "f = row.data['x']\n"
    )
    assert raw_policy_lookups(tmp_path) == ["bad.py:1", "bad.py:2", "bad.py:3", "bad.py:4"]


def direct_writes(root: Path = PACKAGE) -> list[str]:
    """Commands and the MCP server that open a write transaction themselves: they write
    through Workspace.write, which runs the work again when the database refused it for a
    concurrent one (issue 21: no re-running the app, no retry of their own)."""
    files = [*sorted((root / "commands").glob("*.py")), root / "mcp_server.py"]
    return [
        f"{path.relative_to(root)}:{number}"
        for path in files
        if path.exists()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if ".writing(" in line
    ]


def test_commands_write_through_the_retrying_write() -> None:
    assert direct_writes() == []


def test_the_write_check_sees_a_direct_writing(tmp_path: Path) -> None:
    (tmp_path / "commands").mkdir()
    (tmp_path / "commands" / "x.py").write_text("with ws.writing() as tx:\n    pass\n")
    assert direct_writes(tmp_path) == ["commands/x.py:1"]
