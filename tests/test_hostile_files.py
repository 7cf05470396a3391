"""Hostile files (issue 17, items 5 and 6): CSV cells a spreadsheet would run as formulas,
inputs that are not regular files, and outputs that are directories, special files or a full
disk. Every refusal is one line on stderr with the SPEC §2 exit code (2, or 6 for a full
disk), never 70, and leaves the database as it was."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import select
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import crmcli
from conftest import Crm, new_crm
from crmcli import render

FORMULAS = ['=HYPERLINK("http://x")', "+SUM(A1)", "@cmd", "-2+3"]
ON_LINUX = Path("/dev/full").exists() and Path("/dev/zero").exists()
linux_only = pytest.mark.skipif(not ON_LINUX, reason="needs /dev/full and /dev/zero")


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """A read of a FIFO or /dev/zero that is not refused would hang: fail instead."""

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("the command hung on a special file")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def devices_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run as root here: a regression must fail the test, not replace /dev/full."""
    for name in ("replace", "rename"):
        real = getattr(os, name)

        def guarded(src, dst, *args, _real=real, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            if str(dst).startswith("/dev/"):
                raise AssertionError(f"{dst} would have been replaced")
            return _real(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, name, guarded)


def one_error(run, code: int, *needles: str) -> None:  # noqa: ANN001
    assert run.code == code, (run.code, run.err)
    errors = [line for line in run.err.splitlines() if line.startswith("crm: ")]
    assert len(errors) == 1, run.err
    assert "Traceback" not in run.err + run.out
    for needle in needles:
        assert needle in errors[0], errors[0]


# --- one CSV writer -------------------------------------------------------------------------


@pytest.mark.parametrize("text", [*FORMULAS, "\tTAB", "\rCR", "=", "-"])
def test_text_that_starts_a_formula_gets_a_quote(text: str) -> None:
    assert render.csv_cell(text) == "'" + text
    assert render.csv_cell([text, "b"]) == "'" + text + ", b"  # joined lists are text too


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (-2, "-2"),
        (Decimal("-2.50"), "-2.50"),
        (-0.5, "-0.5"),
        (True, "yes"),
        (None, ""),
        ("Acme", "Acme"),
        ("a=b", "a=b"),
        ("'=already", "'=already"),
        (datetime(2026, 3, 6, 21, 30, tzinfo=UTC), "2026-03-06T21:30:00+00:00"),
    ],
)
def test_numbers_and_times_stay_as_they_are(value: object, cell: str) -> None:
    assert render.csv_cell(value) == cell


def test_the_writer_quotes_and_guards_in_one_pass() -> None:
    out = io.StringIO()
    writer = render.CsvWriter(out)
    writer.writerow(["name", "amount"])
    writer.writerow(['=HYPERLINK("http://x", "a, b")', -2])
    assert out.getvalue() == 'name,amount\n"\'=HYPERLINK(""http://x"", ""a, b"")",-2\n'
    assert list(csv.reader(io.StringIO(out.getvalue())))[1] == [
        '\'=HYPERLINK("http://x", "a, b")',
        "-2",
    ]


@pytest.fixture
def hostile(team: Crm) -> Crm:
    """A lead whose company is each formula (and one whose next step's title is one), a
    campaign named like a formula, all owned by ed."""
    team.ok("campaign", "add", FORMULAS[0])
    for number, company in enumerate(FORMULAS):
        team.ok(
            "lead", "add", "--first", f"F{number}", "--last", f"Person{number}",
            f"--company={company}", "--email", f"f{number}@example.com", "--source", "web",
            "--campaign", FORMULAS[0],
        )  # fmt: skip
        team.ok("assign", str(number + 1), "--to", "ed")
    team.ok("next-step", "1", "+SUM(A1) call back", "--due", "2026-03-09 10:00")
    return team


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def guarded(cells: list[str]) -> None:
    assert sorted(cells) == sorted("'" + text for text in FORMULAS), cells


