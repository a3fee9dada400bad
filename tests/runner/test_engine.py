"""The runner against an in-process target and a real SQLite store file."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from assay.runner.engine import Runner, RunOptions, RunPlan, check_requirements
from assay.runner.summary import MetricAccumulator
from assay.scorer.base import BaseScorer
from assay.store import open_store
from assay.types import Case, ConfigError, Output, Score, TargetError, Usage


class ScriptedTarget:
    """Answers with the case's `answer` metadata; `script` maps case id -> list of errors to return first."""

    def __init__(
        self,
        script: dict[str, list[TargetError]] | None = None,
        *,
        delay_s: float = 0.0,
        timeout_s: float | None = None,
        max_attempts: int = 4,
    ) -> None:
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.calls: Counter[str] = Counter()
        self.delay_s = delay_s
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.closed = False

    async def __call__(self, case: Case) -> Output:
        self.calls[case.id] += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        pending = self.script.get(case.id)
        if pending:
            return Output(error=pending.pop(0))
        return Output(text=str(case.metadata.get("answer", "")), latency_s=0.01, usage=Usage(3, 2))

    def spec(self) -> dict[str, Any]:
        return {"type": "scripted"}

    async def aclose(self) -> None:
        self.closed = True


class Match(BaseScorer):
    kind = "binary"
    registered_name = "match"
    requires = frozenset({"expected"})

    async def score(self, case: Case, output: Output) -> Score:
        return self.make(output.text == case.expected)


class Length(BaseScorer):
    kind = "continuous"
    registered_name = "length"

    async def score(self, case: Case, output: Output) -> Score:
        if output.text == "boom":
            raise RuntimeError("scorer bug")
        return self.make(float(len(output.text)))


def make_cases(n: int, wrong: set[int] = frozenset()) -> list[Case]:  # type: ignore[assignment]
    return [
        Case(
            id=f"c{i}",
            input=f"q{i}",
            expected=f"a{i}",
            metadata={"answer": f"x{i}" if i in wrong else f"a{i}"},
        )
        for i in range(n)
    ]


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    st = open_store(f"sqlite:///{tmp_path / 'assay.db'}")
    yield st
    st.close()


def run(plan: RunPlan, store: Any, **opts: Any) -> Any:
    runner = Runner(plan, store, RunOptions(**opts))
    return asyncio.run(runner.run()), runner


def test_run_scores_stores_and_summarises(store: Any) -> None:
    target = ScriptedTarget()
    plan = RunPlan(
        "t",
        make_cases(40, wrong={0, 1, 2, 3}),
        target,
        [Match(), Length()],
        thresholds={"match": {"min": 0.8}},
    )
    summary, _runner = run(plan, store, concurrency=4)
    assert summary.status == "completed"
    m = summary.metrics["match"]
    assert (m.n, m.n_errors, m.mean) == (40, 0, pytest.approx(0.9))
    assert m.ci_method == "wilson" and m.ci_low < 0.9 < m.ci_high
    assert summary.thresholds["match"].passed and summary.exit_code == 0
    assert summary.tokens.input == 120 and summary.tokens.output == 80
    assert store.count_results(summary.run_id) == 40
    assert store.get_run(summary.run_id).summary["metrics"]["match"]["n"] == 40
    assert target.closed
    assert sum(target.calls.values()) == 40


def test_threshold_failure_gives_exit_code_1(store: Any) -> None:
    plan = RunPlan(
        "t", make_cases(10, wrong={0, 1, 2}), ScriptedTarget(), [Match()], thresholds={"match": {"min": 0.8}}
    )
    summary, _ = run(plan, store)
    assert summary.metrics["match"].mean == pytest.approx(0.7)
    assert not summary.thresholds["match"].passed
    assert summary.exit_code == 1


