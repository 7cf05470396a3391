"""Accounts, contacts, scores, engagement, stage history, activities, notifications,
absences, obligations:
loaded only by the commands that use them (start-up time)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field

from crmcli.store.models.base import Table, _json, _when


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
    # account management (migration 0005)
    name_key: str = Field(default="", index=True)  # dedupe.company_key(name): duplicates, match
    contract_end: date | None = None
    won_at: datetime | None = _when()  # its first opportunity was won: onboarding starts
    key_since: datetime | None = _when()  # flagged key account: QBRs count from here


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
    __table_args__ = (
        # reports (migration 0009): changes by time; time spent per stage in index order
        Index("ix_stage_change_at", "at", "to_stage", "lead_id"),
        # (of moves out of a stage only: a lead's first row, from no stage, is in neither of
        # the two by from_stage; every query of them names from_stage, migration 0022)
        Index(
            "ix_stage_change_from_seconds",
            *("from_stage", "seconds_in_from", "at"),
            sqlite_where=text("from_stage IS NOT NULL"),
            postgresql_where=text("from_stage IS NOT NULL"),
        ),
        # a lead's history in id order, covering (migration 0011)
        Index("ix_stage_change_lead_history", "lead_id", "id", "at", "to_stage", "from_stage"),
        # changes into given stages by time: won or lost in a period (migration 0011), with
        # how long after the lead's creation (lead to close, migration 0012)
        Index("ix_stage_change_to_at", "to_stage", "at", "lead_id", "seconds_since_created"),
        # changes into a stage in order of the lead's age: lead-to-close medians (0012)
        Index("ix_stage_change_to_age", "to_stage", "seconds_since_created", "at", "lead_id"),
        # a lead's changes by time (0012, in place of the one by lead alone), covering the
        # stage it was in at a past instant and since when, and the stages it had entered by
        # then (0014)
        Index(
            "ix_stage_change_lead_at",
            *("lead_id", "at", "id", "from_stage", "previous_at", "to_stage"),
        ),
        # changes out of a stage by time: the deals stuck in it at a past instant (0014)
        Index(
            "ix_stage_change_from_at",
            *("from_stage", "at", "previous_at", "lead_id"),
            sqlite_where=text("from_stage IS NOT NULL"),
            postgresql_where=text("from_stage IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id")
    from_stage: str | None = None
    to_stage: str
    seconds_in_from: int | None = None
    at: datetime = _when(nullable=False)
    actor: str
    # whole seconds from the lead's creation to this change (migration 0012), kept by
    # services.stage_facts: lead-to-close times without reading the lead
    seconds_since_created: int | None = None
    # when the lead entered from_stage: its previous change's time, in order of (at, id),
    # NULL for its first (migration 0014), kept by services.stage_facts
    previous_at: datetime | None = _when(nullable=True)


class Activity(Table, table=True):
    """Calls, meetings (with call report), emails, chats, notes and tasks (next steps)."""

    __tablename__ = "activity"
    __table_args__ = (
        Index("ix_activity_user_status_due", "user_id", "status", "due_at"),
        # activity points per rep (migration 0011): logged ones by time, done ones by when
        Index("ix_activity_logged_at", "status", "at", "done_at", "user_id", "type", "points"),
        Index("ix_activity_done_at", "status", "done_at", "at", "user_id", "type", "points"),
    )

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int | None = Field(default=None, foreign_key="lead.id", index=True)
    user_id: int = Field(foreign_key="user.id")
    # with an account's contact who is no lead (mail from a customer's contact; 0015)
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
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
    """In-app notices (`crm inbox`): an executive-band lead, a quote waiting for approval, a
    case past its SLA, a stale record."""

    __tablename__ = "notification"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    lead_id: int | None = Field(default=None, foreign_key="lead.id")  # erased with the lead
    kind: str
    message: str
    created_at: datetime = _when(nullable=False)
    read_at: datetime | None = _when()
    # what it is about: lead, quote, case (migration 0017)
    record_type: str | None = None
    record_id: int | None = None


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
        # overdue as of a past instant (migration 0011): never met (this one; partial since
        # 0022, so queries must say met_at IS NULL literally; met_at in it, always NULL, so
        # it covers them), or met after it (the next)
        Index(
            "ix_obligation_met_due",
            *("due_at", "status", "started_at", "owner_id", "met_at"),
            sqlite_where=text("met_at IS NULL"),
            postgresql_where=text("met_at IS NULL"),
        ),
        # … of those met after it, only the ones met late can have been overdue then
        # (migration 0014): partial, so queries must say met_at > due_at literally
        Index(
            "ix_obligation_met_late",
            "met_at",
            "due_at",
            "status",
            "started_at",
            "owner_id",
            sqlite_where=text("met_at > due_at"),
            postgresql_where=text("met_at > due_at"),
        ),
        # the overdue report: open obligations by owner, then due time, covering what it
        # prints; partial (open rows only), so queries must say status = 'open' literally.
        # status is in it too: SQLite only reads an index alone (no table row per result)
        # when it holds every column the query names, the partial WHERE's included.
        Index(
            "ix_obligation_open_owner_due",
            "owner_id",
            "due_at",
            "id",
            "rule",
            "record_type",
            "record_id",
            "title",
            "status",
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_obligation_record", "record_type", "record_id"),
        # the response report (migration 0009): first responses per rep, covering; with
        # status before the start time (0017), `report sla` counts each rule, owner and
        # status of a period as one range of it
        Index(
            "ix_obligation_rule_owner_started",
            "rule",
            "owner_id",
            "status",
            "started_at",
            "due_at",
            "met_at",
        ),
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
    status: str = "open"  # open | met | cancelled | paused (the clock stands still)
    met_at: datetime | None = _when()
    met_by: str | None = None
    detail: dict[str, Any] = _json(dict)
