"""Comparisons of two systems: paired tests, unpaired tests, effect sizes and multiple-testing corrections.

When two systems answer the *same* cases, compare them pairwise: the per-case differences remove the
variation between easy and hard cases, which typically makes a paired test several times more
sensitive than comparing two independent means. Every test returns a :class:`Comparison` with the
difference (``a`` minus ``b``), its confidence interval and a two-sided p-value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.stats._validation import (
    FloatArray,
    as_bool_array,
    as_float_array,
    check_confidence,
    check_count,
    same_length,
)
from assay.stats.intervals import BootstrapMethod, bootstrap, wilson_interval

__all__ = [
    "Comparison",
    "bh",
    "cohens_dz",
    "holm",
    "mann_whitney",
    "mcnemar",
    "paired_bootstrap",
    "paired_permutation",
    "paired_t",
    "welch",
    "wilcoxon",
]


@dataclass(frozen=True)
class Comparison:
    """The result of comparing ``a`` with ``b``.

    ``difference`` is ``a`` minus ``b`` on the scale the test uses (mean difference, difference of
    proportions, Hodges–Lehmann shift for rank tests), ``ci_low``/``ci_high`` its confidence interval,
    ``p_value`` the two-sided p-value of "no difference", ``test`` the name of the method and ``n``
    the number of pairs (or of values in ``a`` plus ``b`` for unpaired tests).
    """

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    n: int
    confidence: float = 0.95
    statistic: float | None = None

    @property
    def significant(self) -> bool:
        """Whether the two-sided p-value is below ``1 - confidence``."""
        return self.p_value < 1.0 - self.confidence


def _paired(a: ArrayLike, b: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x = as_float_array(a, "a")
    y = as_float_array(b, "b")
    same_length(("a", x), ("b", y))
    return x, y


def _t_ci(mean: float, se: float, df: float, confidence: float) -> tuple[float, float]:
    from scipy.special import stdtrit

    if se == 0.0:
        return (mean, mean)
    half = float(stdtrit(df, 0.5 + confidence / 2)) * se
    return (mean - half, mean + half)


def paired_bootstrap(
    a: ArrayLike,
    b: ArrayLike,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    method: BootstrapMethod = "bca",
    clusters: ArrayLike | None = None,
    seed: int | None = 0,
) -> Comparison:
    """Paired bootstrap of the mean difference ``mean(a - b)``, with a bootstrap p-value.

    Cases are resampled as pairs (or whole clusters of pairs with ``clusters``), so the interval
    reflects case-to-case variation. The p-value is the share of centred bootstrap differences at
    least as far from zero as the observed one, ``(1 + count) / (n_resamples + 1)``.

    >>> c = paired_bootstrap([0.9, 0.8, 0.7, 0.95, 0.85], [0.7, 0.75, 0.6, 0.8, 0.8])
    >>> round(c.difference, 3), c.ci_low > 0
    (0.11, True)
    """
    x, y = _paired(a, b)
    d = x - y
    conf = check_confidence(confidence)
    res = bootstrap(
        d,
        statistic="mean",
        confidence=conf,
        n_resamples=n_resamples,
        method=method,
        clusters=clusters,
        seed=seed,
    )
    observed = res.estimate
    if observed == 0.0:
        p = 1.0
    else:
        extreme = np.count_nonzero(np.abs(res.replicates - observed) >= abs(observed) * (1 - 1e-12))
        p = (1.0 + extreme) / (res.replicates.size + 1.0)
    return Comparison(observed, res.low, res.high, min(p, 1.0), "paired_bootstrap", d.size, conf)


def paired_permutation(
    a: ArrayLike,
    b: ArrayLike,
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int | None = 0,
) -> Comparison:
    """Paired permutation (sign-flip) test of ``mean(a - b) == 0``.

    Under the null each pair's difference is equally likely to have either sign. With at most 16
    non-zero differences all ``2**n`` sign patterns are enumerated (exact p-value); otherwise
    ``n_resamples`` random patterns give ``(1 + count) / (n_resamples + 1)``. The interval is the
    paired t-interval of the mean difference.

    >>> round(paired_permutation([3, 4, 5, 6], [1, 1, 2, 2]).p_value, 4)
    0.125
    """
    x, y = _paired(a, b)
    conf = check_confidence(confidence)
    b_count = check_count(n_resamples, "n_resamples", minimum=1)
    d = x - y
    observed = float(d.mean())
    nz = d[d != 0.0]
    tol = 1e-9 * max(1.0, float(np.abs(d).max()))
    if nz.size == 0:
        p = 1.0
    elif nz.size <= 16:
        signs = ((np.arange(1 << nz.size)[:, None] >> np.arange(nz.size)) & 1) * 2 - 1
        sums = np.abs(signs @ nz)
        p = float(np.mean(sums >= abs(float(nz.sum())) - tol * nz.size))
    else:
        rng = np.random.Generator(np.random.SFC64(np.random.SeedSequence(seed)))
        extreme = 0
        target = abs(float(nz.sum())) - tol * nz.size
        chunk = max(1, (1 << 20) // nz.size)
        done = 0
        while done < b_count:
            rows = min(chunk, b_count - done)
            flips = rng.integers(0, 2, size=(rows, nz.size), dtype=np.int8) * 2 - 1
            extreme += int(np.count_nonzero(np.abs(flips @ nz) >= target))
            done += rows
        p = (1.0 + extreme) / (b_count + 1.0)
    se = float(d.std(ddof=1)) / math.sqrt(d.size) if d.size > 1 else 0.0
    low, high = _t_ci(observed, se, d.size - 1, conf)
    return Comparison(observed, low, high, min(p, 1.0), "paired_permutation", d.size, conf)


def paired_t(a: ArrayLike, b: ArrayLike, *, confidence: float = 0.95) -> Comparison:
    """Paired t-test of the mean difference (scipy ``ttest_rel``) with its t-interval.

    >>> round(paired_t([3, 4, 5, 6], [1, 1, 2, 2]).p_value, 4)
    0.0052
    """
    from scipy.special import stdtr

    x, y = _paired(a, b)
    if x.size < 2:
        raise ValueError("a and b need at least two pairs for a paired t-test")
    conf = check_confidence(confidence)
    d = x - y
    mean = float(d.mean())
    se = float(d.std(ddof=1)) / math.sqrt(d.size)
    low, high = _t_ci(mean, se, d.size - 1, conf)
    if se == 0.0:
        return Comparison(mean, low, high, 1.0 if mean == 0.0 else 0.0, "paired_t", d.size, conf)
    t_stat = mean / se
    p = 2.0 * float(stdtr(d.size - 1, -abs(t_stat)))  # what scipy.stats.ttest_rel computes
    return Comparison(mean, low, high, p, "paired_t", d.size, conf, t_stat)


def _mcnemar_ci(n11: int, n10: int, n01: int, n00: int, confidence: float) -> tuple[float, float]:
    """Newcombe's (1998, method 10) hybrid score interval for a difference of paired proportions."""
    n = n11 + n10 + n01 + n00
    p1 = (n11 + n10) / n
    p2 = (n11 + n01) / n
    l1, u1 = wilson_interval(n11 + n10, n, confidence=confidence)
    l2, u2 = wilson_interval(n11 + n01, n, confidence=confidence)
    denom = (n11 + n10) * (n01 + n00) * (n11 + n01) * (n10 + n00)
    phi = 0.0 if denom == 0 else (n11 * n00 - n10 * n01) / math.sqrt(denom)
    delta = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    eps = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    diff = p1 - p2
    return (max(-1.0, diff - delta), min(1.0, diff + eps))


