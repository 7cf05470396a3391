"""Email attachments kept beside the database, content-addressed:
`<db dir>/attachments/ab/<sha256>`. The same file attached twice is stored once; a file
written by an import that then fails is harmless (nothing refers to it)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from crmcli.services.workspace import Tx


def store_dir(tx: Tx) -> Path | None:
    """Where attachments go; None when the database is not a file (PostgreSQL, memory)."""
    url = tx.session.get_bind().url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve().parent / "attachments"


def save(root: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    path = root / digest[:2] / digest
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(data)
        partial.replace(path)  # atomic: a reader never sees half a file
    return digest


def store_all(tx: Tx, parts: list[tuple[str, str, bytes]]) -> tuple[list[dict[str, Any]], str]:
    """(filename, content type, bytes) → stored descriptions, and a note if not stored."""
    if not parts:
        return [], ""
    root = store_dir(tx)
    described = [
        {"filename": name, "content_type": kind, "size": len(data)} for name, kind, data in parts
    ]
    if root is None:
        return described, "attachments listed, not stored: the database is not a local file"
    for item, (_name, _kind, data) in zip(described, parts, strict=True):
        item["sha256"] = save(root, data)
    return described, ""


def forget(tx: Tx, digests: set[str]) -> int:
    """Delete stored files no other logged email refers to (`crm lead forget`); returns how
    many. Run after the forgotten lead's references are cleared in this transaction."""
    from sqlmodel import select

    from crmcli.store.models import EmailMessage

    root = store_dir(tx)
    if root is None or not digests:
        return 0
    tx.session.flush()
    still = {
        item.get("sha256")
        for attachments in tx.session.exec(select(EmailMessage.attachments))
        for item in attachments
    }
    removed = 0
    for digest in digests - still:
        path = root / digest[:2] / digest
        if path.exists():
            path.unlink()
            removed += 1
    return removed
