"""Files the program reads and writes, handled safely (SPEC §2: special files are bad input).

Reading: only regular files. A FIFO would block forever, /dev/zero never ends and a
directory is not a document, so each is refused with one line naming the option, before a
byte is read; a size limit applies where a larger file can only be a mistake.

Writing: a regular file (or a new name) is written to a private temporary file beside it,
synced and renamed into place, so it appears whole or not at all and is created 0600 (it
may hold personal data). A FIFO or a character device the user names (/dev/null,
/dev/stdout, a pipe) is written in place, never replaced; a directory or a block device is
refused. A full disk is a storage problem (exit 6), anything else that cannot be written is
bad input (exit 2); neither leaves a temporary file behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO

from crmcli.errors import BadInput, CrmError, StorageError

MB = 1024 * 1024
# size limits of files read whole into memory (README: "Files")
POLICY_LIMIT = 1 * MB  # a policy file, and each template file it names
ANCHOR_LIMIT = 64 * MB  # `audit anchor` lines: ~150 bytes a day for a thousand years
MESSAGE_LIMIT = 64 * MB  # one .eml message (attachments included)
SECRET_LIMIT = 64 * 1024  # a password file
# "the disk is full" and its relatives: the storage's fault, not the path's
NO_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EIO, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # POSIX: opening a FIFO must not wait for a peer
_NOCTTY = getattr(os, "O_NOCTTY", 0)  # opening a terminal must not make it ours
_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation at the fd level


def kind(mode: int) -> str:
    """What a non-regular file is, for messages."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def size_text(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < MB:
        return f"{size / 1024:.1f} KB"
    return f"{size / MB:.1f} MB"


# --- reading ----------------------------------------------------------------------------------


def _refuse_special(path: Path, mode: int, option: str) -> None:
    if not stat.S_ISREG(mode):
        raise BadInput(f"{option}: {path} is {kind(mode)}, not a regular file; give a file")


def _over(path: Path, size: int, limit: int, option: str) -> BadInput:
    return BadInput(
        f"{option}: {path} is {size_text(size)}, over the {size_text(limit)} limit; "
        "give a smaller file"
    )


def open_input(path: Path | str, *, option: str, limit: int | None = None) -> BinaryIO:
    """The regular file at `path`, open for binary reading; BadInput naming `option` when it
    is missing, unreadable, not a regular file, or larger than `limit` bytes."""
    path = Path(path)
    try:
        # judged before opening (opening a device can have effects) and again once open
        _refuse_special(path, os.stat(path).st_mode, option)
        fd = os.open(path, os.O_RDONLY | _NONBLOCK | _NOCTTY | _BINARY)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise BadInput(f"{option}: cannot read {path}: {reason}; check the path") from None
    try:
        info = os.fstat(fd)
        _refuse_special(path, info.st_mode, option)  # swapped for a FIFO meanwhile
        if limit is not None and info.st_size > limit:
            raise _over(path, info.st_size, limit, option)
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: Path | str, *, option: str, limit: int) -> bytes:
    """The whole regular file, at most `limit` bytes (checked again as it is read)."""
    with open_input(path, option=option, limit=limit) as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise BadInput(f"{option}: cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise _over(Path(path), len(data), limit, option)
    return data


def read_text(path: Path | str, *, option: str, limit: int) -> str:
    """The regular file as UTF-8 text with universal newlines (as Path.read_text reads it)."""
    data = read_bytes(path, option=option, limit=limit)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{option}: {path} is not UTF-8 text; save it as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_stdin(*, option: str, limit: int) -> str:
    """Standard input as text, at most `limit` characters (`-` for a file argument)."""
    text = sys.stdin.read(limit + 1)
    if len(text) > limit:
        raise BadInput(f"{option}: standard input is over the {size_text(limit)} limit")
    return text


# --- writing ----------------------------------------------------------------------------------


def drop_stdout() -> None:
    """After standard output failed: send what is still buffered to the null device, so the
    flush at exit does not fail a second time (and change the exit code)."""
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, sys.stdout.fileno())
        finally:
            os.close(null)


