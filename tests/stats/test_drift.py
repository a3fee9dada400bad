"""Drift: scipy references, hand-computed PSI, MMD power and null calibration."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as ss
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from assay import stats


def test_psi_numeric_matches_hand_computation() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=5000)
    cur = rng.normal(0.3, 1.2, size=3000)
    edges = np.quantile(ref, np.linspace(0, 1, 11)[1:-1])
    p = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=10) / ref.size
    q = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=10) / cur.size
    assert stats.psi(ref, cur) == pytest.approx(np.sum((q - p) * np.log(q / p)))
    assert stats.psi(ref, cur) > 0.1


def test_psi_values_beyond_the_reference_range_are_counted() -> None:
    ref = np.linspace(0, 1, 1000)
    shifted = np.linspace(5, 6, 1000)  # entirely outside the reference range: lands in the top bin
    assert stats.psi(ref, shifted) > 2.0


def test_psi_unseen_categories_are_safe() -> None:
    value = stats.psi(["a"] * 50 + ["b"] * 50, ["a"] * 40 + ["b"] * 40 + ["new"] * 20)
    p = np.array([0.5, 0.5, 1e-4])
    q = np.array([0.4, 0.4, 0.2])
    assert value == pytest.approx(np.sum((q - p) * np.log(q / p)))


def test_js_distance_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    ref = rng.choice(["x", "y", "z"], p=[0.5, 0.3, 0.2], size=1000)
    cur = rng.choice(["x", "y", "z", "w"], p=[0.3, 0.3, 0.2, 0.2], size=1000)
    p = np.array([np.mean(ref == c) for c in ["w", "x", "y", "z"]])
    q = np.array([np.mean(cur == c) for c in ["w", "x", "y", "z"]])
    assert stats.js_distance(ref, cur) == pytest.approx(jensenshannon(p, q, base=2))
    assert 0.0 <= stats.js_distance(rng.normal(size=100), rng.normal(3, 1, size=100)) <= 1.0


def test_ks_2samp_matches_scipy() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=300), rng.normal(0.2, 1, size=400)
    ref = ss.ks_2samp(a, b)
    r = stats.ks_2samp(a, b)
    assert (r.statistic, r.p_value) == pytest.approx((ref.statistic, ref.pvalue))


def test_chi_square_matches_scipy() -> None:
    ref = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    cur = ["a"] * 30 + ["b"] * 30 + ["c"] * 30 + ["d"] * 10
    expected = ss.chi2_contingency([[50, 30, 20, 0], [30, 30, 30, 10]], correction=False)
    r = stats.chi_square(ref, cur)
    assert (r.statistic, r.p_value) == pytest.approx((expected.statistic, expected.pvalue))


def test_mmd_detects_a_shift_in_embeddings() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(200, 16))
    cur = rng.normal(size=(200, 16))
    cur[:, 0] += 0.8  # drift in one direction of a 16-d embedding
    assert stats.mmd_test(ref, cur, n_permutations=200).p_value < 0.01


def test_mmd_unbiased_statistic_matches_direct_formula() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(30, 3)), rng.normal(0.5, 1, size=(25, 3))
    z = np.vstack([x, y])
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    h2 = np.median(d2[np.triu_indices(55, 1)])
    k = np.exp(-d2 / h2)
    kxx, kyy, kxy = k[:30, :30], k[30:, 30:], k[:30, 30:]
    mmd2 = (kxx.sum() - 30) / (30 * 29) + (kyy.sum() - 25) / (25 * 24) - 2 * kxy.mean()
    assert stats.mmd_test(x, y, n_permutations=10).statistic == pytest.approx(mmd2)


def test_mmd_type_one_error_under_the_null() -> None:
    rng = np.random.default_rng(5)
    rejections = sum(
        stats.mmd_test(rng.normal(size=(40, 4)), rng.normal(size=(40, 4)), n_permutations=99, seed=i).p_value
        <= 0.05
        for i in range(300)
    )
    assert rejections / 300 <= 0.05 + 0.03


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=200), st.integers(2, 20))
def test_psi_of_a_sample_with_itself_is_zero(values: list[float], bins: int) -> None:
    assert stats.psi(values, values, bins=bins) == 0.0
    assert stats.js_distance(values, values, bins=bins) == 0.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=100))
def test_psi_of_categories_with_themselves_is_zero(values: list[str]) -> None:
    assert stats.psi(values, values) == 0.0


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: stats.psi([], [1.0]), "reference"),
        (lambda: stats.psi([1.0], [float("nan")]), "current contains NaN"),
        (lambda: stats.psi([1.0], [1.0], bins=1), "bins"),
        (lambda: stats.psi(["a", None], ["a"]), "reference contains a missing label"),
        (lambda: stats.ks_2samp([1.0], []), "current"),
        (lambda: stats.mmd_test(np.zeros((5, 2)), np.zeros((5, 3))), "same dimension"),
        (
            lambda: stats.mmd_test([[1.0, float("nan")], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]),
            "reference contains NaN",
        ),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call: object, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()  # type: ignore[operator]
