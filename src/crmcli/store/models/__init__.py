"""Table models. Changing a table means adding an Alembic migration, never editing history.

The core tables load with this package; the lifecycle tables load on first use
(`from crmcli.store.models import Activity` works as usual), so `crm lead list` does not pay
for tables it never touches. `all_metadata()` loads every table (migrations, tests).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from sqlmodel import SQLModel

from crmcli.store.models.core import Campaign, Lead, PolicyVersion, User, UserCampaign

# Lead's foreign keys to account and contact are only resolved when writing, and every
# command that writes leads loads these tables first.
_LAZY = {
    **dict.fromkeys(
        (
            "Account",
            "Contact",
            "ScoreEvent",
            "EngagementEvent",
            "StageChange",
            "Activity",
            "Notification",
            "UserAway",
            "Obligation",
        ),
        "lifecycle",
    ),
    **dict.fromkeys(
        (
            "AuditEvent",
            "AuditHead",
            "AuditPersonal",
            "AuditSeal",
            "PersonalKey",
            "PolicyVersion",
            "ImportBatch",
            "ImportRow",
            "ReviewItem",
        ),
        "data",
    ),
    **dict.fromkeys(("ServiceCase", "CaseComment", "CaseAttachment", "CasePause"), "cases"),
    **dict.fromkeys(("Quote", "QuoteLine", "QuoteApproval"), "quotes"),
    **dict.fromkeys(("OutboxMessage", "EmailMessage"), "messaging"),
    "StageKey": "history",
}

__all__ = [
    "Campaign",
    "Lead",
    "PolicyVersion",
    "SQLModel",
    "User",
    "UserCampaign",
    "all_metadata",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"crmcli.store.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def all_metadata() -> Any:
    for module in set(_LAZY.values()):
        import_module(f"crmcli.store.models.{module}")
    return SQLModel.metadata
