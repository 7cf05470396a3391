"""What every table model shares."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from crmcli.store.types import UTCDateTime


class Table(SQLModel):
    """Base of every table model. Table models are never validated by pydantic, so its schema
    is built only if something asks for it (keeps `crm` start-up fast)."""

    model_config = {"defer_build": True}  # type: ignore[assignment]


def _when(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json(default_factory: Any = list) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JSON, nullable=False))
