"""The outbox of automated messages and the index of emails logged from mail (issue 9)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from crmcli.store.models.base import Table, _json, _when


class OutboxMessage(Table, table=True):
    """One automated message: rendered when queued, sent by `crm outbox send`.

    status: queued | sending | sent | failed | cancelled. A row stays `sending` only if the
    program stopped between the SMTP transaction and recording its outcome. channel: email
    (to the lead's address) or notification (to a user, by name: a rep's meeting reminder).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        # one message per step of a sequence run, ever: tick may run any number of times
        UniqueConstraint("lead_id", "sequence", "step", name="uq_outbox_step"),
        Index("ix_outbox_status_scheduled", "status", "scheduled_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    sequence: str
    step: str
    template: str
    channel: str = "email"
    to_address: str
    subject: str
    body: str
    scheduled_at: datetime = _when(nullable=False)
    status: str = "queued"
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = _when()
    sending_started_at: datetime | None = _when()
    sent_at: datetime | None = _when()
    message_id: str | None = None
    activity_id: int | None = Field(default=None, foreign_key="activity.id")
    created_at: datetime = _when(nullable=False)
    # a meeting's confirmation, reminder or cancellation notice: the meeting (migration 0016)
    meeting_id: int | None = Field(default=None, foreign_key="activity.id", index=True)


class EmailMessage(Table, table=True):
    """An email logged on a lead, by its Message-ID: imports skip what is already here."""

    __tablename__ = "email_message"
    # one message may be logged on several leads (To: two of them), each once
    __table_args__ = (UniqueConstraint("message_id", "lead_id", name="uq_email_message_lead"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(index=True)
    activity_id: int | None = Field(default=None, foreign_key="activity.id", index=True)
    lead_id: int | None = Field(default=None, foreign_key="lead.id", index=True)
    direction: str
    from_address: str | None = None
    attachments: list[dict[str, Any]] = _json()
    logged_at: datetime = _when(nullable=False)
