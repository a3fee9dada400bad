"""Drift between a reference sample and a current one: are live inputs or scores still like the baseline?

Univariate: PSI (the industry's population stability index, with safe handling of unseen categories and
of values beyond the reference range), two-sample Kolmogorov–Smirnov, chi-square for categories and the
Jensen–Shannon distance. Multivariate (embeddings): a kernel MMD test with a permutation p-value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.stats._validation import FloatArray, as_float_array, as_labels, check_count

__all__ = ["DriftTest", "chi_square", "js_distance", "ks_2samp", "mmd_test", "psi"]


@dataclass(frozen=True)
class DriftTest:
    """A two-sample test result: ``statistic`` and ``p_value`` (small means the samples differ)."""

    statistic: float
    p_value: float
    test: str


def _is_categorical(arr: NDArray[Any], categorical: bool | None) -> bool:
    if categorical is not None:
        return categorical
    return arr.dtype.kind in "OUSb"


def _histograms(
    reference: ArrayLike, current: ArrayLike, bins: int, categorical: bool | None
) -> tuple[FloatArray, FloatArray]:
    """Counts of reference and current over shared bins (reference deciles, or the union of categories)."""
    ref_raw, cur_raw = np.asarray(reference), np.asarray(current)
    if _is_categorical(ref_raw, categorical) or _is_categorical(cur_raw, categorical):
        ref = as_labels(ref_raw, "reference").astype(str)
        cur = as_labels(cur_raw, "current").astype(str)
        cats, codes = np.unique(np.concatenate([ref, cur]), return_inverse=True)
        codes = codes.reshape(-1)
        k = cats.size
        return (
            np.bincount(codes[: ref.size], minlength=k).astype(np.float64),
            np.bincount(codes[ref.size :], minlength=k).astype(np.float64),
        )
    r = as_float_array(ref_raw, "reference")
    c = as_float_array(cur_raw, "current")
    b = check_count(bins, "bins", minimum=2)
    # inner edges at reference quantiles; the outer bins are open so unseen extremes still count
    inner = np.unique(np.quantile(r, np.linspace(0.0, 1.0, b + 1)[1:-1]))
    k = inner.size + 1
    return (
        np.bincount(np.searchsorted(inner, r, side="right"), minlength=k).astype(np.float64),
        np.bincount(np.searchsorted(inner, c, side="right"), minlength=k).astype(np.float64),
    )


def psi(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    bins: int = 10,
    categorical: bool | None = None,
    epsilon: float = 1e-4,
) -> float:
    """Population stability index ``sum((c - r) * ln(c / r))`` over shared bins.

    Numeric data is cut at the reference's quantiles (``bins`` equal-mass bins, the outer ones open
    ended); strings/booleans (or ``categorical=True``) use one bin per category seen in either sample.
    Empty bins — a category that never occurred in the reference, say — get proportion ``epsilon``
    instead of 0 so the index stays finite. Rule of thumb: < 0.1 stable, 0.1–0.25 moderate, > 0.25
    large shift.

    >>> psi([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    0.0
    >>> round(psi(["a", "a", "b", "b"], ["a", "b", "c", "c"]), 2)
    4.6
    """
    ref_counts, cur_counts = _histograms(reference, current, bins, categorical)
    eps = float(epsilon)
    if not 0.0 < eps < 1.0:
        raise ValueError(f"epsilon must be between 0 and 1, got {epsilon!r}")
    p = np.maximum(ref_counts / ref_counts.sum(), eps)
    q = np.maximum(cur_counts / cur_counts.sum(), eps)
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(
    reference: ArrayLike, current: ArrayLike, *, bins: int = 10, categorical: bool | None = None
) -> float:
    """Jensen–Shannon distance (base 2, in [0, 1]) between the binned distributions (bins as :func:`psi`).

    Symmetric and always finite, unlike PSI or KL divergence.

    >>> js_distance(["a", "a", "b"], ["a", "a", "b"])
    0.0
    """
    ref_counts, cur_counts = _histograms(reference, current, bins, categorical)
    p = ref_counts / ref_counts.sum()
    q = cur_counts / cur_counts.sum()
    m = 0.5 * (p + q)

    def kl(a: FloatArray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return math.sqrt(max(0.0, 0.5 * kl(p) + 0.5 * kl(q)))


def ks_2samp(reference: ArrayLike, current: ArrayLike) -> DriftTest:
    """Two-sample Kolmogorov–Smirnov test for a numeric feature (``scipy.stats.ks_2samp``).

    >>> r = ks_2samp([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0])
    >>> r.statistic, r.p_value
    (0.0, 1.0)
    """
    from scipy import stats as ss

    r = as_float_array(reference, "reference")
    c = as_float_array(current, "current")
    res = ss.ks_2samp(r, c)
    return DriftTest(float(res.statistic), float(res.pvalue), "ks_2samp")


def chi_square(reference: ArrayLike, current: ArrayLike) -> DriftTest:
    """Chi-square test of homogeneity for a categorical feature (2 × categories contingency table).

    >>> chi_square(["a", "b"] * 50, ["a", "b"] * 50).p_value
    1.0
    """
    from scipy.stats import chi2_contingency

    ref_counts, cur_counts = _histograms(reference, current, 2, True)
    table = np.vstack([ref_counts, cur_counts])
    if table.shape[1] < 2:
        return DriftTest(0.0, 1.0, "chi_square")
    res = chi2_contingency(table, correction=False)
    return DriftTest(float(res.statistic), float(res.pvalue), "chi_square")


def _as_points(x: ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(x, dtype=np.float64) if not isinstance(x, np.ndarray) else x.astype(np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    return as_float_array(arr, name, ndim=2)


def mmd_test(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    n_permutations: int = 500,
    bandwidth: float | None = None,
    max_samples: int = 1000,
    seed: int | None = 0,
) -> DriftTest:
    """Kernel two-sample test (maximum mean discrepancy) for multivariate data such as embeddings.

    Gaussian kernel with the median-distance bandwidth unless ``bandwidth`` is given; ``statistic`` is
    the unbiased MMD² (Gretton et al. 2012) and the p-value comes from ``n_permutations`` random
    relabellings. Each sample is randomly subsampled to ``max_samples`` rows to bound the
    ``O(n^2)`` kernel matrix.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> mmd_test(rng.normal(size=(100, 5)), rng.normal(size=(100, 5)) + 1.0).p_value < 0.01
    True
    """
    x = _as_points(reference, "reference")
    y = _as_points(current, "current")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"reference and current must have the same dimension ({x.shape[1]} != {y.shape[1]})")
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError("reference and current need at least two rows each")
    p_count = check_count(n_permutations, "n_permutations", minimum=1)
    cap = check_count(max_samples, "max_samples", minimum=2)
    rng = np.random.default_rng(seed)
    if x.shape[0] > cap:
        x = x[rng.choice(x.shape[0], cap, replace=False)]
    if y.shape[0] > cap:
        y = y[rng.choice(y.shape[0], cap, replace=False)]
    z = np.vstack([x, y])
    n, m = x.shape[0], y.shape[0]
    sq = np.sum(z * z, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0)
    if bandwidth is None:
        off = d2[np.triu_indices_from(d2, k=1)]
        positive = off[off > 0]
        h2 = float(np.median(positive)) if positive.size else 1.0
    else:
        h = float(bandwidth)
        if not (h > 0 and math.isfinite(h)):
            raise ValueError(f"bandwidth must be a positive number, got {bandwidth!r}")
        h2 = h * h
    kern = np.exp(-d2 / h2)
    total = float(kern.sum())
    row = kern.sum(axis=1)
    trace = float(np.trace(kern))

    def stat(mask: NDArray[np.float64]) -> NDArray[np.float64]:
        """Unbiased MMD² for each row of the 0/1 membership matrix ``mask`` (1 = first sample)."""
        kxx = np.einsum("ij,ij->i", mask @ kern, mask)
        diag_x = mask @ np.diag(kern)
        kxy = mask @ row - kxx
        kyy = total - 2.0 * (mask @ row) + kxx
        diag_y = trace - diag_x
        return (kxx - diag_x) / (n * (n - 1)) + (kyy - diag_y) / (m * (m - 1)) - 2.0 * kxy / (n * m)

    observed_mask = np.zeros((1, n + m))
    observed_mask[0, :n] = 1.0
    observed = float(stat(observed_mask)[0])
    exceed = 0
    done = 0
    chunk = max(1, (1 << 22) // ((n + m) * (n + m)) * 8)
    while done < p_count:
        rows = min(chunk, p_count - done)
        perms = np.argsort(rng.random((rows, n + m)), axis=1)
        masks = (perms < n).astype(np.float64)
        exceed += int(np.count_nonzero(stat(masks) >= observed - 1e-12))
        done += rows
    return DriftTest(observed, (1.0 + exceed) / (p_count + 1.0), "mmd")
