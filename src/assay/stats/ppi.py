"""Prediction-powered inference: combine many automatic scores with a few human labels.

An automatic scorer (an LLM judge, a classifier) can score every one of ``N`` items but is biased; humans
label only ``n`` of them. Prediction-powered inference (Angelopoulos, Bates, Fannjiang, Jordan & Zrnic,
"Prediction-powered inference", Science 2023) estimates the *human* metric's mean as the judge's mean
on the unlabelled items minus the judge's measured bias on the labelled ones, with a valid confidence
interval. PPI++ (Angelopoulos, Duchi & Zrnic 2023) weights the judge by a data-chosen ``lambda`` so the
interval is never (asymptotically) wider than the human-only one, even when the judge is useless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from assay.stats._validation import FloatArray, as_float_array, check_confidence, same_length

__all__ = ["PPIResult", "ppi_mean", "ppi_mean_ci"]


@dataclass(frozen=True)
class PPIResult:
    """A prediction-powered estimate of a mean.

    ``lam`` is the weight given to the automatic scores (1 for classic PPI, 0 means human-only),
    ``se`` the standard error, and ``effective_n`` the number of human labels a human-only estimate
    would need for the same standard error.
    """

    estimate: float
    ci_low: float
    ci_high: float
    se: float
    lam: float
    n_labeled: int
    n_unlabeled: int
    effective_n: float


def _weights(w: ArrayLike | None, n: int, name: str) -> FloatArray:
    if w is None:
        return np.ones(n)
    arr = as_float_array(w, name)
    if arr.size != n:
        raise ValueError(f"{name} must have one weight per item ({arr.size} != {n})")
    if np.any(arr < 0) or arr.sum() <= 0:
        raise ValueError(f"{name} must be non-negative and not all zero")
    return arr * (n / arr.sum())  # normalise to mean 1


def ppi_mean(
    y_labeled: ArrayLike,
    yhat_labeled: ArrayLike,
    yhat_unlabeled: ArrayLike,
    *,
    confidence: float = 0.95,
    tuned: bool = True,
    lam: float | None = None,
    weights: ArrayLike | None = None,
    weights_unlabeled: ArrayLike | None = None,
) -> PPIResult:
    """Prediction-powered estimate of ``mean(y)`` with its interval and diagnostics.

    ``y_labeled`` are human labels (binary 0/1 or continuous) for ``n`` items, ``yhat_labeled`` the
    automatic scores of those same items, ``yhat_unlabeled`` the automatic scores of ``N`` other items
    from the same population. ``tuned=True`` uses the PPI++ power-tuned ``lambda``; ``tuned=False``
    gives classic PPI (``lambda = 1``); an explicit ``lam`` overrides both. ``weights`` and
    ``weights_unlabeled`` are inverse-probability weights for stratified sampling (each item's weight
    is 1 / its inclusion probability); they are normalised to mean 1 within each set.

    >>> r = ppi_mean([1, 0, 1, 0], [1, 1, 1, 0], [1, 1, 0, 1, 1, 0, 1, 1], tuned=False)
    >>> round(r.estimate, 3)
    0.5
    """
    from scipy.special import ndtri

    y = as_float_array(y_labeled, "y_labeled", min_size=2)
    f = as_float_array(yhat_labeled, "yhat_labeled", min_size=2)
    fu = as_float_array(yhat_unlabeled, "yhat_unlabeled", min_size=2)
    same_length(("y_labeled", y), ("yhat_labeled", f))
    conf = check_confidence(confidence)
    n, big_n = y.size, fu.size
    w = _weights(weights, n, "weights")
    wu = _weights(weights_unlabeled, big_n, "weights_unlabeled")

    if lam is not None:
        lam_hat = float(lam)
        if not math.isfinite(lam_hat):
            raise ValueError(f"lam must be a finite number, got {lam!r}")
    elif not tuned:
        lam_hat = 1.0
    else:
        # PPI++ optimal weight for the mean: Cov(y, f) / ((1 + n/N) Var(f)), estimated on all scores
        wf, wy = w * f, w * y
        f_all = np.concatenate([wf, wu * fu])
        var_f = float(np.var(f_all, ddof=1))
        cov_yf = float(np.cov(wy, wf, ddof=1)[0, 1])
        lam_hat = 0.0 if var_f == 0.0 else cov_yf / ((1.0 + n / big_n) * var_f)
        lam_hat = min(1.0, max(0.0, lam_hat))

    rectifier = w * (y - lam_hat * f)
    predicted = wu * (lam_hat * fu)
    estimate = float(predicted.mean() + rectifier.mean())
    var = float(np.var(predicted, ddof=1)) / big_n + float(np.var(rectifier, ddof=1)) / n
    se = math.sqrt(var)
    half = float(ndtri(0.5 + conf / 2)) * se
    low, high = estimate - half, estimate + half
    bounded = bool(
        np.all((y >= 0) & (y <= 1)) and np.all((f >= 0) & (f <= 1)) and np.all((fu >= 0) & (fu <= 1))
    )
    if bounded:  # the mean of a [0, 1] metric lies in [0, 1]: clipping never lowers coverage
        estimate = min(1.0, max(0.0, estimate))
        low, high = max(0.0, low), min(1.0, high)
    human_var = float(np.var(w * y, ddof=1))
    effective_n = float("inf") if var == 0.0 else human_var / var
    return PPIResult(estimate, low, high, se, lam_hat, n, big_n, effective_n)


def ppi_mean_ci(
    y_labeled: ArrayLike,
    yhat_labeled: ArrayLike,
    yhat_unlabeled: ArrayLike,
    *,
    confidence: float = 0.95,
    tuned: bool = True,
    weights: ArrayLike | None = None,
    weights_unlabeled: ArrayLike | None = None,
) -> tuple[float, float, float]:
    """``(estimate, low, high)`` of the human-label mean from few labels plus many automatic scores.

    See :func:`ppi_mean` for the arguments; this is the tuple-returning form used in summaries.

    >>> est, low, high = ppi_mean_ci([1, 0, 1, 1, 0], [1, 0, 1, 1, 1], [1, 1, 0, 1, 1, 0, 1, 1, 1, 0])
    >>> low <= est <= high
    True
    """
    r = ppi_mean(
        y_labeled,
        yhat_labeled,
        yhat_unlabeled,
        confidence=confidence,
        tuned=tuned,
        weights=weights,
        weights_unlabeled=weights_unlabeled,
    )
    return (r.estimate, r.ci_low, r.ci_high)
