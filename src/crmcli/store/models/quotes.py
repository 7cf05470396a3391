"""Quotes, their lines and their approval decisions (migration 0006)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Index
from sqlmodel import Field

from crmcli.store.models.base import Table, _json, _when
from crmcli.store.types import Fixed, Money


class Quote(Table, table=True):
    """A quote for a lead or opportunity. Its totals are the sums of its rounded lines, kept
    with the quote so lists and reports need not read every line."""

    __tablename__ = "quote"
    __table_args__ = (
        Index("ix_quote_lead_status", "lead_id", "status"),
        # a quote number is never reused (documents and POs quote it)
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id")
    owner_id: int | None = Field(default=None, foreign_key="user.id")
    status: str = "draft"  # draft | submitted | approved | rejected | sent | accepted
    currency: str
    valid_until: date
    subtotal: Decimal = Field(default=Decimal(0), sa_column=Column(Money(), nullable=False))
    discount: Decimal = Field(default=Decimal(0), sa_column=Column(Money(), nullable=False))
    total: Decimal = Field(default=Decimal(0), sa_column=Column(Money(), nullable=False))
    # set on submit: whether the policy asked for approval, and why
    approval_needed: bool = False
    approval_reasons: list[str] = _json()
    submitted_at: datetime | None = _when()
    submitted_by: str | None = None
    sent_at: datetime | None = _when()
    sent_by: str | None = None
    accepted_at: datetime | None = _when()
    po_number: str | None = None
    created_by: str
    created_at: datetime = _when(nullable=False)
    updated_at: datetime = _when(nullable=False)
    extra: dict[str, Any] = _json(dict)


class QuoteLine(Table, table=True):
    __tablename__ = "quote_line"

    id: int | None = Field(default=None, primary_key=True)
    quote_id: int = Field(foreign_key="quote.id", index=True)
    position: int
    product: str | None = None
    sku: str | None = None
    quantity: Decimal = Field(sa_column=Column(Fixed(3), nullable=False))
    unit_price: Decimal = Field(sa_column=Column(Money(), nullable=False))
    discount_pct: Decimal = Field(default=Decimal(0), sa_column=Column(Fixed(2), nullable=False))


class QuoteApproval(Table, table=True):
    """One approver's decision on one submission of a quote."""

    __tablename__ = "quote_approval"

    id: int | None = Field(default=None, primary_key=True)
    quote_id: int = Field(foreign_key="quote.id", index=True)
    decision: str  # approved | rejected
    reason: str
    decided_by: str
    decided_at: datetime = _when(nullable=False)
    submitted_at: datetime | None = _when()  # the submission decided on
