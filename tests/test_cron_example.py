"""The shipped cron wrapper: silent when nothing is overdue, mails when something is."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import NOW, Crm

WRAPPER = Path(__file__).parent.parent / "examples" / "cron" / "overdue-mail.sh"


@pytest.fixture
def fake_mail(tmp_path: Path) -> Path:
    """A `mail` on PATH that records its arguments and message instead of sending."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mail = bin_dir / "mail"
    mail.write_text(
        f'#!/usr/bin/env bash\necho "$@" > {tmp_path}/mail.args\ncat > {tmp_path}/mail.body\n'
    )
    mail.chmod(0o755)
    return bin_dir


def run(crm: Crm, fake_mail: Path, now: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "CRM_DB": crm.url(),
        "CRM_USER": "boss",
        "CRM_NOW": now,
        "CRM_REPORT_TO": "team@example.com",
        "CRM_BIN": shutil.which("crm") or "crm",
        "PATH": f"{fake_mail}:{os.environ['PATH']}",
    }
    return subprocess.run(["bash", str(WRAPPER)], env=env, capture_output=True, text=True)


def test_wrapper_is_silent_then_mails(crm: Crm, fake_mail: Path) -> None:
    crm.add_lead()
    quiet = run(crm, fake_mail, NOW)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    assert not (fake_mail.parent / "mail.args").exists()
    late = run(crm, fake_mail, "2026-03-10T15:00:00Z")
    assert late.returncode == 0, late.stderr
    assert "team@example.com" in (fake_mail.parent / "mail.args").read_text()
    assert "lead.first_response" in (fake_mail.parent / "mail.body").read_text()


def test_wrapper_passes_errors_through(crm: Crm, fake_mail: Path, tmp_path: Path) -> None:
    crm.db, crm.pg = tmp_path / "missing.db", None  # a database file that is not there
    failed = run(crm, fake_mail, NOW)
    assert failed.returncode == 6
    assert "no database" in failed.stderr
