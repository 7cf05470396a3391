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
    user: str = ""  # the user asked for with --as / CRM_USER; "" = the one bound to the login
    format: str = "table"
    policy_file: Path | None = None
    command: str = "crm"


def os_login() -> str:
    """The login of the account running crm, from its user id rather than $USER or
    $LOGNAME (the audit log records it, and a variable is too easy to set)."""
    try:
        import pwd
    except ImportError:  # not a POSIX system
        return _login_from_environment()
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a user id with no name (some containers)
        return f"uid:{uid}"


def _login_from_environment() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USERNAME", "crm")
