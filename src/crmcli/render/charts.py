"""Text charts for tables: sparklines and bars, drawn from the numbers the services return.

The services put figures in report rows (a trend's values per bucket, a stage's count);
only the table view turns them into block characters. JSON and CSV never carry these.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

SPARKS = "▁▂▃▄▅▆▇█"
GAP = "·"  # a bucket with nothing to measure (not zero)
BAR = "█"
# widths of the bar columns of the report tables, in terminal cells
FUNNEL_WIDTH = 24
BAR_WIDTH = 20
TARGET_WIDTH = 30

Number = float | int | Decimal


def sparkline(values: Sequence[Number | None]) -> str:
    """One block character per value, scaled from 0 to the largest (None: GAP)."""
    numbers = [float(v) for v in values if v is not None]
    top = max(numbers, default=0.0)
    out = []
    for value in values:
        if value is None:
            out.append(GAP)
        elif top <= 0:
            out.append(SPARKS[0])
        else:
            out.append(SPARKS[min(len(SPARKS) - 1, int(float(value) / top * (len(SPARKS) - 1)))])
    return "".join(out)


def bar(value: Number | None, top: Number | None, width: int = 30) -> str:
    """A horizontal bar of up to `width` blocks, proportional to value/top (at least one
    block for any value above zero, so small stages stay visible)."""
    if not top or not value or value <= 0:
        return ""
    length = round(float(value) / float(top) * width)
    return BAR * max(1, min(width, length))


def funnel_bar(value: Number | None, top: Number | None, width: int = 30) -> str:
    """A bar centred in `width`, so the bars of consecutive stages draw a funnel."""
    return bar(value, top, width).center(width).rstrip()
