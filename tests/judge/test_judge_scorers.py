"""The judge scorers against a real loopback OpenAI-compatible server scripted with verdicts."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest

from assay.inference.judge import JudgeClient, repair_prompt
from assay.scorer.judge import (
    PairwiseJudge,
    ReferenceGuidedJudge,
    RubricJudge,
    combine_pairwise,
    expected_score,
    parse_scale,
)
from assay.store import open_store
from assay.testing.fake_openai import FakeOpenAIServer, Fault
from assay.types import Case, ConfigError, Output, Score, ScorerError, Usage

CASE = Case(id="c1", input="How do I reset my password?", expected="Settings > Security > Reset")
OUT = Output(text="Go to Settings, then Security, then Reset.")


def judge_target(server: FakeOpenAIServer, **extra: Any) -> dict[str, Any]:
    return {
        "type": "openai",
        "base_url": server.base_url,
        "model": "judge",
        "timeout_s": 5,
        "pricing": {"input_per_mtok": 1.0, "output_per_mtok": 2.0},
        **extra,
    }


def score(scorer: Any, case: Case = CASE, output: Output = OUT) -> Any:
    async def go() -> Any:
        try:
            return await scorer.score(case, output)
        finally:
            await scorer.aclose()

    return asyncio.run(go())


def score_many(scorer: Any, items: list[tuple[Case, Output]]) -> list[Any]:
    async def go() -> list[Any]:
        try:
            return [await scorer.score(c, o) for c, o in items]
        finally:
            await scorer.aclose()

    return asyncio.run(go())


def rubric(server: FakeOpenAIServer, **kw: Any) -> RubricJudge:
    kw.setdefault("criterion", "Does the response answer the question?")
    return RubricJudge(judge=judge_target(server), cache=kw.pop("cache", False), **kw)


def prompt_of(scorer: RubricJudge, case: Case = CASE, output: Output = OUT) -> str:
    return scorer.prompt_for(case, output)


# ------------------------------------------------------------------------------------ rubric
def test_binary_verdict_with_judge_usage_kept_apart() -> None:
    with FakeOpenAIServer() as server:
        scorer = rubric(server)
        server.answers[prompt_of(scorer)] = '{"reasoning": "It names the menu path.", "score": true}'
        result = score(scorer)
    assert isinstance(result, Score)
    assert result.error is None and result.value is True and result.kind == "binary"
    assert result.explanation == "It names the menu path."
    judge = result.metadata["judge"]
    assert judge["calls"] == 1 and judge["cached"] == 0
    assert judge["input_tokens"] > 50 and judge["output_tokens"] == 8
    expected_cost = (judge["input_tokens"] * 1.0 + judge["output_tokens"] * 2.0) / 1e6
    assert judge["cost_usd"] == pytest.approx(expected_cost)
    assert server.n_requests == 1


def test_five_point_scale_and_normalisation() -> None:
    with FakeOpenAIServer() as server:
        plain = rubric(server, scale="1-5")
        server.answers[prompt_of(plain)] = '```json\n{"reasoning": "ok", "score": 4}\n```'
        assert score(plain).value == 4.0
        norm = rubric(server, scale="1-5", normalize=True)
        assert score(norm).value == pytest.approx(0.75)


def test_labelled_categories_record_the_label() -> None:
    with FakeOpenAIServer() as server:
        scorer = rubric(server, scale={"wrong": 0, "partly": 0.5, "right": 1})
        server.answers[prompt_of(scorer)] = '{"reasoning": "half", "score": "partly"}'
        result = score(scorer)
    assert result.value == 0.5 and result.metadata["label"] == "partly"


def test_geval_steps_and_context_are_in_the_prompt() -> None:
    with FakeOpenAIServer() as server:
        scorer = rubric(server, steps=["Read the question", "Check the path"])
    case = Case(
        id="c2",
        input="q?",
        context=(__import__("assay.types").types.Doc(text="KB: reset is under Security"),),
    )
    p = scorer.prompt_for(case, Output(text="<b>answer</b>"))
    assert "1. Read the question\n2. Check the path" in p
    assert "KB: reset is under Security" in p and "<b>answer</b>" in p


def test_invalid_verdict_is_repaired_once() -> None:
    with FakeOpenAIServer() as server:
        scorer = rubric(server, scale="1-5")
        bad = "I would give it a four."
        problem = JudgeClient.check(bad, scorer.schema)[1]
        assert problem is not None
        server.answers[prompt_of(scorer)] = bad
        server.answers[repair_prompt(problem, scorer.schema)] = '{"score": 4}'
        result = score(scorer)
        assert result.value == 4.0 and result.error is None
        assert result.metadata["judge"]["calls"] == 2
        assert server.n_requests == 2


def test_unparseable_twice_is_a_typed_error_never_nan() -> None:
    with FakeOpenAIServer() as server:
        scorer = rubric(server, scale="1-5")
        server.answers[prompt_of(scorer)] = "four"
        problem = JudgeClient.check("four", scorer.schema)[1]
        server.answers[repair_prompt(problem or "", scorer.schema)] = "I said four."
        result = score(scorer)
        assert result.value is None
        assert result.error is not None and result.error.startswith("judge invalid_json")
        assert "after one repair request" in result.error
        assert server.n_requests == 2  # the question and exactly one repair request


def test_out_of_scale_answer_is_a_schema_error() -> None:
    with FakeOpenAIServer() as server:
        scorer = rubric(server, scale="1-5")
        server.answers[prompt_of(scorer)] = '{"score": 7}'
        result = score(scorer)
    assert result.value is None and result.error.startswith("judge schema")


def test_flaky_judge_is_retried() -> None:
    with FakeOpenAIServer() as server:
        scorer = RubricJudge(judge=judge_target(server), criterion="ok?", cache=False, max_attempts=3)
        scorer.engine.client.backoff_s = 0.01
        p = prompt_of(scorer)
        server.answers[p] = '{"score": false}'
        server.faults = [Fault("503", prompt=p, times=1), Fault("malformed", prompt=p, after=1, times=1)]
        result = score(scorer)
        assert result.value is False and result.error is None
        assert result.metadata["judge"]["calls"] == 3
        assert server.prompt_counts[p] == 3


def test_judge_that_keeps_failing_is_a_target_error() -> None:
    with FakeOpenAIServer() as server:
        scorer = RubricJudge(judge=judge_target(server), criterion="ok?", cache=False, max_attempts=2)
        scorer.engine.client.backoff_s = 0.01
        server.faults = [Fault("500")]
        result = score(scorer)
    assert result.value is None and result.error.startswith("judge target_error")


def test_failed_target_output_is_not_judged() -> None:
    from assay.types import TargetError

    with FakeOpenAIServer() as server:
        scorer = rubric(server)
        result = score(scorer, output=Output(error=TargetError("timeout", "slow")))
        assert result.error is not None and "timeout" in result.error
        assert server.n_requests == 0


def test_bad_options_fail_at_construction() -> None:
    with pytest.raises(ScorerError, match="judge"):
        RubricJudge(criterion="x")
    with pytest.raises(ScorerError, match="scale"):
        RubricJudge(
            judge={"type": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m"},
            criterion="x",
            scale="huge",
        )
    with pytest.raises(ScorerError, match="repeats"):
        RubricJudge(
            judge={"type": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m"},
            criterion="x",
            repeats=0,
        )
    with pytest.raises(ConfigError, match="rubric"):
        import assay.scorer.judge  # noqa: F401 (registers)
        from assay.scorer.base import create_scorer

        create_scorer("rubric", judge={"type": "nope"}, criterion="x")


# ------------------------------------------------------------------------------------ cache, budget, repeats
def test_cache_in_the_store_makes_a_rescore_free(tmp_path: Any) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        with FakeOpenAIServer() as server:
            first = RubricJudge(judge=judge_target(server), criterion="ok?", store=store)
            server.answers[prompt_of(first)] = '{"score": true}'
            assert score(first).metadata["judge"]["calls"] == 1
            again = RubricJudge(judge=judge_target(server), criterion="ok?", store=store)
            result = score(again)
            assert result.value is True and result.metadata["judge"] == {
                **result.metadata["judge"],
                "calls": 0,
                "cached": 1,
            }
            assert server.n_requests == 1  # the second scorer never called the judge
            other = RubricJudge(judge=judge_target(server), criterion="polite?", store=store)
            server.answers[prompt_of(other)] = '{"score": false}'
            assert score(other).value is False and server.n_requests == 2  # another prompt is another key
    finally:
        store.close()


def test_budget_caps_calls() -> None:
    items = [(Case(id=f"c{i}", input=f"q{i}"), Output(text=f"a{i}")) for i in range(4)]
    with FakeOpenAIServer() as server:
        scorer = rubric(server, max_calls=2)
        for c, o in items:
            server.answers[prompt_of(scorer, c, o)] = '{"score": true}'
        results = score_many(scorer, items)
        assert [r.value for r in results[:2]] == [True, True]
        assert all(r.value is None and "budget" in r.error for r in results[2:])
        assert server.n_requests == 2
        assert scorer.totals["errors"] == {"budget": 2}


def test_cost_budget() -> None:
    items = [(Case(id=f"c{i}", input=f"q{i}"), Output(text=f"a{i}")) for i in range(3)]
    with FakeOpenAIServer() as server:
        scorer = rubric(server, max_cost_usd=1e-9)  # spent by the first call
        for c, o in items:
            server.answers[prompt_of(scorer, c, o)] = '{"score": true}'
        results = score_many(scorer, items)
    assert results[0].value is True
    assert [r.error is not None and "max_cost_usd" in r.error for r in results[1:]] == [True, True]


def test_repeats_record_samples_for_test_retest() -> None:
    with FakeOpenAIServer() as server:
        scorer = rubric(server, scale="1-5", repeats=3, cache=True)
        server.answers[prompt_of(scorer)] = '{"score": 3}'
        result = score(scorer)
        assert result.value == 3.0
        assert result.metadata["samples"] == [3.0, 3.0, 3.0] and result.metadata["consistent"] is True
        assert server.n_requests == 3  # each repeat is its own draw, not a cache hit


def test_repeats_majority_for_binary() -> None:
    class Flip:
        """A judge that answers true, false, true ... (a python target)."""

        def __init__(self) -> None:
            self.n = 0

        async def __call__(self, case: Case) -> Output:
            self.n += 1
            return Output(text=json.dumps({"score": self.n % 2 == 1}), usage=Usage(10, 3))

        def spec(self) -> dict[str, Any]:
            return {"type": "flip"}

    scorer = RubricJudge(judge=Flip(), criterion="ok?", repeats=3, cache=False)
    result = score(scorer)
    assert result.value is True and result.metadata["samples"] == [1.0, 0.0, 1.0]
    assert result.metadata["consistent"] is False
    assert result.metadata["judge"]["input_tokens"] == 30


# ------------------------------------------------------------------------------------ logprobs
def _lp(token: str, p: float, alts: dict[str, float]) -> dict[str, Any]:
    return {
        "token": token,
        "logprob": math.log(p),
        "top_logprobs": [{"token": t, "logprob": math.log(q)} for t, q in alts.items()],
    }


class LogprobJudge:
    async def __call__(self, case: Case) -> Output:
        toks = [
            _lp('{"score": ', 0.99, {'{"score": ': 0.99}),
            _lp("4", 0.5, {"4": 0.5, "5": 0.3, "3": 0.15, "x": 0.05}),
            _lp("}", 0.99, {"}": 0.99}),
        ]
        return Output(text='{"score": 4}', logprobs=toks)

    def spec(self) -> dict[str, Any]:
        return {"type": "logprob-judge"}


def test_logprobs_give_an_expected_score() -> None:
    scorer = RubricJudge(judge=LogprobJudge(), criterion="ok?", scale="1-5", logprobs=True, cache=False)
    result = score(scorer)
    # renormalised over the scale's answers 3, 4, 5 (the "x" alternative is not on it)
    assert result.value == pytest.approx((3 * 0.15 + 4 * 0.5 + 5 * 0.3) / 0.95)
    assert result.kind == "continuous"
    assert result.metadata["score_probs"]["4"] == pytest.approx(0.5 / 0.95)


def test_logprobs_from_the_openai_wire_format() -> None:
    # the fake server sends logprobs with top alternatives that are not on the scale: the chosen token is
    with FakeOpenAIServer() as server:
        scorer = RubricJudge(
            judge=judge_target(server), criterion="ok?", scale="1-5", logprobs=True, cache=False
        )
        server.answers[prompt_of(scorer)] = '{"score": 2}'
        result = score(scorer)
    assert result.value == pytest.approx(2.0) and result.metadata["score_probs"] == {"2": 1.0}


def test_expected_score_none_without_logprobs() -> None:
    assert expected_score(None, '{"score": 4}', parse_scale("1-5")) is None
    assert expected_score([{"token": "four", "logprob": -0.1}], "four", parse_scale("1-5")) is None


# ------------------------------------------------------------------------------------ reference-guided
def test_reference_guided_shows_the_expected_answer() -> None:
    with FakeOpenAIServer() as server:
        scorer = ReferenceGuidedJudge(judge=judge_target(server), cache=False)
        assert scorer.requires == frozenset({"expected"})
        p = prompt_of(scorer)
        assert "REFERENCE ANSWER" in p and "Settings > Security > Reset" in p
        server.answers[p] = '{"reasoning": "matches", "score": true}'
        assert score(scorer).value is True


# ------------------------------------------------------------------------------------ pairwise
@pytest.mark.parametrize(
    ("first", "second", "outcome", "consistent"),
    [
        ("A", "B", "candidate", True),
        ("B", "A", "baseline", True),
        ("tie", "tie", "tie", True),
        ("A", "A", "tie", False),  # the first-shown response always wins: position bias
        ("B", "B", "tie", False),
        ("A", "tie", "tie", False),
        ("tie", "A", "tie", False),
    ],
)
def test_combine_pairwise(first: str, second: str, outcome: str, consistent: bool) -> None:
    assert combine_pairwise(first, second) == (outcome, consistent)


def test_combine_pairwise_rejects_other_verdicts() -> None:
    with pytest.raises(ValueError):
        combine_pairwise("C", "A")


def _pair_prompts(scorer: PairwiseJudge, case: Case, cand: str, base: str) -> tuple[str, str]:
    from assay.scorer.judge import pairwise_prompt

    kw = {"criterion": scorer.criterion, "input_text": case.input_text}
    return (
        pairwise_prompt(**kw, response_a=cand, response_b=base),
        pairwise_prompt(**kw, response_a=base, response_b=cand),
    )


def test_pairwise_both_orders_and_inconsistency_counted(tmp_path: Any) -> None:
    base = tmp_path / "baseline.jsonl"
    base.write_text(
        json.dumps({"case_id": "c1", "output": "old answer 1"})
        + "\n"
        + json.dumps({"case_id": "c2", "output": {"text": "old answer 2"}})
        + "\n",
        encoding="utf-8",
    )
    c1, c2 = Case(id="c1", input="q1"), Case(id="c2", input="q2")
    with FakeOpenAIServer() as server:
        scorer = PairwiseJudge(judge=judge_target(server), baseline_file=str(base), cache=False)
        p1, p1_swapped = _pair_prompts(scorer, c1, "new 1", "old answer 1")
        server.answers[p1] = '{"winner": "A"}'  # candidate shown first wins
        server.answers[p1_swapped] = '{"winner": "B"}'  # candidate shown second wins: consistent
        p2, p2_swapped = _pair_prompts(scorer, c2, "new 2", "old answer 2")
        server.answers[p2] = '{"winner": "A"}'
        server.answers[p2_swapped] = '{"winner": "A"}'  # first-shown wins both times: inconsistent
        r1, r2 = score_many(scorer, [(c1, Output(text="new 1")), (c2, Output(text="new 2"))])
        assert server.n_requests == 4
    assert [s.name for s in r1] == ["pairwise", "pairwise_inconsistent"]
    assert r1[0].value == 1.0 and r1[1].value is False and r1[0].metadata["verdicts"] == [["A", "B"]]
    assert r2[0].value == 0.5 and r2[1].value is True and r2[0].metadata["outcome"] == "tie"
    assert scorer.n_inconsistent == 1 and scorer.n_compared == 2
    assert r1[0].metadata["judge"]["calls"] == 2


def test_pairwise_missing_baseline_is_an_error_per_item() -> None:
    with FakeOpenAIServer() as server:
        scorer = PairwiseJudge(judge=judge_target(server), baselines={}, cache=False)
        r = score(scorer)
    assert r[0].value is None and "no baseline" in r[0].error and r[1].error is not None


def test_pairwise_bad_baseline_file_names_the_line(tmp_path: Any) -> None:
    base = tmp_path / "b.jsonl"
    base.write_text('{"case_id": "c1", "output": "x"}\n{"case_id": "c2"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"b.jsonl:2"):
        PairwiseJudge(
            judge={"type": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m"},
            baseline_file=str(base),
        )


# ------------------------------------------------------------------------------------ through the runner
def test_rubric_in_a_run(tmp_path: Any) -> None:
    from assay.runner.api import evaluate

    cases = [{"id": f"q{i}", "input": f"question {i}"} for i in range(6)]
    with FakeOpenAIServer() as server:
        scorer = RubricJudge(judge=judge_target(server, model="judge"), criterion="ok?", cache=False)
        for c in cases:
            # the target is the same fake server: it answers "answer: <input>"
            out = Output(text=f"answer: {c['input']}")
            server.answers[scorer.prompt_for(Case.from_dict(c), out)] = (
                '{"score": true}' if int(c["id"][1:]) % 2 else '{"score": false}'
            )
        summary = evaluate(
            cases,
            {"type": "openai", "base_url": server.base_url, "model": "m"},
            [scorer],
            store=f"sqlite:///{tmp_path / 'r.db'}",
        )
    metric = summary.model_dump()["metrics"]["rubric"]
    assert metric["mean"] == pytest.approx(0.5) and metric["n"] == 6 and metric["n_errors"] == 0


def test_judge_usage_sums_the_judges_own_costs(tmp_path: Any) -> None:
    from assay.scorer.judge_core import judge_usage

    items = [(Case(id=f"c{i}", input=f"q{i}"), Output(text=f"a{i}")) for i in range(3)]
    with FakeOpenAIServer() as server:
        scorer = rubric(server, cache=True)
        for c, o in items:
            server.answers[prompt_of(scorer, c, o)] = '{"score": true}'
        results = score_many(scorer, [*items, items[0]])  # the last one is a cache hit
    usage = judge_usage([r.to_dict() for r in results])["rubric"]
    assert usage["n"] == 4 and usage["calls"] == 3 and usage["cached"] == 1
    assert usage["input_tokens"] == sum(r.metadata["judge"]["input_tokens"] for r in results)
    assert usage["cost_usd"] == pytest.approx(sum(r.metadata["judge"]["cost_usd"] for r in results))
    assert scorer.totals["calls"] == 3 and scorer.totals["cached"] == 1


def test_budget_error_says_budget() -> None:
    from assay.scorer.judge_core import JudgeBudgetExceeded

    assert str(JudgeBudgetExceeded("spent")) == "judge budget: spent"
