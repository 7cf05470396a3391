"""`crm policy init|check|show|import` and `--policy FILE`."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from conftest import Crm
from crmcli.rules.policy import DEFAULT_POLICY, default_policy_toml

EXAMPLES = Path(__file__).parent.parent / "examples" / "policies"


def test_the_shipped_default_example_is_the_defaults() -> None:
    """The defaults live once, in DEFAULT_POLICY: the example that ships is generated from
    them (what `crm policy init` writes), byte for byte."""
    text = (EXAMPLES / "default.toml").read_text()
    assert tomllib.loads(text) == DEFAULT_POLICY
    assert text == default_policy_toml(), (
        "regenerate: crm policy init examples/policies/default.toml"
    )


def test_policy_init_writes_the_spec_defaults(crm: Crm, tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    crm.ok("policy", "init", str(path))
    data = tomllib.loads(path.read_text())
    assert data == DEFAULT_POLICY
    assert data["business_hours"]["timezone"] == "America/New_York"
    assert data["business_hours"]["start"] == "09:00"
    assert data["rules"]["lead.first_response"] == {"after": "1h", "clock": "business"}
    assert data["rules"]["lead.follow_up"]["after"] == "48h"
    assert data["scoring"]["model"] == "bant"
    assert [b["name"] for b in data["scoring"]["bands"]] == [
        "nurture",
        "scheduled_follow_up",
        "immediate_sales",
        "immediate_executive",
    ]
    refused = crm("policy", "init", str(path))
    assert refused.code == 2 and "--force" in refused.err
    crm.ok("policy", "init", str(path), "--force")
    assert crm.ok("policy", "init", "-").out == path.read_text()


def test_policy_init_needs_no_database(fresh: Crm, tmp_path: Path) -> None:
    fresh.ok("policy", "init", str(tmp_path / "p.toml"))
    fresh.ok("policy", "check", str(tmp_path / "p.toml"))
    assert not fresh.db.exists()


def test_check_reports_key_and_line(crm: Crm, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        "[business_hours]\n"
        'timezone = "America/New_York"\n'
        'start = "9am"\n'
        "\n"
        '[rules."lead.first_response"]\n'
        'after = "1 hour"\n'
        'clock = "business"\n'
    )
    run = crm("policy", "check", str(path))
    assert run.code == 2
    lines = run.err.strip().splitlines()
    assert lines[0] == (
        f"crm: {path}:3: business_hours.start: '9am' is not a time; write HH:MM like 09:00"
    )
    assert lines[1].startswith(f"{path}:6: rules.\"lead.first_response\".after: '1 hour' is not")


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("[dedupe]\nname_treshold = 80\n", 2, "did you mean 'name_threshold'"),
        ('[rules."lead.folow_up"]\nafter = "1h"\n', 1, "did you mean 'lead.follow_up'"),
        ('[scoring]\nmodel = "magic"\n', 2, "bant or engagement"),
        (
            '[scoring]\nbands = [{min = 0, max = 50, name = "a"}, {min = 52, max = 100, name = "b"}]\n',
            2,
            "without gaps",
        ),
        ('[business_hours]\nholidays = { country = "XX", subdivision = "" }\n', 2, "country"),
        ('[business_hours]\ndays = ["mon", "funday"]\n', 2, "'funday' is not a day"),
        ('[business_hours]\ntimezone = "Moon/Base"\n', 2, "IANA"),
        ("[validation]\nphone_region = 1\n", 2, "must be a string"),
        (
            '[[pipeline.stages]]\nkey = "new"\n[[pipeline.stages]]\nkey = "won"\nrequires = ["cake"]\n',
            5,
            "'cake' is unknown",
        ),
        ("[business_hours\n", 1, "not valid TOML"),
    ],
)
def test_check_catches_mistakes(crm: Crm, tmp_path: Path, text: str, line: int, needle: str):
    path = tmp_path / "p.toml"
    path.write_text(text)
    run = crm("policy", "check", str(path))
    assert run.code == 2
    assert f"{path}:{line}:" in run.err
    assert needle in run.err


def test_check_unreadable_file(crm: Crm, tmp_path: Path) -> None:
    run = crm("policy", "check", str(tmp_path / "missing.toml"))
    assert run.code == 2 and "cannot read" in run.err
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    assert crm("policy", "check", str(binary)).code == 2


@pytest.mark.parametrize("name", ["default.toml", "four-stage.toml", "chartec.toml"])
def test_shipped_example_policies_are_valid(crm: Crm, name: str) -> None:
    crm.ok("policy", "check", str(EXAMPLES / name))


def test_import_installs_audits_and_show_prints_it(crm: Crm, tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[rules."lead.follow_up"]\nafter = "24h"\n')
    run = crm.ok("policy", "import", str(path))
    assert "installed policy version 2" in run.err
    assert crm.ok("policy", "show").out == path.read_text()
    data = crm.ok("policy", "show", "--format", "json").json()
    assert data["rules"]["lead.follow_up"]["after"] == "24h"  # the file's value
    assert data["rules"]["lead.first_response"]["after"] == "1h"  # merged default
    again = crm.ok("policy", "import", str(path))
    assert "unchanged" in again.err
    actions = crm.rows("SELECT actor, action FROM audit_event WHERE record_type = 'policy'")
    assert actions == [("boss", "install"), ("boss", "install")]  # init's default, then ours


def test_import_of_invalid_policy_installs_nothing(crm: Crm, tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[business_hours]\nend = "08:00"\n')
    before = crm.ok("policy", "show").out
    run = crm("policy", "import", str(path))
    assert run.code == 2 and "must be later than start" in run.err
    assert crm.ok("policy", "show").out == before


def test_show_explain_documents_every_key(crm: Crm) -> None:
    rows = crm.ok("policy", "show", "--explain", "--format", "json").json()
    keys = {row["key"] for row in rows}
    assert {
        "business_hours.timezone",
        "scoring.bands",
        "rules.lead.first_response.after",
        "dedupe.name_threshold",
    } <= keys
    assert all(row["meaning"] for row in rows), [r["key"] for r in rows if not r["meaning"]]


def test_policy_flag_overrides_stored_policy(crm: Crm, tmp_path: Path) -> None:
    uk = tmp_path / "uk.toml"
    uk.write_text(
        '[validation]\nphone_region = "GB"\n[business_hours]\ntimezone = "Europe/London"\n'
    )
    crm.ok(
        "--policy",
        str(uk),
        "lead",
        "add",
        "--first",
        "A",
        "--phone",
        "020 7946 0958",
        "--source",
        "web",
    )
    lead = crm.ok("--policy", str(uk), "lead", "show", "1", "--format", "json").json()
    assert lead["phone"] == "+442079460958"
    assert lead["created_at"] == "2026-03-06T21:30:00+00:00"
    via_env = crm.ok("lead", "show", "1", "--format", "json", CRM_POLICY=str(uk)).json()
    assert via_env["created_at"] == "2026-03-06T21:30:00+00:00"
    broken = tmp_path / "broken.toml"
    broken.write_text("[[[")
    run = crm("--policy", str(broken), "lead", "list")
    assert run.code == 2 and str(broken) in run.err


def test_a_broken_stored_policy_is_a_storage_error_that_policy_import_fixes(
    crm: Crm, tmp_path: Path
) -> None:
    crm.execute(
        "INSERT INTO policy_version (content, source, installed_at, installed_by) "
        "VALUES ('[[[', 'sabotage', '2026-01-01 00:00:00', 'x')"
    )
    run = crm("lead", "list")
    assert run.code == 6 and "stored policy is unreadable" in run.err
    good = tmp_path / "good.toml"
    crm.ok("policy", "init", str(good))
    crm.ok("policy", "import", str(good))
    assert crm("lead", "list").code == 0
