"""Agreement: scikit-learn, Krippendorff (2011), Fleiss (1971) and Shrout & Fleiss (1979) reference values."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as ss
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from assay import stats

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: 4 observers x 12 units.
KRIPPENDORFF_DATA = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


@pytest.mark.parametrize(
    ("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_krippendorff_alpha_matches_the_paper(level: str, expected: float) -> None:
    assert round(stats.krippendorff_alpha(KRIPPENDORFF_DATA, level=level), 3) == expected  # type: ignore[arg-type]


def test_krippendorff_alpha_two_raters_nominal_equals_scotts_pi_correction() -> None:
    # for two raters, no missing data, nominal alpha = Scott's pi * (1 - 1/(2n)) + 1/(2n) (Krippendorff 2011)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, size=40)
    b = np.where(rng.random(40) < 0.7, a, rng.integers(0, 3, size=40))
    n = a.size
    po = np.mean(a == b)
    pooled = np.bincount(np.r_[a, b], minlength=3) / (2 * n)
    pe = np.sum(pooled**2)
    pi = (po - pe) / (1 - pe)
    expected = 1 - (1 - pi) * (2 * n - 1) / (2 * n)
    assert stats.krippendorff_alpha([a, b]) == pytest.approx(expected)


def test_fleiss_kappa_wikipedia_example() -> None:
    # Fleiss (1971) style example from Wikipedia: 10 subjects, 14 raters, 5 categories; kappa = 0.210
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert stats.fleiss_kappa(table) == pytest.approx(0.20993, abs=1e-5)  # statsmodels: 0.2099307


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_sklearn(weights: str | None) -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 5, size=200)
    b = np.clip(a + rng.integers(-1, 2, size=200), 0, 4)
    assert stats.cohen_kappa(a, b, weights=weights) == pytest.approx(cohen_kappa_score(a, b, weights=weights))  # type: ignore[arg-type]


def test_cohen_kappa_string_labels_and_explicit_order() -> None:
    a = ["bad", "ok", "good", "ok", "good", "bad"]
    b = ["ok", "ok", "good", "bad", "good", "bad"]
    order = ["bad", "ok", "good"]
    assert stats.cohen_kappa(a, b, weights="linear", labels=order) == pytest.approx(
        cohen_kappa_score(a, b, weights="linear", labels=order)
    )


def test_confusion_matrix_matches_sklearn() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 4, size=100), rng.integers(0, 4, size=100)
    m, labels = stats.confusion_matrix(a, b)
    np.testing.assert_array_equal(m, sk_confusion_matrix(a, b))
    assert labels.tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="not in labels"):
        stats.confusion_matrix(a, b, labels=[0, 1])


def test_icc_shrout_fleiss_example() -> None:
    # Shrout & Fleiss (1979), Table 2: ICC(1,1) = .17, ICC(2,1) = .29, ICC(3,1) = .71
    ratings = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    assert round(stats.icc(ratings, kind="oneway"), 2) == 0.17
    assert round(stats.icc(ratings, kind="agreement"), 2) == 0.29
    assert round(stats.icc(ratings, kind="consistency"), 2) == 0.71


def test_test_retest_of_a_scorer() -> None:
    rng = np.random.default_rng(3)
    first = rng.random(500)
    second = first + rng.normal(0, 0.05, size=500)
    r = stats.test_retest(first, second)
    assert r.icc > 0.9 and r.n == 500 and r.n_changed == 500
    shifted = stats.test_retest(first, first + 0.3)  # a systematic shift is not agreement
    assert shifted.icc < stats.icc(np.column_stack([first, first + 0.3]), kind="consistency")
    same = stats.test_retest([1, 0, 1], [1, 0, 1])
    assert same.exact_agreement == 1.0 and same.icc == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_correlation_matches_scipy(method: str) -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=80)
    y = 0.5 * x + rng.normal(size=80)
    ref = {"pearson": ss.pearsonr, "spearman": ss.spearmanr, "kendall": ss.kendalltau}[method](x, y)
    c = stats.correlation(x, y, method=method)  # type: ignore[arg-type]
    assert c.estimate == pytest.approx(ref.statistic)
    assert c.p_value == pytest.approx(ref.pvalue)
    assert c.ci_low < c.estimate < c.ci_high
    if method == "pearson":
        ci = ref.confidence_interval(0.95)  # scipy uses the same Fisher transformation
        assert (c.ci_low, c.ci_high) == pytest.approx((ci.low, ci.high))


@pytest.mark.slow
def test_pearson_interval_coverage() -> None:
    rng = np.random.default_rng(5)
    cov = np.array([[1.0, 0.6], [0.6, 1.0]])
    covered = 0
    for _ in range(2000):
        xy = rng.multivariate_normal([0, 0], cov, size=60)
        c = stats.correlation(xy[:, 0], xy[:, 1])
        covered += c.ci_low <= 0.6 <= c.ci_high
    assert 0.935 <= covered / 2000 <= 0.965


labels = st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=50)


@settings(max_examples=100, deadline=None)
@given(labels)
def test_identical_raters_have_kappa_and_alpha_one(a: list[int]) -> None:
    assert stats.cohen_kappa(a, a) == 1.0
    for weights in ("linear", "quadratic"):
        assert stats.cohen_kappa(a, a, weights=weights) == 1.0  # type: ignore[arg-type]
    assert stats.krippendorff_alpha([a, a, a]) == pytest.approx(1.0)
    table = np.zeros((len(a), 5))
    table[np.arange(len(a)), a] = 3
    assert stats.fleiss_kappa(table) == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(labels, st.data())
def test_kappa_is_at_most_one(a: list[int], data: st.DataObject) -> None:
    b = data.draw(st.lists(st.integers(min_value=0, max_value=4), min_size=len(a), max_size=len(a)))
    assert -1.0 <= stats.cohen_kappa(a, b) <= 1.0


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: stats.cohen_kappa([], []), "a"),
        (lambda: stats.cohen_kappa([1, 2], [1]), "same length"),
        (lambda: stats.cohen_kappa([1.0, float("nan")], [1.0, 2.0]), "a contains NaN"),
        (lambda: stats.cohen_kappa(["x", None], ["x", "y"]), "a contains a missing label"),
        (lambda: stats.cohen_kappa([1, 2], [1, 2], weights="cubic"), "weights"),  # type: ignore[arg-type]
        (lambda: stats.fleiss_kappa([[1, 2], [3, 1]]), "same number of raters"),
        (lambda: stats.fleiss_kappa([]), "table"),
        (lambda: stats.krippendorff_alpha([[1, NAN], [NAN, 2]]), "at least two labels"),
        (lambda: stats.krippendorff_alpha([[1, 2], [1, 2]], level="bogus"), "level"),  # type: ignore[arg-type]
        (lambda: stats.krippendorff_alpha([[1, np.inf], [1, 2]]), "data contains an infinite"),
        (lambda: stats.correlation([1, 2, 3], [1, 1, 1]), "vary"),
        (lambda: stats.correlation([1, 2], [1, 2]), "x"),
        (lambda: stats.icc([[1, 2]]), "ratings"),
        (lambda: stats.test_retest([1.0, 2.0], [1.0, float("nan")]), "second contains NaN"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call: object, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()  # type: ignore[operator]
