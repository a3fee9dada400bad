"""Backoff and the sliding-window rate limiter."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from assay.runner.limits import MAX_RETRY_AFTER_S, RateLimiter, backoff_delay


def test_retry_after_wins_and_is_capped() -> None:
    rng = random.Random(0)
    assert backoff_delay(attempt=1, retry_after=2.5, rng=rng) == 2.5
    assert backoff_delay(attempt=1, retry_after=10_000, rng=rng) == MAX_RETRY_AFTER_S


def test_backoff_grows_exponentially_with_full_jitter() -> None:
    rng = random.Random(1)
    for attempt, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (10, 30.0)]:
        draws = [backoff_delay(attempt=attempt, retry_after=None, rng=rng) for _ in range(300)]
        assert min(draws) >= 0 and max(draws) <= cap
        assert max(draws) > 0.8 * cap  # jitter spreads over the whole range


def test_requests_per_minute_limit_blocks_until_the_window_frees() -> None:
    async def go() -> float:
        limiter = RateLimiter(requests_per_min=3, window_s=0.3)
        t0 = time.monotonic()
        for _ in range(6):
            await limiter.acquire()
        return time.monotonic() - t0

    elapsed = asyncio.run(go())
    assert 0.3 <= elapsed < 2.0  # the 4th request had to wait for the first to leave the window


def test_tokens_per_minute_limit_waits_for_booked_tokens_to_expire() -> None:
    async def go() -> float:
        limiter = RateLimiter(tokens_per_min=100, window_s=0.25)
        await limiter.acquire()
        limiter.record_tokens(150)  # over the limit: the next call must wait
        t0 = time.monotonic()
        await limiter.acquire()
        return time.monotonic() - t0

    assert asyncio.run(go()) >= 0.2


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="requests_per_min"):
        RateLimiter(requests_per_min=0)
    assert not RateLimiter().active
