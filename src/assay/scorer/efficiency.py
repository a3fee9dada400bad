"""Efficiency scorers: latency, time to first token, token counts and cost of each call.

They read what the target recorded on the ``Output`` (``latency_s``, ``ttft_s``, ``usage``, ``cost_usd``);
lower is better. A missing or invalid measurement (a target that does not stream has no ``ttft_s``) gives a
failed Score, counted in ``n_errors``, never a 0 that would flatter the target.

Example:
    >>> import asyncio
    >>> from assay.types import Case, Output
    >>> asyncio.run(Latency().score(Case(id="1", input="hi"), Output(text="hello", latency_s=0.25))).value
    0.25
"""

from __future__ import annotations

import math
from typing import Any

from assay.scorer.base import BaseScorer, register_scorer
from assay.types import Case, Output, Score, ScorerError

__all__ = ["TTFT", "Cost", "Latency", "Tokens"]


def _check_name(scorer: str, name: Any) -> str | None:
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ScorerError(f"scorer '{scorer}': option 'name' must be a non-empty string, got {name!r:.80}")
    return name


class _OutputField(BaseScorer):
    """Scores one numeric field of the Output as is (seconds, dollars): lower is better."""

    kind = "continuous"
    higher_is_better = False
    version = "1"
    field_name: str = ""
    unit: str = ""

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=_check_name(self.registered_name, name))

    async def score(self, case: Case, output: Output) -> Score:
        value = getattr(output, self.field_name)
        if value is None:
            return self.fail(f"output has no {self.field_name}")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            return self.fail(f"output {self.field_name} is not a finite non-negative number: {value!r:.40}")
        return self.make(float(value), explanation=f"{value:.4g} {self.unit}".rstrip())


@register_scorer("latency")
class Latency(_OutputField):
    """Wall-clock seconds of the target call (``Output.latency_s``), lower is better."""

    requires = frozenset({"latency_s"})
    field_name = "latency_s"
    unit = "s"


@register_scorer("ttft")
class TTFT(_OutputField):
    """Seconds to the first streamed token (``Output.ttft_s``, needs ``stream: true``), lower is better."""

    requires = frozenset({"ttft_s"})
    field_name = "ttft_s"
    unit = "s"


@register_scorer("cost")
class Cost(_OutputField):
    """Dollar cost of the call (``Output.cost_usd``, from the target's pricing). The score is ``cost_usd``.

    Example:
        >>> Cost().name
        'cost_usd'
    """

    requires = frozenset({"cost_usd"})
    field_name = "cost_usd"
    unit = "USD"

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name or "cost_usd")


_TOKEN_FIELDS = ("input_tokens", "output_tokens", "total_tokens")


@register_scorer("tokens")
class Tokens(BaseScorer):
    """Three Scores per call from ``Output.usage``: ``input_tokens``, ``output_tokens``, ``total_tokens``.

    With ``name="judge"`` they are named ``judge_input_tokens`` and so on, so two token scorers can share
    a suite. Missing usage fails all three.

    Example:
        >>> Tokens(name="judge").score_names
        ['judge_input_tokens', 'judge_output_tokens', 'judge_total_tokens']
    """

    kind = "continuous"
    higher_is_better = False
    requires = frozenset({"usage"})
    version = "1"

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=_check_name("tokens", name))

    @property
    def score_names(self) -> list[str]:
        """The names of the three Scores; they follow ``name`` even when it is set after construction."""
        prefix = "" if self.name == self.registered_name else f"{self.name}_"
        return [prefix + f for f in _TOKEN_FIELDS]

    def _score(self, name: str, value: int | None, error: str | None = None) -> Score:
        if error is not None or value is None:
            return Score.failed(
                name, error or "no value", kind=self.kind, higher_is_better=self.higher_is_better
            )
        return Score(
            name=name,
            value=float(value),
            kind=self.kind,
            higher_is_better=self.higher_is_better,
            explanation=f"{value} tokens",
        )

    async def score(self, case: Case, output: Output) -> list[Score]:
        usage = output.usage
        if usage is None:
            return [self._score(n, None, "output has no usage (token counts)") for n in self.score_names]
        counts = (usage.input_tokens, usage.output_tokens)
        if any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in counts):
            why = f"usage has invalid token counts: {counts!r:.60}"
            return [self._score(n, None, why) for n in self.score_names]
        values = (usage.input_tokens, usage.output_tokens, usage.total_tokens)
        return [self._score(n, v) for n, v in zip(self.score_names, values, strict=True)]
