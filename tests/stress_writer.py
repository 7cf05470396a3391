"""One writer process for the concurrency test and benchmarks/concurrency.py.

    python tests/stress_writer.py WORKER COUNT [--calls]

Runs the real CLI (crmcli.cli.main) in a loop: COUNT `lead add`, then (with --calls) one
`log-call` on each of those leads. CRM_DB/CRM_USER/CRM_NOW come from the environment. Exits
with the first non-zero exit code; prints the ids it created, one a line.
"""

from __future__ import annotations

import contextlib
import io
import random
import string
import sys

from crmcli.cli import main


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


def word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(9)).title()


def write(worker: str, count: int, calls: bool) -> int:
    ids = []
    rng = random.Random(f"writer {worker}")
    for i in range(count):
        code, out = run(
            "lead", "add", "--first", word(rng), "--last", f"{word(rng)}-w{worker}n{i}",
            "--company", word(rng), "--email", f"w{worker}n{i}@stress.example",
            "--source", "web", "--force",  # never refused as a look-alike of another writer's
        )  # fmt: skip
        if code:
            return code
        ids.append(out.strip())
        print(ids[-1], flush=True)
    if calls:
        for lead in ids:
            code, _ = run("log-call", lead, "--outcome", "connected", "--notes", f"w{worker}")
            if code:
                return code
    return 0


if __name__ == "__main__":
    sys.exit(write(sys.argv[1], int(sys.argv[2]), "--calls" in sys.argv[3:]))
