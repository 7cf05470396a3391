"""Policy durations: "30m", "1h", "2d", "1w" (and combinations such as "1d12h")."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache

from crmcli.limits import MAX_DURATION, MAX_DURATION_TEXT

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+)\s*([mhdw])")
MAX_DURATION_SECONDS = int(MAX_DURATION.total_seconds())
_WHOLE = re.compile(r"^\s*(?:\d+\s*[mhdw]\s*)+$")


def parse_duration(text: str) -> timedelta:
    """Parse a duration; raises ValueError with a hint on anything else."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a duration; write e.g. 30m, 1h, 2d or 1w")
    return _parse(text)


@lru_cache(maxsize=256)  # a policy has a few dozen; deadlines are computed per record
def _parse(text: str) -> timedelta:
    if not _WHOLE.match(text.lower()):
        raise ValueError(f"{text!r} is not a duration; write e.g. 30m, 1h, 2d or 1w")
    parts = _PART.findall(text.lower())
    if any(len(n) > 9 for n, _unit in parts):  # past any limit, and int() of it is not free
        seconds = MAX_DURATION_SECONDS + 1
    else:
        seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"{text!r} is longer than {MAX_DURATION_TEXT}; give a shorter duration")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Compact human form, largest units first: 1d 2h, 45m, 0m."""
    seconds = int(abs(delta.total_seconds()))
    parts = []
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    text = " ".join(parts[:2]) or "0m"
    return f"-{text}" if delta.total_seconds() < 0 else text
