"""Confidence intervals: proportions, means, bootstrap (percentile and BCa), clusters and quantiles.

Every evaluation number assay reports comes with an interval from this module. The functions are pure,
validate their inputs (empty or NaN input raises ``ValueError`` naming the argument) and return plain
``(low, high)`` tuples of floats.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.stats._resample import resample_apply
from assay.stats._validation import (
    FloatArray,
    as_float_array,
    as_labels,
    check_confidence,
    check_count,
    check_probability,
)

__all__ = [
    "bootstrap_ci",
    "bootstrap_distribution",
    "clopper_pearson_interval",
    "cluster_mean_ci",
    "cluster_robust_se",
    "quantile_ci",
    "t_interval",
    "wilson_interval",
]

Statistic = Literal["mean", "median"] | Callable[[FloatArray], float]
BootstrapMethod = Literal["bca", "percentile"]


# ndtri(0.5 + c / 2) for the usual confidence levels, exactly as scipy computes them (a test holds them
# equal): a Wilson interval at these levels needs no scipy import (about 0.2 s when a run starts cold).
_Z_TWO_SIDED = {
    0.8: 1.2815515655446004,
    0.9: 1.6448536269514722,
    0.95: 1.959963984540054,
    0.98: 2.3263478740408408,
    0.99: 2.5758293035489004,
    0.995: 2.807033768343811,
    0.999: 3.2905267314919255,
}


def _z(confidence: float) -> float:
    z = _Z_TWO_SIDED.get(confidence)
    if z is not None:
        return z
    from scipy.special import ndtri

    return float(ndtri(0.5 + confidence / 2.0))


def _check_successes(successes: int, n: int) -> tuple[int, int]:
    n_int = check_count(n, "n", minimum=1)
    k = check_count(successes, "successes", minimum=0)
    if k > n_int:
        raise ValueError(f"successes must be at most n ({k} > {n_int})")
    return k, n_int


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / n``.

    Preferred over the normal ("Wald") interval because it keeps close to nominal coverage for small
    ``n`` and for proportions near 0 or 1 (pass rates of 0.98 are common in evaluations).

    >>> low, high = wilson_interval(45, 50)
    >>> round(low, 4), round(high, 4)
    (0.7864, 0.9565)
    """
    k, n_int = _check_successes(successes, n)
    z = _z(check_confidence(confidence))
    p = k / n_int
    denom = 1.0 + z * z / n_int
    centre = (p + z * z / (2 * n_int)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n_int + z * z / (4 * n_int * n_int)) / denom
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n_int else min(1.0, centre + half)
    return (low, high)


def clopper_pearson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval for a binomial proportion, from beta quantiles.

    Conservative: coverage is at least ``confidence`` for every true proportion. Use it when a guarantee
    matters more than width (e.g. "the failure rate is below 1%").

    >>> low, high = clopper_pearson_interval(0, 100)
    >>> round(low, 4), round(high, 4)
    (0.0, 0.0362)
    """
    from scipy.special import betaincinv

    k, n_int = _check_successes(successes, n)
    alpha = 1.0 - check_confidence(confidence)
    low = 0.0 if k == 0 else float(betaincinv(k, n_int - k + 1, alpha / 2))
    high = 1.0 if k == n_int else float(betaincinv(k + 1, n_int - k, 1 - alpha / 2))
    return (low, high)


def t_interval(values: ArrayLike, *, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval for the mean of ``values`` (needs at least two values).

    >>> low, high = t_interval([1.0, 2.0, 3.0, 4.0])
    >>> round(low, 4), round(high, 4)
    (0.4457, 4.5543)
    """
    from scipy.special import stdtrit

    x = as_float_array(values, "values", min_size=2)
    conf = check_confidence(confidence)
    mean = float(x.mean())
    se = float(x.std(ddof=1)) / math.sqrt(x.size)
    if se == 0.0:
        return (mean, mean)
    half = float(stdtrit(x.size - 1, 0.5 + conf / 2)) * se
    return (mean - half, mean + half)


# --------------------------------------------------------------------------------------------------
# bootstrap


def _cluster_codes(clusters: ArrayLike, n: int) -> tuple[NDArray[np.intp], int]:
    labels = as_labels(clusters, "clusters")
    if labels.size != n:
        raise ValueError(f"values and clusters must have the same length ({n} != {labels.size})")
    _, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(-1).astype(np.intp)
    return codes, int(codes.max()) + 1


def _resolve_statistic(statistic: Statistic) -> tuple[str, Callable[[FloatArray], float]]:
    if callable(statistic):
        return "callable", statistic
    if statistic == "mean":
        return "mean", lambda a: float(np.mean(a))
    if statistic == "median":
        return "median", lambda a: float(np.median(a))
    raise ValueError(f"statistic must be 'mean', 'median' or a callable, got {statistic!r}")


