#!/usr/bin/env python3
"""Start-up time of `crm`: how far above the cost of importing its libraries is it?

Builds a throw-away database with 1,000 fake leads, then times (wall clock and CPU time,
user + system, one fresh process per run, runs interleaved round-robin):

  python -c pass                      interpreter baseline
  python -c "import typer, sqlmodel"  the floor: what any typer + sqlmodel CLI pays
  crm --help                          target: median <= 150 ms, and CPU <= 0.3 x the floor's
  crm --db DB lead list  (piped)      target: median <= 1.3 x the floor

CPU time is the steadier figure on a busy machine: waiting for a core does not count.

It is a measurement, not a test: it prints PASS/MISS per target and always exits 0.

    python benchmarks/startup.py [--runs 15] [--leads 1000] [--importtime 15]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELP_TARGET_MS = 150.0
HELP_TARGET_RATIO = 0.3  # of the floor, in CPU time (issue 20)
LIST_TARGET_RATIO = 1.3


def crm_command() -> list[str]:
    found = shutil.which("crm")
    return [found] if found else [sys.executable, "-m", "crmcli"]


def bench_env(user: str) -> dict[str, str]:
    """The environment of every timed process: no settings leaking in from the shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env["CRM_USER"] = user
    env["NO_COLOR"] = "1"
    return env


def build_database(db: Path, leads_wanted: int, env: dict[str, str]) -> float:
    """`crm init`, then leads through the service layer in one transaction; returns seconds."""
    subprocess.run(
        [*crm_command(), "--db", str(db), "init"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    from faker import Faker

    from crmcli.context import AppContext
    from crmcli.services import leads
    from crmcli.services.workspace import Workspace

    Faker.seed(20240601)
    fake = Faker("en_US")
    started = time.perf_counter()
    ws = Workspace(AppContext(db=str(db), user=env["CRM_USER"]))
    with ws.writing() as tx:
        for i in range(leads_wanted):
            leads.add_lead(
                tx,
                {
                    "first_name": fake.first_name(),
                    "last_name": fake.last_name(),
                    "company": fake.company(),
                    "email": f"user{i}@example.com",
                    "source": "web",
                },
                force=True,
            )
    return time.perf_counter() - started


def time_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one run of `argv`."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    elapsed = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise SystemExit(
            f"{' '.join(argv)} exited {done.returncode}: {message[-1] if message else ''}"
        )
    return elapsed, cpu


def measure(
    commands: dict[str, list[str]], runs: int, env: dict[str, str]
) -> dict[str, list[tuple[float, float]]]:
    for argv in commands.values():  # warm the page cache and __pycache__; not counted
        time_once(argv, env)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):  # round-robin, so drift in machine load hits every command alike
        for name, argv in commands.items():
            samples[name].append(time_once(argv, env))
    return samples


def import_profile(argv: list[str], env: dict[str, str], top: int) -> list[tuple[int, str]]:
    """Import time (µs) per top-level package, from `python -X importtime`.

    Sums each module's *self* time into its top-level package (sqlalchemy.sql.compiler ->
    sqlalchemy), so a package is charged for its own modules only, whoever imported them.
    """
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    totals: dict[str, int] = {}
    line_re = re.compile(r"import time:\s+(\d+)\s+\|\s+\d+\s+\|\s*(\S+)")
    for line in done.stderr.splitlines():
        found = line_re.match(line)
        if found:
            package = found.group(2).split(".")[0]
            totals[package] = totals.get(package, 0) + int(found.group(1))
    return sorted(((us, name) for name, us in totals.items()), reverse=True)[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command (15)")
    parser.add_argument("--leads", type=int, default=1000, help="leads in the database (1000)")
    parser.add_argument(
        "--importtime",
        type=int,
        default=0,
        metavar="N",
        help="also show the N packages slowest to import in `lead list`",
    )
    args = parser.parse_args()

    import compileall

    import crmcli
    from crmcli.context import os_login

    # time what an install runs: pip byte-compiles a package, an editable checkout with
    # PYTHONDONTWRITEBYTECODE set would recompile every module on every run
    compileall.compile_dir(Path(crmcli.__file__).parent, quiet=1)
    env = bench_env(os_login())
    crm = crm_command()
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp:
        db = Path(tmp) / "bench.db"
        seconds = build_database(db, args.leads, env)
        print(
            f"database: {args.leads} leads inserted in {seconds:.2f} s ({db.name}, "
            f"{db.stat().st_size / 1e6:.1f} MB); crm = {' '.join(crm)}"
        )
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "import typer, sqlmodel (floor)": [sys.executable, "-c", "import typer, sqlmodel"],
            "crm --help": [*crm, "--help"],
            "crm lead list (piped)": [*crm, "--db", str(db), "lead", "list"],
        }
        samples = measure(commands, args.runs, env)
        if args.importtime:
            profile = import_profile(
                ["-m", "crmcli", "--db", str(db), "lead", "list"], env, args.importtime
            )

    def median(name: str, cpu: bool = False) -> float:
        return statistics.median(sample[cpu] for sample in samples[name])

    width = max(map(len, commands))
    print(
        f"\n{'command':<{width}}  {'median ms':>9}  {'min ms':>7}  {'CPU median ms':>13}"
        f"   ({args.runs} runs)"
    )
    for name, values in samples.items():
        print(
            f"{name:<{width}}  {median(name):9.1f}  {min(v[0] for v in values):7.1f}  "
            f"{median(name, cpu=True):13.1f}"
        )

    floor = median("import typer, sqlmodel (floor)")
    help_ms = median("crm --help")
    help_cpu = median("crm --help", cpu=True) / median("import typer, sqlmodel (floor)", cpu=True)
    ratio = median("crm lead list (piped)") / floor
    verdict = {True: "PASS", False: "MISS"}
    print(
        f"\ncrm --help median        {help_ms:7.1f} ms   target <= {HELP_TARGET_MS:.0f} ms   "
        f"{verdict[help_ms <= HELP_TARGET_MS]}"
    )
    print(
        f"crm --help / floor CPU   {help_cpu:7.2f} x    target <= {HELP_TARGET_RATIO} x     "
        f"{verdict[help_cpu <= HELP_TARGET_RATIO]}"
    )
    print(
        f"lead list / floor median {ratio:7.2f} x    target <= {LIST_TARGET_RATIO} x     "
        f"{verdict[ratio <= LIST_TARGET_RATIO]}"
    )

    if args.importtime:
        print("\nimport time of `crm lead list` by package (self time summed, one run):")
        for us, name in profile:
            print(f"  {us / 1000:7.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
