"""The stage keys a stage-history mask numbers (migration 0012): loaded only by the
commands that write stage history or read it in reports."""

from __future__ import annotations

from sqlmodel import Field

from crmcli.store.models.base import Table


class StageKey(Table, table=True):
    """A number for every stage key ever entered: `lead.stage_history_mask` has bit `id` set
    when the lead entered stage `key`. Keys are never renumbered or removed, so the masks
    stay right whatever the policy's stages become."""

    __tablename__ = "stage_key"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
