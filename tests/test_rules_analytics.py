"""The pure arithmetic of the reports: buckets, quarters, rates, medians (render/charts draws)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from crmcli.rules import analytics as calc

NY = ZoneInfo("America/New_York")


def test_weekly_buckets_start_on_monday_in_local_time_across_dst() -> None:
    start = datetime(2026, 3, 4, 5, 0, tzinfo=UTC)  # Wed Mar 4, 00:00 New York (EST)
    end = datetime(2026, 3, 20, 4, 0, tzinfo=UTC)
    weeks = calc.buckets(start, end, "week", NY)
    assert [b.label for b in weeks] == ["2026-03-02", "2026-03-09", "2026-03-16"]
    assert weeks[0].start == start  # clipped to the period
    # Monday Mar 9 00:00 is EDT (UTC-4) after the Mar 8 change
    assert weeks[1].start == datetime(2026, 3, 9, 4, 0, tzinfo=UTC)
    assert weeks[-1].end == end


def test_monthly_buckets_and_bad_size() -> None:
    months = calc.buckets(
        datetime(2025, 11, 15, tzinfo=UTC), datetime(2026, 2, 2, tzinfo=UTC), "month", NY
    )
    assert [b.label for b in months] == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert months[1].start == datetime(2025, 12, 1, 5, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="not a bucket"):
        calc.buckets(months[0].start, months[0].end, "day", NY)


def test_default_bucket_by_period_length() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert calc.default_bucket(start, datetime(2026, 4, 1, tzinfo=UTC)) == "week"  # 90 days
    assert calc.default_bucket(start, datetime(2026, 6, 1, tzinfo=UTC)) == "month"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-Q1", ("2026-Q1", date(2026, 1, 1), date(2026, 4, 1))),
        ("2026q4", ("2026-Q4", date(2026, 10, 1), date(2027, 1, 1))),
        (None, ("2026-Q1", date(2026, 1, 1), date(2026, 4, 1))),
    ],
)
def test_quarter_bounds(text: str | None, expected: tuple) -> None:
    now = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)
    assert calc.quarter_bounds(text, now=now, tz=NY) == expected


def test_quarter_bounds_refuses_other_text() -> None:
    with pytest.raises(ValueError, match="2026-Q1"):
        calc.quarter_bounds("2026-Q5", now=datetime(2026, 1, 1, tzinfo=UTC), tz=NY)


def test_percent_money_and_durations() -> None:
    assert calc.percent(2, 3) == Decimal("66.7")
    assert calc.percent(1, 0) is None
    assert calc.cents(1850050) == Decimal("18500.50")
    assert calc.weighted_cents(2000000, 60) == Decimal("12000.00")
    assert calc.weighted_cents(20, 40) == Decimal("0.08")
    assert calc.days(86400 * 16.5) == Decimal("16.5")
    assert calc.minutes(2700) == Decimal("45.0")
    assert calc.days(None) is None


def test_median() -> None:
    assert calc.median([5, 1, 3]) == 3
    assert calc.median([4, 1, 3, 2]) == 2.5
    assert calc.median([]) is None


def test_ratio_of_deals_per_deal_of_the_next_stage() -> None:
    assert calc.ratio(3, 1) == "3.0:1" and calc.ratio(3, 0) is None
