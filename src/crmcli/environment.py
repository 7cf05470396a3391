"""Every CRM_* environment variable crmcli reads, parsed and checked in one place.

`check()` runs once per command, before anything else (the root callback), so a typo in any
of them is bad input (exit 2) naming the variable, whatever the command; the readers below
give the parsed values where they are used. Light: the standard library only.
"""

from __future__ import annotations

import os

from crmcli.errors import BadInput

# set by the global options' parser (cli.py): --db, --as, --format, --policy
OPTION_VARIABLES = ("CRM_DB", "CRM_USER", "CRM_FORMAT", "CRM_POLICY")
SMTP_KEYS = ("host", "port", "security", "user", "from")
SMTP_SECURITY = ("none", "starttls", "ssl")
DEFAULT_BUSY_TIMEOUT_MS = 60_000
MAX_BUSY_TIMEOUT_MS = 24 * 3600 * 1000
DEFAULT_SMTP_TIMEOUT = 10.0  # seconds for the connection and each SMTP command
MAX_SMTP_TIMEOUT = 3600.0
VARIABLES = (
    *OPTION_VARIABLES,
    "CRM_NOW",
    "CRM_DEBUG",
    "CRM_BUSY_TIMEOUT_MS",
    "CRM_SMTP_TIMEOUT",
    "CRM_SMTP_PASSWORD",
    "CRM_SMTP_PASSWORD_FILE",
    *(f"CRM_SMTP_{key.upper()}" for key in SMTP_KEYS),
)


def get(name: str) -> str | None:
    """The variable's text; BadInput when it is not valid UTF-8 (the OS gives bytes)."""
    value = os.environ.get(name)
    if value is not None:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadInput(
                f"{name}: is not valid UTF-8 text; set it again from a UTF-8 terminal"
            ) from None
    return value


def _integer(name: str, default: int, low: int, high: int, unit: str) -> int:
    text = (get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadInput(f"{name}: {text!r} is not a number of {unit} from {low} to {high}")
    return int(text)


def busy_timeout_ms() -> int:
    """How long a write waits for another writer's lock (SQLite busy_timeout, PostgreSQL
    lock_timeout) before it is reported as busy (exit 6)."""
    return _integer(
        "CRM_BUSY_TIMEOUT_MS", DEFAULT_BUSY_TIMEOUT_MS, 0, MAX_BUSY_TIMEOUT_MS, "milliseconds"
    )


def smtp_timeout() -> float:
    """Seconds `outbox send` waits for the SMTP server to connect and to answer each step."""
    text = (get("CRM_SMTP_TIMEOUT") or "").strip()
    if not text:
        return DEFAULT_SMTP_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= MAX_SMTP_TIMEOUT:  # also refuses nan
        raise BadInput(
            f"CRM_SMTP_TIMEOUT: {text!r} is not a number of seconds from 0.1 to "
            f"{MAX_SMTP_TIMEOUT:.0f}; e.g. 20"
        )
    return seconds


def smtp_override(key: str) -> str | None:
    """CRM_SMTP_<KEY>, which overrides the policy's [smtp] key when set (even when empty)."""
    return get(f"CRM_SMTP_{key.upper()}")


def smtp_port(text: str, *, name: str = "CRM_SMTP_PORT") -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise BadInput(f"{name}: {text!r} is not a port; give 1-65535")
    return int(text)


def smtp_security(text: str, *, name: str = "CRM_SMTP_SECURITY") -> str:
    value = text.lower()
    if value not in SMTP_SECURITY:
        raise BadInput(f"{name}: {text!r}; use {', '.join(SMTP_SECURITY)}")
    return value


def check() -> None:
    """Read every CRM_* variable once: each is valid UTF-8, and each that holds a number, a
    choice or a time parses (the clock's CRM_NOW too), or BadInput names it."""
    from crmcli import clock

    for name in VARIABLES:
        get(name)
    busy_timeout_ms()
    smtp_timeout()
    port = (smtp_override("port") or "").strip()
    if port:
        smtp_port(port)
    security = (smtp_override("security") or "").strip()
    if security:
        smtp_security(security)
    clock.now()
