"""The shape of records as users and scripts see them (SPEC §3): one list, used by the
services, the audit log and imports alike."""

from __future__ import annotations

# the JSON shape of a lead, in display order
LEAD_FIELDS = (
    "id",
    "first_name",
    "last_name",
    "company",
    "title",
    "email",
    "phone",
    "source",
    "industry",
    "employees",
    "country",
    "region",
    "stage",
    "status",
    "type",
    "score",
    "band",
    "owner",
    "campaign",
    "acquired_at",
    "created_at",
    "updated_at",
)
# fields a user may set with add/edit (owner and campaign are names, resolved to ids)
LEAD_EDITABLE = (
    "first_name",
    "last_name",
    "company",
    "title",
    "email",
    "phone",
    "source",
    "industry",
    "employees",
    "country",
    "region",
)
# fields whose every change is audited: the row must always equal what its events say
LEAD_AUDITED = tuple(
    f for f in LEAD_FIELDS if f not in ("id", "acquired_at", "created_at", "updated_at")
)

# a review item as `review list --format json` shows it; its table, up to the source
REVIEW_FIELDS = (
    "id",
    "lead",
    "name",
    "kind",
    "field",
    "current_value",
    "proposed_value",
    "source",
    "status",
    "created_at",
    "resolved_at",
    "resolved_by",
)
REVIEW_TABLE_FIELDS = REVIEW_FIELDS[: REVIEW_FIELDS.index("source") + 1]
