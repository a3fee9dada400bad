"""Efficiency scorers: latency, ttft, tokens, cost."""

from __future__ import annotations

from typing import Any

import pytest

from assay.scorer import TTFT, Cost, Latency, Tokens, create_scorer
from assay.types import ScorerError, Usage

from ._helpers import run, run_many


@pytest.mark.parametrize(
    ("scorer", "field", "score_name", "requires"),
    [
        (Latency(), "latency_s", "latency", "latency_s"),
        (TTFT(), "ttft_s", "ttft", "ttft_s"),
        (Cost(), "cost_usd", "cost_usd", "cost_usd"),
    ],
)
class TestOutputFieldScorers:
    def test_value_is_the_recorded_measurement(
        self, scorer: Any, field: str, score_name: str, requires: str
    ) -> None:
        s = run(scorer, "hello", **{field: 0.25})
        assert s.value == 0.25 and s.error is None
        assert s.name == score_name
        assert s.kind == "continuous" and s.higher_is_better is False
        assert scorer.requires == frozenset({requires})

    def test_zero_is_a_real_value(self, scorer: Any, field: str, score_name: str, requires: str) -> None:
        assert run(scorer, **{field: 0}).value == 0.0

    def test_missing_fails_instead_of_zero(
        self, scorer: Any, field: str, score_name: str, requires: str
    ) -> None:
        s = run(scorer, "hello")
        assert s.value is None and s.error == f"output has no {field}"
        assert s.higher_is_better is False

    @pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
    def test_invalid_measurement_fails(
        self, scorer: Any, field: str, score_name: str, requires: str, bad: float
    ) -> None:
        s = run(scorer, **{field: bad})
        assert s.value is None and "not a finite non-negative number" in (s.error or "")


def test_latency_explanation_and_custom_name() -> None:
    s = run(Latency(name="judge_latency"), latency_s=1.23456)
    assert s.name == "judge_latency" and s.explanation == "1.235 s"
    assert Cost(name="spend").name == "spend"
    with pytest.raises(ScorerError, match="option 'name'"):
        Latency(name="")


class TestTokens:
    def test_three_scores(self) -> None:
        scores = run_many(Tokens(), usage=Usage(input_tokens=120, output_tokens=30))
        assert [(s.name, s.value) for s in scores] == [
            ("input_tokens", 120.0),
            ("output_tokens", 30.0),
            ("total_tokens", 150.0),
        ]
        assert all(s.kind == "continuous" and not s.higher_is_better and s.error is None for s in scores)
        assert Tokens().requires == frozenset({"usage"})

    def test_missing_usage_fails_each(self) -> None:
        scores = run_many(Tokens())
        assert [s.name for s in scores] == ["input_tokens", "output_tokens", "total_tokens"]
        assert all(s.value is None and "no usage" in (s.error or "") for s in scores)

    def test_invalid_counts_fail(self) -> None:
        scores = run_many(Tokens(), usage=Usage(input_tokens=-1, output_tokens=3))
        assert all(s.value is None and "invalid token counts" in (s.error or "") for s in scores)

    def test_name_prefixes_score_names(self) -> None:
        scores = run_many(Tokens(name="judge"), usage=Usage(1, 2))
        assert [s.name for s in scores] == ["judge_input_tokens", "judge_output_tokens", "judge_total_tokens"]
        renamed = Tokens()
        renamed.name = "llm"  # what a suite does when it names a scorer built by create_scorer
        assert renamed.score_names == ["llm_input_tokens", "llm_output_tokens", "llm_total_tokens"]
        assert [s.name for s in run_many(renamed, usage=Usage(1, 2))] == renamed.score_names

    def test_registered(self) -> None:
        assert isinstance(create_scorer("tokens"), Tokens)
        assert create_scorer("cost").name == "cost_usd"
