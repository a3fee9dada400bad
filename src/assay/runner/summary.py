"""The run summary: every metric with n, errors and a 95% interval; latency, tokens, cost, thresholds.

The JSON form (``RunSummary.to_json_dict()``) is the public contract of ARCHITECTURE.md; fields may be
added, never renamed. Binary metrics get a Wilson interval; proportions and continuous metrics a seeded
BCa bootstrap. With repeats (several samples per case) the samples of one case are not independent, so the
interval is a clustered bootstrap over cases.

Example:
    >>> acc = MetricAccumulator()
    >>> for v in [True, True, False, True]:
    ...     acc.add_value("exact_match", v, kind="binary", higher_is_better=True, case_id="c")
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from assay.aggregates import MeanWithCI, Percentiles

if TYPE_CHECKING:
    from assay.store.records import ResultRecord

__all__ = [
    "JudgeUsage",
    "LatencySummary",
    "MetricAccumulator",
    "MetricSummary",
    "RunSummary",
    "ThresholdResult",
    "TokensSummary",
    "evaluate_thresholds",
]

SUMMARY_VERSION = 1


class MetricSummary(MeanWithCI):
    """One metric over a run: mean with a 95% interval, how many values and how many failures."""

    ci_method: str | None = Field(default=None, description="wilson | bootstrap-bca | clustered-bootstrap")


#: latency percentiles over a run's successful calls (the same shape a monitoring window reports)
LatencySummary = Percentiles


class TokensSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: int = 0
    output: int = 0


class ThresholdResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: float | None = None
    max: float | None = None
    value: float | None = Field(default=None, description="The value compared (the metric's mean).")
    passed: bool
    reason: str | None = None


class JudgeUsage(BaseModel):
    """What one judge scorer cost over the run, apart from the evaluated target's tokens and cost."""

    model_config = ConfigDict(extra="forbid")
    n: int = Field(0, description="Scores that carried judge usage.")
    calls: int = Field(0, description="Judge calls made by this run.")
    cached: int = Field(0, description="Verdicts served from the judge cache (they cost this run nothing).")
    input_tokens: int = Field(0, description="Judge tokens spent by this run (cached verdicts add none).")
    output_tokens: int = Field(0, description="Judge tokens spent by this run (cached verdicts add none).")
    cost_usd: float | None = Field(
        None, description="Judge cost of this run; None when calls had no pricing."
    )


class RunSummary(BaseModel):
    """What ``assay run --json`` writes and ``assay.evaluate`` returns."""

    model_config = ConfigDict(extra="forbid")
    summary_version: int = SUMMARY_VERSION
    run_id: str
    suite: str
    status: str = Field(description="completed | interrupted | failed")
    n_cases: int = Field(description="Distinct cases in the dataset.")
    repeats: int = 1
    n_results: int = Field(default=0, description="Stored results (cases x repeats that finished).")
    n_errors: int = Field(description="Results whose target call failed after all attempts.")
    errors_by_kind: dict[str, int] = Field(default_factory=dict)
    metrics: dict[str, MetricSummary] = Field(default_factory=dict)
    latency_s: LatencySummary = Field(default_factory=LatencySummary)
    tokens: TokensSummary = Field(default_factory=TokensSummary)
    cost_usd: float | None = None
    thresholds: dict[str, ThresholdResult] = Field(default_factory=dict)
    judges: dict[str, JudgeUsage] = Field(
        default_factory=dict, description="Per judge scorer: calls, cache hits, tokens and cost of judging."
    )
    n_cached: int = 0
    duration_s: float | None = None
    store: str | None = None
    stop_reason: str | None = None

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.thresholds.values())

    @property
    def exit_code(self) -> int:
        """0 completed and every threshold passed; 1 a threshold failed; 3 did not complete."""
        if self.status != "completed":
            return 3
        return 0 if self.passed else 1

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


@dataclass
class _MetricValues:
    kind: str
    higher_is_better: bool
    values: list[float] = field(default_factory=list)
    clusters: list[str] = field(default_factory=list)
    n_errors: int = 0


