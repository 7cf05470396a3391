"""Table models. Changing a table means adding an Alembic migration, never editing history."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from crmcli.store.types import Money, UTCDateTime


class Table(SQLModel):
    """Base of every table model. Table models are never validated by pydantic, so its schema
    is built only if something asks for it (keeps `crm` start-up fast)."""

    model_config = {"defer_build": True}  # type: ignore[assignment]


def _when(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json(default_factory: Any = list) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JSON, nullable=False))


class User(Table, table=True):
    __tablename__ = "user"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    role: str  # viewer | editor | admin
    territories: list[str] = _json()
    skills: list[str] = _json()
    capacity: int | None = None
    active: bool = True
    created_at: datetime = _when(nullable=False)


class Campaign(Table, table=True):
    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    created_at: datetime = _when(nullable=False)


class UserCampaign(Table, table=True):
    """A user's campaign scope; a user with none sees every campaign."""

    __tablename__ = "user_campaign"

    user_id: int = Field(foreign_key="user.id", primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True)


class Account(Table, table=True):
    __tablename__ = "account"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    industry: str | None = None
    country: str | None = None
    region: str | None = None
    key_account: bool = False
    owner_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = _when(nullable=False)
    updated_at: datetime = _when(nullable=False)


class Contact(Table, table=True):
    __tablename__ = "contact"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int | None = Field(default=None, foreign_key="account.id", index=True)
    first_name: str
    last_name: str
    title: str | None = None
    email: str | None = Field(default=None, index=True)
    phone: str | None = Field(default=None, index=True)
    verified_at: datetime | None = _when()
    created_at: datetime = _when(nullable=False)
    updated_at: datetime = _when(nullable=False)


class Lead(Table, table=True):
    """A lead, and the opportunity it becomes on qualification (one record, Odoo-style)."""

    __tablename__ = "lead"
    __table_args__ = (
        Index("ix_lead_owner_status", "owner_id", "status"),
        Index("ix_lead_company_key", "company_key"),
        Index("ix_lead_last_key", "last_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    first_name: str
    last_name: str
    company: str | None = None
    title: str | None = None
    email: str | None = Field(default=None, index=True)
    phone: str | None = Field(default=None, index=True)
    source: str
    industry: str | None = None
    employees: int | None = None
    country: str | None = None
    region: str | None = None
    stage: str = Field(index=True)
    status: str = Field(default="new")
    score: int | None = None
    band: str | None = None
    owner_id: int | None = Field(default=None, foreign_key="user.id")
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", index=True)
    account_id: int | None = Field(default=None, foreign_key="account.id")
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    # blocking keys for fuzzy duplicate search (normalised company, first letters of last name)
    company_key: str = ""
    last_key: str = ""
    extra: dict[str, Any] = _json(dict)
    acquired_at: datetime = _when(nullable=False)
    created_at: datetime = _when(nullable=False)
    updated_at: datetime = _when(nullable=False)
    # lifecycle (migration 0002)
    kind: str = "lead"  # lead | opportunity (after qualification)
    stage_entered_at: datetime | None = _when()
    assigned_at: datetime | None = _when()
    first_response_at: datetime | None = _when()
    amount: Decimal | None = Field(default=None, sa_column=Column(Money(), nullable=True))
    close_date: date | None = None
    po_number: str | None = None
    lost_reason: str | None = None
    quote_ref: str | None = None
    prospect_said_no: bool = False


class ScoreEvent(Table, table=True):
    """Score history: every scoring with its model, total, band and term-by-term breakdown."""

    __tablename__ = "score_event"

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    model: str
    score: int
    band: str
    breakdown: dict[str, Any] = _json(dict)
    at: datetime = _when(nullable=False)
    actor: str


class EngagementEvent(Table, table=True):
    """Behaviour and engagement signals (web visit, download, demo request, …) of seed 000."""

    __tablename__ = "engagement_event"

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    kind: str
    at: datetime = _when(nullable=False)
    actor: str


class StageChange(Table, table=True):
    """Every stage a lead entered, with the time spent in the stage it left (velocity)."""

    __tablename__ = "stage_change"

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    from_stage: str | None = None
    to_stage: str
    seconds_in_from: int | None = None
    at: datetime = _when(nullable=False)
    actor: str


class Activity(Table, table=True):
    """Calls, meetings (with call report), emails, chats, notes and tasks (next steps)."""

    __tablename__ = "activity"
    __table_args__ = (Index("ix_activity_user_status_due", "user_id", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int | None = Field(default=None, foreign_key="lead.id", index=True)
    user_id: int = Field(foreign_key="user.id")
    type: str  # call | meeting | email | chat | note | task
    direction: str | None = None  # outbound | inbound
    outcome: str | None = None
    subject: str | None = None
    notes: str | None = None
    details: dict[str, Any] = _json(dict)
    at: datetime = _when(nullable=False)  # when it happened, or when a task starts
    due_at: datetime | None = _when()
    duration_minutes: int | None = None
    status: str = "logged"  # logged | open | done | cancelled
    done_at: datetime | None = _when()
    done_by: str | None = None
    points: int = 0
    parent_id: int | None = Field(default=None, foreign_key="activity.id")
    created_at: datetime = _when(nullable=False)


class Notification(Table, table=True):
    """In-app notices, e.g. a manager told of an executive-band lead."""

    __tablename__ = "notification"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    lead_id: int | None = Field(default=None, foreign_key="lead.id")
    kind: str
    message: str
    created_at: datetime = _when(nullable=False)
    read_at: datetime | None = _when()


class UserAway(Table, table=True):
    """Out-of-office periods (inclusive dates) that take a rep out of routing."""

    __tablename__ = "user_away"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    starts_on: date
    ends_on: date


class Obligation(Table, table=True):
    """A deadline a policy rule puts on a record; kept current as records change."""

    __tablename__ = "obligation"
    __table_args__ = (
        UniqueConstraint("rule", "record_type", "record_id", "key", name="uq_obligation"),
        Index("ix_obligation_status_due", "status", "due_at"),
        # the overdue report: open obligations by owner, then due time
        Index("ix_obligation_open_owner_due", "status", "owner_id", "due_at"),
        Index("ix_obligation_record", "record_type", "record_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    rule: str
    record_type: str
    record_id: int
    key: str = ""  # tells apart several obligations of one rule on one record
    owner_id: int | None = Field(default=None, foreign_key="user.id")
    title: str = ""
    started_at: datetime = _when(nullable=False)
    due_at: datetime = _when(nullable=False)
    status: str = "open"  # open | met | cancelled
    met_at: datetime | None = _when()
    met_by: str | None = None
    detail: dict[str, Any] = _json(dict)


class AuditEvent(Table, table=True):
    """Append-only; each event hashes its content and the previous event's hash."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_record", "record_type", "record_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when(nullable=False)
    actor: str
    command: str
    record_type: str
    record_id: int | None = None
    action: str
    changes: dict[str, Any] = _json(dict)
    prev_hash: str
    hash: str = Field(unique=True)


class PolicyVersion(Table, table=True):
    """Every installed policy; the newest is in force."""

    __tablename__ = "policy_version"

    id: int | None = Field(default=None, primary_key=True)
    content: str
    source: str
    installed_at: datetime = _when(nullable=False)
    installed_by: str
