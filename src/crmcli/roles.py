"""Which role each command needs (SPEC §7): checked centrally before a command parses its
arguments, so no command can forget it. A test walks the Typer app and fails on any command
missing from this table.

viewer reads (and audits, seed 001 §3.1); editor creates and changes records; admin changes
policy, users, campaigns, and handles personal data; "none" needs no database user.
"""

from __future__ import annotations

# the one order of roles: each may do what those before it may
ROLE_ORDER = ("viewer", "editor", "admin")


def role_allows(role: str, needed: str) -> bool:
    """Whether a user with `role` may run what needs `needed`."""
    return ROLE_ORDER.index(role) >= ROLE_ORDER.index(needed)


WRITE = "write"


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
    # lists absences to anyone; setting or clearing them needs editor (ROLE_CASES below)
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


# where a command's arguments change the role it needs: command -> case -> role. The case
# "write" is a write transaction of a command whose table role is for its reads; any other
# case is named by the command that opens the transaction, in words a refusal quotes
ROLE_CASES: dict[str, dict[str, str]] = {
    # listing absences is open to anyone; setting or clearing them writes (the service then
    # lets an editor change only their own)
    "user away": {WRITE: "editor"},
    # a lead's history is open to its readers; any other record's history is the admin's
    "history": {"of a record other than a lead": "admin"},
    # bare `crm` (my day) reads; it is no sub-command, so the table does not list it
    "": {WRITE: "editor"},
}


def role_for(command: str) -> str:
    """The role a command path needs; unknown commands fail closed (admin)."""
    return COMMAND_ROLES.get(command, "admin")


def needed_role(command: str, case: str | None = None) -> str:
    """The one decision: the role the command `command` ("user add", "" for bare crm) needs
    to open a transaction, in `case` (WRITE or a case of ROLE_CASES). Commands that need no
    user ("none") still need an active one once they open the database: a viewer."""
    if case is not None and case in ROLE_CASES.get(command, {}):
        return ROLE_CASES[command][case]
    if case not in (None, WRITE):
        raise ValueError(f"{case!r} is not a case of {command!r} in roles.ROLE_CASES")
    role = role_for(command) if command else "viewer"
    return "viewer" if role == "none" else role


def command_path(command: str) -> str:
    """The table's key of a command as the context names it: "crm user add" -> "user add"."""
    words = command.split()
    return " ".join(words[1:] if words[:1] == ["crm"] else words)