def _loo_median(x: FloatArray) -> FloatArray:
    """Leave-one-out medians of ``x`` in O(n log n), in the original order."""
    n = x.size
    order = np.argsort(x, kind="stable")
    s = x[order]
    m = n - 1
    r = np.arange(n)

    def element(j: int) -> FloatArray:
        # j-th smallest of s with position r removed: s[j] when j < r, else s[j + 1]
        return np.where(j < r, s[j], s[min(j + 1, n - 1)])

    loo_sorted = element(m // 2) if m % 2 == 1 else 0.5 * (element(m // 2 - 1) + element(m // 2))
    out = np.empty(n)
    out[order] = loo_sorted
    return out


def _jackknife(x: FloatArray, kind: str, func: Callable[[FloatArray], float]) -> FloatArray:
    n = x.size
    if kind == "mean":
        return (x.sum() - x) / (n - 1)
    if kind == "median":
        return _loo_median(x)
    # generic statistic: delete-one jackknife, or delete-a-group when n is large (keeps it O(1000) fits)
    groups = np.array_split(np.arange(n), min(n, 1000))
    keep = np.ones(n, dtype=bool)
    out = np.empty(len(groups))
    for i, g in enumerate(groups):
        keep[g] = False
        out[i] = func(x[keep])
        keep[g] = True
    return out


def _acceleration(jack: FloatArray) -> float:
    u = jack.mean() - jack
    denom = float(np.sum(u * u)) ** 1.5
    return 0.0 if denom == 0.0 else float(np.sum(u**3)) / (6.0 * denom)


def _interval_from_replicates(
    replicates: FloatArray,
    estimate: float,
    confidence: float,
    method: str,
    jackknife: Callable[[], FloatArray],
    n_units: int,
) -> tuple[float, float]:
    from scipy.special import ndtr, ndtri, stdtrit

    alpha = 1.0 - confidence
    # Small-sample expansion (Hesterberg 2015, "What teachers should know about the bootstrap"): the
    # bootstrap distribution is too narrow by sqrt((n-1)/n) and ignores t-type uncertainty, so the
    # normal quantiles are replaced by sqrt(n/(n-1)) * t_{n-1} quantiles. Negligible for large n.
    zq = np.sqrt(n_units / (n_units - 1.0)) * stdtrit(n_units - 1, np.array([alpha / 2, 1 - alpha / 2]))
    levels = ndtr(zq)
    if method == "bca":
        below = np.count_nonzero(replicates < estimate) + 0.5 * np.count_nonzero(replicates == estimate)
        z0 = float(ndtri(below / replicates.size))
        if math.isfinite(z0):
            a = _acceleration(jackknife())
            levels = ndtr(z0 + (z0 + zq) / (1.0 - a * (z0 + zq)))
        # else: the estimate lies outside the bootstrap distribution; fall back to percentile levels
    low, high = np.quantile(replicates, levels)
    # An interval that excludes its own point estimate only happens through Monte Carlo or BCa
    # extrapolation noise on tiny samples; keep the estimate inside (a slightly conservative choice).
    return (min(float(low), estimate), max(float(high), estimate))


def bootstrap_distribution(
    values: ArrayLike,
    *,
    statistic: Statistic = "mean",
    n_resamples: int = 2000,
    clusters: ArrayLike | None = None,
    seed: int | None = 0,
) -> FloatArray:
    """The ``n_resamples`` bootstrap replicates of ``statistic`` (for plots or custom intervals).

    With ``clusters``, whole clusters are resampled (see :func:`bootstrap_ci`).

    >>> bootstrap_distribution([1.0, 2.0, 3.0], n_resamples=5).shape
    (5,)
    """
    x = as_float_array(values, "values")
    b = check_count(n_resamples, "n_resamples", minimum=1)
    kind, func = _resolve_statistic(statistic)
    if clusters is None:
        return _replicates(x, kind, func, b, seed)
    codes, g = _cluster_codes(clusters, x.size)
    return _cluster_replicates(x, codes, g, kind, func, b, seed)


def _replicates(
    x: FloatArray, kind: str, func: Callable[[FloatArray], float], b: int, seed: int | None
) -> FloatArray:
    n = x.size
    if kind == "mean":
        uniq, counts = np.unique(x, return_counts=True)
        if uniq.size <= 64 and uniq.size * 8 < n:
            # few distinct values (binary or Likert scores): resampling n items is exactly a multinomial
            # draw over the distinct values, which costs O(k) per replicate instead of O(n)
            rng = np.random.Generator(np.random.SFC64(np.random.SeedSequence(seed)))
            draws = rng.multinomial(n, counts / n, size=b)
            return (draws @ uniq) / n
        centre = float(x.mean())
        # Resample the centred values stored as float32 (the table then fits in a core's L2 cache, which
        # makes the random gathers about twice as fast) and accumulate in float64. This is the exact
        # bootstrap of the data rounded to 7 significant digits after centring; centring keeps
        # data with a large offset (latencies around 1e9 ns) precise.
        xc = (x - centre).astype(np.float32)

        def mean_of_rows(idx: NDArray[np.intp]) -> FloatArray:
            return np.take(xc, idx).sum(axis=1, dtype=np.float64) / n

        return resample_apply(n, b, seed, mean_of_rows) + centre
    if kind == "median":
        return resample_apply(n, b, seed, lambda idx: np.median(np.take(x, idx), axis=1))
    return resample_apply(n, b, seed, lambda idx: np.array([func(row) for row in np.take(x, idx)]))


def _cluster_replicates(
    x: FloatArray,
    codes: NDArray[np.intp],
    g: int,
    kind: str,
    func: Callable[[FloatArray], float],
    b: int,
    seed: int | None,
) -> FloatArray:
    if kind == "mean":
        sums = np.bincount(codes, weights=x, minlength=g)
        sizes = np.bincount(codes, minlength=g).astype(np.float64)
        centre = float(x.mean())
        sums_c = sums - centre * sizes

        def ratio(idx: NDArray[np.intp]) -> FloatArray:
            return np.take(sums_c, idx).sum(axis=1) / np.take(sizes, idx).sum(axis=1)

        return resample_apply(g, b, seed, ratio) + centre
    order = np.argsort(codes, kind="stable")
    members = np.split(x[order], np.cumsum(np.bincount(codes, minlength=g))[:-1])

    def generic(idx: NDArray[np.intp]) -> FloatArray:
        return np.array([func(np.concatenate([members[i] for i in row])) for row in idx])

    return resample_apply(g, b, seed, generic)


def bootstrap_ci(
    values: ArrayLike,
    *,
    statistic: Statistic = "mean",
    confidence: float = 0.95,
    n_resamples: int = 2000,
    method: BootstrapMethod = "bca",
    clusters: ArrayLike | None = None,
    seed: int | None = 0,
) -> tuple[float, float]:
    """Bootstrap confidence interval for ``statistic`` of ``values``; BCa by default.

    ``statistic`` is ``"mean"``, ``"median"`` or a callable mapping a 1-D array to a float. ``method``
    is ``"bca"`` (bias-corrected and accelerated, Efron 1987: second-order accurate, the default) or
    ``"percentile"``. With ``clusters`` (one label per value, e.g. the question id when several samples
    were drawn per question, or the conversation id for turns) whole clusters are resampled, so
    correlated items are not mistaken for independent evidence. The result depends only on ``seed``.
    All-equal values give a zero-width interval. Quantile levels use Hesterberg's small-sample
    expansion (``sqrt(n/(n-1)) * t_{n-1}`` in place of ``z``; ``n`` is the number of clusters when
    clustering), which brings coverage back to nominal near n = 50 and vanishes for large n.

    >>> low, high = bootstrap_ci([0.2, 0.4, 0.5, 0.7, 0.9, 0.3, 0.6], seed=1)
    >>> low < 0.514 < high
    True
    """
    result = bootstrap(
        as_float_array(values, "values"),
        statistic=statistic,
        confidence=confidence,
        n_resamples=n_resamples,
        method=method,
        clusters=clusters,
        seed=seed,
    )
    return (result.low, result.high)


@dataclass(frozen=True)
class BootstrapResult:
    """A bootstrap interval together with its point estimate and the replicates it came from."""

    estimate: float
    low: float
    high: float
    replicates: FloatArray


def bootstrap(
    x: FloatArray,
    *,
    statistic: Statistic = "mean",
    confidence: float = 0.95,
    n_resamples: int = 2000,
    method: BootstrapMethod = "bca",
    clusters: ArrayLike | None = None,
    seed: int | None = 0,
) -> BootstrapResult:
    """Shared implementation of :func:`bootstrap_ci` for already-validated ``x`` (used by compare)."""
    conf = check_confidence(confidence)
    b = check_count(n_resamples, "n_resamples", minimum=1)
    if method not in ("bca", "percentile"):
        raise ValueError(f"method must be 'bca' or 'percentile', got {method!r}")
    kind, func = _resolve_statistic(statistic)
    cluster_info = None
    if clusters is not None:
        cluster_info = _cluster_codes(clusters, x.size)
        if cluster_info[1] == 1:
            raise ValueError("clusters has a single cluster; a clustered bootstrap needs at least two")
    estimate = func(x)
    if not math.isfinite(estimate):
        raise ValueError(f"statistic returned a non-finite value ({estimate!r}) on values")
    if x.size == 1 or float(np.ptp(x)) == 0.0:
        return BootstrapResult(estimate, estimate, estimate, np.full(b, estimate))
    if cluster_info is None:
        reps = _replicates(x, kind, func, b, seed)

        def jack() -> FloatArray:
            return _jackknife(x, kind, func)

    else:
        codes, g = cluster_info
        reps = _cluster_replicates(x, codes, g, kind, func, b, seed)

        def jack() -> FloatArray:
            return _cluster_jackknife(x, codes, g, kind, func)

    if not np.all(np.isfinite(reps)):
        raise ValueError("statistic returned non-finite values on bootstrap resamples of values")
    n_units = x.size if cluster_info is None else cluster_info[1]
    low, high = _interval_from_replicates(reps, estimate, conf, method, jack, n_units)
    return BootstrapResult(estimate, low, high, reps)


def _cluster_jackknife(
    x: FloatArray, codes: NDArray[np.intp], g: int, kind: str, func: Callable[[FloatArray], float]
) -> FloatArray:
    if kind == "mean":
        sums = np.bincount(codes, weights=x, minlength=g)
        sizes = np.bincount(codes, minlength=g).astype(np.float64)
        return (sums.sum() - sums) / (sizes.sum() - sizes)
    return np.array([func(x[codes != c]) for c in range(g)])


# --------------------------------------------------------------------------------------------------
# cluster-robust standard errors


def cluster_robust_se(values: ArrayLike, clusters: ArrayLike) -> float:
    """Cluster-robust (CR1, "sandwich") standard error of the mean of ``values``.

    Equals the standard error of the intercept in an intercept-only regression with errors clustered
    by ``clusters`` (statsmodels ``cov_type="cluster"``; Stata ``vce(cluster)``): residuals are summed
    within each cluster and the small-sample factor ``G / (G - 1)`` is applied.

    >>> round(cluster_robust_se([1.0, 1.0, 0.0, 0.0, 1.0, 0.0], ["a", "a", "b", "b", "c", "c"]), 4)
    0.2887
    """
    x = as_float_array(values, "values")
    codes, g = _cluster_codes(clusters, x.size)
    if g < 2:
        raise ValueError("clusters must contain at least two distinct clusters")
    n = x.size
    resid_sums = np.bincount(codes, weights=x - x.mean(), minlength=g)
    return math.sqrt(g / (g - 1) * float(np.sum(resid_sums**2))) / n


def cluster_mean_ci(
    values: ArrayLike, clusters: ArrayLike, *, confidence: float = 0.95
) -> tuple[float, float]:
    """Interval for the mean using the cluster-robust SE and a t distribution with ``G - 1`` df.

    The analytic counterpart of ``bootstrap_ci(values, clusters=...)``; cheap and reliable once there
    are a few dozen clusters.

    >>> low, high = cluster_mean_ci([1, 1, 0, 0, 1, 0, 1, 1], ["a", "a", "b", "b", "c", "c", "d", "d"])
    >>> round(low, 3), round(high, 3)
    (-0.137, 1.387)
    """
    from scipy.special import stdtrit

    x = as_float_array(values, "values")
    conf = check_confidence(confidence)
    se = cluster_robust_se(x, clusters)
    g = int(np.unique(np.asarray(clusters), return_inverse=True)[1].max()) + 1
    mean = float(x.mean())
    half = float(stdtrit(g - 1, 0.5 + conf / 2)) * se
    return (mean - half, mean + half)


# --------------------------------------------------------------------------------------------------
# quantiles


def quantile_ci(values: ArrayLike, q: float, *, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free interval for the ``q`` quantile (e.g. ``q=0.95`` for p95 latency).

    Uses order statistics: the number of observations below the true quantile is Binomial(n, q), so
    ``[x_(l), x_(u)]`` with binomial-quantile ranks covers it with probability at least ``confidence``
    (no assumption about the latency distribution). When ``n`` is too small for the requested level
    (for p95 at 95%, fewer than about 60 values) the bound falls back to the sample minimum or maximum
    and the coverage is below nominal: collect more data before trusting a tail quantile.

    >>> quantile_ci(list(range(1, 101)), 0.5)
    (40.0, 61.0)
    """
    from scipy.stats import binom

    x = np.sort(as_float_array(values, "values"))
    p = check_probability(q, "q")
    conf = check_confidence(confidence)
    n = x.size
    alpha = 1.0 - conf
    # P(x_(l) <= xi_q < x_(u)) = P(l <= K <= u - 1) for K ~ Binomial(n, q)
    lo_rank = int(binom.ppf(alpha / 2, n, p))
    hi_rank = int(binom.ppf(1 - alpha / 2, n, p)) + 1
    lo_rank = min(max(lo_rank, 1), n)
    hi_rank = min(max(hi_rank, 1), n)
    estimate = float(np.quantile(x, p))
    return (min(float(x[lo_rank - 1]), estimate), max(float(x[hi_rank - 1]), estimate))