def mcnemar(a: ArrayLike, b: ArrayLike, *, mid_p: bool = True, confidence: float = 0.95) -> Comparison:
    """McNemar test for paired binary outcomes (``a[i]``, ``b[i]`` are pass/fail on the same case).

    Only discordant pairs carry information: with ``n10`` cases where only ``a`` passed and ``n01``
    where only ``b`` passed, the exact test is a two-sided binomial test of ``n10`` out of
    ``n10 + n01`` at one half. ``mid_p=True`` (default) subtracts half the probability of the observed
    table, which keeps the type-I error at or below nominal while being much less conservative
    (Fagerland, Lydersen & Laake 2013). The interval for the difference in pass rates is Newcombe's
    hybrid score interval.

    >>> c = mcnemar([1, 1, 0, 1, 1, 1, 1, 1], [0, 0, 0, 1, 0, 0, 0, 0], mid_p=False)
    >>> round(c.difference, 3), round(c.p_value, 4)
    (0.75, 0.0312)
    """
    from scipy.stats import binom

    x = as_bool_array(a, "a")
    y = as_bool_array(b, "b")
    same_length(("a", x), ("b", y))
    conf = check_confidence(confidence)
    n10 = int(np.count_nonzero(x & ~y))
    n01 = int(np.count_nonzero(~x & y))
    n11 = int(np.count_nonzero(x & y))
    n00 = x.size - n10 - n01 - n11
    m = n10 + n01
    if m == 0:
        p = 1.0
    else:
        k = min(n10, n01)
        tail = float(binom.cdf(k, m, 0.5))
        p = 2.0 * (tail - 0.5 * float(binom.pmf(k, m, 0.5))) if mid_p else 2.0 * tail
    low, high = _mcnemar_ci(n11, n10, n01, n00, conf)
    test = "mcnemar_midp" if mid_p else "mcnemar_exact"
    return Comparison((n10 - n01) / x.size, low, high, min(1.0, p), test, x.size, conf, float(n10))


