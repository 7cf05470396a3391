#!/usr/bin/env python3
"""Bulk import speed and duplicate-detection quality of `crm lead import`.

Generates a messy Salesforce-style CSV (Faker names and companies) with planted duplicates
(case changes, transposed letters, reformatted phones, upper-cased emails, dropped fields)
and bad rows, then times, each as a fresh process on the same file:

  crm lead import FILE                 validate, deduplicate, enrich, audit, obligations
  sqlite-utils insert DB t FILE --csv  plain load, no validation (the target to beat)
  python csv + sqlite3.executemany     the floor: read the file and insert the cells

and prints wall and CPU time and peak memory (max RSS) of each, database bytes per lead
after a WAL checkpoint (and the largest tables and indexes), flags by kind, and duplicates
found vs planted (precision, recall). Targets (issue 19): import <= 2.0 x sqlite-utils (goal
1.0 x); 1M rows <= 11 x the 100k time (give that time with --base-seconds); <= 2,500 bytes
per lead; peak memory <= 300 MB at 1M rows; recall >= 0.95, precision >= 0.99.

It is a measurement, not a test: it prints numbers and PASS/MISS and always exits 0.

    python benchmarks/import.py [--rows 100000] [--dupes 0.1] [--bad 0.02] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HEADER = [
    "Lead ID",
    "First Name",
    "Last Name",
    "Company",
    "Title",
    "Email",
    "Phone",
    "Lead Source",
    "Industry",
    "No. of Employees",
    "State/Province",
    "Country",
    "Created Date",
    "Description",
]
SOURCES = ["Web", "Referral", "Trade Show", "Partner", "Phone Inquiry", "Advertisement"]
INDUSTRIES = ["Software", "Manufacturing", "Retail", "Finance", "Healthcare", "Education", ""]
STATES = ["NY", "CA", "TX", "MA", "IL", "WA", "FL", "GA", "CO", "OR"]
AREA_CODES = [
    "212", "213", "206", "303", "305", "312", "404", "415", "469", "480",
    "503", "512", "602", "617", "646", "702", "713", "818", "917", "215",
]  # fmt: skip
FLOOR_SCRIPT = """
import csv, sqlite3, sys
db, path = sys.argv[1], sys.argv[2]
conn = sqlite3.connect(db)
with open(path, newline="", encoding="utf-8") as f:
    reader = csv.reader(f)
    header = next(reader)
    cols = ", ".join(f'"c{i}" TEXT' for i in range(len(header)))
    conn.execute(f"CREATE TABLE t ({cols})")
    marks = ", ".join("?" * len(header))
    width = len(header)
    rows = ((r + [""] * (width - len(r)))[:width] for r in reader if r)
    conn.executemany(f"INSERT INTO t VALUES ({marks})", rows)
conn.commit()
"""


@dataclass
class Person:
    first: str
    last: str
    company: str
    email: str
    phone: str  # digits, 10


def transpose(text: str, rng: random.Random) -> str:
    """Swap two adjacent letters (not the first: a typist's slip, not a different name)."""
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 2)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def phone_text(digits: str, rng: random.Random) -> str:
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return rng.choice(
        [f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"+1 {a} {b} {c}", f"1{a}{b}{c}"]
    )


def valid_prefixes(rng: random.Random) -> list[str]:
    import phonenumbers

    prefixes = []
    for area in AREA_CODES:
        for exchange in rng.sample(range(201, 990), 60):
            number = phonenumbers.parse(f"+1{area}{exchange}4567")
            if phonenumbers.is_valid_number(number):
                prefixes.append(f"{area}{exchange}")
    return prefixes


