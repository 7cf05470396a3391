"""Attachment files, stored content-addressed beside the database.

A file's bytes live at `<data dir>/attachments/<first two hex digits>/<sha256>`, so the
same content attached twice (to one case or to many) is stored once; the database keeps
the hash, the original name, the sniffed type and the size. Directories are created 0700
and files 0600: attachments are customer data.

Every file is checked (exists, size, type) before anything is written, so a refusal
leaves nothing behind; blobs written by a command whose transaction then fails are
removed again (`blob_store`).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from crmcli.errors import BadInput
from crmcli.files import open_input
from crmcli.rules import attachments as rules

CHUNK = 1 << 20


def attachments_root(url: str) -> Path:
    """The attachment directory for a database: beside a SQLite file, else in the user
    data dir (a server database has no directory of its own), one directory per server
    database, so two databases never share (or erase) each other's files."""
    from crmcli.store.engine import sqlite_path

    path = sqlite_path(url)
    if path is not None:
        return path.parent / "attachments"
    from platformdirs import user_data_path
    from sqlalchemy import make_url

    server = make_url(url)
    # the login is not part of it: every user of one database sees the same files
    key = f"{server.host or 'local'}-{server.port or 'default'}-{server.database or ''}"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in key)
    return user_data_path("crmcli", appauthor=False) / "attachments" / safe


@dataclass(frozen=True)
class Incoming:
    """A file that passed the checks, ready to store."""

    path: Path
    name: str
    size: int
    media_type: str


@dataclass(frozen=True)
class Stored:
    name: str
    size: int
    media_type: str
    sha256: str


@dataclass
class BlobStore:
    root: Path
    created: list[Path] = field(default_factory=list)

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def check(self, paths: list[str], *, limit: int, allowed: list[str]) -> list[Incoming]:
        """Every file readable, within `limit` bytes and of an allowed type — judged by its
        first bytes — or BadInput naming the first file that is not. Writes nothing."""
        checked = []
        for given in paths:
            path = Path(given).expanduser()
            try:
                info = path.stat()
                if not path.is_file():
                    raise BadInput(f"FILE: {given} is not a file; give a file to attach")
                if info.st_size > limit:
                    raise BadInput(
                        f"FILE: {given} is {rules.human_size(info.st_size)}, over the "
                        f"{rules.human_size(limit)} limit (policy cases.max_attachment_mb)"
                    )
                with open_input(path, option="FILE") as handle:
                    head = handle.read(rules.HEAD_BYTES)
            except FileNotFoundError:
                raise BadInput(f"FILE: {given} does not exist; check the path") from None
            except OSError as exc:
                raise BadInput(f"FILE: cannot read {given}: {exc.strerror}") from None
            media_type = rules.sniff(head)
            if not rules.allowed(media_type, allowed):
                raise BadInput(
                    f"FILE: {given} is {media_type} (by its content), which the policy does "
                    f"not allow; allowed: {', '.join(allowed)} (policy cases.allowed_types)"
                )
            checked.append(Incoming(path, path.name, info.st_size, media_type))
        return checked

    def put(self, item: Incoming, *, limit: int) -> Stored:
        """Copy the file in under its hash (once per content); returns what was stored."""
        sha256, size = self._ingest(self._chunks(item, limit))
        return Stored(item.name, size, item.media_type, sha256)

    def put_bytes(self, data: bytes) -> str:
        """Store bytes already in memory (an email's attachment); returns their sha256."""
        sha256 = hashlib.sha256(data).hexdigest()
        if not self.path_for(sha256).exists():
            self._ingest([data])
        return sha256

    @staticmethod
    def _chunks(item: Incoming, limit: int) -> Iterator[bytes]:
        size = 0
        with open_input(item.path, option="FILE") as source:  # still a regular file
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise BadInput(
                        f"FILE: {item.path} grew past the {rules.human_size(limit)} "
                        "limit while it was read (policy cases.max_attachment_mb)"
                    )
                yield chunk

    def _ingest(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Write `chunks` to a private temp file, synced, then move it under its sha256
        (dropped when that content is stored already); returns (sha256, size)."""
        staging = self.root / "tmp"
        self._mkdir(staging)
        fd, temp_name = tempfile.mkstemp(dir=staging)  # created 0600
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha256 = digest.hexdigest()
            final = self.path_for(sha256)
            if final.exists():
                os.unlink(temp_name)  # same content already stored
            else:
                self._mkdir(final.parent)
                os.replace(temp_name, final)  # atomic: a reader never sees half a file
                self.created.append(final)
        except BaseException:
            if os.path.exists(temp_name):
                os.unlink(temp_name)
            raise
        return sha256, size

    def discard_created(self) -> None:
        for path in self.created:
            path.unlink(missing_ok=True)
        self.created.clear()

    def _mkdir(self, path: Path) -> None:
        missing = [p for p in (path, *path.parents) if not p.exists()]
        path.mkdir(parents=True, exist_ok=True)
        for created in missing:
            if created == self.root or self.root in created.parents:
                os.chmod(created, 0o700)


@contextmanager
def blob_store(url: str) -> Iterator[BlobStore]:
    """A blob store whose newly written files are removed if the block fails (wrap the
    write transaction in it, so a failed commit leaves no orphans either)."""
    store = BlobStore(attachments_root(url))
    try:
        yield store
    except BaseException:
        store.discard_created()
        raise