def test_retryable_errors_are_retried_and_not_counted(store: Any) -> None:
    rl = TargetError("rate_limited", "slow down", retryable=True, retry_after=0.0)
    five = TargetError("http_error", "500", retryable=True, retry_after=0.0, status=500)
    target = ScriptedTarget({"c1": [rl, five], "c2": [rl]})
    summary, _ = run(RunPlan("t", make_cases(5), target, [Match()]), store)
    assert summary.n_errors == 0 and summary.metrics["match"].mean == 1.0
    assert target.calls["c1"] == 3 and target.calls["c2"] == 2
    attempts = {r.case_id: r.attempts for r in store.iter_results(summary.run_id)}
    assert attempts["c1"] == 3 and attempts["c0"] == 1


def test_final_errors_are_typed_counted_and_never_scored(store: Any) -> None:
    bad = TargetError("http_error", "400 bad request", retryable=False, status=400)
    flaky = [TargetError("timeout", "t/o", retryable=True, retry_after=0.0)] * 5
    target = ScriptedTarget({"c0": [bad], "c1": list(flaky)})
    summary, _ = run(RunPlan("t", make_cases(30), target, [Match()]), store, max_error_rate=0.5)
    assert summary.status == "completed"
    assert summary.n_errors == 2
    assert summary.errors_by_kind == {"http_error": 1, "timeout": 1}
    assert target.calls["c0"] == 1 and target.calls["c1"] == 4  # max_attempts
    m = summary.metrics["match"]
    assert (m.n, m.n_errors, m.mean) == (28, 2, 1.0)  # errors are not wrong answers
    rows = {r.case_id: r for r in store.iter_results(summary.run_id)}
    assert rows["c0"].error_kind == "http_error" and rows["c0"].scores == []


def test_error_flood_stops_the_run_with_status_failed(store: Any) -> None:
    bad = TargetError("http_error", "503", retryable=False, status=503)
    target = ScriptedTarget({f"c{i}": [bad] for i in range(100)})
    summary, _ = run(
        RunPlan("t", make_cases(100), target, [Match()]), store, concurrency=2, max_error_rate=0.1
    )
    assert summary.status == "failed" and summary.exit_code == 3
    assert "too many errors" in (summary.stop_reason or "")
    assert sum(target.calls.values()) < 30  # stopped early, not after all 100


def test_scorer_exception_is_a_scorer_error_not_a_zero(store: Any) -> None:
    cases = make_cases(5)
    cases[0] = Case(id="c0", input="q", expected="a0", metadata={"answer": "boom"})
    summary, _ = run(RunPlan("t", cases, ScriptedTarget(), [Length()]), store)
    m = summary.metrics["length"]
    assert m.n == 4 and m.n_errors == 1 and m.mean == 2.0
    row = next(r for r in store.iter_results(summary.run_id) if r.case_id == "c0")
    assert "scorer bug" in row.scores[0]["error"] and row.scores[0]["value"] is None


def test_missing_expected_fails_before_any_call(store: Any) -> None:
    cases = [*make_cases(3), Case(id="no-exp", input="q")]
    target = ScriptedTarget()
    with pytest.raises(ConfigError, match="no-exp"):
        run(RunPlan("t", cases, target, [Match()]), store)
    assert sum(target.calls.values()) == 0
    with pytest.raises(ConfigError, match="requires 'expected'"):
        check_requirements(cases, [Match()])


def test_threshold_on_unknown_metric_is_a_config_error(store: Any) -> None:
    with pytest.raises(ConfigError, match="Did you mean 'match'"):
        run(RunPlan("t", make_cases(3), ScriptedTarget(), [Match()], thresholds={"mtch": {"min": 1}}), store)


