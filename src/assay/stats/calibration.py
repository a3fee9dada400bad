"""Calibration of confidence scores, selective prediction, and a risk-controlling routing threshold.

A system that reports a confidence for each answer is useful only if the confidence means something.
This module measures that (ECE, MCE, Brier score and its Murphy decomposition, reliability-diagram data,
AUROC of confidence against correctness), evaluates selective prediction (risk–coverage curve, AURC),
and picks the confidence threshold for routing cases to humans with a statistical guarantee on the
error rate of the cases that are answered automatically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.stats._validation import (
    FloatArray,
    as_bool_array,
    as_float_array,
    check_count,
    check_probability,
    check_unit_interval,
    same_length,
)
from assay.stats.intervals import wilson_interval

__all__ = [
    "BrierDecomposition",
    "ReliabilityBin",
    "RiskControl",
    "aurc",
    "auroc",
    "brier",
    "brier_decomposition",
    "ece",
    "mce",
    "reliability_diagram",
    "risk_control_threshold",
    "risk_coverage",
]

Strategy = Literal["uniform", "quantile"]


def _inputs(confidence: ArrayLike, correct: ArrayLike) -> tuple[FloatArray, NDArray[np.bool_]]:
    conf = as_float_array(confidence, "confidence")
    check_unit_interval(conf, "confidence")
    ok = as_bool_array(correct, "correct")
    same_length(("confidence", conf), ("correct", ok))
    return conf, ok


def _bin_index(conf: FloatArray, n_bins: int, strategy: str) -> tuple[NDArray[np.intp], FloatArray]:
    """Bin of each confidence and the bin edges; the last bin is closed on the right."""
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.quantile(conf, np.linspace(0.0, 1.0, n_bins + 1))
        edges[0], edges[-1] = min(edges[0], 0.0), max(edges[-1], 1.0)
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    idx = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
    return idx.astype(np.intp), edges


def _binned(conf: FloatArray, ok: NDArray[np.bool_], n_bins: int, strategy: str) -> tuple[FloatArray, ...]:
    n_bins = check_count(n_bins, "n_bins", minimum=1)
    idx, edges = _bin_index(conf, n_bins, strategy)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins).astype(np.float64)
    acc_sum = np.bincount(idx, weights=ok.astype(np.float64), minlength=n_bins).astype(np.float64)
    return count, conf_sum, acc_sum, edges


def ece(
    confidence: ArrayLike, correct: ArrayLike, *, n_bins: int = 10, strategy: Strategy = "uniform"
) -> float:
    """Expected calibration error: the count-weighted mean gap between confidence and accuracy per bin.

    ``strategy="uniform"`` uses equal-width bins on [0, 1]; ``"quantile"`` uses equal-mass bins (each
    holds about the same number of cases), which is steadier when confidences cluster near 1.

    >>> round(ece([0.9, 0.9, 0.6, 0.6], [True, False, True, True]), 3)
    0.4
    """
    conf, ok = _inputs(confidence, correct)
    _, conf_sum, acc_sum, _ = _binned(conf, ok, n_bins, strategy)
    return float(np.sum(np.abs(conf_sum - acc_sum)) / conf.size)


def mce(
    confidence: ArrayLike, correct: ArrayLike, *, n_bins: int = 10, strategy: Strategy = "uniform"
) -> float:
    """Maximum calibration error: the largest gap between confidence and accuracy over non-empty bins.

    >>> round(mce([0.9, 0.9, 0.7, 0.7], [True, False, True, True]), 3)
    0.4
    """
    conf, ok = _inputs(confidence, correct)
    count, conf_sum, acc_sum, _ = _binned(conf, ok, n_bins, strategy)
    full = count > 0
    return float(np.max(np.abs(conf_sum[full] - acc_sum[full]) / count[full]))


def brier(confidence: ArrayLike, correct: ArrayLike) -> float:
    """Brier score: mean squared difference between confidence and the 0/1 outcome (lower is better).

    >>> round(brier([0.9, 0.8, 0.3], [True, True, False]), 4)
    0.0467
    """
    conf, ok = _inputs(confidence, correct)
    return float(np.mean((conf - ok) ** 2))


@dataclass(frozen=True)
class BrierDecomposition:
    """Murphy's decomposition ``brier = reliability - resolution + uncertainty (+ within_bin)``.

    ``reliability`` (lower is better) is the calibration term, ``resolution`` (higher is better) how
    much the forecasts separate cases, ``uncertainty`` the base-rate variance. ``within_bin`` is the
    remainder from binning; it is exactly 0 when every bin holds one distinct confidence value.
    """

    brier: float
    reliability: float
    resolution: float
    uncertainty: float
    within_bin: float


def brier_decomposition(
    confidence: ArrayLike, correct: ArrayLike, *, n_bins: int | None = None
) -> BrierDecomposition:
    """Murphy (1973) decomposition of the Brier score.

    With ``n_bins=None`` forecasts are grouped by their distinct values (exact decomposition); with a
    number, into equal-width bins.

    >>> d = brier_decomposition([0.8, 0.8, 0.2, 0.2], [True, False, False, False])
    >>> round(d.reliability, 3), round(d.resolution, 4), round(d.uncertainty, 4)
    (0.065, 0.0625, 0.1875)
    """
    conf, ok = _inputs(confidence, correct)
    y = ok.astype(np.float64)
    if n_bins is None:
        _, idx = np.unique(conf, return_inverse=True)
        idx = idx.reshape(-1)
        k = int(idx.max()) + 1
    else:
        k = check_count(n_bins, "n_bins", minimum=1)
        idx, _ = _bin_index(conf, k, "uniform")
    count = np.bincount(idx, minlength=k).astype(np.float64)
    full = count > 0
    f_bar = np.bincount(idx, weights=conf, minlength=k)[full] / count[full]
    o_bar = np.bincount(idx, weights=y, minlength=k)[full] / count[full]
    n = conf.size
    base = float(y.mean())
    rel = float(np.sum(count[full] * (f_bar - o_bar) ** 2)) / n
    res = float(np.sum(count[full] * (o_bar - base) ** 2)) / n
    unc = base * (1.0 - base)
    bs = float(np.mean((conf - y) ** 2))
    return BrierDecomposition(bs, rel, res, unc, bs - (rel - res + unc))


@dataclass(frozen=True)
class ReliabilityBin:
    """One bar of a reliability diagram, with a Wilson interval for the bin's accuracy."""

    low: float
    high: float
    mean_confidence: float
    accuracy: float
    count: int
    ci_low: float
    ci_high: float


