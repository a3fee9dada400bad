"""Agreement between raters: humans with humans, a judge with humans, a scorer with itself.

Before trusting an LLM judge (or a set of annotators) measure how well they agree beyond chance:
Cohen's kappa for two raters, Fleiss' kappa for many, Krippendorff's alpha when labels are missing or
ordinal, correlations with intervals for continuous scores, and test–retest consistency for a scorer
that was run twice on the same items.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.stats._validation import (
    FloatArray,
    as_float_array,
    as_labels,
    check_confidence,
    same_length,
)

__all__ = [
    "Correlation",
    "TestRetest",
    "cohen_kappa",
    "confusion_matrix",
    "correlation",
    "fleiss_kappa",
    "icc",
    "krippendorff_alpha",
    "test_retest",
]


def confusion_matrix(
    a: ArrayLike, b: ArrayLike, *, labels: ArrayLike | None = None
) -> tuple[NDArray[np.int64], NDArray[Any]]:
    """Counts of (``a`` label, ``b`` label) pairs: rows are ``a``'s labels, columns ``b``'s.

    Returns ``(matrix, labels)``; labels default to the sorted union of both inputs (as scikit-learn).

    >>> m, labels = confusion_matrix(["x", "y", "y"], ["x", "x", "y"])
    >>> m.tolist(), labels.tolist()
    ([[1, 0], [1, 1]], ['x', 'y'])
    """
    x = as_labels(a, "a")
    y = as_labels(b, "b")
    same_length(("a", x), ("b", y))
    if labels is None:
        cats = np.unique(np.concatenate([x, y]))
    else:
        cats = as_labels(labels, "labels")
        if np.unique(cats).size != cats.size:
            raise ValueError("labels must not contain duplicates")
    index = {v: i for i, v in enumerate(cats.tolist())}
    k = len(cats)
    try:
        xi = np.array([index[v] for v in x.tolist()], dtype=np.int64)
        yi = np.array([index[v] for v in y.tolist()], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"label {exc.args[0]!r} is not in labels") from exc
    matrix = np.bincount(xi * k + yi, minlength=k * k).reshape(k, k).astype(np.int64)
    return matrix, cats


def _weight_matrix(k: int, weights: str | None) -> FloatArray:
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    if weights is None:
        return (i != j).astype(np.float64)
    if weights == "linear":
        return np.abs(i - j).astype(np.float64)
    if weights == "quadratic":
        return ((i - j) ** 2).astype(np.float64)
    raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")


def cohen_kappa(
    a: ArrayLike,
    b: ArrayLike,
    *,
    weights: Literal["linear", "quadratic"] | None = None,
    labels: ArrayLike | None = None,
) -> float:
    """Cohen's kappa between two raters' labels of the same items (matches scikit-learn).

    ``weights="linear"`` or ``"quadratic"`` give weighted kappa for ordinal labels, where the order is
    that of ``labels`` (default: sorted). Two raters in perfect agreement get 1 even when they used a
    single category (where the textbook ratio is 0/0).

    >>> cohen_kappa([0, 1, 1, 0, 1], [0, 1, 0, 0, 1])
    0.6153846153846154
    """
    matrix, _ = confusion_matrix(a, b, labels=labels)
    k = matrix.shape[0]
    w = _weight_matrix(k, weights)
    m = matrix.astype(np.float64)
    expected = np.outer(m.sum(axis=1), m.sum(axis=0)) / m.sum()
    denom = float(np.sum(w * expected))
    observed = float(np.sum(w * m))
    if denom == 0.0:
        return 1.0 if observed == 0.0 else 0.0
    return 1.0 - observed / denom


def fleiss_kappa(table: ArrayLike) -> float:
    """Fleiss' kappa from an items × categories table of counts (each row sums to the raters per item).

    >>> round(fleiss_kappa([[0, 0, 3], [0, 3, 0], [1, 2, 0], [3, 0, 0]]), 4)
    0.7447
    """
    t = as_float_array(table, "table", ndim=2)
    if np.any(t < 0) or np.any(t != np.round(t)):
        raise ValueError("table must hold non-negative integer counts")
    raters = t.sum(axis=1)
    if np.any(raters != raters[0]) or raters[0] < 2:
        raise ValueError("table rows must all sum to the same number of raters (at least 2)")
    n_items, r = t.shape[0], float(raters[0])
    p_j = t.sum(axis=0) / (n_items * r)
    p_i = (np.sum(t * t, axis=1) - r) / (r * (r - 1))
    p_bar = float(p_i.mean())
    pe = float(np.sum(p_j**2))
    if pe == 1.0:
        return 1.0
    return (p_bar - pe) / (1.0 - pe)


def krippendorff_alpha(
    data: ArrayLike, *, level: Literal["nominal", "ordinal", "interval", "ratio"] = "nominal"
) -> float:
    """Krippendorff's alpha for a raters × items matrix of numeric codes, NaN marking a missing label.

    Handles any number of raters, missing labels, and nominal, ordinal, interval or ratio data
    (Krippendorff 2011, "Computing Krippendorff's alpha-reliability"). Items with fewer than two
    labels are ignored. Perfect agreement gives 1.

    >>> round(krippendorff_alpha([[1, 2, 3, 3], [1, 2, 3, 4]], level="interval"), 3)
    0.889
    """
    x = as_float_array(data, "data", ndim=2, allow_nan=True)
    observed = ~np.isnan(x)
    counts = observed.sum(axis=0)
    keep = counts >= 2
    x, observed, counts = x[:, keep], observed[:, keep], counts[keep]
    if x.shape[1] == 0:
        raise ValueError("data has no item with at least two labels")
    values = np.unique(x[observed])
    k = values.size
    codes = np.full(x.shape, -1, dtype=np.int64)
    codes[observed] = np.searchsorted(values, x[observed])
    # per item value counts n_uc, then the coincidence matrix o_ck = sum_u n_uc n_uk (minus diagonal) / (m_u - 1)
    n_uc = np.zeros((x.shape[1], k))
    item_idx = np.broadcast_to(np.arange(x.shape[1]), x.shape)[observed]
    np.add.at(n_uc, (item_idx, codes[observed]), 1.0)
    scale = 1.0 / (counts - 1.0)
    o = (n_uc * scale[:, None]).T @ n_uc
    o[np.diag_indices(k)] -= (n_uc * scale[:, None]).sum(axis=0)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if k == 1:
        return 1.0
    if level == "nominal":
        delta = 1.0 - np.eye(k)
    elif level == "interval":
        delta = np.subtract.outer(values, values) ** 2
    elif level == "ratio":
        s = np.add.outer(values, values)
        with np.errstate(divide="ignore", invalid="ignore"):
            delta = np.where(s == 0, 0.0, (np.subtract.outer(values, values) / s) ** 2)
    elif level == "ordinal":
        cum = np.cumsum(n_c)
        lo = np.minimum.outer(np.arange(k), np.arange(k))
        hi = np.maximum.outer(np.arange(k), np.arange(k))
        between = cum[hi] - np.where(lo > 0, cum[lo - 1], 0.0)
        delta = (between - (n_c[lo] + n_c[hi]) / 2.0) ** 2
    else:
        raise ValueError(f"level must be 'nominal', 'ordinal', 'interval' or 'ratio', got {level!r}")
    d_o = float(np.sum(o * delta))
    d_e = float(np.sum(np.outer(n_c, n_c) * delta)) / (float(n) - 1.0)
    if d_e == 0.0:
        return 1.0
    return float(1.0 - d_o / d_e)


@dataclass(frozen=True)
class Correlation:
    """A correlation coefficient with its confidence interval and two-sided p-value."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str
    n: int