def test_cache_second_run_makes_zero_calls_and_no_cache_bypasses(store: Any) -> None:
    cases = make_cases(12)
    t1 = ScriptedTarget()
    s1, _ = run(RunPlan("t", cases, t1, [Match()]), store)
    assert sum(t1.calls.values()) == 12 and s1.n_cached == 0
    t2 = ScriptedTarget()
    s2, _ = run(RunPlan("t", cases, t2, [Match()]), store)
    assert sum(t2.calls.values()) == 0 and s2.n_cached == 12
    assert s2.metrics["match"].mean == s1.metrics["match"].mean
    t3 = ScriptedTarget()
    run(RunPlan("t", cases, t3, [Match()]), store, use_cache=False)
    assert sum(t3.calls.values()) == 12
    t4 = ScriptedTarget()
    s4, _ = run(RunPlan("t", cases, t4, [Match()]), store, repeats=3)
    assert sum(t4.calls.values()) == 36 and s4.n_results == 36
    assert s4.metrics["match"].ci_method == "clustered-bootstrap" or s4.metrics["match"].ci_low == 1.0


def test_errors_are_not_cached(store: Any) -> None:
    bad = TargetError("http_error", "400", retryable=False, status=400)
    t1 = ScriptedTarget({"c0": [bad]})
    run(RunPlan("t", make_cases(4), t1, [Match()]), store, max_error_rate=0.5)
    t2 = ScriptedTarget()
    s2, _ = run(RunPlan("t", make_cases(4), t2, [Match()]), store, max_error_rate=0.5)
    assert dict(t2.calls) == {"c0": 1} and s2.n_errors == 0


def test_stop_then_resume_runs_each_case_exactly_once(store: Any) -> None:
    cases = make_cases(60)
    target = ScriptedTarget(delay_s=0.005)
    plan = RunPlan("t", cases, target, [Match()], provenance={"dataset_sha256": "abc"})
    runner = Runner(plan, store, RunOptions(concurrency=4, use_cache=False))

    async def stop_soon() -> Any:
        task = asyncio.create_task(runner.run())
        while sum(target.calls.values()) < 15:
            await asyncio.sleep(0.001)
        runner.request_stop()
        return await task

    s1 = asyncio.run(stop_soon())
    assert s1.status == "interrupted" and s1.exit_code == 3
    first = set(store.completed_keys(s1.run_id))
    assert 15 <= len(first) < 60
    calls_before = Counter(target.calls)
    plan2 = RunPlan("t", cases, target, [Match()], provenance={"dataset_sha256": "abc"})
    s2 = asyncio.run(
        Runner(plan2, store, RunOptions(concurrency=4, use_cache=False)).run(resume=s1.run_id[:12])
    )
    assert s2.run_id == s1.run_id and s2.status == "completed"
    assert store.count_results(s1.run_id) == 60
    for cid, _ in first:
        assert target.calls[cid] == calls_before[cid]  # committed cases were not called again
    assert s2.metrics["match"].n == 60


def test_resume_refuses_a_changed_dataset(store: Any) -> None:
    cases = make_cases(5)
    target = ScriptedTarget()
    s1, _ = run(RunPlan("t", cases, target, [Match()], provenance={"dataset_sha256": "abc"}), store)
    store.update_run(s1.run_id, status="interrupted")
    plan = RunPlan("t", cases, target, [Match()], provenance={"dataset_sha256": "def"})
    with pytest.raises(ConfigError, match="dataset changed"):
        asyncio.run(Runner(plan, store, RunOptions()).run(resume=s1.run_id))


def test_guard_timeout_classifies_a_hanging_target(store: Any) -> None:
    target = ScriptedTarget(delay_s=5.0, timeout_s=0.05, max_attempts=1)
    summary, _ = run(RunPlan("t", make_cases(2), target, [Match()]), store, max_error_rate=1.0)
    assert summary.errors_by_kind == {"timeout": 2}


def test_target_that_raises_is_a_target_exception(store: Any) -> None:
    class Raising(ScriptedTarget):
        async def __call__(self, case: Case) -> Output:
            raise ValueError("bad thing")

    summary, _ = run(RunPlan("t", make_cases(3), Raising(), [Match()]), store, max_error_rate=1.0)
    assert summary.errors_by_kind == {"target_exception": 3}
    row = next(iter(store.iter_results(summary.run_id)))
    assert "ValueError: bad thing" in row.error_message


