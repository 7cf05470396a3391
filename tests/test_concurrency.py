"""Reps, an import and the cron report at once: no lost write, no "database is locked".

Eight writer processes (each its own crm user) add leads and log a call on each while a
reader runs `crm report overdue` over and over and an import runs. The issue's full size is
CRM_STRESS_COUNT=200 CRM_STRESS_IMPORT_ROWS=10000 (1 to 2.5 minutes on 2 quiet cores);
`.ci/run` runs it at that size on both backends after the suite, which runs it smaller, with
the same shape, to stay quick.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import NOW, Crm

pytestmark = pytest.mark.slow  # minutes of writers and kills: .ci/run

WRITERS = 8
COUNT = int(os.environ.get("CRM_STRESS_COUNT", "20"))
IMPORT_ROWS = int(os.environ.get("CRM_STRESS_IMPORT_ROWS", "1000"))
WRITER = Path(__file__).parent / "stress_writer.py"
SRC = Path(__file__).parent.parent / "src"


def environment(crm: Crm, user: str) -> dict[str, str]:
    if crm.pg is not None:
        crm.pg.ensure_role(user)
    return {
        **os.environ,
        "CRM_DB": crm.url(user),
        "CRM_USER": user,
        "CRM_NOW": NOW,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }


def import_file(path: Path, rows: int) -> Path:
    lines = ["First Name,Last Name,Company,Email,Lead Source"]
    lines += [f"Imp{i},Orted{i},Bulk Co {i},imp{i}@bulk.example,Web" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_writers_an_import_and_reports_lose_nothing(crm: Crm, tmp_path: Path) -> None:
    reps = [f"rep{w}" for w in range(WRITERS)]
    for rep in reps:
        crm.ok("user", "add", rep, "--role", "editor")
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [
            sys.executable, "-c",
            "import pathlib, sys\nfrom crmcli.cli import main\nruns = 0\n"
            f"while not pathlib.Path({str(stop)!r}).exists() or runs < 2:\n"
            "    code = main(['report', 'overdue', '--format', 'json'])\n"
            "    runs += 1\n"
            "    if code: sys.exit(code)\n"
            "print(runs)\n",
        ],
        env=environment(crm, "boss"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    csv = import_file(tmp_path / "bulk.csv", IMPORT_ROWS)
    importer = subprocess.Popen(
        [sys.executable, "-m", "crmcli", "lead", "import", str(csv)],
        env=environment(crm, "boss"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    started = time.monotonic()
    writers = [
        subprocess.Popen(
            [sys.executable, str(WRITER), str(w), str(COUNT), "--calls"],
            env=environment(crm, rep),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for w, rep in enumerate(reps)
    ]
    results = [(p.wait(timeout=900), *p.communicate()) for p in writers]
    results.append((importer.wait(timeout=900), *importer.communicate()))
    stop.touch()
    results.append((reader.wait(timeout=300), *reader.communicate()))
    elapsed = time.monotonic() - started
    failed = [(code, err) for code, _, err in results if code != 0]
    assert failed == [], failed
    assert "locked" not in "".join(err for _, _, err in results)
    # every write present exactly once
    created = [int(line) for _, out, _ in results[:WRITERS] for line in out.split()]
    assert len(created) == len(set(created)) == WRITERS * COUNT
    per_writer = crm.rows(
        "SELECT count(*), count(DISTINCT email) FROM lead WHERE email LIKE '%@stress.example'"
    )
    assert per_writer == [(WRITERS * COUNT, WRITERS * COUNT)]
    calls = crm.rows(
        "SELECT a.lead_id, count(*) FROM activity a JOIN lead l ON l.id = a.lead_id "
        "WHERE a.type = 'call' AND l.email LIKE '%@stress.example' GROUP BY a.lead_id"
    )
    assert sorted(lead for lead, _ in calls) == sorted(created)
    assert {n for _, n in calls} == {1}
    audited = crm.rows(
        "SELECT count(*) FROM audit_event WHERE record_type = 'lead' AND action = 'create' "
        "AND record_id IN (SELECT id FROM lead WHERE email LIKE '%@stress.example')"
    )
    assert audited == [(WRITERS * COUNT,)]
    assert crm.rows("SELECT count(*) FROM lead WHERE email LIKE '%@bulk.example'") == [
        (IMPORT_ROWS,)
    ]
    assert int(results[-1][1].split()[-1]) >= 2  # the report ran throughout
    assert crm.integrity_ok()
    verify = crm("audit", "verify")
    assert verify.code == 0, verify.err
    print(f"{WRITERS} writers x {COUNT} leads + calls: {elapsed:.1f}s")
