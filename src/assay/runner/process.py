"""One work item, start to finish: call the target (retrying what may be retried), then score the output.

``CaseProcessor`` is the part of a run that touches the target and the scorers. The runner's local engine
holds one and awaits it from its worker tasks; the Ray engine (``assay.runner.ray_engine``) holds one per
remote actor. Everything else (feeding, the response cache, committing, the summary) stays with the runner.

An ``Executor`` is what the runner awaits for each item: ``process(case) -> (output, scores, attempts)``.

Example:
    >>> proc = CaseProcessor(target, scorers)                        # doctest: +SKIP
    >>> output, scores, attempts = await proc.process(case)          # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from typing import Protocol

from assay.runner.limits import RateLimiter, backoff_delay
from assay.scorer.base import Scorer
from assay.target.base import Target
from assay.types import Case, Output, Score, TargetError

__all__ = ["CaseProcessor", "Executor", "score_names"]

log = logging.getLogger(__name__)


def score_names(scorer: Scorer) -> list[str]:
    """The metric names a scorer produces (``score_names`` attribute when it emits several)."""
    names = getattr(scorer, "score_names", None)
    return list(names) if names else [scorer.name]


class Executor(Protocol):
    """Runs one case: the target call (with retries) and the scorers. Never raises for a case's failure."""

    async def process(self, case: Case) -> tuple[Output, list[Score], int]: ...

    async def aclose(self) -> None: ...


class CaseProcessor:
    """Calls ``target`` with retries, backoff and rate limits, then runs ``scorers`` on a good output.

    ``stopping`` is polled between attempts: once a run is stopping, a failed attempt is not retried.
    A target or scorer that raises is turned into a typed per-case error, never a crash and never a 0.
    """

    def __init__(
        self,
        target: Target,
        scorers: Sequence[Scorer],
        *,
        limiter: RateLimiter | None = None,
        rng: random.Random | None = None,
        stopping: Callable[[], bool] | None = None,
    ) -> None:
        self.target = target
        self.scorers = list(scorers)
        self._limiter = limiter or RateLimiter()
        self._rng = rng or random.Random(0)
        self._stopping = stopping or (lambda: False)
        self._max_attempts = max(1, int(getattr(target, "max_attempts", 1) or 1))
        timeout_s = getattr(target, "timeout_s", None)
        # a guard above the target's own per-attempt timeout, for targets that do not say they enforce it
        own = bool(getattr(target, "enforces_timeout", False))
        self._guard_s: float | None = float(timeout_s) + 1.0 if timeout_s and not own else None
        self._names = [score_names(s) for s in self.scorers]

    async def process(self, case: Case) -> tuple[Output, list[Score], int]:
        """The output, its scores (none when the call failed) and how many attempts it took."""
        output, attempts = await self.call(case)
        scores = await self.score(case, output) if output.error is None else []
        return output, scores, attempts

    async def call(self, case: Case) -> tuple[Output, int]:
        target = self.target
        limiter = self._limiter
        attempt = 0
        while True:
            attempt += 1
            if limiter.active:
                await limiter.acquire()
            try:
                if self._guard_s is not None:
                    async with asyncio.timeout(self._guard_s):
                        output = await target(case)
                else:
                    output = await target(case)
            except TimeoutError:
                output = Output(
                    error=TargetError("timeout", f"no answer within {self._guard_s:.1f}s", retryable=True)
                )
            except Exception as exc:  # a target must not raise; if it does, it is a per-case failure
                output = Output(
                    error=TargetError(
                        "target_exception", f"{type(exc).__name__}: {exc}"[:2000], retryable=False
                    )
                )
            if output.usage is not None and limiter.active:
                limiter.record_tokens(output.usage.total_tokens)
            err = output.error
            if err is None or not err.retryable or attempt >= self._max_attempts or self._stopping():
                return output, attempt
            delay = backoff_delay(attempt=attempt, retry_after=err.retry_after, rng=self._rng)
            log.debug("case %s attempt %d failed (%s); retrying in %.2fs", case.id, attempt, err, delay)
            await asyncio.sleep(delay)

    async def score(self, case: Case, output: Output) -> list[Score]:
        scores: list[Score] = []
        for scorer, names in zip(self.scorers, self._names, strict=True):
            try:
                result = await scorer.score(case, output)
            except Exception as exc:  # a scorer bug is a per-item scorer error, never a crash or a 0
                log.debug("scorer %s failed on %s", scorer.name, case.id, exc_info=True)
                scores.extend(Score.failed(n, f"{type(exc).__name__}: {exc}"[:2000]) for n in names)
                continue
            if isinstance(result, Score):
                scores.append(result)
            else:
                scores.extend(result)
        return scores

    async def aclose(self) -> None:
        """Nothing to release here: the runner closes the target and scorers it was given."""
