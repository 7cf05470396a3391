"""Fixtures: every test gets its own database file, clock and acting user."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from crmcli.cli import app

NOW = "2026-03-06T21:30:00+00:00"  # Friday 16:30 in New York
ADMIN = "boss"


@dataclass
class Run:
    result: Result

    @property
    def code(self) -> int:
        return self.result.exit_code

    @property
    def out(self) -> str:
        return self.result.stdout

    @property
    def err(self) -> str:
        return self.result.stderr

    def json(self):
        return json.loads(self.out)


class Crm:
    """Runs the real CLI in-process against one temporary database."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.runner = CliRunner()
        self.env = {
            "CRM_DB": str(db),
            "CRM_USER": ADMIN,
            "CRM_NOW": NOW,
            "CRM_FORMAT": None,
            "CRM_POLICY": None,
            "NO_COLOR": "1",
        }

    def __call__(
        self, *args: str, user: str | None = None, input: str | None = None, **env: str | None
    ) -> Run:
        environment = {**self.env, **env}
        if user is not None:
            environment["CRM_USER"] = user
        result = self.runner.invoke(app, list(args), env=environment, input=input)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Run(result)

    def ok(self, *args: str, **kwargs) -> Run:
        run = self(*args, **kwargs)
        assert run.code == 0, f"exit {run.code}: {run.err}"
        return run

    def add_lead(self, **fields: str) -> int:
        args = ["lead", "add"]
        defaults = {
            "first": "Ada",
            "last": "Lovelace",
            "company": "Analytical Engines",
            "email": "ada@example.com",
            "source": "web",
        }
        for key, value in (defaults | fields).items():
            if value is not None:
                args += [f"--{key}", value]
        return int(self.ok(*args).out.strip())

    def count(self, table: str) -> int:
        import sqlite3

        with sqlite3.connect(self.db) as conn:
            return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]


@pytest.fixture
def crm(tmp_path: Path) -> Crm:
    """A CLI over an initialised database whose admin is `boss`."""
    cli = Crm(tmp_path / "crm.db")
    cli.ok("init")
    return cli


@pytest.fixture
def fresh(tmp_path: Path) -> Crm:
    """A CLI whose database does not exist yet."""
    return Crm(tmp_path / "new" / "crm.db")


@pytest.fixture
def team(crm: Crm) -> Crm:
    """An initialised database with an editor (ed) and a viewer (vi)."""
    crm.ok("user", "add", "ed", "--role", "editor")
    crm.ok("user", "add", "vi", "--role", "viewer")
    return crm


AddLead = Callable[..., int]
