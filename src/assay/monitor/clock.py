"""Clocks: the system clock, and a synthetic one that tests (and the demo) move by hand.

Everything time-dependent in monitoring (windows, ``for`` durations, cooldowns, notification grouping,
judge budgets) reads ``clock.now()``, so rule semantics are tested without sleeping.

Example:
    >>> from datetime import datetime, timezone
    >>> clock = ManualClock(datetime(2025, 3, 1, tzinfo=timezone.utc))
    >>> clock.advance(minutes=10).isoformat()
    '2025-03-01T00:10:00+00:00'
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: str | float | int) -> float:
    """Seconds in a duration such as ``"90s"``, ``"10m"``, ``"1h"``, ``"1d"`` (a number is seconds).

    Example:
        >>> parse_duration("10m"), parse_duration(30)
        (600.0, 30.0)
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value}")
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 10m, 1h, 1d)")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real time (UTC)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (``advance``/``set``)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        self._now += timedelta(seconds=seconds, **delta)
        return self._now

    def set(self, when: datetime) -> datetime:
        if when.tzinfo is None:
            raise ValueError("ManualClock needs timezone-aware times")
        self._now = when
        return self._now