def correlation(
    x: ArrayLike,
    y: ArrayLike,
    *,
    method: Literal["pearson", "spearman", "kendall"] = "pearson",
    confidence: float = 0.95,
) -> Correlation:
    """Pearson, Spearman or Kendall correlation with a Fisher-z interval and scipy's p-value.

    The interval's standard error is ``1/sqrt(n-3)`` for Pearson, Bonett & Wright's
    ``sqrt((1 + r^2/2)/(n-3))`` for Spearman and Fieller's ``sqrt(0.437/(n-4))`` for Kendall.

    >>> c = correlation([1, 2, 3, 4, 5], [2, 4, 5, 4, 5])
    >>> round(c.estimate, 3)
    0.775
    """
    from scipy import stats as ss
    from scipy.special import ndtri

    a = as_float_array(x, "x", min_size=3)
    b = as_float_array(y, "y", min_size=3)
    same_length(("x", a), ("y", b))
    conf = check_confidence(confidence)
    n = a.size
    if np.ptp(a) == 0.0 or np.ptp(b) == 0.0:
        raise ValueError("x and y must both vary: the correlation of a constant is undefined")
    if method == "pearson":
        res = ss.pearsonr(a, b)
        r, p = float(res.statistic), float(res.pvalue)
        se = 1.0 / math.sqrt(n - 3) if n > 3 else math.inf
    elif method == "spearman":
        res = ss.spearmanr(a, b)
        r, p = float(res.statistic), float(res.pvalue)
        se = math.sqrt((1 + r * r / 2) / (n - 3)) if n > 3 else math.inf
    elif method == "kendall":
        res = ss.kendalltau(a, b)
        r, p = float(res.statistic), float(res.pvalue)
        se = math.sqrt(0.437 / (n - 4)) if n > 4 else math.inf
    else:
        raise ValueError(f"method must be 'pearson', 'spearman' or 'kendall', got {method!r}")
    if abs(r) >= 1.0 or math.isinf(se):
        low, high = (r, r) if abs(r) >= 1.0 else (-1.0, 1.0)
    else:
        z = math.atanh(r)
        half = float(ndtri(0.5 + conf / 2)) * se
        low, high = math.tanh(z - half), math.tanh(z + half)
    return Correlation(r, low, high, p, method, n)