# --------------------------------------------------------------------------------------------------
# rank tests with Hodges–Lehmann estimates


_MATERIALISE_LIMIT = 4_000_000


def _kth_walsh_sum(d: FloatArray, k: int) -> float:
    """The k-th smallest (1-based) of the sums d_i + d_j, i <= j, for sorted d, in O(n log n log range)."""
    n = d.size
    if n * (n + 1) // 2 <= _MATERIALISE_LIMIT:
        i, j = np.triu_indices(n)
        return float(np.partition(d[i] + d[j], k - 1)[k - 1])
    idx = np.arange(n)

    def count(s: float) -> int:
        j = np.searchsorted(d, s - d, side="right")
        return int(np.maximum(j - idx, 0).sum())

    lo, hi = 2.0 * float(d[0]), 2.0 * float(d[-1])
    if count(lo) >= k:
        return lo
    for _ in range(200):  # invariant: count(lo) < k <= count(hi)
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if count(mid) >= k:
            hi = mid
        else:
            lo = mid
    j = np.maximum(np.searchsorted(d, lo - d, side="right"), idx)
    ok = j < n
    return float(np.min(d[ok] + d[j[ok]]))


def _kth_pair_difference(x: FloatArray, y: FloatArray, k: int) -> float:
    """The k-th smallest (1-based) of x_i - y_j over all pairs, for sorted x and y."""
    m = y.size
    if x.size * m <= _MATERIALISE_LIMIT:
        return float(np.partition(np.subtract.outer(x, y).ravel(), k - 1)[k - 1])

    def count(v: float) -> int:  # number of pairs with x_i - y_j <= v
        return int((m - np.searchsorted(y, x - v, side="left")).sum())

    lo, hi = float(x[0] - y[-1]), float(x[-1] - y[0])
    if count(lo) >= k:
        return lo
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if count(mid) >= k:
            hi = mid
        else:
            lo = mid
    j = np.searchsorted(y, x - lo, side="left") - 1  # largest y_j < x_i - lo gives the smallest gap > lo
    ok = j >= 0
    return float(np.min(x[ok] - y[j[ok]]))