def test_lead_list_and_show_guard_formula_cells(hostile: Crm) -> None:
    rows = csv_rows(hostile.ok("lead", "list", "--format", "csv").out)
    guarded([row["company"] for row in rows])
    assert {row["campaign"] for row in rows} == {"'" + FORMULAS[0]}
    shown = [
        csv_rows(hostile.ok("lead", "show", str(n), "--format", "csv").out) for n in range(1, 5)
    ]
    guarded([rows[0]["company"] for rows in shown])
    # JSON is data, not a spreadsheet: as typed
    listed = hostile.ok("lead", "list", "--format", "json").json()
    assert sorted(row["company"] for row in listed) == sorted(FORMULAS)


@pytest.mark.parametrize("fast", [True, False], ids=["sqlite-lines", "row-by-row"])
def test_report_overdue_csv_guards_text_and_keeps_negative_numbers(
    hostile: Crm, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    if not fast:
        monkeypatch.setattr("crmcli.services.reports.overdue_lines", lambda *a, **k: None)
    out = hostile.ok("report", "overdue", "--format", "csv", "--due-within", "30d").out
    rows = csv_rows(out)
    step = next(row for row in rows if "call back" in row["title"])
    assert step["title"].startswith("'+SUM(A1) call back")
    assert int(step["overdue_by_seconds"]) < 0  # due on Monday: a negative number, unguarded
    assert step["overdue_by_seconds"].startswith("-")


def test_reports_guard_formula_cells(hostile: Crm) -> None:
    later = {"CRM_NOW": "2026-03-08T12:00:00+00:00"}  # the leads are in the period
    run = hostile.ok("report", "sources", "--by", "campaign", "--format", "csv", **later)
    rows = csv_rows(run.out)
    assert "'" + FORMULAS[0] in {row["campaign"] for row in rows}


def test_lead_export_and_rejects_file_guard_formula_cells(hostile: Crm, tmp_path: Path) -> None:
    out = tmp_path / "leads.csv"
    hostile.ok("lead", "export", str(out))
    guarded([row["company"] for row in csv_rows(out.read_text(encoding="utf-8"))])
    source = tmp_path / "in.csv"
    source.write_text(
        "First Name,Last Name,Email,Company,=cmd|' /C calc'!A0\n"
        "Good,Row,good@example.com,Good Inc,\n"
        "Bad,Row,not-an-email,@SUM(1),-2+3\n",
        encoding="utf-8",
    )
    rejects = tmp_path / "rejects.csv"
    hostile.ok("lead", "import", str(source), "--source", "web", "--rejects", str(rejects))
    header, row = list(csv.reader(io.StringIO(rejects.read_text(encoding="utf-8"))))
    assert header[-1] == "'=cmd|' /C calc'!A0"
    assert row[0] == "3" and row[2:] == ["Bad", "Row", "not-an-email", "'@SUM(1)", "'-2+3"]


# --- files we read --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory, pg_server) -> Iterator[Crm]:  # noqa: ANN001
    for cli in new_crm(tmp_path_factory.mktemp("hostile") / "crm.db", pg_server):
        cli.ok("init", "--example")
        yield cli


def special_input(kind: str, tmp_path: Path) -> Path:
    if kind == "device":
        return Path("/dev/zero")
    path = tmp_path / ("special.fifo" if kind == "fifo" else "folder")
    if kind == "fifo":
        os.mkfifo(path)  # nobody ever writes: opening it for reading would wait forever
    else:
        path.mkdir()
    return path


def template_policy(tmp_path: Path, template: Path) -> Path:
    policy = tmp_path / "with-template.toml"
    policy.write_text(f'[templates.t]\nsubject = "Hi"\nfile = "{template}"\n', encoding="utf-8")
    return policy


READERS: dict[str, Callable[[Path, Path], list[str]]] = {
    "lead import": lambda p, _: ["lead", "import", str(p)],
    "policy check": lambda p, _: ["policy", "check", str(p)],
    "policy import": lambda p, _: ["policy", "import", str(p)],
    "--policy": lambda p, _: ["--policy", str(p), "lead", "list"],
    "policy template file": lambda p, tmp: ["policy", "check", str(template_policy(tmp, p))],
    "mail import": lambda p, _: ["mail", "import", str(p)],
    "log-email --eml": lambda p, _: ["log-email", "1", "--eml", str(p)],
    "case attach": lambda p, _: ["case", "attach", "1", str(p)],
    "audit verify --anchor": lambda p, _: ["audit", "verify", "--anchor", str(p)],
    "db restore": lambda p, _: ["db", "restore", str(p)],
}


# every reader with every kind, except `mail import` of a directory: a directory of .eml
# files is what mail import reads
SPECIAL_INPUTS = [
    (reader, kind)
    for reader in sorted(READERS)
    for kind in ("device", "fifo", "directory")
    if (reader, kind) != ("mail import", "directory")
]


@linux_only
@pytest.mark.parametrize(("reader", "kind"), SPECIAL_INPUTS)
def test_inputs_that_are_not_regular_files_are_refused(
    example: Crm, tmp_path: Path, reader: str, kind: str
) -> None:
    path = special_input(kind, tmp_path)
    before = example.snapshot()
    run = example(*READERS[reader](path, tmp_path))
    one_error(run, 2, str(path))
    named = {"directory": "is a directory", "fifo": "is a FIFO", "device": "is a character"}
    if reader != "case attach":  # attachments say "is not a file", as they always did
        assert named[kind] in run.err and "not a regular file" in run.err, run.err
    assert example.snapshot() == before


def test_a_policy_file_over_the_limit_is_refused(crm: Crm, tmp_path: Path) -> None:
    from crmcli.files import POLICY_LIMIT

    path = tmp_path / "huge.toml"
    path.write_text("# padding\n" * (POLICY_LIMIT // 10 + 1), encoding="utf-8")
    for args in (["policy", "check", str(path)], ["--policy", str(path), "lead", "list"]):
        one_error(crm(*args), 2, "over the 1.0 MB limit")
    one_error(crm("policy", "check", "-", input="#" * (POLICY_LIMIT + 1)), 2, "over the")


# --- files we write -------------------------------------------------------------------------

# every command that writes a file FILE, with the option its messages name
WRITERS: dict[str, tuple[list[str], str]] = {
    "lead export": (["lead", "export", "FILE", "--format", "csv"], "FILE"),
    "lead import --rejects": (
        ["lead", "import", "IMPORT", "--source", "web", "--rejects", "FILE"],
        "--rejects",
    ),
    "agenda --ics": (["agenda", "--user", "maria", "--ics", "FILE"], "--ics"),
    "report --html": (["report", "pipeline", "--html", "FILE"], "--html"),
    "dashboard --html": (["dashboard", "--html", "FILE"], "--html"),
    "audit sample --html": (
        ["audit", "sample", "5", "--quarter", "2026Q1", "--html", "FILE"],
        "--html",
    ),
    "quote export": (["quote", "export", "Q-0002", "--out", "FILE"], "--out"),
    "audit anchor --out": (["audit", "anchor", "--out", "FILE"], "--out"),
    "policy init": (["policy", "init", "FILE", "--force"], "FILE"),
}
PERSONAL = sorted(set(WRITERS) - {"audit anchor --out", "policy init"})


IMPORTS = itertools.count()


def writer_args(name: str, target: Path | str, tmp_path: Path) -> list[str]:
    """The command line of writer `name` writing `target`. An import gets a new file each
    time (a file imported before writes no rejects file again): one new lead, one rejected."""
    args, _option = WRITERS[name]
    inputs = tmp_path / "inputs"
    inputs.mkdir(exist_ok=True)
    number = next(IMPORTS)
    source = inputs / f"import-{number}.csv"
    source.write_text(
        "First Name,Last Name,Email,Company\n"
        f"Imported{number},Lead{number},imported{number}@example.com,Company {number}\n"
        f"Bad,Row,nope-{number},\n"
    )
    return [str(target) if a == "FILE" else str(source) if a == "IMPORT" else a for a in args]


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_writing_to_a_directory_is_refused(example: Crm, tmp_path: Path, name: str) -> None:
    folder = tmp_path / "out.html"  # a name quote export accepts
    folder.mkdir()
    before = example.snapshot()
    run = example(*writer_args(name, folder, tmp_path))
    one_error(run, 2, WRITERS[name][1], "is a directory")
    assert list(folder.iterdir()) == [] and example.snapshot() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@linux_only
@pytest.mark.parametrize("name", sorted(set(WRITERS) - {"quote export"}))
def test_a_full_device_is_written_in_place_and_never_replaced(
    example: Crm, tmp_path: Path, name: str
) -> None:
    run = example(*writer_args(name, "/dev/full", tmp_path))
    one_error(run, 6, WRITERS[name][1], "No space left on device")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


@linux_only
@pytest.mark.parametrize("name", sorted(set(WRITERS) - {"quote export"}))
def test_dev_null_is_written_in_place(example: Crm, tmp_path: Path, name: str) -> None:
    example.ok(*writer_args(name, "/dev/null", tmp_path))
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_quote_export_refuses_a_device_by_its_name(example: Crm) -> None:
    one_error(example("quote", "export", "Q-0002", "--out", "/dev/null"), 2, "--out")


class FifoReader:
    """The read end of a FIFO, opened before the command runs (so the command finds a
    reader), drained on a thread until the command has finished and closed its end."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.data = bytearray()
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._drain)
        self.thread.start()

    def _drain(self) -> None:
        while True:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            chunk = b""
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except BlockingIOError:
                    continue
            self.data += chunk
            if not chunk:
                if self.finished.is_set():
                    return
                time.sleep(0.01)  # no writer (yet, or any more)

    def close(self) -> bytes:
        self.finished.set()
        self.thread.join(timeout=30)
        os.close(self.fd)
        return bytes(self.data)


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_a_fifo_is_written_in_place(example: Crm, tmp_path: Path, name: str) -> None:
    fifo = tmp_path / "out.html"
    os.mkfifo(fifo)
    reader = FifoReader(fifo)
    try:
        example.ok(*writer_args(name, fifo, tmp_path))
    finally:
        received = reader.close()
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert len(received) > 20, received


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_a_fifo_nobody_reads_is_refused_at_once(example: Crm, tmp_path: Path, name: str) -> None:
    fifo = tmp_path / "out.html"
    os.mkfifo(fifo)
    before = example.snapshot()
    one_error(example(*writer_args(name, fifo, tmp_path)), 2, "no process is reading")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and example.snapshot() == before


@pytest.mark.parametrize("name", PERSONAL)
def test_files_holding_personal_data_are_created_owner_only(
    example: Crm, tmp_path: Path, name: str
) -> None:
    previous = os.umask(0o022)
    try:
        new = tmp_path / "new.html"
        example.ok(*writer_args(name, new, tmp_path))
        assert stat.S_IMODE(os.stat(new).st_mode) == 0o600
        # an existing file open to others is replaced by an owner-only one
        old = tmp_path / "old.html"
        old.write_text("old")
        os.chmod(old, 0o644)
        example.ok(*writer_args(name, old, tmp_path))
        assert stat.S_IMODE(os.stat(old).st_mode) == 0o600 and old.read_text() != "old"
    finally:
        os.umask(previous)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_anchor_file_is_private_and_policy_init_follows_the_umask(
    example: Crm, tmp_path: Path
) -> None:
    previous = os.umask(0o022)
    try:
        anchors = tmp_path / "anchors.jsonl"
        example.ok("audit", "anchor", "--out", str(anchors))
        example.ok("audit", "anchor", "--out", str(anchors))
        assert stat.S_IMODE(os.stat(anchors).st_mode) == 0o600
        assert len(anchors.read_text().splitlines()) == 2  # appended, not replaced
        policy = tmp_path / "policy.toml"
        example.ok("policy", "init", str(policy))  # the defaults: nothing personal
        assert stat.S_IMODE(os.stat(policy).st_mode) == 0o644
    finally:
        os.umask(previous)


def fail_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills up as the file is synced (how a full disk often shows)."""

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("crmcli.files.os.fsync", full)


@pytest.mark.parametrize("name", PERSONAL)
def test_a_full_disk_leaves_the_old_file_and_nothing_else(
    example: Crm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    target = tmp_path / "out.html"
    target.write_text("the old file\n")
    args = writer_args(name, target, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    fail_fsync(monkeypatch)
    one_error(example(*args), 6, WRITERS[name][1])
    assert target.read_text() == "the old file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_full_disk_cuts_an_anchor_file_back(
    example: Crm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    anchors = tmp_path / "anchors.jsonl"
    example.ok("audit", "anchor", "--out", str(anchors))
    kept = anchors.read_bytes()
    fail_fsync(monkeypatch)
    one_error(example("audit", "anchor", "--out", str(anchors)), 6, "--out")
    assert anchors.read_bytes() == kept


def test_a_full_disk_under_an_import_leaves_no_rejects_file(
    crm: Crm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows are imported (batches commit as they go); the rejects file, written at the
    end, is not there, and running the import again writes it (nothing is added twice)."""
    source = tmp_path / "in.csv"
    source.write_text(
        "First Name,Last Name,Email\nAda,Lovelace,ada@example.com\nBad,Row,nope\n",
        encoding="utf-8",
    )
    rejects = tmp_path / "rejects.csv"
    with monkeypatch.context() as patched:
        fail_fsync(patched)
        run = crm("lead", "import", str(source), "--source", "web", "--rejects", str(rejects))
        one_error(run, 6, "--rejects")
    assert not rejects.exists()
    crm.ok("lead", "import", str(source), "--source", "web", "--rejects", str(rejects))
    assert crm.count("lead") == 1
    assert [row[2:] for row in csv.reader(rejects.open(encoding="utf-8"))][1] == [
        "Bad",
        "Row",
        "nope",
    ]


def test_a_symbolic_link_stays_a_link(example: Crm, tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    example.ok("lead", "export", str(link))
    assert link.is_symlink() and real.read_text().startswith("id,first_name")


def test_a_missing_folder_names_it(example: Crm, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "leads.csv"
    one_error(example("lead", "export", str(target)), 2, "FILE: cannot write", "does not exist")


@linux_only
@pytest.mark.sqlite_only  # its subprocess opens the example's SQLite file (output, not storage)
def test_standard_output_on_a_full_disk_is_exit_6(example: Crm) -> None:
    """The real entry point: what is still buffered at exit must not fail a second time."""
    env = {**os.environ, **{k: v for k, v in example.env.items() if v is not None}}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(crmcli.__file__).parents[1])]))
    for args in (["lead", "list", "--format", "csv"], ["report", "pipeline", "--format", "json"]):
        with open("/dev/full", "w") as full:
            done = subprocess.run(
                [sys.executable, "-m", "crmcli", *args],
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                env={k: v for k, v in env.items() if k != "CRM_FORMAT"},
                timeout=60,
            )
        assert done.returncode == 6, done.stderr
        assert done.stderr == (
            "crm: cannot write the output: No space left on device; free some space\n"
        )


def test_export_json_lines_are_unchanged(example: Crm, tmp_path: Path) -> None:
    out = tmp_path / "leads.jsonl"
    example.ok("lead", "export", str(out))
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert first["phone"].startswith("+")  # JSON is data: never guarded
