"""Service cases with their comments, attachments and clock stops (waiting, resolved):
loaded only by the commands that use them.

The table is `service_case`, not `case`: CASE is an SQL keyword, and every hand-written
query would have to quote it. Audit events and obligations call the record type "case".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from crmcli.store.models.base import Table, _when


class ServiceCase(Table, table=True):
    __tablename__ = "service_case"
    __table_args__ = (Index("ix_service_case_status_owner", "status", "owner_id"),)

    id: int | None = Field(default=None, primary_key=True)
    title: str
    severity: str  # low | normal | high | urgent
    status: str = "open"  # open | acknowledged | waiting | resolved | closed
    account_id: int | None = Field(default=None, foreign_key="account.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    product: str | None = None
    warranty: bool | None = None  # seed 002: warranty or non-warranty issue; None = unknown
    owner_id: int | None = Field(default=None, foreign_key="user.id")
    opened_at: datetime = _when(nullable=False)  # when the customer reported it: SLAs start
    opened_by: str
    acknowledged_at: datetime | None = _when()
    acknowledged_by: str | None = None
    resolved_at: datetime | None = _when()
    resolved_by: str | None = None
    resolution: str | None = None
    closed_at: datetime | None = _when()
    closed_by: str | None = None
    created_at: datetime = _when(nullable=False)
    updated_at: datetime = _when(nullable=False)


class CaseComment(Table, table=True):
    __tablename__ = "case_comment"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="service_case.id", index=True)
    author: str
    text: str
    internal: bool = False  # internal notes are not for the customer
    at: datetime = _when(nullable=False)


class CaseAttachment(Table, table=True):
    """A file attached to a case; its bytes live content-addressed on disk under `sha256`."""

    __tablename__ = "case_attachment"
    __table_args__ = (UniqueConstraint("case_id", "sha256", name="uq_case_attachment"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="service_case.id", index=True)
    sha256: str = Field(index=True)
    name: str  # the file's original name
    media_type: str  # sniffed from the content, never from the name
    size: int
    added_by: str
    added_at: datetime = _when(nullable=False)


class CasePause(Table, table=True):
    """A time the SLA clock stood still: waiting on the customer, or resolved until reopened."""

    __tablename__ = "case_pause"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="service_case.id", index=True)
    kind: str  # waiting | resolved
    started_at: datetime = _when(nullable=False)
    started_by: str
    ended_at: datetime | None = _when()
    ended_by: str | None = None
    reason: str | None = None
