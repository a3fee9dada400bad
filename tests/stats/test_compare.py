"""Comparisons: reference implementations, published examples, type-I error under the null."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats as ss
from hypothesis import given, settings
from hypothesis import strategies as st

from assay import stats
from assay.stats.compare import _signed_rank_quantile


def test_comparison_has_the_contract_attributes() -> None:
    c = stats.paired_bootstrap([1.0, 2.0, 3.0, 4.0], [1.0, 1.5, 2.0, 2.5])
    for attr in ("difference", "ci_low", "ci_high", "p_value", "test"):
        assert hasattr(c, attr)
    assert c.test == "paired_bootstrap"
    assert c.difference == pytest.approx(0.75)
    assert c.ci_low <= c.difference <= c.ci_high


def test_paired_bootstrap_ci_matches_bootstrap_of_differences() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0.7, 0.2, size=300)
    b = a - 0.05 + rng.normal(0, 0.1, size=300)
    c = stats.paired_bootstrap(a, b, seed=3)
    assert (c.ci_low, c.ci_high) == stats.bootstrap_ci(a - b, seed=3)
    assert c.p_value < 0.001
    assert c.significant


def test_paired_bootstrap_handles_clusters() -> None:
    rng = np.random.default_rng(1)
    clusters = np.repeat(np.arange(40), 5)
    d = rng.normal(size=40)[clusters] + 0.2 * rng.normal(size=200)
    naive = stats.paired_bootstrap(d, np.zeros(200))
    clustered = stats.paired_bootstrap(d, np.zeros(200), clusters=clusters)
    assert clustered.ci_high - clustered.ci_low > 1.5 * (naive.ci_high - naive.ci_low)


def test_paired_permutation_exact_matches_scipy() -> None:
    rng = np.random.default_rng(4)
    a = rng.normal(size=12)
    b = a + rng.normal(0.4, 1.0, size=12)
    ref = ss.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        n_resamples=math.inf,
        alternative="two-sided",
    )
    assert stats.paired_permutation(a, b).p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_paired_permutation_monte_carlo_close_to_exact() -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(size=40)
    b = a + rng.normal(0.3, 1.0, size=40)
    ref = ss.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        n_resamples=100_000,
        random_state=0,
    )
    assert stats.paired_permutation(a, b, n_resamples=20_000).p_value == pytest.approx(ref.pvalue, abs=0.01)


def test_paired_t_matches_scipy() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=30), rng.normal(0.3, 1, size=30)
    ref = ss.ttest_rel(a, b)
    ci = ref.confidence_interval(0.9)
    c = stats.paired_t(a, b, confidence=0.9)
    assert c.p_value == pytest.approx(ref.pvalue)
    assert (c.ci_low, c.ci_high) == pytest.approx((ci.low, ci.high))


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(0, 1, size=25), rng.normal(0.5, 3, size=60)
    ref = ss.ttest_ind(a, b, equal_var=False)
    ci = ref.confidence_interval(0.95)
    c = stats.welch(a, b)
    assert c.p_value == pytest.approx(ref.pvalue)
    assert (c.ci_low, c.ci_high) == pytest.approx((ci.low, ci.high))
    assert c.difference == pytest.approx(a.mean() - b.mean())


def test_mcnemar_fagerland_example() -> None:
    # Fagerland, Lydersen & Laake (2013), BMC Med Res Methodol 13:91: n10 = 1, n01 = 7 discordant pairs.
    # Published: exact conditional p = 0.070, mid-p = 0.039.
    a = np.array([1] * 1 + [0] * 7 + [1] * 2 + [0] * 11, dtype=bool)
    b = np.array([0] * 1 + [1] * 7 + [1] * 2 + [0] * 11, dtype=bool)
    exact = stats.mcnemar(a, b, mid_p=False)
    midp = stats.mcnemar(a, b)
    assert round(exact.p_value, 3) == 0.070
    assert round(midp.p_value, 3) == 0.039
    assert exact.p_value == pytest.approx(ss.binomtest(1, 8, 0.5).pvalue)
    assert midp.difference == pytest.approx((1 - 7) / 21)
    assert midp.ci_low <= midp.difference <= midp.ci_high


def test_mcnemar_agresti_example_matches_binomial_test() -> None:
    # Agresti, Categorical Data Analysis: presidential approval, 794 / 150 / 86 / 570.
    a = np.r_[np.ones(794 + 150), np.zeros(86 + 570)].astype(bool)
    b = np.r_[np.ones(794), np.zeros(150), np.ones(86), np.zeros(570)].astype(bool)
    c = stats.mcnemar(a, b, mid_p=False)
    assert c.p_value == pytest.approx(ss.binomtest(86, 236, 0.5).pvalue)
    assert c.difference == pytest.approx((150 - 86) / 1600)
    # Agresti reports the Wald interval 0.04 +/- 1.96 * 0.0095 = (0.021, 0.059); with 236 discordant
    # pairs Newcombe's score interval agrees with it to about three decimals
    assert c.ci_low == pytest.approx(0.021, abs=0.002)
    assert c.ci_high == pytest.approx(0.059, abs=0.002)


def _walsh(d: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(d.size)
    return np.sort((d[i] + d[j]) / 2)


def _signed_rank_cdf_brute(n: int) -> np.ndarray:
    sums = [
        sum(r for r, s in zip(range(1, n + 1), signs, strict=True) if s)
        for signs in itertools.product([0, 1], repeat=n)
    ]
    counts = np.bincount(sums, minlength=n * (n + 1) // 2 + 1)
    return np.cumsum(counts) / 2**n


def test_signed_rank_quantile_matches_enumeration() -> None:
    for n in (5, 9, 12):
        cdf = _signed_rank_cdf_brute(n)
        q = _signed_rank_quantile(n, 0.025)
        assert cdf[q] >= 0.025 and (q == 0 or cdf[q - 1] < 0.025)


def test_wilcoxon_hollander_wolfe_example() -> None:
    # Hollander & Wolfe depression data (R's ?wilcox.test example): V = 40, p = 0.03906,
    # pseudo-median 0.46 with 95% CI (0.010, 0.786) from wilcox.test(x, y, paired = TRUE, conf.int = TRUE)
    x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    c = stats.wilcoxon(x, y)
    assert c.p_value == pytest.approx(0.0390625)
    assert c.difference == pytest.approx(0.46)
    assert (c.ci_low, c.ci_high) == pytest.approx((0.010, 0.786), abs=1e-9)


@pytest.mark.parametrize("n", [7, 30, 80, 3000])
def test_wilcoxon_estimate_and_ci_match_brute_force(n: int) -> None:
    rng = np.random.default_rng(n)
    a, b = rng.normal(size=n), rng.normal(0.2, 1, size=n)
    d = a - b
    walsh = _walsh(d)
    c = stats.wilcoxon(a, b)
    assert c.difference == pytest.approx(np.median(walsh))
    q = max(1, _signed_rank_quantile(n, 0.025))
    assert (c.ci_low, c.ci_high) == pytest.approx((walsh[q - 1], walsh[walsh.size - q]))
    assert c.p_value == pytest.approx(ss.wilcoxon(a, b).pvalue)


@pytest.mark.parametrize(("n", "m"), [(23, 31), (2100, 2000)])
def test_mann_whitney_matches_scipy_and_brute_force(n: int, m: int) -> None:
    rng = np.random.default_rng(8)
    a, b = rng.normal(0.5, 1, size=n), rng.normal(0, 1, size=m)
    c = stats.mann_whitney(a, b)
    assert c.p_value == pytest.approx(ss.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    diffs = np.sort(np.subtract.outer(a, b).ravel())
    assert c.difference == pytest.approx(np.median(diffs))
    assert c.ci_low < c.difference < c.ci_high
    # the interval endpoints are order statistics of the pairwise differences
    assert np.min(np.abs(diffs - c.ci_low)) < 1e-12 and np.min(np.abs(diffs - c.ci_high)) < 1e-12


def test_cohens_dz() -> None:
    a, b = np.array([3.0, 4.0, 5.0, 6.0]), np.array([1.0, 1.0, 2.0, 2.0])
    d = a - b
    assert stats.cohens_dz(a, b) == pytest.approx(d.mean() / d.std(ddof=1))
    assert stats.cohens_dz(a, a) == 0.0
    with pytest.raises(ValueError, match="constant"):
        stats.cohens_dz(a, a - 1)


def test_holm_and_bh_match_statsmodels_values() -> None:
    p = [0.01, 0.04, 0.03, 0.005, 0.2, 0.5]
    # statsmodels.stats.multitest.multipletests(p, method="holm" / "fdr_bh")[1]
    np.testing.assert_allclose(stats.holm(p), [0.05, 0.12, 0.12, 0.03, 0.4, 0.5])
    np.testing.assert_allclose(stats.bh(p), [0.03, 0.06, 0.06, 0.03, 0.24, 0.5])


def test_bh_matches_scipy_false_discovery_control() -> None:
    p = np.random.default_rng(0).uniform(size=50) ** 2
    np.testing.assert_allclose(stats.bh(p), ss.false_discovery_control(p))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=30))
def test_adjusted_pvalues_are_valid(p: list[float]) -> None:
    for adj in (stats.holm(p), stats.bh(p)):
        assert np.all(adj >= np.asarray(p) - 1e-15)
        assert np.all(adj <= 1.0)
    assert np.all(stats.bh(p) <= stats.holm(p) + 1e-15)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(min_value=-100, max_value=100), min_size=2, max_size=40), st.data())
def test_paired_intervals_contain_estimate(a: list[float], data: st.DataObject) -> None:
    b = data.draw(st.lists(st.floats(min_value=-100, max_value=100), min_size=len(a), max_size=len(a)))
    for c in (
        stats.paired_bootstrap(a, b, n_resamples=200),
        stats.wilcoxon(a, b),
        stats.paired_permutation(a, b, n_resamples=100),
    ):
        assert c.ci_low <= c.difference <= c.ci_high
        assert 0.0 <= c.p_value <= 1.0


def _null_pairs(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    case = rng.normal(size=n)  # shared case difficulty; no system effect
    return case + rng.normal(size=n), case + rng.normal(size=n)


@pytest.mark.slow
def test_paired_tests_type_one_error_under_the_null() -> None:
    rng = np.random.default_rng(2024)
    sims, alpha = 2000, 0.05
    rejections = dict.fromkeys(("bootstrap", "permutation", "t", "wilcoxon", "mcnemar"), 0)
    for i in range(sims):
        a, b = _null_pairs(rng, 50)
        rejections["bootstrap"] += stats.paired_bootstrap(a, b, n_resamples=1000, seed=i).p_value < alpha
        rejections["permutation"] += stats.paired_permutation(a, b, n_resamples=1000, seed=i).p_value < alpha
        rejections["t"] += stats.paired_t(a, b).p_value < alpha
        if i % 2 == 0:  # scipy's wilcoxon is the slow one: 1,000 simulations (rate scaled below)
            rejections["wilcoxon"] += 2 * (stats.wilcoxon(a, b).p_value < alpha)
        pa = rng.random(200) < 0.7
        pb = np.where(rng.random(200) < 0.6, pa, rng.random(200) < 0.7)  # correlated, same marginal
        rejections["mcnemar"] += stats.mcnemar(pa, pb).p_value < alpha
    for name, count in rejections.items():
        assert count / sims <= alpha + 0.015, (name, count / sims)


@pytest.mark.slow
def test_mcnemar_difference_interval_coverage() -> None:
    rng = np.random.default_rng(77)
    covered = 0
    for _ in range(2000):
        pa = rng.random(150) < 0.7
        pb = np.where(rng.random(150) < 0.5, pa, rng.random(150) < 0.6)
        # true difference: P(a) - P(b) = 0.7 - (0.5 * 0.7 + 0.5 * 0.6) = 0.05
        c = stats.mcnemar(pa, pb)
        covered += c.ci_low <= 0.05 <= c.ci_high
    assert 0.935 <= covered / 2000 <= 0.965


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: stats.paired_bootstrap([1.0, 2.0], [1.0]), "same length"),
        (lambda: stats.paired_bootstrap([], []), "a"),
        (lambda: stats.paired_bootstrap([1.0, 2.0], [1.0, float("nan")]), "b contains NaN"),
        (lambda: stats.mcnemar([1, 2], [0, 1]), "a must be boolean"),
        (lambda: stats.mcnemar([True], []), "b"),
        (lambda: stats.holm([0.5, 1.5]), "pvalues"),
        (lambda: stats.bh([]), "pvalues"),
        (lambda: stats.welch([1.0], [1.0, 2.0]), "a"),
        (lambda: stats.wilcoxon([1.0, float("nan")], [1.0, 2.0]), "a contains NaN"),
        (lambda: stats.mann_whitney([1.0], []), "b"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call: object, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()  # type: ignore[operator]