def test_no_result_is_lost_when_the_run_ends_during_a_flush(tmp_path: Path) -> None:
    # regression: the committer used to be cancelled at the end of a run, dropping a batch it held
    with open_store(f"sqlite:///{tmp_path / 'stress.db'}") as st:
        for i in range(12):
            plan = RunPlan(f"s{i}", make_cases(300), ScriptedTarget(), [Match()])
            opts = RunOptions(concurrency=32, use_cache=False, commit_every_n=7, commit_every_s=0.001)
            summary = asyncio.run(Runner(plan, st, opts).run())
            assert summary.status == "completed", summary.stop_reason
            assert st.count_results(summary.run_id) == 300


class Costly(ScriptedTarget):
    """Answers like ScriptedTarget, with a cost per call (summed in the summary)."""

    async def __call__(self, case: Case) -> Output:
        out = await super().__call__(case)
        if out.error is not None:
            return out
        return Output(
            text=out.text, latency_s=0.01 + int(case.id[1:]) / 1000, usage=Usage(3, 2), cost_usd=0.1
        )


def test_summary_gathered_during_the_run_is_the_one_the_store_gives(store: Any) -> None:
    # the summary of a fresh run is gathered as results are buffered; it must equal one read back
    bad = TargetError("http_error", "400", retryable=False, status=400)
    cases = make_cases(30, wrong={3, 4})
    cases[5] = Case(id="c5", input="q", expected="a5", metadata={"answer": "boom"})  # a scorer error
    target = Costly({"c7": [bad], "c8": [bad]})
    plan = RunPlan("t", cases, target, [Match(), Length()])
    runner = Runner(plan, store, RunOptions(concurrency=3, max_error_rate=0.5, commit_every_n=4))
    summary = asyncio.run(runner.run())
    assert summary.n_errors == 2 and summary.metrics["length"].n_errors == 3
    runner._acc = None  # what a resumed run does: read every stored result back
    from_store = runner._summarise(30, summary.duration_s or 0.0)
    assert from_store.to_json_dict() == summary.to_json_dict()
    # a result the run did not write itself (another process on the same run) is not missed
    extra = next(iter(store.iter_results(summary.run_id)))
    store.add_results([dataclasses.replace(extra, case_id="other")])
    runner._acc = MetricAccumulator()
    assert runner._summarise(30, 0.0).n_results == 31


def test_the_next_call_goes_out_before_the_last_output_is_scored(store: Any) -> None:
    log: list[str] = []

    class Logged(ScriptedTarget):
        async def __call__(self, case: Case) -> Output:
            log.append(f"call {case.id}")
            return await super().__call__(case)

    class LoggedMatch(Match):
        async def score(self, case: Case, output: Output) -> Score:
            log.append(f"score {case.id}")
            return await super().score(case, output)

    plan = RunPlan("t", make_cases(6), Logged(delay_s=0.002), [LoggedMatch()])
    summary, _ = run(plan, store, concurrency=1)
    assert summary.metrics["match"].n == 6
    for i in range(5):  # the slot is re-filled first: scoring never delays the next request
        assert log.index(f"call c{i + 1}") < log.index(f"score c{i}"), log


def test_a_slow_scorer_holds_the_worker_back(store: Any) -> None:
    # at most one output per worker waits for its scores: a slow scorer cannot pile up finished calls
    target = ScriptedTarget()
    ahead: list[int] = []

    class Slow(Match):
        scored = 0

        async def score(self, case: Case, output: Output) -> Score:
            ahead.append(sum(target.calls.values()) - Slow.scored)
            await asyncio.sleep(0.005)
            Slow.scored += 1
            return await super().score(case, output)

    summary, _ = run(RunPlan("t", make_cases(12), target, [Slow()]), store, concurrency=2)
    assert summary.metrics["match"].n == 12
    assert max(ahead) <= 4  # 2 workers x (one call in flight + one output being scored)
