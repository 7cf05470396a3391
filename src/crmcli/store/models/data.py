"""The audit log and its erasable personal data, import batches and the
review queue: loaded when a command writes or needs them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer
from sqlmodel import Field

from crmcli.store.models.base import Table, _json, _when


class ImportBatch(Table, table=True):
    """One run of `crm lead import` over one file; re-runs of the same file resume it."""

    __tablename__ = "import_batch"

    id: int | None = Field(default=None, primary_key=True)
    file_name: str
    file_sha256: str = Field(index=True)
    format: str  # csv | jsonl
    status: str = "running"  # running | done | undone
    actor: str
    options: dict[str, Any] = _json(dict)
    counts: dict[str, Any] = _json(dict)  # read, imported, merged, queued, rejected
    started_at: datetime = _when(nullable=False)
    finished_at: datetime | None = _when()


class ImportRow(Table, table=True):
    """What happened to each row of a batch: the resume point, and what `imports undo` reverts."""

    __tablename__ = "import_row"
    __table_args__ = (Index("ix_import_row_lead", "lead_id"),)

    batch_id: int = Field(foreign_key="import_batch.id", primary_key=True)
    row_number: int = Field(primary_key=True)
    outcome: str  # imported | merged | queued | rejected | duplicate
    lead_id: int | None = Field(default=None, foreign_key="lead.id")
    reason: str | None = None
    changes: dict[str, Any] = _json(dict)  # enrichment applied: field -> [old, new]


class ReviewItem(Table, table=True):
    """A conflicting value for a known person, waiting for a human (seed 001 §2.3)."""

    __tablename__ = "review_item"
    __table_args__ = (Index("ix_review_status", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    field: str
    current_value: str | None = None
    proposed_value: str | None = None
    source: str  # e.g. "import 3 row 17"
    batch_id: int | None = Field(default=None, foreign_key="import_batch.id")
    status: str = "open"  # open | accepted | rejected
    created_at: datetime = _when(nullable=False)
    resolved_at: datetime | None = _when()
    resolved_by: str | None = None


class PersonalKey(Table, table=True):
    """A per-record secret: the audit chain stores keyed hashes of personal values, so
    deleting this key (and the values) erases a person without breaking the chain."""

    __tablename__ = "personal_key"

    record_type: str = Field(primary_key=True)
    record_id: int = Field(primary_key=True)
    key: str  # hex
    created_at: datetime = _when(nullable=False)


class AuditPersonal(Table, table=True):
    """The readable personal values behind an audit event's keyed hashes (erasable)."""

    __tablename__ = "audit_personal"

    event_id: int = Field(foreign_key="audit_event.id", primary_key=True)
    field: str = Field(primary_key=True)
    old: str | None = None
    new: str | None = None


class AuditEvent(Table, table=True):
    """Append-only; each event hashes its content and the previous event's hash."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_record", "record_type", "record_id"),
        # what `report --as-of` must rebuild (migration 0011)
        Index("ix_audit_type_at", "record_type", "at", "record_id"),
    )

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
    # hashed when set (0018): the login that ran the command, and the sha256 of the policy
    # file an admin wrote under instead of the stored policy
    login: str | None = None
    policy: str | None = None


class AuditSeal(Table, table=True):
    """The seal of one row as a transaction left it (services.seals): a hash of its content,
    personal values keyed; NULL: the transaction deleted it. A seal event's hashed content
    holds the digest of its rows, so these are in the chain as much as the event is."""

    __tablename__ = "audit_seal"
    __table_args__ = (
        # a record's seals in order: `audit verify` merges them with the table by id (not
        # covering: the seal, most of a row, is read from the table, migration 0022)
        Index("ix_audit_seal_record", "record_type", "record_id", "event_id"),
        {"sqlite_with_rowid": False},
    )

    event_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("audit_event.id"), primary_key=True, autoincrement=False
        )
    )
    record_type: str = Field(primary_key=True)
    # a table's id, or (user_campaign) its two ids in one: user_id << 32 | campaign_id
    record_id: int = Field(
        sa_column=Column(BigInteger, primary_key=True, autoincrement=False, nullable=False)
    )
    seal: str | None = None


class AuditHead(Table, table=True):
    """The chain's head kept outside the event table: how many events it holds and the last
    one's hash, advanced by a trigger on every insert into audit_event (migration 0019), so
    no writer can forget it. A shortened or emptied chain no longer reaches it."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    events: int = Field(sa_column=Column(BigInteger, nullable=False))
    hash: str
