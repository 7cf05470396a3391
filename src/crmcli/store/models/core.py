"""Users, campaigns, leads and the policy versions: what every command needs."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field

from crmcli.store.models.base import Table, _json, _when
from crmcli.store.types import Money


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
    signature: str | None = None  # closes automated messages from this user's leads (0008)
    # the OS login this user is bound to (0018): who acts without --as, and whose --as counts
    login: str | None = Field(default=None, unique=True, index=True)
    # the user's email (0021): an import's owner column may name them by it
    email: str | None = Field(default=None, unique=True, index=True)


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


class Lead(Table, table=True):
    """A lead, and the opportunity it becomes on qualification (one record, Odoo-style)."""

    __tablename__ = "lead"
    __table_args__ = (
        Index("ix_lead_owner_status", "owner_id", "status"),
        # lookups by company_key use ix_lead_company_block (migration 0004), which starts with
        # it; its own index was dropped (0013)
        Index("ix_lead_last_key", "last_key"),
        # reports (migration 0011): covering indexes by stage and by creation time
        Index(
            "ix_lead_report_stage",
            *("stage", "created_at", "owner_id", "campaign_id", "amount", "close_date"),
            "stage_entered_at",
        ),
        Index(
            "ix_lead_report_created",
            *("created_at", "stage", "owner_id", "campaign_id", "source", "amount"),
            *("close_date", "stage_entered_at"),
            # the stored stage-history facts below (migration 0012)
            *("stage_history_at", "stage_history_mask", "stage_history_last"),
        ),
        # ids are never reused: a deleted lead's audit history must not become another's
        {"sqlite_autoincrement": True},
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
    stage: str  # looked up through ix_lead_report_stage, whose first column it is (0022)
    status: str = Field(default="new")
    score: int | None = None
    band: str | None = None
    owner_id: int | None = Field(default=None, foreign_key="user.id")
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", index=True)
    account_id: int | None = Field(default=None, foreign_key="account.id", index=True)
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
    type: str | None = None  # opportunity type from the policy's pipeline.opportunity_types
    opted_out_at: datetime | None = _when()  # no automated messages after this (0008)
    # an opportunity's own win probability, 0-100 (None: its stage's), and when it last had
    # its weekly update (next step and future close date left in place) (migration 0017)
    probability: int | None = None
    weekly_update_at: datetime | None = _when()
    # facts of the lead's stage history (migration 0012), kept by services.stage_facts
    # whenever the history changes, so reports need not read the history lead by lead:
    # when it last changed, the stages it ever entered (bits: stage_key ids), the latest one
    stage_history_at: datetime | None = _when()
    stage_history_mask: int | None = Field(default=None, sa_column=Column(BigInteger()))
    stage_history_last: str | None = None


class PolicyVersion(Table, table=True):
    """Every installed policy; the newest is in force."""

    __tablename__ = "policy_version"

    id: int | None = Field(default=None, primary_key=True)
    content: str
    source: str
    installed_at: datetime = _when(nullable=False)
    installed_by: str
