"""Planning: how many cases an evaluation needs, and the smallest effect a given size can detect.

Analytic (normal / t approximations, the standard ones for these designs); the test-suite checks them by
simulation. Use them before collecting labels or running an expensive suite: "with 200 paired cases at a
70% pass rate we can only detect a 6-point change" is worth knowing up front.
"""

from __future__ import annotations

import math

from assay.stats._validation import check_count, check_probability

__all__ = ["mde", "required_n", "sample_size"]


def _quantile_z(p: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(p))


def _quantile_t(p: float, df: float) -> float:
    from scipy.special import stdtrit

    return float(stdtrit(df, p))


def _check_positive(value: float, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a positive number, got {value!r}") from exc
    if not (v > 0.0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return v


def _check_correlation(correlation: float) -> float:
    r = float(correlation)
    if not -1.0 < r < 1.0:
        raise ValueError(f"correlation must lie strictly between -1 and 1, got {correlation!r}")
    return r


def sample_size(
    half_width: float,
    *,
    baseline: float = 0.5,
    sd: float | None = None,
    confidence: float = 0.95,
) -> int:
    """Number of cases for a confidence interval of at most ``half_width`` either side of the estimate.

    For a pass rate (``sd=None``) the worst case is ``baseline=0.5``; pass the expected rate for a
    tighter answer. For a continuous metric pass its standard deviation ``sd`` (t quantiles are used).

    >>> sample_size(0.05)  # +/- 5 points on a pass rate near 50%
    385
    >>> sample_size(0.05, baseline=0.9)
    139
    """
    h = _check_positive(half_width, "half_width")
    conf = check_probability(confidence, "confidence")
    z = _quantile_z(0.5 + conf / 2)
    if sd is None:
        p = check_probability(baseline, "baseline")
        return max(1, math.ceil(z * z * p * (1 - p) / (h * h) - 1e-9))
    s = _check_positive(sd, "sd")
    n = max(2, math.ceil((z * s / h) ** 2))
    for _ in range(100):  # fixed point with t quantiles: n = (t_{n-1} s / h)^2
        new = max(2, math.ceil((_quantile_t(0.5 + conf / 2, n - 1) * s / h) ** 2 - 1e-9))
        if new == n:
            break
        n = new
    return n


def _difference_variances(
    baseline: float, effect: float, sd: float | None, paired: bool, correlation: float
) -> tuple[float, float]:
    """Per-case variance of the difference estimator under the null and under the alternative."""
    if sd is None:
        p1, p2 = baseline, baseline + effect
        v1, v2 = p1 * (1 - p1), p2 * (1 - p2)
        pbar = 0.5 * (p1 + p2)
        v0 = pbar * (1 - pbar)
        cov_alt = correlation * math.sqrt(v1 * v2) if paired else 0.0
        cov_null = correlation * v0 if paired else 0.0
        return (2 * v0 - 2 * cov_null, v1 + v2 - 2 * cov_alt)
    var = 2 * sd * sd * ((1 - correlation) if paired else 1.0)
    return (var, var)


def _power_gap(
    effect: float,
    n: int,
    baseline: float,
    sd: float | None,
    paired: bool,
    correlation: float,
    alpha: float,
    power: float,
) -> float:
    v0, v1 = _difference_variances(baseline, effect, sd, paired, correlation)
    if sd is None:
        za, zb = _quantile_z(1 - alpha / 2), _quantile_z(power)
    else:
        df = n - 1 if paired else 2 * n - 2
        za, zb = _quantile_t(1 - alpha / 2, df), _quantile_t(power, df)
    return effect - (za * math.sqrt(v0 / n) + zb * math.sqrt(v1 / n))


def mde(
    n: int,
    *,
    baseline: float,
    alpha: float = 0.05,
    power: float = 0.8,
    paired: bool = True,
    sd: float | None = None,
    correlation: float = 0.0,
) -> float:
    """Minimum detectable effect: the smallest improvement a two-sided test at ``alpha`` finds with ``power``.

    ``n`` is the number of cases (pairs when ``paired``, per system otherwise). For a binary metric
    ``baseline`` is the current pass rate and the result is in rate units (0.05 = five points). For a
    continuous metric pass its per-case standard deviation ``sd`` (``baseline`` is then only the
    current mean and does not change the answer). ``correlation`` is the per-case correlation between
    the two systems' scores in a paired design: the higher it is, the more pairing helps; the default 0
    is the conservative assumption.

    >>> round(mde(500, baseline=0.7), 4)
    0.0777
    >>> round(mde(500, baseline=0.7, correlation=0.6), 4)
    0.05
    """
    n_int = check_count(n, "n", minimum=2)
    a = check_probability(alpha, "alpha")
    pw = check_probability(power, "power")
    r = _check_correlation(correlation)
    if sd is None:
        p0 = check_probability(baseline, "baseline")
        upper = 1.0 - p0
    else:
        _check_positive(sd, "sd")
        p0 = float(baseline)
        upper = 1e3 * float(sd) * math.sqrt(1 + 1 / n_int) + 1.0
    from scipy.optimize import brentq

    def gap(e: float) -> float:
        return _power_gap(e, n_int, p0, sd, paired, r, a, pw)

    if gap(upper * (1 - 1e-9)) < 0:
        raise ValueError(
            f"n={n_int} is too small to detect any improvement over baseline={baseline} "
            f"with power {pw} at alpha {a}"
        )
    return float(brentq(gap, 1e-12, upper * (1 - 1e-9), xtol=1e-10))


def required_n(
    effect: float,
    *,
    baseline: float,
    alpha: float = 0.05,
    power: float = 0.8,
    paired: bool = True,
    sd: float | None = None,
    correlation: float = 0.0,
) -> int:
    """Smallest ``n`` whose :func:`mde` is at most ``effect`` (the inverse of :func:`mde`).

    >>> required_n(0.05, baseline=0.7, correlation=0.6)
    501
    """
    e = _check_positive(effect, "effect")
    a = check_probability(alpha, "alpha")
    pw = check_probability(power, "power")
    r = _check_correlation(correlation)
    if sd is None:
        p0 = check_probability(baseline, "baseline")
        if p0 + e >= 1.0:
            raise ValueError(f"baseline + effect must stay below 1 for a pass rate ({p0} + {e})")
    else:
        _check_positive(sd, "sd")
        p0 = float(baseline)
    lo, hi = 2, 4
    while _power_gap(e, hi, p0, sd, paired, r, a, pw) < 0:
        lo, hi = hi, hi * 2
        if hi > 1 << 40:
            raise ValueError("effect is too small to detect with any practical n")
    while lo < hi:
        mid = (lo + hi) // 2
        if _power_gap(e, mid, p0, sd, paired, r, a, pw) >= 0:
            hi = mid
        else:
            lo = mid + 1
    return lo
