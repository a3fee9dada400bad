"""Always-valid inference for online A/B tests: look at the results every hour without paying for it.

A fixed-n test checked repeatedly ("peeking") inflates false positives far above alpha. A confidence
*sequence* is a sequence of intervals that covers the true difference at all times simultaneously with
probability ``confidence``, so it may be checked after every observation and the experiment stopped as
soon as the interval excludes zero. This module implements the normal-mixture (Robbins) boundary in its
asymptotic form (Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, "Time-uniform central limit theory and
asymptotic confidence sequences", 2021), whose dual is the mixture SPRT always-valid p-value (Johari,
Koomen, Pekelis & Walsh, "Always valid inference", 2017/2022).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.stats._validation import FloatArray, as_float_array, check_confidence, check_count

__all__ = ["ConfidenceSequence", "SequentialTest", "ab_confidence_sequence", "confidence_sequence"]


@dataclass(frozen=True)
class ConfidenceSequence:
    """Running estimate and time-uniform interval after each observation (index ``t - 1`` = after ``t``).

    ``p_value`` is the always-valid p-value of "the mean (difference) is 0": non-increasing, and
    ``P(p_value ever <= alpha) <= alpha`` under the null. The first observation has no variance
    estimate, so ``ci_low``/``ci_high`` are infinite until ``min_n`` observations have arrived.
    """

    n: NDArray[np.int64]
    estimate: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    p_value: FloatArray
    confidence: float
    planned_n: int

    def at(self, t: int) -> tuple[float, float, float]:
        """``(estimate, low, high)`` after ``t`` observations."""
        i = check_count(t, "t", minimum=1) - 1
        if i >= self.n.size:
            raise ValueError(f"t must be at most {self.n.size}, got {t}")
        return (float(self.estimate[i]), float(self.ci_low[i]), float(self.ci_high[i]))


def _rho2(alpha: float, planned_n: int) -> float:
    """Mixture variance that makes the boundary tightest at ``planned_n`` observations."""
    la = -2.0 * math.log(alpha)
    return (la + math.log(la + 1.0)) / planned_n


def confidence_sequence(
    values: ArrayLike, *, confidence: float = 0.95, planned_n: int = 1000, min_n: int = 10
) -> ConfidenceSequence:
    """Time-uniform confidence sequence for the mean of an i.i.d. stream, after every observation.

    ``planned_n`` tunes where the sequence is tightest (the expected number of observations); it must
    be fixed before the experiment starts and never changed as data arrive, or the guarantee is lost.
    The guarantee is asymptotic (it relies on the running variance estimate), like a z-interval; the
    interval stays infinite (and the p-value 1) for the first ``min_n`` observations, where a
    variance estimated from a handful of values is too noisy to trust.

    >>> cs = confidence_sequence([0.1, 0.4, 0.35, 0.2, 0.3, 0.25] * 50, planned_n=300)
    >>> est, low, high = cs.at(300)
    >>> low < est < high
    True
    """
    x = as_float_array(values, "values")
    conf = check_confidence(confidence)
    planned = check_count(planned_n, "planned_n", minimum=1)
    min_count = check_count(min_n, "min_n", minimum=2)
    alpha = 1.0 - conf
    t = np.arange(1, x.size + 1, dtype=np.float64)
    csum = np.cumsum(x)
    mean = csum / t
    # running variance (Welford-free form is fine in float64 after centring on the first value)
    xc = x - x[0]
    m2 = np.cumsum(xc * xc) - t * (mean - x[0]) ** 2
    var = np.where(t >= min_count, np.maximum(m2, 0.0) / np.maximum(t - 1.0, 1.0), np.inf)
    rho2 = _rho2(alpha, planned)
    tr = t * rho2 + 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.sqrt(var) * np.sqrt(2.0 * tr / (t * t * rho2) * np.log(np.sqrt(tr) / alpha))
        half = np.where(np.isnan(half), np.inf, half)  # first observation: 0 * inf
        # log mixture martingale for H0: mean == 0; a zero variance with a non-zero mean is decisive
        log_m = np.where(
            var > 0,
            (rho2 * csum * csum) / (2.0 * var * tr) - 0.5 * np.log(tr),
            np.where(np.isfinite(var) & (csum != 0), np.inf, -0.5 * np.log(tr)),
        )
    log_m = np.where(t >= min_count, log_m, 0.0)
    p = np.minimum(1.0, np.exp(-np.maximum.accumulate(log_m)))
    return ConfidenceSequence(
        n=t.astype(np.int64),
        estimate=mean,
        ci_low=mean - half,
        ci_high=mean + half,
        p_value=p,
        confidence=conf,
        planned_n=planned,
    )


def ab_confidence_sequence(
    a: ArrayLike, b: ArrayLike, *, confidence: float = 0.95, planned_n: int = 1000, min_n: int = 10
) -> ConfidenceSequence:
    """Confidence sequence for ``mean(a) - mean(b)`` of an online A/B test (means or proportions).

    ``a`` and ``b`` are each arm's outcomes in arrival order (0/1 for conversion-style metrics). The
    t-th observation of each arm are paired, so the differences are i.i.d. with mean equal to the
    difference of the arm means; extra observations of the longer arm wait for their partner. Check
    it as often as you like: stop when the interval excludes 0 (or ``p_value`` drops below alpha).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> cs = ab_confidence_sequence(rng.random(2000) < 0.6, rng.random(2000) < 0.5)
    >>> bool(cs.ci_low[-1] > 0)
    True
    """
    x = as_float_array(a, "a")
    y = as_float_array(b, "b")
    k = min(x.size, y.size)
    if k == 0:
        raise ValueError("a and b must both be non-empty")
    return confidence_sequence(x[:k] - y[:k], confidence=confidence, planned_n=planned_n, min_n=min_n)


class SequentialTest:
    """Streaming form of :func:`ab_confidence_sequence` for a monitor that receives batches.

    Keeps O(1) state (sums of the paired differences) so it can run for months.

    >>> test = SequentialTest(planned_n=500)
    >>> test.update([1, 0, 1, 1], [0, 0, 1, 0])
    >>> test.n
    4
    """

    def __init__(self, *, confidence: float = 0.95, planned_n: int = 1000, min_n: int = 10) -> None:
        self.confidence = check_confidence(confidence)
        self.planned_n = check_count(planned_n, "planned_n", minimum=1)
        self.min_n = check_count(min_n, "min_n", minimum=2)
        self._rho2 = _rho2(1.0 - self.confidence, self.planned_n)
        self._pending_a: list[float] = []
        self._pending_b: list[float] = []
        self.n = 0
        self._sum = 0.0
        self._mean = 0.0
        self._m2 = 0.0
        self._max_log_m = 0.0

    def update(self, a: ArrayLike = (), b: ArrayLike = ()) -> None:
        """Add new outcomes of arm A and/or arm B (either may be empty)."""
        xa = np.asarray(a, dtype=np.float64).reshape(-1)
        xb = np.asarray(b, dtype=np.float64).reshape(-1)
        if xa.size:
            self._pending_a.extend(as_float_array(xa, "a").tolist())
        if xb.size:
            self._pending_b.extend(as_float_array(xb, "b").tolist())
        k = min(len(self._pending_a), len(self._pending_b))
        if k == 0:
            return
        d = np.array(self._pending_a[:k]) - np.array(self._pending_b[:k])
        del self._pending_a[:k], self._pending_b[:k]
        for v in d.tolist():  # Welford's update, and the running maximum of the mixture martingale
            self.n += 1
            self._sum += v
            delta = v - self._mean
            self._mean += delta / self.n
            self._m2 += delta * (v - self._mean)
            if self.n >= self.min_n:
                self._max_log_m = max(self._max_log_m, self._log_m())

    def _var(self) -> float:
        return self._m2 / (self.n - 1) if self.n > 1 else math.inf

    def _log_m(self) -> float:
        var = self._var()
        tr = self.n * self._rho2 + 1.0
        if var == 0.0:
            return math.inf if self._sum != 0.0 else -0.5 * math.log(tr)
        return self._rho2 * self._sum**2 / (2.0 * var * tr) - 0.5 * math.log(tr)

    def interval(self) -> tuple[float, float, float]:
        """``(estimate, low, high)`` of ``mean(a) - mean(b)`` now."""
        if self.n == 0:
            raise ValueError("no paired observations yet")
        if self.n < self.min_n:
            return (self._mean, -math.inf, math.inf)
        alpha = 1.0 - self.confidence
        tr = self.n * self._rho2 + 1.0
        half = math.sqrt(self._var()) * math.sqrt(
            2.0 * tr / (self.n**2 * self._rho2) * math.log(math.sqrt(tr) / alpha)
        )
        return (self._mean, self._mean - half, self._mean + half)

    @property
    def p_value(self) -> float:
        """Always-valid p-value of "no difference" (non-increasing over time)."""
        return min(1.0, math.exp(-self._max_log_m))
