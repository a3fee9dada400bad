"""A cached judge verdict spends nothing: a re-run's judge usage is 0 calls, 0 tokens, $0, all cached.

Two runs of the same suite against the loopback OpenAI-compatible server, sharing one store: the first
asks the judge every question and pays for it; the second gets every verdict from the judge cache, so
its summary (and the report's judge table) must not show the first run's cost again.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from assay.runner.api import evaluate
from assay.scorer.judge import RubricJudge
from assay.store import open_store
from assay.testing.fake_openai import FakeOpenAIServer, read_call_log
from assay.types import Case, Output

N_CASES = 5
REPEATS = 2  # judge samples per item: questions = cases x repeats
PRICING = {"input_per_mtok": 1.0, "output_per_mtok": 2.0}


def _judge(server: FakeOpenAIServer) -> RubricJudge:
    """A fresh scorer (as a new `assay run` process builds): only the store's cache can help it."""
    return RubricJudge(
        judge={
            "type": "openai",
            "base_url": server.base_url,
            "model": "judge",
            "timeout_s": 5,
            "pricing": PRICING,
        },
        criterion="Does the answer repeat the question?",
        repeats=REPEATS,
    )


def _run(server: FakeOpenAIServer, cases: list[dict[str, Any]], url: str) -> dict[str, Any]:
    summary = evaluate(
        cases, {"type": "openai", "base_url": server.base_url, "model": "m"}, [_judge(server)], store=url
    )
    return summary.model_dump()


def test_second_run_gets_every_verdict_from_the_cache_and_pays_nothing(tmp_path: Any) -> None:
    from assay.cli.render import facts_table
    from assay.report.judges import judge_usage_for_run

    cases = [{"id": f"q{i}", "input": f"question {i}"} for i in range(N_CASES)]
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    log = tmp_path / "calls.jsonl"
    with FakeOpenAIServer(log_path=log) as server:
        probe = _judge(server)
        for i, c in enumerate(cases):
            out = Output(text=f"answer: {c['input']}")  # what the fake target answers
            server.answers[probe.prompt_for(Case.from_dict(c), out)] = (
                '{"reasoning": "fine", "score": true}' if i % 2 else '{"reasoning": "no", "score": false}'
            )
        first = _run(server, cases, url)
        calls_after_first = Counter(r["model"] for r in read_call_log(log))
        second = _run(server, cases, url)
        calls_after_second = Counter(r["model"] for r in read_call_log(log))

    questions = N_CASES * REPEATS
    j1, j2 = first["judges"]["rubric"], second["judges"]["rubric"]
    # the first run asked every question and paid for it
    assert j1["calls"] == questions and j1["cached"] == 0 and j1["n"] == N_CASES
    assert j1["input_tokens"] > 0 and j1["output_tokens"] > 0
    assert j1["cost_usd"] == pytest.approx((j1["input_tokens"] * 1.0 + j1["output_tokens"] * 2.0) / 1e6)
    assert calls_after_first["judge"] == questions
    # the second asked nobody: every verdict cached, nothing spent in this run
    assert calls_after_second["judge"] == questions
    assert j2 == {
        "n": N_CASES,
        "calls": 0,
        "cached": questions,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0.0,
    }
    # same verdicts, so the same metric
    assert second["metrics"]["rubric"]["mean"] == first["metrics"]["rubric"]["mean"]
    # what the cache saved is kept on each score, apart from the spending
    with open_store(url) as st:
        saved = [
            s["metadata"]["judge"]["cache_saved"]
            for r in st.iter_results(second["run_id"])
            for s in r.scores
            if s["name"] == "rubric"
        ]
        rows = {row.scorer: row for row in judge_usage_for_run(st, second["run_id"])}
    assert sum(x["input_tokens"] for x in saved) == j1["input_tokens"]
    assert sum(x["cost_usd"] for x in saved) == pytest.approx(j1["cost_usd"])
    # the report's judge table reads the same numbers from the store
    row = rows["rubric"]
    assert (row.calls, row.cached, row.input_tokens, row.output_tokens, row.cost_usd) == (
        0,
        questions,
        0,
        0,
        0.0,
    )
    # and the summary table says so: calls, cached, tokens, cost
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(facts_table(second))
    text = console.export_text()
    assert f"0 calls ({questions} cached) · 0 in · 0 out · $0.0000" in text


def test_a_verdict_asked_twice_in_one_run_is_paid_once() -> None:
    """The in-memory cache within one process: the repeated item spends nothing the second time."""
    import asyncio

    case, out = Case(id="c1", input="q"), Output(text="a")
    with FakeOpenAIServer() as server:
        scorer = RubricJudge(
            judge={"type": "openai", "base_url": server.base_url, "model": "judge", "pricing": PRICING},
            criterion="ok?",
        )
        server.answers[scorer.prompt_for(case, out)] = '{"score": true}'

        async def go() -> list[Any]:
            try:
                return [await scorer.score(case, out), await scorer.score(case, out)]
            finally:
                await scorer.aclose()

        paid, free = asyncio.run(go())
    assert paid.metadata["judge"]["calls"] == 1 and paid.metadata["judge"]["cost_usd"] > 0
    assert "cache_saved" not in paid.metadata["judge"]
    assert free.metadata["judge"] == {
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0.0,
        "calls": 0,
        "cached": 1,
        "cache_saved": {
            "input_tokens": paid.metadata["judge"]["input_tokens"],
            "output_tokens": paid.metadata["judge"]["output_tokens"],
            "cost_usd": pytest.approx(paid.metadata["judge"]["cost_usd"]),
        },
    }
    assert scorer.totals["calls"] == 1 and scorer.totals["cached"] == 1
