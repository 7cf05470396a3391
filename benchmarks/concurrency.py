"""Writes per second with 1, 4 and 8 concurrent writer processes.

    python benchmarks/concurrency.py [--count N] [--pg ADMIN_URL]

Each writer is a process running the real CLI in a loop (tests/stress_writer.py): N `lead add`
then N `log-call`, as its own crm user. SQLite always; PostgreSQL too when --pg names a server
as an administrator (postgresql+psycopg://postgres@127.0.0.1:54329/postgres): a scratch
database per run, dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRITER = ROOT / "tests" / "stress_writer.py"
NOW = "2026-03-06T21:30:00+00:00"


def crm(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "crmcli", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def run(url_for, writers: int, count: int) -> float:  # noqa: ANN001
    base = {**os.environ, "CRM_NOW": NOW, "PYTHONPATH": str(ROOT / "src")}
    admin = {**base, "CRM_DB": url_for("boss"), "CRM_USER": "boss"}
    crm(admin, "init")
    for w in range(writers):
        crm(admin, "user", "add", f"rep{w}", "--role", "editor")
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, str(WRITER), str(w), str(count), "--calls"],
            env={**base, "CRM_DB": url_for(f"rep{w}"), "CRM_USER": f"rep{w}"},
            stdout=subprocess.DEVNULL,
        )
        for w in range(writers)
    ]
    if any(p.wait() for p in procs):
        raise SystemExit("a writer failed")
    return writers * count * 2 / (time.perf_counter() - started)


def sqlite_urls(tmp: Path, n: int):  # noqa: ANN201
    path = tmp / f"bench{n}.db"
    return lambda _user: str(path)


def pg_urls(admin_url: str, n: int):  # noqa: ANN201
    import psycopg
    from sqlalchemy import make_url

    url = make_url(admin_url)
    name = f"crm_bench_{os.getpid()}_{n}"
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DO $$BEGIN CREATE ROLE crm_team; EXCEPTION WHEN duplicate_object THEN END$$")
        for user in ["boss", *(f"rep{w}" for w in range(8))]:
            conn.execute(
                f"DO $$BEGIN CREATE ROLE {user} LOGIN IN ROLE crm_team; "
                "EXCEPTION WHEN duplicate_object THEN END$$"
            )
        conn.execute(f"CREATE DATABASE {name} OWNER crm_team")
    drop = f"DROP DATABASE {name} WITH (FORCE)"
    return (lambda user: url.set(database=name, username=user).render_as_string(False)), (
        conninfo,
        drop,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=25, help="leads (and calls) per writer")
    parser.add_argument("--pg", help="PostgreSQL administrator URL")
    args = parser.parse_args()
    print(f"writes/s (lead add + log-call, {args.count} each per writer)")
    print("| backend | 1 writer | 4 writers | 8 writers |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        rates = [run(sqlite_urls(Path(tmp), n), n, args.count) for n in (1, 4, 8)]
    print("| SQLite | " + " | ".join(f"{r:.1f}" for r in rates) + " |")
    if args.pg:
        import psycopg

        rates = []
        for n in (1, 4, 8):
            url_for, (conninfo, drop) = pg_urls(args.pg, n)
            try:
                rates.append(run(url_for, n, args.count))
            finally:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(drop)
        print("| PostgreSQL | " + " | ".join(f"{r:.1f}" for r in rates) + " |")


if __name__ == "__main__":
    main()
