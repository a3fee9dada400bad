"""Reports: runs prepared for display, slices, comparisons, the static HTML report and evaluation cards.

Reads the store only (and ``assay.stats`` for every interval and test). Jinja2 and the plotting
library are imported when a report is rendered, not when this package is imported.

Example:
    >>> from assay.report import build_run_view, compare_runs      # doctest: +SKIP
    >>> view = build_run_view(store, run_id)                        # doctest: +SKIP
"""

from __future__ import annotations

from assay.report.compare import ComparisonView, FlippedCase, MetricComparison, compare_runs
from assay.report.slices import MetricStat, SliceRow, compute_slices, metric_stat
from assay.report.view import MetricRow, RunView, build_run_view

__all__ = [
    "ComparisonView",
    "FlippedCase",
    "MetricComparison",
    "MetricRow",
    "MetricStat",
    "RunView",
    "SliceRow",
    "build_run_view",
    "compare_runs",
    "compute_slices",
    "metric_stat",
]
