"""Installing and reading the policy in force."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlmodel import col, select

from crmcli.rules.policy import PolicyInvalid, default_policy_toml, parse_policy
from crmcli.services.workspace import Tx, policy_error
from crmcli.store.models import PolicyVersion


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def current(tx: Tx) -> PolicyVersion | None:
    query = select(PolicyVersion).order_by(col(PolicyVersion.id).desc()).limit(1)
    return tx.session.exec(query).first()


def install(tx: Tx, text: str, *, source: str) -> dict[str, Any]:
    """Validate and install a policy; returns what changed. Unchanged text installs nothing."""
    try:
        parse_policy(text, source=source)
    except PolicyInvalid as exc:
        raise policy_error(exc) from None
    previous = current(tx)
    if previous is not None and previous.content == text:
        return {"installed": False, "version": previous.id, "sha256": _digest(text)}
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
    return {"installed": True, "version": version.id, "sha256": _digest(text)}


def install_default(tx: Tx) -> bool:
    if current(tx) is not None:
        return False
    install(tx, default_policy_toml(), source="defaults")
    return True
