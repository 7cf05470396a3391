"""The policy's typed sections (issue 21): built from the merged, validated data, so the
rest of the code reads `policy.quotes.currency`, never `policy.data["quotes"]["currency"]`."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from crmcli.rules.policy import DEFAULT_POLICY, default_policy, parse_policy


def test_the_defaults_read_through_the_sections() -> None:
    policy = default_policy()
    assert policy.business_hours.timezone == "America/New_York"
    assert policy.business_hours.days == ("mon", "tue", "wed", "thu", "fri")
    assert (policy.business_hours.start, policy.business_hours.end) == ("09:00", "17:00")
    assert (policy.business_hours.country, policy.business_hours.subdivision) == ("US", "")
    assert policy.quotes.currency == "USD"
    assert policy.quotes.valid_days == 30
    assert policy.quotes.rounding == "half_up"
    assert policy.quotes.approval.max_discount == 15
    assert policy.quotes.approval.approver_role == "admin"
    assert policy.quotes.approval.approvers == ()
    assert policy.outbox.retry_after == timedelta(minutes=5)
    assert policy.outbox.expire == timedelta(days=3)
    assert policy.outbox.max_attempts == 5
    assert policy.smtp.port == 587
    assert policy.smtp.as_dict() == DEFAULT_POLICY["smtp"]
    assert policy.reminders.before == ("1d", "1h")
    assert policy.reminders.rep is True
    assert policy.activities.points["meeting"] == 10
    assert policy.activities.monthly_quota == 500
    assert policy.activities.default_duration == "30m"
    assert policy.cases.max_attachment_mb == 10.0
    assert "application/pdf" in policy.cases.allowed_types
    assert policy.cases.sla["urgent"] == {"ack": "30m", "resolve": "4h"}
    assert policy.scoring.model == "bant"
    assert policy.scoring.bant == DEFAULT_POLICY["scoring"]["bant"]
    assert policy.scoring.events == list(DEFAULT_POLICY["scoring"]["engagement"]["events"])
    assert policy.pipeline.opportunity_from == "qualification"
    assert policy.pipeline.opportunity_types == ()
    assert policy.pipeline.allow_skip is False
    assert (policy.targets.monthly, policy.targets.quarterly) == (50000, 0)
    assert policy.allow_as is False
    assert policy.rule_ids == tuple(DEFAULT_POLICY["rules"])
    assert policy.touches == DEFAULT_POLICY["touches"]
    assert dict(policy.templates) == {} and dict(policy.sequences) == {}


def test_a_policy_file_reaches_its_sections() -> None:
    policy = parse_policy(
        '[quotes]\ncurrency = "EUR"\nvalid_days = 14\n'
        '[quotes.approval]\napprovers = ["ann"]\n'
        '[outbox]\nretry_after = "10m"\n'
        '[smtp]\nfrom = "crm@example.com"\n'
        '[pipeline]\nopportunity_types = ["new", "renewal"]\nallow_skip = true\n'
        "[targets.reps.ann]\nmonthly = 1000\n"
    )
    assert (policy.quotes.currency, policy.quotes.valid_days) == ("EUR", 14)
    assert policy.quotes.approval.approvers == ("ann",)
    assert policy.quotes.approval.max_total == 50000  # the default, merged under the file
    assert policy.outbox.retry_after == timedelta(minutes=10)
    assert policy.smtp.sender == "crm@example.com"
    assert policy.pipeline.opportunity_types == ("new", "renewal")
    assert policy.pipeline.allow_skip is True
    assert policy.targets.reps["ann"] == {"monthly": 1000}


def test_a_section_is_built_once_and_cannot_be_changed() -> None:
    policy = default_policy()
    assert policy.quotes is policy.quotes
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.quotes.currency = "EUR"  # type: ignore[misc]


def test_a_rule_reads_its_own_settings() -> None:
    policy = parse_policy('[rules."lead.cadence"]\ndays = [2, 5]\n')
    assert policy.rule_settings("lead.cadence")["days"] == [2, 5]
    assert policy.rule_settings("lead.cadence")["reengage"] == "30d"  # merged default
    assert "lead.cadence" in policy.rule_ids
    with pytest.raises(KeyError):
        policy.rule_settings("no.such_rule")
