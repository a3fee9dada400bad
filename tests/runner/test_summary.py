"""The run summary's aggregation: intervals by kind, error accounting, thresholds, judge usage."""

from __future__ import annotations

import pytest

from assay import stats
from assay.runner.summary import LatencySummary, MetricAccumulator, evaluate_thresholds, summarise_metric


def test_binary_metrics_get_wilson_and_continuous_get_bootstrap() -> None:
    b = summarise_metric([1.0] * 42 + [0.0] * 8, kind="binary", higher_is_better=True, n_errors=2)
    assert (b.ci_low, b.ci_high) == pytest.approx(stats.wilson_interval(42, 50))
    assert b.ci_method == "wilson" and b.n == 50 and b.n_errors == 2
    c = summarise_metric(
        [0.1, 0.5, 0.9, 0.3, 0.7] * 10, kind="continuous", higher_is_better=False, n_errors=0
    )
    assert c.ci_method == "bootstrap-bca" and c.ci_low < 0.5 < c.ci_high
    same = summarise_metric([2.0] * 5, kind="continuous", higher_is_better=True, n_errors=0)
    assert (same.ci_low, same.ci_high) == (2.0, 2.0)


def test_repeats_use_a_clustered_interval_wider_than_the_naive_one() -> None:
    # 20 cases x 5 repeats, strongly correlated within a case
    values, clusters = [], []
    for i in range(20):
        for _ in range(5):
            values.append(1.0 if i % 2 else 0.0)
            clusters.append(f"c{i}")
    clustered = summarise_metric(values, kind="binary", higher_is_better=True, n_errors=0, clusters=clusters)
    naive = summarise_metric(values, kind="binary", higher_is_better=True, n_errors=0)
    assert clustered.ci_method == "clustered-bootstrap"
    assert (clustered.ci_high - clustered.ci_low) > (naive.ci_high - naive.ci_low) * 1.5


def test_target_errors_count_against_every_metric_and_judge_usage_is_summed() -> None:
    acc = MetricAccumulator()
    judge = {"calls": 1, "cached": 0, "input_tokens": 100, "output_tokens": 10, "cost_usd": 0.002}
    for i in range(4):
        acc.add_result(
            case_id=f"c{i}",
            error_kind=None,
            latency_s=0.1 * (i + 1),
            input_tokens=5,
            output_tokens=2,
            cost_usd=None,
            scores=[
                {"name": "em", "value": i % 2 == 0, "kind": "binary"},
                {
                    "name": "quality",
                    "value": 4.0,
                    "kind": "continuous",
                    "metadata": {"judge": {**judge, "cached": int(i == 3)}},
                },
            ],
        )
    acc.add_result(
        case_id="c9",
        error_kind="timeout",
        latency_s=None,
        input_tokens=None,
        output_tokens=None,
        cost_usd=None,
        scores=[],
    )
    metrics = acc.metric_summaries(repeats=1)
    assert metrics["em"].n == 4 and metrics["em"].n_errors == 1 and metrics["em"].mean == 0.5
    assert acc.errors_by_kind == {"timeout": 1} and acc.input_tokens == 20
    j = acc.judge_summaries()["quality"]
    assert (j.n, j.calls, j.cached, j.input_tokens, j.output_tokens) == (4, 4, 1, 400, 40)
    assert j.cost_usd == pytest.approx(0.008)


def test_thresholds_on_means_and_latency_percentiles() -> None:
    metrics = {"em": summarise_metric([1.0, 0.0, 1.0, 1.0], kind="binary", higher_is_better=True, n_errors=0)}
    lat = LatencySummary(p50=0.2, p95=1.5, p99=2.0, mean=0.4, n=4)
    res = evaluate_thresholds({"em": {"min": 0.7}, "latency_s.p95": {"max": 1.0}}, metrics, lat)
    assert res["em"].passed and res["em"].value == 0.75
    assert not res["latency_s.p95"].passed and res["latency_s.p95"].value == 1.5
    empty = summarise_metric([], kind="binary", higher_is_better=True, n_errors=3)
    res2 = evaluate_thresholds({"em": {"min": 0.5}}, {"em": empty}, lat)
    assert not res2["em"].passed and "no value" in (res2["em"].reason or "")
