"""One error hierarchy; each class maps to one exit code of SPEC §2."""

from __future__ import annotations


class CrmError(Exception):
    """A user-facing failure: printed as one line on stderr, never as a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        # extra lines (e.g. the existing record a duplicate matched) printed after the message
        self.details = details or []


class CheckFailed(CrmError):
    """`--check` found something (overdue items, failed verification)."""

    exit_code = 1


class BadInput(CrmError):
    exit_code = 2


class NotFound(CrmError):
    exit_code = 3


class NotPermitted(CrmError):
    exit_code = 4


class PolicyRefusal(CrmError):
    exit_code = 5


class StorageError(CrmError):
    exit_code = 6


class DeliveryFailed(StorageError):
    """`outbox send` could not deliver messages that were due (SPEC §2: exit 6)."""


class Conflict(StorageError):
    """A PostgreSQL serialisation failure or deadlock: nothing was written, and the command may
    simply run again (`crm` does, a few times, before reporting it)."""
