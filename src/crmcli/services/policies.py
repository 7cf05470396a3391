"""Installing and reading the policy in force."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlmodel import col, func, select

from crmcli.errors import BadInput, PolicyRefusal
from crmcli.rules.policy import PolicyInvalid, default_policy_toml, parse_policy
from crmcli.services.obligations import refresh_all
from crmcli.services.workspace import Tx, policy_error
from crmcli.store.models import Lead, PolicyVersion, StageChange


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def current(tx: Tx) -> PolicyVersion | None:
    query = select(PolicyVersion).order_by(col(PolicyVersion.id).desc()).limit(1)
    return tx.session.exec(query).first()


def install(
    tx: Tx, text: str, *, source: str, stage_map: dict[str, str] | None = None
) -> dict[str, Any]:
    """Validate and install a policy; returns what changed. Unchanged text installs nothing.

    Leads in stages the new policy lacks must be mapped (`stage_map`, old -> new), never
    silently stranded.
    """
    try:
        policy = parse_policy(text, source=source)
    except PolicyInvalid as exc:
        raise policy_error(exc) from None
    previous = current(tx)
    if previous is not None and previous.content == text:
        return {"installed": False, "version": previous.id, "sha256": _digest(text)}
    moved = _move_stranded_leads(tx, policy.stage_keys(), stage_map or {})
    version = PolicyVersion(
        content=text, source=source, installed_at=tx.now, installed_by=tx.actor.name
    )
    tx.session.add(version)
    tx.session.flush()
    tx.audit(
        "policy",
        version.id,
        "install",
        {
            "sha256": [_digest(previous.content) if previous else None, _digest(text)],
            "source": [previous.source if previous else None, source],
        },
    )
    tx.policy = policy
    tx.__dict__.pop("calendar", None)  # the new business hours apply from here on
    refresh_all(tx)
    return {"installed": True, "version": version.id, "sha256": _digest(text), "moved": moved}


def _move_stranded_leads(tx: Tx, stages: list[str], stage_map: dict[str, str]) -> int:
    counts = dict(
        tx.session.exec(
            select(Lead.stage, func.count())
            .where(col(Lead.stage).not_in(stages))
            .group_by(Lead.stage)
        ).all()
    )
    for new in stage_map.values():
        if new not in stages:
            raise BadInput(
                f"--map-stage: {new!r} is not a stage of the new policy; use one of "
                f"{', '.join(stages)}"
            )
    unmapped = {stage: n for stage, n in counts.items() if stage not in stage_map}
    if unmapped:
        listing = ", ".join(f"{stage} ({n})" for stage, n in sorted(unmapped.items()))
        example = min(unmapped)
        raise PolicyRefusal(
            f"leads are in stages the new policy lacks: {listing}; map them with "
            f"--map-stage {example}={stages[0]}"
        )
    remapped: list[int] = []
    for lead in tx.session.exec(select(Lead).where(col(Lead.stage).in_(list(counts)))).all():
        old, lead.stage = lead.stage, stage_map[lead.stage]
        lead.stage_entered_at = tx.now
        tx.session.add(
            StageChange(
                lead_id=lead.id, from_stage=old, to_stage=lead.stage, at=tx.now, actor=tx.actor.name
            )
        )
        tx.audit(
            "lead",
            lead.id,
            "update",
            {"stage": [old, lead.stage], "reason": [None, "policy import --map-stage"]},
        )
        remapped.append(lead.id)
    from crmcli.services import stage_facts

    stage_facts.refresh_session(tx.session, remapped)
    return len(remapped)


def install_default(tx: Tx) -> bool:
    if current(tx) is not None:
        return False
    install(tx, default_policy_toml(), source="defaults")
    return True
