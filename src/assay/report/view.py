"""A run prepared for display: headline metrics with CIs and thresholds, slices, distributions, errors.

``build_run_view(store, run_id)`` reads the stored summary (so the numbers shown are exactly the ones
``assay run --json`` wrote) and adds what the summary does not hold: per-slice statistics, the latency
and cost distributions, the provenance, what the judges cost apart from the target (``judges``)
and, for label queues built from the run, each scorer's agreement with the humans and its PPI estimate
(``human``, computed by ``assay.label``). A run still in progress (no summary yet) gets live metrics
computed the same way from its stored scores.

Example:
    >>> view = build_run_view(store, "20260101-120000-abc123")   # doctest: +SKIP
    >>> view.metrics[0].name, view.metrics[0].mean               # doctest: +SKIP
    ('exact_match', 0.82)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.report._queries import MetricColumn, case_metadata, metric_columns, scalar_columns
from assay.report.judges import JudgeUsageRow, QueueLabels, human_labels_for_run, judge_usage_for_run
from assay.report.redact import redact
from assay.report.slices import SliceRow, compute_slices, metric_stat, slice_keys

if TYPE_CHECKING:
    from assay.store.records import RunRecord
    from assay.store.store import Store

__all__ = ["MetricRow", "RunView", "build_run_view", "primary_metric", "run_header"]


@dataclass(frozen=True)
class MetricRow:
    """One headline metric: mean, 95% interval, counts and its threshold (if the suite set one)."""

    name: str
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    n_errors: int
    kind: str
    higher_is_better: bool
    ci_method: str | None = None
    threshold_min: float | None = None
    threshold_max: float | None = None
    passed: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mean": self.mean,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": self.n,
            "n_errors": self.n_errors,
            "kind": self.kind,
            "higher_is_better": self.higher_is_better,
            "ci_method": self.ci_method,
            "threshold": None
            if self.passed is None
            else {"min": self.threshold_min, "max": self.threshold_max, "passed": self.passed},
        }


@dataclass
class RunView:
    """Everything the run page and the report show about one run (except the case table)."""

    run: RunRecord
    summary: dict[str, Any]
    live: bool
    metrics: list[MetricRow]
    thresholds: dict[str, dict[str, Any]]
    slices: list[SliceRow]
    latency_s: list[float] = field(default_factory=list)
    cost_usd: list[float] = field(default_factory=list)
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    n_results: int = 0
    primary: str | None = None
    judges: list[JudgeUsageRow] = field(default_factory=list)
    """Per judge scorer: calls, cache hits, tokens and cost of judging (apart from the target's)."""
    human: list[QueueLabels] = field(default_factory=list)
    """Per label queue built from the run: agreement with humans and PPI estimates per scorer."""

    @property
    def judge_totals(self) -> dict[str, Any] | None:
        """The judges' usage summed over all judge scorers (None when the run has no judge scores)."""
        if not self.judges:
            return None
        costs = [j.cost_usd for j in self.judges if j.cost_usd is not None]
        return {
            "calls": sum(j.calls for j in self.judges),
            "cached": sum(j.cached for j in self.judges),
            "input_tokens": sum(j.input_tokens for j in self.judges),
            "output_tokens": sum(j.output_tokens for j in self.judges),
            "cost_usd": sum(costs) if costs else None,
        }

    @property
    def passed(self) -> bool | None:
        """True/False when thresholds were set, None otherwise."""
        if not self.thresholds:
            return None
        return all(bool(t.get("passed")) for t in self.thresholds.values())

    def to_dict(self, *, include_distributions: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run": run_header(self.run),
            "live": self.live,
            "passed": self.passed,
            "primary_metric": self.primary,
            "n_results": self.n_results,
            "n_errors": self.summary.get("n_errors", 0),
            "errors_by_kind": self.errors_by_kind,
            "metrics": [m.to_dict() for m in self.metrics],
            "thresholds": self.thresholds,
            "latency_s": self.summary.get("latency_s") or {},
            "tokens": self.summary.get("tokens") or {},
            "cost_usd": self.summary.get("cost_usd"),
            "slices": [s.to_dict() for s in self.slices],
            "provenance": self.run.provenance,
            "judges": {j.scorer: j.to_dict() for j in self.judges},
            "judge_totals": self.judge_totals,
            "human_labels": [q.to_dict() for q in self.human],
        }
        if include_distributions:
            out["distributions"] = {"latency_s": self.latency_s, "cost_usd": self.cost_usd}
        return out


def run_header(run: RunRecord) -> dict[str, Any]:
    """The identifying fields of a run, JSON-ready."""
    return {
        "run_id": run.run_id,
        "suite": run.suite,
        "status": run.status,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "n_planned": run.n_planned,
    }


def primary_metric(metric_names: list[str], thresholds: dict[str, Any], kinds: dict[str, str]) -> str | None:
    """The metric slices are ranked by: the first with a threshold, else the first binary, else the first."""
    for name in thresholds:
        if name in metric_names:
            return name
    for name in metric_names:
        if kinds.get(name) == "binary":
            return name
    return metric_names[0] if metric_names else None


def _live_metrics(columns: dict[str, MetricColumn], failed: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, col in sorted(columns.items()):
        ok = [v for v in col.values.values() if v is not None]
        st = metric_stat(ok, kind=col.kind, n_errors=len(col.values) - len(ok) + failed)
        out[name] = {
            **st.to_dict(),
            "kind": col.kind,
            "higher_is_better": col.higher_is_better,
        }
    return out


def build_run_view(store: Store, run_id: str) -> RunView:
    """Read a run (id or unique prefix) and prepare it for display. Raises ``StoreError`` if absent."""
    found = store.find_run(run_id)
    # nothing shown from a run may carry a secret (plugin targets may put keys in their spec)
    run = dataclasses.replace(found, provenance=redact(found.provenance), config=redact(found.config))
    columns = metric_columns(store, run.run_id)
    scalars = scalar_columns(store, run.run_id)
    failed = {k for k, ek in scalars.error_kind.items() if ek is not None}
    summary = dict(run.summary or {})
    live = run.summary is None
    errors_by_kind: dict[str, int] = {}
    for ek in scalars.error_kind.values():
        if ek is not None:
            errors_by_kind[ek] = errors_by_kind.get(ek, 0) + 1
    if live:
        summary = {
            "run_id": run.run_id,
            "suite": run.suite,
            "status": run.status,
            "n_results": len(scalars.error_kind),
            "n_errors": len(failed),
            "errors_by_kind": errors_by_kind,
            "metrics": _live_metrics(columns, len(failed)),
            "tokens": {"input": scalars.input_tokens, "output": scalars.output_tokens},
            "cost_usd": sum(scalars.cost_usd) if scalars.cost_usd else None,
            "thresholds": {},
        }
    thresholds: dict[str, dict[str, Any]] = dict(summary.get("thresholds") or {})
    metrics: list[MetricRow] = []
    for name, m in (summary.get("metrics") or {}).items():
        th = thresholds.get(name)
        metrics.append(
            MetricRow(
                name=name,
                mean=m.get("mean"),
                ci_low=m.get("ci_low"),
                ci_high=m.get("ci_high"),
                n=int(m.get("n", 0)),
                n_errors=int(m.get("n_errors", 0)),
                kind=str(m.get("kind", "continuous")),
                higher_is_better=bool(m.get("higher_is_better", True)),
                ci_method=m.get("ci_method"),
                threshold_min=th.get("min") if th else None,
                threshold_max=th.get("max") if th else None,
                passed=bool(th.get("passed")) if th else None,
            )
        )
    names = [m.name for m in metrics]
    primary = primary_metric(names, thresholds, {m.name: m.kind for m in metrics})
    groups = slice_keys(case_metadata(store, run.run_id))
    slices = compute_slices(groups, columns, primary=primary, failed_items=failed)
    return RunView(
        run=run,
        summary=summary,
        live=live,
        metrics=metrics,
        thresholds=thresholds,
        slices=slices,
        latency_s=scalars.latency_s,
        cost_usd=scalars.cost_usd,
        errors_by_kind=dict(summary.get("errors_by_kind") or errors_by_kind),
        n_results=len(scalars.error_kind),
        primary=primary,
        judges=judge_usage_for_run(store, run.run_id),
        human=human_labels_for_run(store, run.run_id, columns=columns, failed=failed),
    )
