"""The one context object, built once from the global options (SPEC §2)."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path

FORMATS = ("table", "json", "csv", "ids")


@dataclass(frozen=True)
class AppContext:
    db: str | None = None  # path or SQLAlchemy URL; None = platformdirs default
    user: str = ""  # acting user name (--as / CRM_USER / OS login)
    format: str = "table"
    policy_file: Path | None = None
    command: str = "crm"


def os_login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "crm")
