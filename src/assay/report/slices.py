"""Metric summaries per slice of a run (by case metadata such as category or language), worst first.

A headline mean hides the slice where the system fails. For every metadata key with a manageable number
of distinct values (and for each tag in a ``tags`` list), every metric gets a mean with a 95% interval
per value; slices are ordered by the primary metric, worst first, and small slices are flagged because
their intervals are wide.

Example:
    >>> rows = compute_slices(metadata, columns, primary="exact_match")   # doctest: +SKIP
    >>> rows[0].key, rows[0].value, rows[0].metrics["exact_match"].mean    # doctest: +SKIP
    ('category', 'billing', 0.41)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from assay.report._queries import Key, MetricColumn

__all__ = ["MetricStat", "SliceRow", "compute_slices", "metric_stat", "slice_keys"]

MAX_SLICE_VALUES: Final = 50
"""A metadata key with more distinct values than this is an identifier, not a slice."""
SMALL_SLICE: Final = 30
"""Slices with fewer items than this are flagged: their intervals are wide."""


@dataclass(frozen=True)
class MetricStat:
    """Mean of one metric over a set of items with its 95% interval and counts."""

    mean: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    n_errors: int
    method: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": self.n,
            "n_errors": self.n_errors,
            "ci_method": self.method,
        }


def metric_stat(values: list[float], *, kind: str, n_errors: int = 0) -> MetricStat:
    """Mean and 95% interval: Wilson for binary values, Student t otherwise (fast for many slices).

    Example:
        >>> s = metric_stat([1.0, 1.0, 0.0, 1.0], kind="binary")
        >>> round(s.mean, 2), s.method
        (0.75, 'wilson')
    """
    n = len(values)
    if n == 0:
        return MetricStat(None, None, None, 0, n_errors)
    from assay import stats

    mean = sum(values) / n
    if kind == "binary":
        low, high = stats.wilson_interval(round(sum(values)), n)
        return MetricStat(mean, float(low), float(high), n, n_errors, "wilson")
    if n == 1 or min(values) == max(values):
        return MetricStat(mean, mean, mean, n, n_errors, "degenerate")
    low, high = stats.t_interval(values)
    return MetricStat(mean, float(low), float(high), n, n_errors, "t")


@dataclass
class SliceRow:
    """One slice (``key == value``) with its size and every metric's statistics on it."""

    key: str
    value: str
    n: int
    metrics: dict[str, MetricStat] = field(default_factory=dict)
    small: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "n": self.n,
            "small": self.small,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
        }


def _slice_values(key: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple) and key in ("tags", "tag", "labels"):
        return [str(v) for v in value if isinstance(v, str | int | bool)]
    if isinstance(value, bool):
        return [str(value).lower()]
    if isinstance(value, str | int):
        return [str(value)]
    return []  # floats, dicts and other lists are not slice labels


def slice_keys(metadata: Iterable[tuple[Key, Mapping[str, Any]]]) -> dict[str, dict[str, list[Key]]]:
    """Group result keys by metadata ``key -> value``; drop keys that look like identifiers.

    A key qualifies when it has between 2 and ``MAX_SLICE_VALUES`` distinct values and fewer distinct
    values than items (a per-case id is not a slice). ``tags`` lists give one slice per tag.
    """
    groups: dict[str, dict[str, list[Key]]] = {}
    n_items = 0
    overflow: set[str] = set()
    for item, meta in metadata:
        n_items += 1
        for key, raw in meta.items():
            if key in overflow:
                continue
            labels = _slice_values(key, raw)
            if not labels:
                continue
            per_key = groups.setdefault(key, {})
            for label in labels:
                per_key.setdefault(label, []).append(item)
            if len(per_key) > MAX_SLICE_VALUES:
                overflow.add(key)
                del groups[key]
    out: dict[str, dict[str, list[Key]]] = {}
    for key, per_key in groups.items():
        is_tags = key in ("tags", "tag", "labels")
        if (len(per_key) >= 2 or is_tags) and len(per_key) < n_items:
            out[key] = per_key
    return out


def compute_slices(
    groups: Mapping[str, Mapping[str, list[Key]]],
    columns: Mapping[str, MetricColumn],
    *,
    primary: str | None,
    failed_items: set[Key] | None = None,
) -> list[SliceRow]:
    """Every slice with every metric's statistics, worst first on the ``primary`` metric.

    ``failed_items`` are results whose target call failed: they count as errors of every metric
    (as in the run summary), never as a wrong answer. Slices with no value for the primary metric
    come last; ties keep the larger slice first.
    """
    failed = failed_items or set()
    rows: list[SliceRow] = []
    for key, per_key in groups.items():
        for label, items in per_key.items():
            row = SliceRow(key=key, value=label, n=len(items), small=len(items) < SMALL_SLICE)
            for name, col in columns.items():
                vals: list[float] = []
                errors = 0
                for item in items:
                    if item in failed:
                        errors += 1
                        continue
                    v = col.values.get(item)
                    if v is None:
                        errors += item in col.values
                    else:
                        vals.append(v)
                row.metrics[name] = metric_stat(vals, kind=col.kind, n_errors=errors)
            rows.append(row)

    def badness(row: SliceRow) -> tuple[int, float, int]:
        if primary is None or primary not in row.metrics or row.metrics[primary].mean is None:
            return (1, 0.0, -row.n)
        mean = row.metrics[primary].mean or 0.0
        hib = columns[primary].higher_is_better
        return (0, mean if hib else -mean, -row.n)

    rows.sort(key=badness)
    return rows
