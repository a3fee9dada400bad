"""Log-scale histogram bins with a guaranteed relative error, for percentiles computed in SQL.

The bin of a positive value ``x`` is ``ceil(log(x) / log(gamma))`` with ``gamma = (1 + a) / (1 - a)``
(the DDSketch mapping, Masson et al., VLDB 2019): every value in a bin is within a relative error ``a``
of the bin's representative value. Events store the bin of their latency and TTFT at ingest, so a
window's p50/p95/p99 over a million events is one ``GROUP BY bin`` count instead of a sort of every
value, with a quantile accurate to ``RELATIVE_ACCURACY`` (1%).

Example:
    >>> b = value_bin(0.250)
    >>> abs(bin_value(b) - 0.250) / 0.250 <= RELATIVE_ACCURACY
    True
    >>> quantile_from_bins({value_bin(0.1): 50, value_bin(1.0): 50}, 0.99) > 0.98
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

__all__ = ["RELATIVE_ACCURACY", "ZERO_BIN", "bin_value", "quantile_from_bins", "value_bin"]

RELATIVE_ACCURACY: Final = 0.01
_GAMMA: Final = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA: Final = math.log(_GAMMA)
_MIN_VALUE: Final = 1e-6  # values at or below this (1 µs) count as zero
ZERO_BIN: Final = -100_000
"""The bin of values <= 1e-6 (zero latency)."""


def value_bin(x: float) -> int:
    """The histogram bin of a non-negative value."""
    if x <= _MIN_VALUE:
        return ZERO_BIN
    return math.ceil(math.log(x) / _LOG_GAMMA)


def bin_value(b: int) -> float:
    """The representative value of bin ``b`` (within ``RELATIVE_ACCURACY`` of every value in it)."""
    if b == ZERO_BIN:
        return 0.0
    return 2.0 * _GAMMA**b / (_GAMMA + 1.0)


def quantile_from_bins(counts: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile (0-1) of values summarised as ``{bin: count}``; None when there are none.

    Uses the lower rank ``floor(q * (n - 1))`` like DDSketch, so the result is the representative value of
    the bin holding that order statistic.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be between 0 and 1, got {q}")
    n = sum(counts.values())
    if n <= 0:
        return None
    rank = math.floor(q * (n - 1))
    seen = 0
    for b in sorted(counts):
        seen += counts[b]
        if seen > rank:
            return bin_value(b)
    return bin_value(max(counts))  # pragma: no cover - unreachable: seen reaches n > rank
