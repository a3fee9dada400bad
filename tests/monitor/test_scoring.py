"""Online scoring: sampling, stored scores in window aggregates, catch-up after downtime, judge budget,
requirements, scorer failures, and the config file's errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from assay.monitor.anonymise import AnonymisationConfig
from assay.monitor.config import MonitorConfig, load_monitor_config
from assay.monitor.ingest import Ingestor
from assay.monitor.scoring import ScoringWorker, sampled
from assay.monitor.windows import aggregate
from assay.scorer.base import BaseScorer, register_scorer
from assay.store import Store
from assay.types import ConfigError
from tests.monitor.conftest import KEY, T0, make_event

JUDGE_CALLS: list[str] = []


@register_scorer("monitor_test_short")
class Short(BaseScorer):
    kind = "binary"

    async def score(self, case: Any, output: Any) -> Any:
        return self.make(len(output.text) < 10)


@register_scorer("monitor_test_judge")
class Judge(BaseScorer):
    kind = "continuous"

    async def score(self, case: Any, output: Any) -> Any:
        JUDGE_CALLS.append(case.id)
        if "crash" in output.text:
            raise RuntimeError("judge fell over")
        return self.make(0.5)


@register_scorer("monitor_test_needs_expected")
class NeedsExpected(BaseScorer):
    requires = frozenset({"expected"})

    async def score(self, case: Any, output: Any) -> Any:
        return self.make(float(case.expected == output.text))


def config(**app: Any) -> MonitorConfig:
    return MonitorConfig.model_validate({"apps": {"bot": app}})


def ingest(store: Store, n: int, start: int = 0, **kw: Any) -> None:
    Ingestor(store, AnonymisationConfig.keep_text(), key=KEY).ingest(
        [make_event(start + i, **kw) for i in range(n)]
    )


def test_sampling_is_stable_and_close_to_the_rate() -> None:
    ids = [f"e{i}" for i in range(20000)]
    chosen = [i for i in ids if sampled(i, 0.2)]
    assert abs(len(chosen) / len(ids) - 0.2) < 0.01
    assert chosen == [i for i in ids if sampled(i, 0.2)]
    assert set(i for i in ids if sampled(i, 0.1)) <= set(chosen)  # a lower rate picks a subset


def test_scores_are_stored_and_aggregated(store: Store) -> None:
    ingest(store, 300)
    worker = ScoringWorker(
        store,
        config(sample_rate=0.5, scorers=["monitor_test_short", "monitor_test_needs_expected"]),
        batch_size=100,
    )
    report = worker.catch_up()
    assert report.scanned == 300 and report.cursor == 300
    assert report.sampled == sum(sampled(f"ev-{i}", 0.5) for i in range(300))
    assert report.skipped_requirements == report.sampled  # events have no expected answer
    assert store.events.count_scores("monitor_test_short") == report.sampled
    assert worker.run_once().scanned == 0  # caught up: nothing is scored twice
    (agg,) = aggregate(store, start=T0, end=T0 + timedelta(hours=1), by=["app"])
    s = agg.scores["monitor_test_short"]
    short = [len(f"answer {i}") < 10 for i in range(300) if sampled(f"ev-{i}", 0.5)]
    assert s.n == len(short) and s.mean == pytest.approx(sum(short) / len(short))
    assert s.ci_low is not None and s.ci_low < s.mean < s.ci_high  # type: ignore[operator]
    assert agg.metric("score.monitor_test_short") == s.mean
    first = next(f"ev-{i}" for i in range(300) if sampled(f"ev-{i}", 0.5))
    assert [s["name"] for s in store.events.scores_for(first)] == ["monitor_test_short"]


def test_catch_up_after_downtime_and_failures(store: Store) -> None:
    JUDGE_CALLS.clear()
    cfg = config(scorers=["monitor_test_judge"])
    ingest(store, 50)
    ScoringWorker(store, cfg).catch_up()
    ingest(store, 30, start=50, output="crash")  # the worker is down while these arrive
    ingest(store, 20, start=80)
    report = ScoringWorker(store, cfg, batch_size=16).catch_up()  # a new process
    assert report.scanned == 50 and report.failed_scores == 30
    assert sorted(JUDGE_CALLS) == sorted(f"ev-{i}" for i in range(100))  # each event judged exactly once
    failed = store.events.scores_for("ev-60")[0]
    assert failed["value"] is None and "judge fell over" in failed["error"]


def test_judge_budget_per_hour(store: Store) -> None:
    JUDGE_CALLS.clear()
    # 3 hours of traffic, 100 events each hour
    for h in range(3):
        ingest(store, 100, start=h * 3600)
    cfg = config(
        scorers=["monitor_test_short", {"name": "monitor_test_judge", "judge": True}],
        judge_budget_per_hour=10,
    )
    report = ScoringWorker(store, cfg, batch_size=64).catch_up()
    assert len(JUDGE_CALLS) == 30 and report.skipped_budget == 270
    assert store.events.count_scores("monitor_test_short") == 300  # the other scorers are not limited


def test_config_file_errors_name_line_and_field(tmp_path: Path) -> None:
    good = tmp_path / "monitor.yaml"
    good.write_text(
        "apps:\n  bot:\n    sample_rate: 0.2\n    scorers: [latency]\nrules:\n"
        "  - {name: slow, expr: 'p95_latency_s > 2 for 10m'}\n"
        "  - {name: drift, type: drift, field: metadata.topic}\n"
    )
    cfg = load_monitor_config(good)
    assert cfg.apps["bot"].sample_rate == 0.2 and [r.name for r in cfg.rules] == ["slow", "drift"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("apps:\n  bot:\n    sample_rate: 2\n")
    with pytest.raises(ConfigError) as info:
        load_monitor_config(bad)
    assert info.value.line == 3 and info.value.field == "apps.bot.sample_rate"
    bad.write_text("rules:\n  - name: x\n    expr: 'p95_latency > 1'\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:2.*Did you mean 'p95_latency_s'"):
        load_monitor_config(bad)
    with pytest.raises(ConfigError, match="unknown scorer"):
        ScoringWorker(None, MonitorConfig.model_validate({"apps": {"x": {"scorers": ["no_such_scorer"]}}}))  # type: ignore[arg-type]
