"""Which role each command needs (SPEC §7): checked centrally before a command parses its
arguments, so no command can forget it. A test walks the Typer app and fails on any command
missing from this table.

viewer reads (and audits, seed 001 §3.1); editor creates and changes records; admin changes
policy, users, campaigns, and handles personal data; "none" needs no database user.
"""

from __future__ import annotations

ROLE_ORDER = ("viewer", "editor", "admin")


def article(role: str) -> str:
    """ "an admin", "a viewer": a role as a message names it."""
    return f"an {role}" if role[:1] in "aeiou" else f"a {role}"


COMMAND_ROLES: dict[str, str] = {
    # no user needed: work on files, or create the first user
    "init": "none",
    "completion": "none",
    "policy init": "none",
    "policy check": "none",
    # read
    "agenda": "viewer",
    "audit anchor": "viewer",
    "audit sample": "viewer",
    "audit verify": "viewer",
    "campaign list": "viewer",
    "case list": "viewer",
    "case show": "viewer",
    "doctor": "viewer",
    "explain": "viewer",
    "history": "viewer",
    "imports list": "viewer",
    "lead dupes": "viewer",
    "lead export": "viewer",
    "lead list": "viewer",
    "lead show": "viewer",
    "points": "viewer",
    "policy show": "viewer",
    "report cases": "viewer",
    "report overdue": "viewer",
    # performance reports (issue 7)
    "dashboard": "viewer",
    "report activity": "viewer",
    "report conversion": "viewer",
    "report forecast": "viewer",
    "report pipeline": "viewer",
    "report response": "viewer",
    "report sources": "viewer",
    "report velocity": "viewer",
    "report win-rate": "viewer",
    "report sla": "viewer",
    # every user's own notifications (issue 18); acknowledging one is a write
    "inbox": "viewer",
    "review list": "viewer",
    "review show": "viewer",
    "user list": "viewer",
    # an assistant's server: each tool then needs the role of the command it mirrors
    "mcp": "viewer",
    "quote export": "viewer",
    "quote list": "viewer",
    "quote show": "viewer",
    "outbox list": "viewer",
    "outbox show": "viewer",
    # lists absences to anyone; setting or clearing them needs editor (checked by the service)
    "user away": "viewer",
    # accounts and contacts (issue 6)
    "account list": "viewer",
    "account show": "viewer",
    "contact list": "viewer",
    "contact show": "viewer",
    # write records
    "advance": "editor",
    "assign": "editor",
    "case ack": "editor",
    "case attach": "editor",
    "case close": "editor",
    "case comment": "editor",
    "case open": "editor",
    "case reopen": "editor",
    "case resolve": "editor",
    "case resume": "editor",
    "case wait": "editor",
    "done": "editor",
    "imports undo": "editor",
    "lead add": "editor",
    "lead edit": "editor",
    "lead event": "editor",
    "lead import": "editor",
    "lead merge": "editor",
    "log-call": "editor",
    "log-chat": "editor",
    "log-email": "editor",
    "log-meeting": "editor",
    "meeting schedule": "editor",
    "meeting move": "editor",
    "meeting cancel": "editor",
    "next-step": "editor",
    "note": "editor",
    "review accept": "editor",
    "review reject": "editor",
    "score": "editor",
    "tick": "editor",
    "account add": "editor",
    "account edit": "editor",
    "contact add": "editor",
    "contact edit": "editor",
    "contact verify": "editor",
    "quote accept": "editor",
    "quote line": "editor",
    "quote new": "editor",
    "quote send": "editor",
    "quote submit": "editor",
    # deciding also needs the policy's approver role or a name in quotes.approval.approvers
    "quote approve": "editor",
    "quote reject": "editor",
    "lead opt-out": "editor",
    "mail import": "editor",
    "outbox cancel": "editor",
    "outbox retry": "editor",
    "outbox send": "editor",
    "inbox ack": "editor",
    # configuration, people and personal data
    "audit log": "admin",
    "campaign add": "admin",
    "contact forget": "admin",
    "lead export-personal": "admin",
    "lead forget": "admin",
    "policy import": "admin",
    "user add": "admin",
    "user bind": "admin",
    "user scope": "admin",
    "user set-email": "admin",
    "user set-role": "admin",
    "user set-signature": "admin",
    # backups hold every record: admins only
    "db backup": "admin",
    "db copy": "admin",
    # into an empty database: the acting user must be an admin of the backup (see below)
    "db restore": "admin",
}

# commands whose target may be an empty database: checked against the database only when it
# already has users; otherwise the command checks the role against the data it brings
ROLE_CHECKED_BY_COMMAND_WHEN_EMPTY = ("db restore",)


def role_for(command: str) -> str:
    """The role a command path needs; unknown commands fail closed (admin)."""
    return COMMAND_ROLES.get(command, "admin")