class OutputFile:
    """An output file opened safely (see the module's docstring); use it as a context manager,
    or call commit() or discard() yourself. `target` '-' is standard output. Writes through
    it that fail raise the one-line error naming `option`."""

    def __init__(
        self,
        target: Path | str,
        *,
        option: str,
        binary: bool = False,
        append: bool = False,
        private: bool = True,
    ) -> None:
        self.option = option
        self.path = Path(target).expanduser()
        self._temporary: Path | None = None  # a regular file's content until commit
        self._append_from: int | None = None  # an appended file's size before, to undo
        self._done = False
        self._stdout = str(target) == "-"
        if self._stdout:
            self._stream: IO[Any] = sys.stdout.buffer if binary else sys.stdout
            return
        fd = self._open(append=append, private=private)
        try:
            if binary:
                self._stream = os.fdopen(fd, "wb")
            else:
                self._stream = os.fdopen(fd, "w", encoding="utf-8", newline="")
        except BaseException:
            os.close(fd)
            raise

    def _open(self, *, append: bool, private: bool) -> int:
        path = self.path
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            mode = None
        except OSError as exc:
            raise self._error(exc) from None
        if mode is not None and not stat.S_ISREG(mode):
            if not (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
                raise BadInput(
                    f"{self.option}: cannot write {path}: it is {kind(mode)}; give a file name"
                )
            return self._open_in_place()
        # a symbolic link stays one: the file it points to is the one replaced
        real = Path(os.path.realpath(path))
        if not real.parent.is_dir():
            raise BadInput(
                f"{self.option}: cannot write {path}: folder {real.parent} does not exist; "
                "create it first"
            )
        try:
            if append:
                fd = os.open(real, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _BINARY, 0o600)
                self._append_from = os.fstat(fd).st_size
                return fd
            fd, name = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
        except OSError as exc:
            raise self._error(exc) from None
        self._temporary, self._target = Path(name), real
        if not private:  # not personal data: the mode a new file gets from the umask
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(fd, 0o666 & ~umask)
        return fd

    def _open_in_place(self) -> int:
        try:
            fd = os.open(self.path, os.O_WRONLY | _NONBLOCK | _NOCTTY)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # a FIFO nobody reads: writing would wait forever
                raise BadInput(
                    f"{self.option}: cannot write {self.path}: no process is reading this "
                    "FIFO; start the reader first"
                ) from None
            raise self._error(exc) from None
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return fd

    def _error(self, exc: OSError) -> CrmError:
        reason = exc.strerror or str(exc)
        if exc.errno in NO_SPACE:
            return StorageError(
                f"{self.option}: cannot write {self.path}: {reason}; free some space and run "
                "the command again"
            )
        if exc.errno == errno.EISDIR:
            reason = "it is a directory"
        return BadInput(f"{self.option}: cannot write {self.path}: {reason}; give a writable file")

    # the stream's writing methods, with failures as the option's one-line error

    def write(self, data: Any) -> int:
        try:
            return self._stream.write(data)
        except OSError as exc:
            if self._stdout:
                raise
            raise self._error(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            if self._stdout:
                raise
            raise self._error(exc) from None

    def commit(self) -> None:
        """Finish: flush and sync, then rename a regular file into place."""
        if self._done:
            return
        if self._stdout:
            self._done = True
            self._stream.flush()
            return
        try:
            self._stream.flush()
            if self._temporary is not None or self._append_from is not None:
                os.fsync(self._stream.fileno())
            self._stream.close()
            if self._temporary is not None:
                os.replace(self._temporary, self._target)
                self._temporary = None
        except OSError as exc:
            self.discard()
            raise self._error(exc) from None
        self._done = True

    def discard(self) -> None:
        """Give up: nothing of this run stays in a regular file (a special file has what
        was written to it)."""
        if self._done:
            return
        self._done = True
        if self._stdout:
            return
        # closing flushes what is buffered: an appended file is cut back only after that
        kept = os.dup(self._stream.fileno()) if self._append_from is not None else None
        with contextlib.suppress(OSError):
            self._stream.close()  # the unwritten buffer is what is being thrown away
        if kept is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(kept, self._append_from)  # type: ignore[arg-type]
            os.close(kept)
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)
            self._temporary = None

    def __enter__(self) -> OutputFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def write_file(target: Path | str, data: str | bytes, *, option: str, private: bool = True) -> None:
    """Write a whole document to `target` as OutputFile does ('-': standard output)."""
    with OutputFile(target, option=option, binary=isinstance(data, bytes), private=private) as out:
        out.write(data)