def reliability_diagram(
    confidence: ArrayLike,
    correct: ArrayLike,
    *,
    n_bins: int = 10,
    strategy: Strategy = "uniform",
    ci_confidence: float = 0.95,
) -> list[ReliabilityBin]:
    """The data of a reliability diagram: per non-empty bin, mean confidence, accuracy, count and CI.

    >>> bins = reliability_diagram([0.9, 0.9, 0.6, 0.6], [True, False, True, True], n_bins=2)
    >>> [(b.mean_confidence, b.accuracy, b.count) for b in bins]
    [(0.75, 0.75, 4)]
    """
    conf, ok = _inputs(confidence, correct)
    count, conf_sum, acc_sum, edges = _binned(conf, ok, n_bins, strategy)
    out: list[ReliabilityBin] = []
    for i in np.flatnonzero(count > 0):
        c = int(count[i])
        hits = round(float(acc_sum[i]))
        lo, hi = wilson_interval(hits, c, confidence=ci_confidence)
        out.append(
            ReliabilityBin(float(edges[i]), float(edges[i + 1]), float(conf_sum[i]) / c, hits / c, c, lo, hi)
        )
    return out


def auroc(confidence: ArrayLike, correct: ArrayLike) -> float:
    """Area under the ROC curve of confidence as a predictor of correctness (ties count one half).

    0.5 means the confidence says nothing about which answers are right. Needs both outcomes.

    >>> auroc([0.9, 0.8, 0.4, 0.3], [True, False, True, False])
    0.75
    """
    from scipy.stats import rankdata

    conf = as_float_array(confidence, "confidence")
    ok = as_bool_array(correct, "correct")
    same_length(("confidence", conf), ("correct", ok))
    n_pos = int(ok.sum())
    n_neg = ok.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("correct must contain both True and False values for AUROC")
    ranks = rankdata(conf)
    return float((ranks[ok].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def risk_coverage(confidence: ArrayLike, correct: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Selective-prediction curve: answering only cases with confidence >= each threshold.

    Returns ``(thresholds, coverage, risk)`` over the distinct confidence values, from the most to the
    least confident; ``risk`` is the error rate among the answered cases.

    >>> t, cov, risk = risk_coverage([0.9, 0.8, 0.4, 0.3], [True, False, True, False])
    >>> cov.tolist(), risk.round(3).tolist()
    ([0.25, 0.5, 0.75, 1.0], [0.0, 0.5, 0.333, 0.5])
    """
    conf = as_float_array(confidence, "confidence")
    ok = as_bool_array(correct, "correct")
    same_length(("confidence", conf), ("correct", ok))
    order = np.argsort(-conf, kind="stable")
    c = conf[order]
    errors = np.cumsum(~ok[order])
    last = np.flatnonzero(np.r_[c[1:] != c[:-1], True])  # last position of each distinct value
    answered = last + 1.0
    return c[last], answered / conf.size, errors[last] / answered


def aurc(confidence: ArrayLike, correct: ArrayLike) -> float:
    """Area under the risk–coverage curve (Geifman et al. 2019): mean selective risk; lower is better.

    Computed as the average, over coverage levels ``k / n``, of the error rate among the ``k`` most
    confident cases (cases with tied confidence enter together).

    >>> round(aurc([0.9, 0.8, 0.4, 0.3], [True, False, True, False]), 4)
    0.3333
    """
    _, cov, risk = risk_coverage(confidence, correct)
    n_added = np.diff(np.r_[0.0, cov])
    return float(np.sum(n_added * risk) / np.sum(n_added))


@dataclass(frozen=True)
class RiskControl:
    """A routing rule: answer automatically when ``confidence >= threshold``, otherwise ask a human.

    ``threshold`` is ``inf`` when no threshold could be certified (route everything to humans).
    ``coverage`` and ``error_rate`` are measured on the calibration data; ``upper_bound`` is the
    ``1 - delta`` binomial upper confidence bound on the error rate of answered cases.
    """

    threshold: float
    coverage: float
    error_rate: float
    upper_bound: float
    n_answered: int
    alpha: float
    delta: float


def _first_testable_size(alpha: float, delta: float, n_max: int) -> int:
    """Smallest n where ``floor(alpha * n / 2)`` errors out of n still reject "risk > alpha" at delta."""
    from scipy.stats import binom

    sizes = np.arange(1, n_max + 1)
    ok = binom.cdf(np.floor(alpha * sizes / 2), sizes, alpha) <= delta
    return int(sizes[np.argmax(ok)]) if ok.any() else n_max + 1


def risk_control_threshold(
    confidence: ArrayLike, correct: ArrayLike, *, alpha: float, delta: float = 0.1
) -> RiskControl:
    """Lowest confidence threshold whose answered-case error rate is certified at most ``alpha``.

    Learn-then-Test (Angelopoulos, Bates, Candès, Jordan & Lei 2021) with fixed-sequence testing: for
    thresholds from the most confident downwards, test "error rate among answered cases > alpha" with
    the exact binomial tail p-value ``P(Binomial(n_answered, alpha) <= errors)`` and keep lowering the
    threshold while the null is rejected at level ``delta``. With probability at least ``1 - delta``
    over the calibration data, the chosen rule's error rate among answered cases is at most ``alpha``.
    A sequence starting at a handful of very confident cases would stop for good at the first unlucky
    error, so it starts at the smallest answered set on which an observed error rate of
    ``alpha / 2`` would already be certified. The order and the start depend on the confidences and
    the number of cases only, never on the outcomes.

    >>> rng = __import__("numpy").random.default_rng(0)
    >>> conf = rng.uniform(size=5000)
    >>> correct = rng.uniform(size=5000) < conf
    >>> rule = risk_control_threshold(conf, correct, alpha=0.1, delta=0.1)
    >>> 0.8 < rule.threshold < 0.9
    True
    """
    from scipy.stats import beta, binom

    conf, ok = _inputs(confidence, correct)
    a = check_probability(alpha, "alpha")
    d = check_probability(delta, "delta")
    order = np.argsort(-conf, kind="stable")
    c = conf[order]
    errors = np.cumsum(~ok[order])
    last = np.flatnonzero(np.r_[c[1:] != c[:-1], True])
    n_answered = last + 1
    k_errors = errors[last]
    pvals = binom.cdf(k_errors, n_answered, a)
    start = _first_testable_size(a, d, conf.size)
    i = int(np.searchsorted(n_answered, start))  # first distinct threshold answering >= start cases
    failed = np.flatnonzero(pvals[i:] > d)
    stop = pvals.size if failed.size == 0 else i + int(failed[0])
    chosen = stop - 1 if stop > i else -1
    if chosen < 0:
        return RiskControl(math.inf, 0.0, 0.0, 1.0, 0, a, d)
    n_ans, k = int(n_answered[chosen]), int(k_errors[chosen])
    upper = 1.0 if k == n_ans else float(beta.ppf(1 - d, k + 1, n_ans - k))
    return RiskControl(float(c[last[chosen]]), n_ans / conf.size, k / n_ans, upper, n_ans, a, d)
