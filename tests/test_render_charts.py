"""The text charts of the report tables (render/charts): sparklines and bars from numbers."""

from __future__ import annotations

from decimal import Decimal

from crmcli.render import charts


def test_sparkline_scales_to_the_largest_and_marks_gaps() -> None:
    assert charts.sparkline([0, 4, 8]) == "▁▄█"
    assert charts.sparkline([None, 2, 2]) == "·██"
    assert charts.sparkline([0, 0]) == "▁▁"
    assert charts.sparkline([Decimal("50.0"), None, Decimal("100.0")]) == "▄·█"  # percentages
    assert charts.sparkline([]) == ""


def test_bars_and_funnel() -> None:
    assert charts.bar(10, 10, 5) == "█████"
    assert charts.bar(1, 100, 5) == "█"  # a small stage stays visible
    assert charts.bar(0, 100, 5) == ""
    assert charts.bar(None, 100, 5) == "" and charts.bar(3, 0, 5) == ""
    assert charts.funnel_bar(2, 10, 10) == "    ██"
