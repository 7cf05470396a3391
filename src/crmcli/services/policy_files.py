"""Template files a policy names (`[templates.X] file = "…"`, relative to the policy file):
read once and inlined as `body`, so the installed policy is complete in the database."""

from __future__ import annotations

import tomllib
from pathlib import Path

from crmcli.errors import BadInput
from crmcli.files import POLICY_LIMIT, read_text
from crmcli.limits import TooDeep, loads_toml

HEADER = "# template files inlined from {source} by crm (the originals are the source)\n"


def inline_template_files(text: str, base: Path, *, source: str) -> tuple[str, dict[str, Path]]:
    """The policy text with each template's file read into its body, and which template
    came from which file; unchanged when no template names a file (or the TOML is broken:
    parsing reports that with its line)."""
    try:
        raw = loads_toml(text)
    except (tomllib.TOMLDecodeError, TooDeep):
        return text, {}
    templates = raw.get("templates")
    if not isinstance(templates, dict):
        return text, {}
    named = {
        name: template
        for name, template in templates.items()
        if isinstance(template, dict) and isinstance(template.get("file"), str)
    }
    if not named:
        return text, {}
    files = {}
    for name, template in named.items():
        path = base / template["file"]
        if template.get("body"):
            raise BadInput(f"templates.{name}: give body or file, not both")
        # (a relative path is relative to the policy file)
        template["body"] = read_text(path, option=f"templates.{name}.file", limit=POLICY_LIMIT)
        del template["file"]
        files[name] = path
    import tomli_w

    return HEADER.format(source=source) + tomli_w.dumps(raw), files