class MetricAccumulator:
    """Collects per-result values while results stream past, then summarises them.

    Memory is a float and a case id per value, so 100,000 results fit comfortably.
    """

    def __init__(self) -> None:
        self.metrics: dict[str, _MetricValues] = {}
        self.latencies: list[float] = []
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd: float | None = None
        self.errors_by_kind: Counter[str] = Counter()
        self.n_results = 0
        self.n_target_errors = 0
        self.n_cached = 0
        self.case_ids: set[str] = set()
        self.judges: dict[str, dict[str, Any]] = {}

    def _metric(self, name: str, kind: str, higher_is_better: bool) -> _MetricValues:
        m = self.metrics.get(name)
        if m is None:
            m = self.metrics[name] = _MetricValues(kind=kind, higher_is_better=higher_is_better)
        return m

    def add_value(
        self, name: str, value: float | bool | None, *, kind: str, higher_is_better: bool, case_id: str
    ) -> None:
        m = self._metric(name, kind, higher_is_better)
        if value is None:
            m.n_errors += 1
        else:
            m.values.append(float(value))
            m.clusters.append(case_id)

    def add_record(self, record: ResultRecord) -> None:
        """``add_result`` of a ``ResultRecord`` (one being stored, or one read back from the store)."""
        self.add_result(
            case_id=record.case_id,
            scores=record.scores,
            error_kind=record.error_kind,
            latency_s=record.latency_s,
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            cost_usd=record.cost_usd,
            cached=record.cached,
        )

    def add_result(
        self,
        *,
        case_id: str,
        scores: Iterable[Mapping[str, Any]],
        error_kind: str | None,
        latency_s: float | None,
        input_tokens: int | None,
        output_tokens: int | None,
        cost_usd: float | None,
        cached: bool = False,
    ) -> None:
        """Add one stored result (its scores as dicts, as the store returns them)."""
        self.n_results += 1
        self.case_ids.add(case_id)
        if cached:
            self.n_cached += 1
        self.input_tokens += input_tokens or 0
        self.output_tokens += output_tokens or 0
        if cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + cost_usd
        if error_kind is not None:
            self.n_target_errors += 1
            self.errors_by_kind[error_kind] += 1
            return
        if latency_s is not None:
            self.latencies.append(latency_s)
        scores = list(scores)
        self._add_judge_usage(scores)
        for s in scores:
            self.add_value(
                s["name"],
                None if s.get("error") else s.get("value"),
                kind=s.get("kind", "continuous"),
                higher_is_better=s.get("higher_is_better", True),
                case_id=case_id,
            )

    def _add_judge_usage(self, scores: list[Mapping[str, Any]]) -> None:
        for s in scores:
            meta = (s.get("metadata") or {}).get("judge")
            if not isinstance(meta, Mapping):
                continue
            t = self.judges.setdefault(
                str(s["name"]),
                {"n": 0, "calls": 0, "cached": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": None},
            )
            t["n"] += 1
            for key in ("calls", "cached", "input_tokens", "output_tokens"):
                t[key] += int(meta.get(key) or 0)
            if meta.get("cost_usd") is not None:
                t["cost_usd"] = (t["cost_usd"] or 0.0) + float(meta["cost_usd"])

    def judge_summaries(self) -> dict[str, JudgeUsage]:
        return {name: JudgeUsage(**t) for name, t in sorted(self.judges.items())}

    def metric_summaries(self, *, repeats: int, seed: int = 0) -> dict[str, MetricSummary]:
        """Summaries per metric; a target error counts as an error of every metric.

        Values are put in (case id, value) order first: results arrive in completion order, which differs
        between runs (and engines), and neither a mean nor a seeded bootstrap may depend on it.
        """
        out: dict[str, MetricSummary] = {}
        for name, m in sorted(self.metrics.items()):
            pairs = sorted(zip(m.clusters, m.values, strict=True))
            out[name] = summarise_metric(
                [v for _, v in pairs],
                kind=m.kind,
                higher_is_better=m.higher_is_better,
                n_errors=m.n_errors + self.n_target_errors,
                clusters=[c for c, _ in pairs] if repeats > 1 else None,
                seed=seed,
            )
        return out

    def latency_summary(self) -> LatencySummary:
        if not self.latencies:
            return LatencySummary()
        import numpy as np

        arr = np.asarray(self.latencies, dtype=float)
        p50, p95, p99 = np.quantile(arr, [0.5, 0.95, 0.99])
        return LatencySummary(
            p50=float(p50), p95=float(p95), p99=float(p99), mean=float(arr.mean()), n=arr.size
        )


def summarise_metric(
    values: list[float],
    *,
    kind: str,
    higher_is_better: bool,
    n_errors: int,
    clusters: list[str] | None = None,
    seed: int = 0,
) -> MetricSummary:
    """Mean and 95% interval for one metric's values (see module docstring for the method choice)."""
    n = len(values)
    if n == 0:
        return MetricSummary(
            mean=None,
            ci_low=None,
            ci_high=None,
            n=0,
            n_errors=n_errors,
            kind=kind,
            higher_is_better=higher_is_better,
        )
    import numpy as np

    from assay import stats

    arr = np.asarray(values, dtype=float)
    mean = math.fsum(values) / n  # exact rounding: the same values give the same mean in any order
    method: str
    if clusters is not None and len(set(clusters)) > 1:
        low, high = stats.bootstrap_ci(arr, clusters=np.asarray(clusters), seed=seed, method="percentile")
        method = "clustered-bootstrap"
    elif kind == "binary":
        low, high = stats.wilson_interval(round(arr.sum()), n)
        method = "wilson"
    elif n == 1 or float(arr.min()) == float(arr.max()):
        low, high = mean, mean
        method = "degenerate"
    else:
        low, high = stats.bootstrap_ci(arr, seed=seed, method="bca")
        method = "bootstrap-bca"
    return MetricSummary(
        mean=mean,
        ci_low=float(low),
        ci_high=float(high),
        n=n,
        n_errors=n_errors,
        kind=kind,
        higher_is_better=higher_is_better,
        ci_method=method,
    )


def _lookup(summary_metrics: Mapping[str, MetricSummary], latency: LatencySummary, name: str) -> float | None:
    if name in summary_metrics:
        return summary_metrics[name].mean
    if name.startswith("latency_s."):
        return getattr(latency, name.split(".", 1)[1], None)
    return None


def evaluate_thresholds(
    thresholds: Mapping[str, Mapping[str, float | None]],
    metrics: Mapping[str, MetricSummary],
    latency: LatencySummary,
) -> dict[str, ThresholdResult]:
    """Compare each metric's mean with its ``min``/``max``. A metric with no value fails, with a reason.

    Names are metric names, or ``latency_s.p50|p95|p99|mean`` for the run's latency distribution.
    """
    out: dict[str, ThresholdResult] = {}
    for name, bounds in thresholds.items():
        lo, hi = bounds.get("min"), bounds.get("max")
        value = _lookup(metrics, latency, name)
        if value is None:
            out[name] = ThresholdResult(
                min=lo, max=hi, value=None, passed=False, reason="no value (every item failed)"
            )
            continue
        ok = (lo is None or value >= lo) and (hi is None or value <= hi)
        out[name] = ThresholdResult(min=lo, max=hi, value=value, passed=ok)
    return out