def generate(path: Path, rows: int, dupe_share: float, bad_share: float, seed: int):
    """Write the file; return {row number: row number of the original} for planted dupes."""
    from faker import Faker

    rng = random.Random(seed)
    Faker.seed(seed)
    fake = Faker("en_US")
    firsts = sorted({fake.first_name() for _ in range(3000)})  # sorted: same file every run
    lasts = sorted({fake.last_name() for _ in range(5000)})
    companies = sorted({fake.company() for _ in range(max(2000, rows // 8))})
    titles = sorted({fake.job() for _ in range(300)})
    words = fake.words(200)
    prefixes = valid_prefixes(rng)
    people: list[tuple[int, Person]] = []  # (row number, person) of originals
    planted: dict[int, int] = {}
    used_phones: set[str] = set()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        line = 1
        for index in range(rows):
            line += 1
            roll = rng.random()
            created = (
                f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/2025 "
                f"{rng.randint(1, 12):02d}:{rng.randint(0, 59):02d} {rng.choice(['AM', 'PM'])}"
            )
            extra = [
                rng.choice(titles),
                "",
                "",
                rng.choice(SOURCES),
                rng.choice(INDUSTRIES),
                str(rng.randint(1, 20000)),
                rng.choice(STATES),
                rng.choice(["US", "United States", "USA"]),
                created,
                " ".join(rng.sample(words, 6)),
            ]
            if people and roll < dupe_share:
                original_line, p = rng.choice(people)
                first, last, company = p.first, p.last, p.company
                email, phone = p.email, phone_text(p.phone, rng)
                personal = f"{p.first}.{p.last}{line}@mail.example".lower()
                variant = rng.randrange(7)
                if variant == 0:  # shouting
                    first, last, email = first.upper(), last.upper(), email.upper()
                elif variant == 1:  # a typo in the name, another phone format, no email
                    last, email = transpose(last, rng), ""
                elif variant == 2:  # a typo in the company, no phone
                    company, phone = transpose(company, rng), ""
                elif variant == 3:  # lower case, a private email, no phone: name + company
                    first, last, company = first.lower(), last.lower(), company.lower()
                    email, phone = personal, ""
                elif variant == 4:  # a typo in the name, a private email: name + company
                    if rng.random() < 0.5:
                        first = transpose(first, rng)
                    else:
                        last = transpose(last, rng)
                    email, phone = personal, ""
                elif variant == 5:  # a typo in the company, a private email: name + company
                    company, email, phone = transpose(company, rng), personal, ""
                # variant 6: an exact copy (but for title, source, description)
                planted[line] = original_line
                cells = [first, last, company, extra[0], email, phone, *extra[3:]]
            elif roll < dupe_share + bad_share:
                first, last = rng.choice(firsts), rng.choice(lasts)
                bad = rng.randrange(5)
                cells = [
                    first if bad != 0 else "",
                    last if bad != 0 else "",
                    rng.choice(companies),
                    extra[0],
                    "not-an-email@" if bad == 1 else ("" if bad == 0 else f"b{index}@bad.example"),
                    "12" if bad == 2 else "",
                    *extra[3:5],
                    "many" if bad == 3 else extra[5],
                    *extra[6:8],
                    "12/31/2099 10:00 AM" if bad == 4 else created,
                    extra[9],
                ]
                if bad == 0:
                    cells[4] = cells[5] = ""
            else:
                first, last = rng.choice(firsts), rng.choice(lasts)
                company = rng.choice(companies)
                while True:
                    digits = rng.choice(prefixes) + f"{rng.randrange(10000):04d}"
                    if digits not in used_phones:
                        used_phones.add(digits)
                        break
                email = f"{first}.{last}{index}@{company.split()[0].strip(',').lower()}.example"
                person = Person(first, last, company, email.lower(), digits)
                people.append((line, person))
                cells = [
                    first,
                    last,
                    company,
                    extra[0],
                    person.email,
                    phone_text(digits, rng),
                    *extra[3:],
                ]
            writer.writerow([f"00Q{index:012d}", *cells])
    return planted


def generate_apart(path: Path, rows: int, dupe_share: float, bad_share: float, seed: int):
    """`generate` in a child process. On Linux a child's ru_maxrss starts at its parent's
    high-water mark (kept across exec), so a harness that built a million Person records
    itself would report that as every measured command's peak memory."""
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply(generate, (path, rows, dupe_share, bad_share, seed))


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, str, float]:
    """(seconds, peak RSS MB, exit code, stderr tail, CPU seconds of it and its waited-for
    children: the checking worker) of one fresh process."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, usage.ru_maxrss / 1024, proc.returncode, err.strip()[-400:], cpu


def size_per_row(db: Path, table: str) -> tuple[int, int, list[tuple[str, int]]]:
    """(bytes of the database after a WAL checkpoint, rows of `table`, the ten largest
    tables and indexes in bytes, when SQLite has dbstat)."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    try:
        largest = conn.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 10"
        ).fetchall()
    except sqlite3.OperationalError:
        largest = []
    conn.close()
    return db.stat().st_size, rows, largest


def quality(db: Path, planted: dict[int, int]) -> tuple[int, int, int, int]:
    """(predicted, true positives, planted, planted with an importable original)."""
    conn = sqlite3.connect(db)
    outcome = {
        row: (kind, lead)
        for row, kind, lead in conn.execute("SELECT row_number, outcome, lead_id FROM import_row")
    }
    conn.close()
    predicted = {row for row, (kind, _) in outcome.items() if kind in ("merged", "queued")}
    hits = sum(
        1
        for row in predicted
        if row in planted
        and outcome.get(planted[row], ("", None))[1] == outcome[row][1]
        and outcome.get(planted[row], ("", None))[0] == "imported"
    )
    reachable = sum(1 for original in planted.values() if outcome.get(original, ("",))[0])
    return len(predicted), hits, len(planted), reachable


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the file (100000)")
    parser.add_argument("--dupes", type=float, default=0.10, help="share of planted duplicates")
    parser.add_argument("--bad", type=float, default=0.02, help="share of bad rows")
    parser.add_argument("--seed", type=int, default=20260306)
    parser.add_argument("--batch-size", type=int, default=None, help="crm --batch-size")
    parser.add_argument("--keep", type=Path, default=None, help="keep the files in this dir")
    parser.add_argument(
        "--skip-baselines", action="store_true", help="time crm only (e.g. a 1M-row run)"
    )
    parser.add_argument(
        "--base-seconds",
        type=float,
        default=None,
        help="crm's time on a 10x smaller file (its own run): prints the linearity ratio",
    )
    args = parser.parse_args()

    import compileall

    import crmcli
    from crmcli.context import os_login

    # time what an install runs: pip byte-compiles a package
    compileall.compile_dir(Path(crmcli.__file__).parent, quiet=1)
    user = os_login()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(CRM_USER=user, NO_COLOR="1")
    # the crmcli this script imported (a worktree's src on PYTHONPATH), not an installed `crm`
    # entry point that may point at another checkout
    source_root = str(Path(crmcli.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(
        [source_root, *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
    )
    crm = [sys.executable, "-m", "crmcli"]
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="crm-import-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        data = workdir / f"leads-{args.rows}.csv"
        started = time.perf_counter()
        planted = generate_apart(data, args.rows, args.dupes, args.bad, args.seed)
        print(
            f"file: {args.rows:,} rows, {data.stat().st_size / 1e6:.1f} MB, "
            f"{len(planted):,} planted duplicates, "
            f"generated in {time.perf_counter() - started:.1f} s"
        )
        db = workdir / "crm.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        subprocess.run([*crm, "--db", str(db), "init"], env=env, check=True, capture_output=True)
        argv = [*crm, "--db", str(db), "lead", "import", str(data), "--source", "web"]
        if args.batch_size:
            argv += ["--batch-size", str(args.batch_size)]
        results = {"crm lead import": timed(argv, env)}
        if not args.skip_baselines:
            su_db = workdir / "su.db"
            su_db.unlink(missing_ok=True)
            sqlite_utils = shutil.which("sqlite-utils")
            if sqlite_utils:
                results["sqlite-utils insert --csv"] = timed(
                    [sqlite_utils, "insert", str(su_db), "leads", str(data), "--csv"], env
                )
            else:
                print("sqlite-utils not installed (pip install sqlite-utils): no comparison")
            floor_db = workdir / "floor.db"
            floor_db.unlink(missing_ok=True)
            results["csv + sqlite3.executemany"] = timed(
                [sys.executable, "-c", FLOOR_SCRIPT, str(floor_db), str(data)], env
            )
        print(f"\n{'':<28}{'wall s':>9}{'CPU s':>9}{'peak MB':>10}{'rows/s':>10}")
        for name, (seconds, rss, code, err, cpu) in results.items():
            note = "" if code == 0 else f"   exit {code}: {err}"
            print(f"{name:<28}{seconds:9.2f}{cpu:9.2f}{rss:10.0f}{args.rows / seconds:10.0f}{note}")
        import resource

        harness = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"(this script's own peak, a floor under every peak above: {harness:.0f} MB)")
        predicted, hits, planted_n, reachable = quality(db, planted)
        precision = hits / predicted if predicted else 0.0
        recall = hits / planted_n if planted_n else 0.0
        conn = sqlite3.connect(db)
        counts = dict(conn.execute("SELECT outcome, count(*) FROM import_row GROUP BY outcome"))
        leads, events = (
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("lead", "audit_event")
        )
        conn.close()
        print(f"\noutcomes: {counts}; leads {leads:,}, audit events {events:,}")
        flags = dict(
            sqlite3.connect(db).execute(
                "SELECT field, count(*) FROM review_item WHERE field LIKE 'value.%' GROUP BY field"
            )
        )
        print(f"flags (review items of kind value): {flags}")
        size, _rows, largest = size_per_row(db, "lead")
        per_lead = size / leads if leads else 0.0
        print(f"database {size / 1e6:.1f} MB after a WAL checkpoint: {per_lead:,.0f} B per lead")
        if largest:
            print("largest: " + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in largest))
        if "sqlite-utils insert --csv" in results:
            su_size, su_rows, _ = size_per_row(workdir / "su.db", "leads")
            print(f"sqlite-utils: {su_size / max(su_rows, 1):,.0f} bytes per row")
        print(
            f"duplicates: {predicted:,} found, {planted_n:,} planted ({reachable:,} with their "
            f"original imported), {hits:,} right: precision {precision:.4f}, recall {recall:.4f}"
        )
        verdict = {True: "PASS", False: "MISS"}
        crm_s, crm_mb = results["crm lead import"][:2]
        if "sqlite-utils insert --csv" in results:
            ratio = crm_s / results["sqlite-utils insert --csv"][0]
            cpu_ratio = results["crm lead import"][4] / results["sqlite-utils insert --csv"][4]
            print(
                f"import / sqlite-utils      {ratio:6.2f} x   target <= 2.0 x   "
                f"{verdict[ratio <= 2.0]} (goal 1.0 x: {verdict[ratio <= 1.0]}; CPU "
                f"{cpu_ratio:.2f} x)"
            )
        if args.base_seconds:
            linear = crm_s / args.base_seconds
            print(
                f"time / 10x smaller file   {linear:6.2f} x   target <= 11 x    "
                f"{verdict[linear <= 11]}"
            )
        print(
            f"bytes per lead            {per_lead:6.0f}    target <= 2500    "
            f"{verdict[per_lead <= 2500]}"
        )
        print(
            f"peak memory               {crm_mb:6.0f} MB  target <= 300 MB  "
            f"{verdict[crm_mb <= 300]}"
        )
        print(
            f"recall                    {recall:6.4f}    target >= 0.95    "
            f"{verdict[recall >= 0.95]}"
        )
        print(
            f"precision                 {precision:6.4f}    target >= 0.99    "
            f"{verdict[precision >= 0.99]}"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
