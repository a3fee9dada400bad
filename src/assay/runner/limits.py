"""Backoff and rate limits: the runner owns them, targets only classify their errors.

Example:
    >>> backoff_delay(attempt=2, retry_after=None, rng=random.Random(0)) <= 1.0
    True
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque

__all__ = ["MAX_RETRY_AFTER_S", "RateLimiter", "backoff_delay"]

#: a server's Retry-After is honoured up to this many seconds (a larger value is capped, and logged)
MAX_RETRY_AFTER_S = 120.0
BASE_DELAY_S = 0.5
MAX_DELAY_S = 30.0


def backoff_delay(*, attempt: int, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1).

    A server's ``Retry-After`` wins (capped at ``MAX_RETRY_AFTER_S``); otherwise exponential backoff
    with full jitter: uniform in ``[0, min(MAX_DELAY_S, BASE_DELAY_S * 2**(attempt-1))]``.
    """
    if retry_after is not None and retry_after >= 0:
        return min(float(retry_after), MAX_RETRY_AFTER_S)
    cap = min(MAX_DELAY_S, BASE_DELAY_S * (2 ** max(0, attempt - 1)))
    return rng.uniform(0.0, cap)


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits over a sliding 60-second window.

    ``acquire()`` waits until one more request fits both limits; ``record_tokens(n)`` books the tokens a
    finished call used (known only afterwards, so the token limit is enforced on the calls that follow).
    Either limit may be None.
    """

    def __init__(
        self,
        *,
        requests_per_min: float | None = None,
        tokens_per_min: float | None = None,
        window_s: float = 60.0,
    ) -> None:
        if requests_per_min is not None and requests_per_min <= 0:
            raise ValueError("requests_per_min must be positive")
        if tokens_per_min is not None and tokens_per_min <= 0:
            raise ValueError("tokens_per_min must be positive")
        self.requests_per_min = requests_per_min
        self.tokens_per_min = tokens_per_min
        self.window_s = window_s
        self._requests: deque[float] = deque()
        self._tokens: deque[tuple[float, int]] = deque()
        self._token_sum = 0
        self._lock = asyncio.Lock()

    @property
    def active(self) -> bool:
        return self.requests_per_min is not None or self.tokens_per_min is not None

    def _expire(self, now: float) -> None:
        horizon = now - self.window_s
        while self._requests and self._requests[0] <= horizon:
            self._requests.popleft()
        while self._tokens and self._tokens[0][0] <= horizon:
            self._token_sum -= self._tokens.popleft()[1]

    def _wait_time(self, now: float) -> float:
        wait = 0.0
        if self.requests_per_min is not None and len(self._requests) >= self.requests_per_min:
            wait = max(wait, self._requests[0] + self.window_s - now)
        if self.tokens_per_min is not None and self._token_sum >= self.tokens_per_min and self._tokens:
            # wait until enough old token bookings expire to go under the limit
            excess = self._token_sum - self.tokens_per_min
            freed = 0
            for ts, n in self._tokens:
                freed += n
                if freed > excess:
                    wait = max(wait, ts + self.window_s - now)
                    break
        return wait

    async def acquire(self) -> None:
        if not self.active:
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                self._expire(now)
                wait = self._wait_time(now)
                if wait <= 0:
                    self._requests.append(now)
                    return
                await asyncio.sleep(wait)

    def record_tokens(self, n: int) -> None:
        if self.tokens_per_min is None or n <= 0:
            return
        now = time.monotonic()
        self._tokens.append((now, n))
        self._token_sum += n