def icc(ratings: ArrayLike, *, kind: Literal["agreement", "consistency", "oneway"] = "agreement") -> float:
    """Intraclass correlation of an items × raters matrix (single-rater form, Shrout & Fleiss 1979).

    ``"agreement"`` is ICC(2,1) (two-way random, absolute agreement: a scorer that shifts every score
    is penalised), ``"consistency"`` is ICC(3,1) (only the ranking matters), ``"oneway"`` is ICC(1,1).

    >>> round(icc([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]), 2)
    0.29
    """
    x = as_float_array(ratings, "ratings", ndim=2)
    n, k = x.shape
    if n < 2 or k < 2:
        raise ValueError(f"ratings needs at least 2 items and 2 raters, got shape {x.shape}")
    grand = x.mean()
    ss_rows = k * float(np.sum((x.mean(axis=1) - grand) ** 2))
    ss_cols = n * float(np.sum((x.mean(axis=0) - grand) ** 2))
    ss_total = float(np.sum((x - grand) ** 2))
    ss_err = ss_total - ss_rows - ss_cols
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    msw = (ss_cols + ss_err) / (n * (k - 1))
    if kind == "agreement":
        denom = msr + (k - 1) * mse + k * (msc - mse) / n
        num = msr - mse
    elif kind == "consistency":
        denom = msr + (k - 1) * mse
        num = msr - mse
    elif kind == "oneway":
        denom = msr + (k - 1) * msw
        num = msr - msw
    else:
        raise ValueError(f"kind must be 'agreement', 'consistency' or 'oneway', got {kind!r}")
    if denom <= 0.0:
        # no variation at all: identical ratings everywhere agree perfectly
        return 1.0 if ss_total == 0.0 else 0.0
    return num / denom


@dataclass(frozen=True)
class TestRetest:
    """Consistency of a scorer run twice on the same items."""

    __test__ = False  # not a pytest test class

    icc: float
    exact_agreement: float
    n: int
    n_changed: int


def test_retest(first: ArrayLike, second: ArrayLike) -> TestRetest:
    """ICC(2,1) and exact agreement between two runs of the same scorer on the same items.

    A judge that changes its verdict on rerun cannot be trusted to detect small regressions;
    ``n_changed`` counts the items whose score differs.

    >>> r = test_retest([1, 0, 1, 1, 0, 1], [1, 0, 1, 0, 0, 1])
    >>> round(r.exact_agreement, 3), r.n_changed
    (0.833, 1)
    """
    a = as_float_array(first, "first", min_size=2)
    b = as_float_array(second, "second", min_size=2)
    same_length(("first", a), ("second", b))
    same = a == b
    return TestRetest(
        icc=icc(np.column_stack([a, b]), kind="agreement"),
        exact_agreement=float(same.mean()),
        n=a.size,
        n_changed=int((~same).sum()),
    )


test_retest.__test__ = False  # type: ignore[attr-defined]
