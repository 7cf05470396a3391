"""SIGKILL a writer at random moments: the database always opens, `crm doctor` is clean and
`crm audit verify` passes (a killed transaction leaves nothing half-written)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import Crm
from test_concurrency import WRITER, environment, import_file

pytestmark = pytest.mark.slow  # minutes of writers and kills: .ci/run

KILLS = int(os.environ.get("CRM_CRASH_KILLS", "20"))


def test_killed_writers_leave_a_sound_database(crm: Crm, tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("CRM_CRASH_SEED", "10")))
    crm.ok("user", "add", "rep0", "--role", "editor")
    lead = crm.add_lead()
    killed = 0
    for n in range(KILLS):
        kind = "import" if n % 2 == 0 else "edits"
        if kind == "import":
            csv = import_file(tmp_path / f"kill{n}.csv", 400)
            args = [sys.executable, "-m", "crmcli", "lead", "import", str(csv)]
            env = environment(crm, "boss")
        else:
            args = [sys.executable, str(WRITER), f"k{n}", "50", "--calls"]
            env = environment(crm, "rep0")
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.4, 1.8))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.read()
        # the database opens and reads, is healthy, and its chain verifies
        assert crm("lead", "show", str(lead)).code == 0
        doctor = crm("doctor")
        assert doctor.code == 0, (n, kind, doctor.out, doctor.err)
        verify = crm("audit", "verify")
        assert verify.code == 0, (n, kind, verify.err)
        assert crm.integrity_ok()
    assert killed >= KILLS // 2  # most kills landed while the writer was still at work
