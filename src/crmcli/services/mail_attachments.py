"""Email attachments, in the same content-addressed store as case attachments
(services/attachments.py): the same file mailed twice, or mailed and attached to a case, is
stored once. A file written by an import that then fails is harmless: nothing refers to it."""

from __future__ import annotations

from typing import Any

from crmcli.services.attachments import BlobStore, attachments_root
from crmcli.services.workspace import Tx


def _store(tx: Tx) -> BlobStore:
    url = tx.session.get_bind().url.render_as_string(hide_password=False)
    return BlobStore(attachments_root(url))


def store_all(tx: Tx, parts: list[tuple[str, str, bytes]]) -> tuple[list[dict[str, Any]], str]:
    """(filename, content type, bytes) → stored descriptions, and a note (always empty
    now: every database has an attachment directory)."""
    store = _store(tx) if parts else None
    return [
        {"filename": name, "content_type": kind, "size": len(data), "sha256": store.put_bytes(data)}
        for name, kind, data in parts
        if store is not None
    ], ""


def forget(tx: Tx, digests: set[str]) -> int:
    """Delete stored files that no logged email and no case attachment refers to any more
    (`crm lead forget`); returns how many. Run after the forgotten lead's references are
    cleared in this transaction."""
    from sqlmodel import col, select

    from crmcli.store.models import CaseAttachment, EmailMessage

    if not digests:
        return 0
    tx.session.flush()
    still = {
        item.get("sha256")
        for attachments in tx.session.exec(select(EmailMessage.attachments))
        for item in attachments
    }
    still |= set(
        tx.session.exec(
            select(CaseAttachment.sha256).where(col(CaseAttachment.sha256).in_(sorted(digests)))
        )
    )
    store, removed = _store(tx), 0
    for digest in digests - still:
        path = store.path_for(digest)
        if path.exists():
            path.unlink()
            removed += 1
    return removed
