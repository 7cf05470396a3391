"""Placeholder: activity commands (being written)."""


def log_call() -> None:
    """Log a call (not yet built). Example: crm log-call 1"""


def log_meeting() -> None:
    """Log a meeting (not yet built). Example: crm log-meeting 1"""


def log_email() -> None:
    """Log an email (not yet built). Example: crm log-email 1"""


def log_chat() -> None:
    """Log a chat (not yet built). Example: crm log-chat 1"""


def note() -> None:
    """Add a note (not yet built). Example: crm note 1"""


def next_step() -> None:
    """Schedule a next step (not yet built). Example: crm next-step 1"""


def done() -> None:
    """Complete a task (not yet built). Example: crm done 1"""


def points() -> None:
    """Activity points (not yet built). Example: crm points"""


def agenda() -> None:
    """Agenda (not yet built). Example: crm agenda"""
