"""One long ordered SQLite read, split across the machine's cores, from one snapshot.

A report of a million rows spends its time in SQLite writing lines: one core's work, while
the other idles. `read_in_parts` runs the parts of such a read (the same query over
consecutive ranges of its sort key) at once: the first in this process, the others each in a
small worker process (plain `sqlite3`, started in milliseconds), which writes its lines to
a temporary file that is copied out after the parts before it.

Every part reads the same snapshot: while one connection holds the write lock (a few
milliseconds, so no writer can commit), each part's connection begins its read transaction
in WAL mode, then the lock is let go. When the lock cannot be had (a long write holds it,
or the file is read-only), `read_in_parts` returns None and the caller reads in one part.

Lines are UTF-8 bytes (the query's one column is a blob). Each part is yielded as segments
`(count, chunks)`: `count` lines whose bytes, concatenated from `chunks`, are the lines
joined by `separator`.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from crmcli.errors import StorageError

Segment = tuple[int, "Sequence[bytes] | Iterator[bytes]"]
BATCH = 10_000  # rows per fetch
LOCK_WAIT = 0.5  # seconds to wait for the write lock before reading in one part instead

# The worker: read the job from stdin, begin a read transaction and take the snapshot, say
# "ready" on stderr, write the lines to stdout (a temporary file), then "done COUNT".
_WORKER = """\
import json, sqlite3, sys
from operator import itemgetter
job = json.load(sys.stdin)
con = sqlite3.connect(job["path"], isolation_level=None, timeout=job["timeout"])
con.execute("BEGIN")
con.execute("SELECT count(*) FROM sqlite_master").fetchall()
print("ready", file=sys.stderr, flush=True)
out, separator, count = sys.stdout.buffer, job["separator"].encode(), 0
cursor = con.execute(job["sql"], job["params"])
while rows := cursor.fetchmany(job["batch"]):
    out.write((separator if count else b"") + separator.join(map(itemgetter(0), rows)))
    count += len(rows)
out.flush()
print("done", count, file=sys.stderr, flush=True)
"""


Statement = tuple[str, Sequence[Any]]  # driver SQL and its parameters


def driver_sql(statement: Any, dialect: Any) -> Statement:
    """A SQLAlchemy statement as the SQL text and parameter values the driver receives
    (each value through its column type's bind processor, as an execution would do)."""
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    values = compiled.construct_params()
    params = []
    for name in compiled.positiontup:
        processor = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        params.append(processor(values[name]) if processor else values[name])
    return compiled.string, params


def read_in_parts(
    path: Path,
    parts: Sequence[Statement],
    *,
    separator: bytes,
    count: Statement,
    timeout: float = 5.0,
) -> tuple[Iterator[Segment], Callable[[], int]] | None:
    """The lines of `parts` (in output order), and the value of the `count` query once they
    are read, all from one snapshot; None when no snapshot can be shared (the caller then
    reads in one part)."""
    lock = sqlite3.connect(path, isolation_level=None, timeout=LOCK_WAIT)
    try:
        lock.execute("BEGIN IMMEDIATE")
    except sqlite3.Error:
        lock.close()
        return None
    workers: list[_Worker] = []
    own = None
    try:
        own = _snapshot(path, timeout)
        for sql, params in parts[1:]:
            workers.append(_Worker(path, sql, params, separator, timeout))
        for worker in workers:
            worker.wait_ready()
    except BaseException:
        for worker in workers:
            worker.kill()
        if own is not None:
            own.close()
        raise
    finally:
        lock.rollback()
        lock.close()
    counted: list[int] = []  # filled once this process's part is read
    segments = _segments(own, parts[0], workers, separator, count, counted)
    return segments, lambda: counted[0]


def _snapshot(path: Path, timeout: float) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, timeout=timeout)
    connection.execute("BEGIN")
    connection.execute("SELECT count(*) FROM sqlite_master").fetchall()  # the read begins
    return connection


def _segments(
    own: sqlite3.Connection,
    first: Statement,
    workers: list[_Worker],
    separator: bytes,
    count: Statement,
    counted: list[int],
) -> Iterator[Segment]:
    try:
        yield from cursor_segments(own.execute(first[0], list(first[1])), separator)
        # counted while the workers may still be at work, in the same snapshot
        counted.append(own.execute(count[0], list(count[1])).fetchone()[0])
        own.rollback()
        for worker in workers:
            count, out = worker.finish()
            if count:
                yield count, _chunks(out)
    finally:
        own.close()
        for worker in workers:
            worker.kill()


def cursor_segments(cursor: Any, separator: bytes) -> Iterator[Segment]:
    """A DB-API cursor's rows of one bytes value as segments of BATCH lines."""
    while rows := cursor.fetchmany(BATCH):
        yield len(rows), (separator.join(map(itemgetter(0), rows)),)


def _chunks(out: IO[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    with out:
        out.seek(0)
        while chunk := out.read(size):
            yield chunk


class _Worker:
    """One part in a child process: its lines go to an unnamed temporary file."""

    def __init__(
        self, path: Path, sql: str, params: Sequence[Any], separator: bytes, timeout: float
    ) -> None:
        self.out = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _chunks or kill)
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-c", _WORKER],
            stdin=subprocess.PIPE,
            stdout=self.out,
            stderr=subprocess.PIPE,
        )
        job = {
            "path": str(path),
            "sql": sql,
            "params": list(params),
            "separator": separator.decode(),
            "timeout": timeout,
            "batch": BATCH,
        }
        assert self.process.stdin is not None and self.process.stderr is not None
        self.process.stdin.write(json.dumps(job).encode())
        self.process.stdin.close()
        self.stderr = self.process.stderr

    def wait_ready(self) -> None:
        line = self.stderr.readline().decode(errors="replace").strip()
        if line != "ready":
            self._failed(line)

    def finish(self) -> tuple[int, IO[bytes]]:
        said = self.stderr.read().decode(errors="replace").strip()
        code = self.process.wait()
        if code != 0 or not said.startswith("done "):
            self._failed(said)
        return int(said.split()[1]), self.out

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.stderr.close()
        self.out.close()

    def _failed(self, said: str) -> None:
        self.kill()
        last = said.splitlines()[-1] if said.strip() else f"exit {self.process.returncode}"
        raise StorageError(f"a report worker failed ({last}); rerun, or report a bug")
