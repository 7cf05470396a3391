#!/usr/bin/env python3
"""The performance reports (`crm report pipeline|conversion|…`, `crm dashboard`) at scale.

Builds (with benchmarks/overdue.py's generator) or reuses its database of N leads, adds the
stage history that generator does not write (once: a creation row for every lead, and for
each opportunity the stages it passed through, spread between its creation and the time it
entered its current stage), then times every report (`python -m crmcli` from this checkout's
src, whatever `crm` is installed; wall clock, one fresh process per run,
stdout to /dev/null, one warm-up run not counted, runs interleaved round-robin) against

  python -c "import typer, sqlmodel"     anchor: what any typer + sqlmodel CLI pays

Target: each report's median under 2 s. It is a measurement, not a test: it prints PASS/MISS
per report and always exits 0. CRM_NOW is the instant the data is built around.

    python benchmarks/reports.py [--leads 1000000] [--runs 3] [--db PATH | --reuse PATH]
                                 [--only conversion,velocity]

--reuse PATH adds the stage history to that database if it has none (so point it at a copy
of a database you want to keep as it is).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
SRC = Path(__file__).resolve().parent.parent / "src"
sys.path.insert(0, str(SRC))  # this checkout's code, not whatever `crm` is installed

import overdue  # noqa: E402  (the generator and the timing helpers of the deadline benchmark)

TARGET_S = 2.0
BATCH = 50_000
OPEN_STAGES = ("prospecting", "qualification", "needs_analysis", "proposal", "negotiation")


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def _stamp(value: datetime) -> str:
    return value.isoformat(" ", "microseconds")


def add_stage_history(db: Path) -> tuple[int, float]:
    """Stage changes for every lead, shaped like `crm advance` writes them; returns (rows,
    seconds). Does nothing when the database already has stage history."""
    con = sqlite3.connect(db, isolation_level=None)
    if con.execute("SELECT count(*) FROM stage_change").fetchone()[0]:
        con.close()
        return 0, 0.0
    started = time.perf_counter()
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -500000")
    rng = random.Random(overdue.SEED + 7)
    rows: list[tuple] = []
    count = 0
    con.execute("BEGIN")
    insert = (
        "INSERT INTO stage_change (lead_id, from_stage, to_stage, seconds_in_from, at, actor) "
        "VALUES (?, ?, ?, ?, ?, ?)"
    )
    leads = con.execute(
        "SELECT id, created_at, stage, stage_entered_at, kind FROM lead ORDER BY id"
    ).fetchall()
    for lead_id, created, stage, entered, kind in leads:
        rows.append((lead_id, None, "prospecting", None, created, overdue.ADMIN))
        if kind == "opportunity" and stage != "prospecting":
            if stage in OPEN_STAGES:
                path = list(OPEN_STAGES[1 : OPEN_STAGES.index(stage) + 1])
            elif stage == "closed_won":
                path = [*OPEN_STAGES[1:], stage]
            else:  # lost somewhere along the way
                path = [*OPEN_STAGES[1 : rng.randint(2, len(OPEN_STAGES))], stage]
            start, end = _parse(created), _parse(entered)
            step = (end - start) / len(path)
            previous, previous_at = "prospecting", start
            for i, to_stage in enumerate(path):
                at = end if i == len(path) - 1 else start + step * (i + 1)
                spent = int((at - previous_at).total_seconds())
                rows.append((lead_id, previous, to_stage, spent, _stamp(at), overdue.ADMIN))
                previous, previous_at = to_stage, at
        if len(rows) >= BATCH:
            con.executemany(insert, rows)
            count += len(rows)
            rows.clear()
    con.executemany(insert, rows)
    count += len(rows)
    con.execute("COMMIT")
    con.execute("ANALYZE stage_change")
    con.close()
    return count, time.perf_counter() - started


def time_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one fresh process: the CPU figure does
    not grow when other processes crowd the machine, the wall figure does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {lines[-1] if lines else ''}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(commands: dict[str, list[str]], runs: int, env: dict[str, str]) -> dict[str, list]:
    """Median inputs: one warm-up run each (not counted), then runs round-robin so a change
    in machine load hits every command alike."""
    for argv in commands.values():
        time_once(argv, env)
    samples: dict[str, list] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            samples[name].append(time_once(argv, env))
    return samples


def database(args: argparse.Namespace, tmp: Path) -> Path:
    """--reuse PATH as it is, or a new database (at --db, else in `tmp`) built by the
    generator of benchmarks/overdue.py."""
    if args.reuse is not None:
        if not args.reuse.exists():
            raise SystemExit(f"--reuse: no database at {args.reuse}")
        print(f"database: reusing {args.reuse}")
        return args.reuse
    target = args.db or tmp / "reports.db"
    if target.exists():
        raise SystemExit(f"--db: {target} exists; remove it or pass --reuse {target}")
    print(f"database: building {args.leads:,} leads at {target} …")
    built = overdue.build_database(target, args.leads, analyze=True)
    print(f"built in {built['build_s']:.1f} s")
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads to build (1000000)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per command (3)")
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help="time only the reports whose names start with one of these (comma-separated: "
        "--only conversion,velocity); the anchor is always timed",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--db", type=Path, help="build the database here and keep it")
    where.add_argument("--reuse", type=Path, metavar="PATH", help="use this database")
    args = parser.parse_args()
    args.runs = max(args.runs, 1)
    sys.stdout.reconfigure(line_buffering=True)

    import compileall

    import crmcli

    compileall.compile_dir(Path(crmcli.__file__).parent, quiet=1)
    env = overdue.bench_env()
    # the code of this checkout, run by this interpreter: the installed `crm` may be another
    # checkout (an editable install) behind a shell shim that adds its own start-up time
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    crm = [sys.executable, "-m", "crmcli"]
    print(f"crm = {' '.join(crm)} with PYTHONPATH={SRC}")
    with tempfile.TemporaryDirectory(prefix="crm-bench-", dir="/tmp") as tmp:
        db = database(args, Path(tmp))
        added, seconds = add_stage_history(db)
        if added:
            print(f"stage history: added {added:,} stage changes in {seconds:.1f} s")
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        profile = {
            table: con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for table in ("lead", "stage_change", "activity", "obligation", "audit_event")
        }
        con.close()
        print(", ".join(f"{n:,} {t}" for t, n in profile.items()))
        rep = overdue.pick_rep(db)
        month = (overdue.NOW - timedelta(days=10)).strftime("%Y-%m")
        as_of = (overdue.NOW - timedelta(days=30)).date().isoformat()
        base = [*crm, "--db", str(db)]
        report = [*base, "report"]
        commands = {
            "import typer, sqlmodel (anchor)": [sys.executable, "-c", "import typer, sqlmodel"],
            "pipeline": [*report, "pipeline", "-f", "json"],
            f"pipeline --owner {rep}": [*report, "pipeline", "--owner", rep, "-f", "json"],
            f"pipeline --as-of {as_of}": [*report, "pipeline", "--as-of", as_of, "-f", "json"],
            "conversion --by source": [*report, "conversion", "--by", "source", "-f", "json"],
            f"conversion --as-of {as_of}": [*report, "conversion", "--as-of", as_of, "-f", "json"],
            "velocity": [*report, "velocity", "-f", "json"],
            f"velocity --as-of {as_of}": [*report, "velocity", "--as-of", as_of, "-f", "json"],
            "win-rate --by owner": [*report, "win-rate", "--by", "owner", "-f", "json"],
            f"win-rate --as-of {as_of}": [*report, "win-rate", "--as-of", as_of, "-f", "json"],
            "sources": [*report, "sources", "-f", "json"],
            "response": [*report, "response", "-f", "json"],
            f"activity --month {month}": [*report, "activity", "--month", month, "-f", "json"],
            "forecast": [*report, "forecast", "-f", "json"],
            f"forecast --as-of {as_of}": [*report, "forecast", "--as-of", as_of, "-f", "json"],
            "cases": [*report, "cases", "-f", "json"],
            "sla": [*report, "sla", "-f", "json"],
            f"sla --owner {rep}": [*report, "sla", "--owner", rep, "-f", "json"],
            "sla --html": [*report, "sla", "--html", str(Path(tmp) / "sla.html")],
            "dashboard": [*base, "dashboard", "-f", "json"],
            "dashboard --html": [*base, "dashboard", "--html", str(Path(tmp) / "d.html")],
            f"dashboard --as-of {as_of}": [*base, "dashboard", "--as-of", as_of, "-f", "json"],
        }
        if args.only:
            wanted = tuple(n.strip() for n in args.only.split(",") if n.strip())
            commands = {
                name: argv
                for name, argv in commands.items()
                if "anchor" in name or name.startswith(wanted)
            }
        print(f"CRM_NOW={overdue.CRM_NOW}; {args.runs} runs each, medians; the machine is shared")
        samples = measure(commands, args.runs, env)

    width = max(map(len, commands))
    anchor = statistics.median(w for w, _c in samples["import typer, sqlmodel (anchor)"])
    print(
        f"\n{'command':<{width}}  {'median s':>8}  {'min s':>6}  {'x anchor':>8}  "
        f"{'CPU s':>6}  target {TARGET_S:g} s (wall median)"
    )
    for name, values in samples.items():
        walls = [w for w, _c in values]
        median = statistics.median(walls)
        cpu = statistics.median(c for _w, c in values)
        verdict = "" if "anchor" in name else ("PASS" if median < TARGET_S else "MISS")
        print(
            f"{name:<{width}}  {median:8.2f}  {min(walls):6.2f}  {median / anchor:8.1f}  "
            f"{cpu:6.2f}  {verdict}"
        )
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