def _median_of_sorted_stat(kth: Callable[[int], float], total: int) -> float:
    if total % 2 == 1:
        return kth((total + 1) // 2)
    return 0.5 * (kth(total // 2) + kth(total // 2 + 1))


def _signed_rank_quantile(n: int, alpha_half: float) -> int:
    """Smallest q with P(T <= q) >= alpha_half under the null (exact for n <= 50, else normal)."""
    total = n * (n + 1) // 2
    if n <= 50:
        counts = np.zeros(total + 1)
        counts[0] = 1.0
        for r in range(1, n + 1):
            counts[r:] = counts[r:] + counts[: total + 1 - r].copy()
        cdf = np.cumsum(counts) / 2.0**n
        return int(np.searchsorted(cdf, alpha_half * (1 - 1e-12)))
    from scipy.special import ndtri

    sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    return max(0, round(total / 2 + float(ndtri(alpha_half)) * sigma - 0.5))


def wilcoxon(a: ArrayLike, b: ArrayLike, *, confidence: float = 0.95) -> Comparison:
    """Wilcoxon signed-rank test of paired differences (p-value from ``scipy.stats.wilcoxon``).

    ``difference`` is the Hodges–Lehmann pseudo-median of ``a - b`` (median of the Walsh averages) and
    the interval inverts the signed-rank test (exact null distribution up to 50 pairs, normal
    approximation above, ties ignored as R's ``wilcox.test`` does). Robust to outlying cases.

    >>> x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    >>> y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    >>> c = wilcoxon(x, y)
    >>> round(c.difference, 3), round(c.p_value, 5)
    (0.46, 0.03906)
    """
    from scipy.stats import wilcoxon as scipy_wilcoxon

    x, y = _paired(a, b)
    conf = check_confidence(confidence)
    d = np.sort(x - y)
    n = d.size
    total = n * (n + 1) // 2

    def kth(k: int) -> float:
        return 0.5 * _kth_walsh_sum(d, k)

    estimate = _median_of_sorted_stat(kth, total)
    q = max(1, _signed_rank_quantile(n, (1 - conf) / 2))
    low, high = kth(q), kth(total + 1 - q)
    if not np.any(d != 0.0):
        return Comparison(estimate, low, high, 1.0, "wilcoxon", n, conf)
    res = scipy_wilcoxon(x, y)
    return Comparison(estimate, low, high, float(res.pvalue), "wilcoxon", n, conf, float(res.statistic))


def mann_whitney(a: ArrayLike, b: ArrayLike, *, confidence: float = 0.95) -> Comparison:
    """Mann–Whitney U test for two independent samples (p-value from ``scipy.stats.mannwhitneyu``).

    Use when the two systems were evaluated on different cases. ``difference`` is the Hodges–Lehmann
    shift (median of all ``a_i - b_j``); the interval inverts the test with the normal approximation.

    >>> c = mann_whitney([5.1, 6.2, 7.3, 8.4], [1.0, 2.0, 3.0])
    >>> round(c.difference, 2)
    4.75
    """
    from scipy.special import ndtri
    from scipy.stats import mannwhitneyu

    x = np.sort(as_float_array(a, "a"))
    y = np.sort(as_float_array(b, "b"))
    conf = check_confidence(confidence)
    total = x.size * y.size

    def kth(k: int) -> float:
        return _kth_pair_difference(x, y, k)

    estimate = _median_of_sorted_stat(kth, total)
    sigma = math.sqrt(total * (x.size + y.size + 1) / 12)
    q = max(1, round(total / 2 + float(ndtri((1 - conf) / 2)) * sigma - 0.5))
    low, high = kth(q), kth(total + 1 - q)
    n = x.size + y.size
    if float(np.ptp(np.concatenate([x, y]))) == 0.0:
        return Comparison(estimate, low, high, 1.0, "mann_whitney", n, conf)
    res = mannwhitneyu(x, y, alternative="two-sided")
    return Comparison(estimate, low, high, float(res.pvalue), "mann_whitney", n, conf, float(res.statistic))


def welch(a: ArrayLike, b: ArrayLike, *, confidence: float = 0.95) -> Comparison:
    """Welch's unequal-variance t-test of ``mean(a) - mean(b)`` for two independent samples.

    >>> c = welch([0.8, 0.9, 0.85, 0.95], [0.6, 0.7, 0.65, 0.75])
    >>> round(c.difference, 2), c.p_value < 0.01
    (0.2, True)
    """
    from scipy.special import stdtr

    x = as_float_array(a, "a", min_size=2)
    y = as_float_array(b, "b", min_size=2)
    conf = check_confidence(confidence)
    diff = float(x.mean() - y.mean())
    va, vb = float(x.var(ddof=1)) / x.size, float(y.var(ddof=1)) / y.size
    n = x.size + y.size
    if va + vb == 0.0:
        return Comparison(diff, diff, diff, 1.0 if diff == 0.0 else 0.0, "welch", n, conf)
    df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    se = math.sqrt(va + vb)
    low, high = _t_ci(diff, se, df, conf)
    t_stat = diff / se
    p = 2.0 * float(stdtr(df, -abs(t_stat)))  # what scipy.stats.ttest_ind(equal_var=False) computes
    return Comparison(diff, low, high, p, "welch", n, conf, t_stat)


def cohens_dz(a: ArrayLike, b: ArrayLike) -> float:
    """Cohen's d_z for paired data: mean of ``a - b`` divided by its standard deviation (ddof=1).

    A scale-free effect size: 0.2 small, 0.5 medium, 0.8 large by Cohen's conventions.

    >>> round(cohens_dz([3, 4, 5, 6], [1, 1, 2, 2]), 3)
    3.674
    """
    x, y = _paired(a, b)
    if x.size < 2:
        raise ValueError("a and b need at least two pairs for Cohen's d_z")
    d = x - y
    sd = float(d.std(ddof=1))
    mean = float(d.mean())
    if sd == 0.0:
        if mean == 0.0:
            return 0.0
        raise ValueError("a - b is constant and non-zero: Cohen's d_z is infinite")
    return mean / sd


# --------------------------------------------------------------------------------------------------
# multiple comparisons


def _pvalues(pvalues: ArrayLike) -> FloatArray:
    p = as_float_array(pvalues, "pvalues")
    bad = (p < 0) | (p > 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"pvalues must lie in [0, 1]; index {i} is {p[i]!r}")
    return p


def holm(pvalues: ArrayLike) -> NDArray[np.float64]:
    """Holm–Bonferroni adjusted p-values (controls the family-wise error rate), in the input order.

    Reject hypothesis ``i`` at level alpha when ``holm(p)[i] <= alpha``.

    >>> holm([0.01, 0.04, 0.03, 0.005]).round(3).tolist()
    [0.03, 0.06, 0.06, 0.02]
    """
    p = _pvalues(pvalues)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def bh(pvalues: ArrayLike) -> NDArray[np.float64]:
    """Benjamini–Hochberg adjusted p-values (controls the false discovery rate), in the input order.

    >>> bh([0.01, 0.04, 0.03, 0.005]).round(3).tolist()
    [0.02, 0.04, 0.04, 0.02]
    """
    p = _pvalues(pvalues)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out
