"""Intervals: reference values (scipy, Newcombe 1998), coverage simulations, properties, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as ss
from hypothesis import given, settings
from hypothesis import strategies as st

from assay import stats
from assay.stats.intervals import _jackknife, _loo_median

# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Stat Med 17:857, Table II.
NEWCOMBE = [
    # (successes, n, wilson low, wilson high, clopper-pearson low, clopper-pearson high)
    (81, 263, 0.2553, 0.3662, 0.2527, 0.3676),
    (15, 148, 0.0624, 0.1605, 0.0578, 0.1617),
    (0, 20, 0.0, 0.1611, 0.0, 0.1684),
    (1, 29, 0.0061, 0.1718, 0.0009, 0.1776),
]


@pytest.mark.parametrize(("k", "n", "wl", "wh", "cl", "ch"), NEWCOMBE)
def test_proportion_intervals_match_newcombe_table(
    k: int, n: int, wl: float, wh: float, cl: float, ch: float
) -> None:
    assert stats.wilson_interval(k, n) == pytest.approx((wl, wh), abs=6e-5)
    assert stats.clopper_pearson_interval(k, n) == pytest.approx((cl, ch), abs=6e-5)


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (3, 10), (45, 50), (500, 1000), (999, 1000)])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_proportion_intervals_match_scipy(k: int, n: int, confidence: float) -> None:
    ref = ss.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert stats.wilson_interval(k, n, confidence=confidence) == pytest.approx((ref.low, ref.high), abs=1e-12)
    ref = ss.binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    assert stats.clopper_pearson_interval(k, n, confidence=confidence) == pytest.approx(
        (ref.low, ref.high), abs=1e-10
    )


def test_tabled_normal_quantiles_are_scipys_exactly() -> None:
    from scipy.special import ndtri

    from assay.stats.intervals import _Z_TWO_SIDED, _z

    for confidence, z in _Z_TWO_SIDED.items():
        assert z == float(ndtri(0.5 + confidence / 2.0)), confidence  # bit for bit, not approximately
    assert _z(0.9123) == float(ndtri(0.5 + 0.9123 / 2.0))  # other levels are computed


def test_wilson_exact_coverage_is_near_nominal() -> None:
    # exact coverage by summing binomial probabilities over every possible outcome
    n = 200
    for p in (0.1, 0.3, 0.5, 0.8):
        ks = np.arange(n + 1)
        inside = np.array([lo <= p <= hi for lo, hi in (stats.wilson_interval(int(k), n) for k in ks)])
        coverage = float(ss.binom.pmf(ks, n, p)[inside].sum())
        assert 0.935 <= coverage <= 0.965, (p, coverage)


def test_wilson_coverage_simulation() -> None:
    rng = np.random.default_rng(20240601)
    p, n = 0.3, 120
    draws = rng.binomial(n, p, size=2000)
    covered = sum(lo <= p <= hi for lo, hi in (stats.wilson_interval(int(k), n) for k in draws))
    assert 0.935 <= covered / 2000 <= 0.965


def test_t_interval_matches_scipy() -> None:
    x = np.random.default_rng(3).normal(10, 2, size=37)
    ref = ss.t.interval(0.9, x.size - 1, loc=x.mean(), scale=ss.sem(x))
    assert stats.t_interval(x, confidence=0.9) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize("statistic", ["mean", "median"])
def test_bootstrap_agrees_with_scipy(method: str, statistic: str) -> None:
    x = np.random.default_rng(11).lognormal(size=300)
    func = np.mean if statistic == "mean" else np.median
    ref = ss.bootstrap(
        (x,), func, n_resamples=20_000, method="BCa" if method == "bca" else "percentile", random_state=1
    ).confidence_interval
    low, high = stats.bootstrap_ci(x, statistic=statistic, method=method, n_resamples=20_000, seed=5)
    width = ref.high - ref.low
    # different random streams: agree up to Monte Carlo error (a few percent of the width)
    assert low == pytest.approx(ref.low, abs=0.04 * width)
    assert high == pytest.approx(ref.high, abs=0.04 * width)


def test_bootstrap_callable_statistic_agrees_with_builtin() -> None:
    x = np.random.default_rng(2).normal(size=80)
    builtin = stats.bootstrap_ci(x, statistic="median", n_resamples=500, seed=3)
    custom = stats.bootstrap_ci(x, statistic=lambda a: float(np.median(a)), n_resamples=500, seed=3)
    assert custom == pytest.approx(builtin, rel=1e-12)


def test_bootstrap_binary_fast_path_is_the_multinomial_bootstrap() -> None:
    # few distinct values use an exact multinomial shortcut: its distribution must match plain resampling
    x = np.r_[np.ones(700), np.zeros(300)]
    reps = stats.bootstrap_distribution(x, n_resamples=4000, seed=1)
    assert reps.mean() == pytest.approx(0.7, abs=0.002)
    assert reps.std() == pytest.approx(math.sqrt(0.7 * 0.3 / 1000), rel=0.05)
    low, high = stats.bootstrap_ci(x, method="percentile", seed=1)
    assert (low, high) == pytest.approx(stats.wilson_interval(700, 1000), abs=0.004)


def test_bootstrap_is_reproducible_and_seed_dependent() -> None:
    x = np.random.default_rng(0).exponential(size=500)
    assert stats.bootstrap_ci(x, seed=7) == stats.bootstrap_ci(x, seed=7)
    assert stats.bootstrap_ci(x, seed=7) != stats.bootstrap_ci(x, seed=8)


def test_bootstrap_large_offset_keeps_precision() -> None:
    x = 1e9 + np.random.default_rng(4).normal(size=2000)
    low, high = stats.bootstrap_ci(x, method="percentile")
    half = 1.96 / math.sqrt(2000)
    assert high - low == pytest.approx(2 * half, rel=0.1)


def test_jackknife_closed_forms_match_brute_force() -> None:
    for n in (7, 8):
        x = np.random.default_rng(n).normal(size=n)
        brute_mean = np.array([np.delete(x, i).mean() for i in range(n)])
        brute_median = np.array([np.median(np.delete(x, i)) for i in range(n)])
        np.testing.assert_allclose(_jackknife(x, "mean", np.mean), brute_mean)
        np.testing.assert_allclose(_loo_median(x), brute_median)
    x = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 5.0])  # ties
    np.testing.assert_allclose(_loo_median(x), [np.median(np.delete(x, i)) for i in range(x.size)])


def test_all_equal_values_give_zero_width() -> None:
    assert stats.bootstrap_ci([0.25] * 40) == (0.25, 0.25)
    assert stats.bootstrap_ci([0.1] * 40, clusters=np.repeat(np.arange(10), 4)) == (0.1, 0.1)
    assert stats.t_interval([2.0, 2.0, 2.0]) == (2.0, 2.0)
    assert stats.quantile_ci([5.0] * 100, 0.95) == (5.0, 5.0)
    assert stats.bootstrap_ci([3.0]) == (3.0, 3.0)


def test_quantile_ci_matches_scipy_quantile_test() -> None:
    x = np.random.default_rng(9).gamma(2.0, size=500)
    for q in (0.5, 0.9, 0.95, 0.99):
        ref = ss.quantile_test(x, q=0.0, p=q).confidence_interval(0.95)
        assert stats.quantile_ci(x, q) == pytest.approx((ref.low, ref.high)), q


def test_quantile_ci_coverage_for_p95() -> None:
    rng = np.random.default_rng(5)
    true_p95 = ss.expon.ppf(0.95)
    data = rng.exponential(size=(2000, 400))
    covered = sum(lo <= true_p95 <= hi for lo, hi in (stats.quantile_ci(row, 0.95) for row in data))
    # order-statistic interval: at least nominal, conservative by discreteness
    assert 0.945 <= covered / 2000 <= 0.975


def test_cluster_robust_se_matches_sandwich_formula() -> None:
    rng = np.random.default_rng(1)
    clusters = np.repeat(np.arange(30), rng.integers(1, 6, size=30))
    y = rng.normal(size=clusters.size) + rng.normal(size=30)[clusters]
    n, g = y.size, 30
    # statsmodels OLS(y, ones).fit(cov_type="cluster"): (X'X)^-1 (sum_g X_g'e_g e_g'X_g) (X'X)^-1 * G/(G-1) * (N-1)/(N-K)
    x = np.ones((n, 1))
    e = y - y.mean()
    meat = sum(
        np.outer(x[clusters == c].T @ e[clusters == c], x[clusters == c].T @ e[clusters == c])
        for c in range(g)
    )
    bread = np.linalg.inv(x.T @ x)
    cov = bread @ meat @ bread * g / (g - 1) * (n - 1) / (n - 1)
    assert stats.cluster_robust_se(y, clusters) == pytest.approx(math.sqrt(cov[0, 0]), rel=1e-12)
    # with singleton clusters it reduces to the HC1-like sqrt(n/(n-1)) * population sd / sqrt(n)
    z = rng.normal(size=50)
    assert stats.cluster_robust_se(z, np.arange(50)) == pytest.approx(
        z.std(ddof=1) / math.sqrt(50), rel=1e-12
    )


def _clustered_sample(rng: np.random.Generator, g: int = 60, size: int = 4) -> tuple[np.ndarray, np.ndarray]:
    clusters = np.repeat(np.arange(g), size)
    values = rng.normal(size=g)[clusters] + rng.normal(size=g * size)
    return values, clusters


def test_clustered_bootstrap_is_wider_than_naive_for_correlated_items() -> None:
    values, clusters = _clustered_sample(np.random.default_rng(0))
    naive = stats.bootstrap_ci(values)
    clustered = stats.bootstrap_ci(values, clusters=clusters)
    assert (clustered[1] - clustered[0]) > 1.3 * (naive[1] - naive[0])


@pytest.mark.slow
def test_bootstrap_coverage_simulation() -> None:
    rng = np.random.default_rng(123)
    n = 60
    data = rng.gamma(4.0, size=(2000, n))  # mildly skewed, true mean 4
    covered = 0
    for i, row in enumerate(data):
        lo, hi = stats.bootstrap_ci(row, n_resamples=1000, seed=i)
        covered += lo <= 4.0 <= hi
    assert 0.935 <= covered / 2000 <= 0.965


@pytest.mark.slow
def test_clustered_bootstrap_coverage_simulation() -> None:
    rng = np.random.default_rng(321)
    covered_boot = covered_t = 0
    for i in range(2000):
        values, clusters = _clustered_sample(rng)
        lo, hi = stats.bootstrap_ci(values, clusters=clusters, n_resamples=1000, seed=i)
        covered_boot += lo <= 0.0 <= hi
        lo, hi = stats.cluster_mean_ci(values, clusters)
        covered_t += lo <= 0.0 <= hi
    assert 0.935 <= covered_boot / 2000 <= 0.965
    assert 0.935 <= covered_t / 2000 <= 0.965


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=1, max_size=60), st.sampled_from(["bca", "percentile"]))
def test_bootstrap_interval_contains_estimate(values: list[float], method: str) -> None:
    low, high = stats.bootstrap_ci(values, method=method, n_resamples=200)
    assert low <= float(np.mean(values)) <= high


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=10_000), st.data())
def test_proportion_intervals_contain_estimate(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(min_value=0, max_value=n))
    for low, high in (stats.wilson_interval(k, n), stats.clopper_pearson_interval(k, n)):
        assert 0.0 <= low <= k / n <= high <= 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=2, max_size=100), st.floats(min_value=0.01, max_value=0.99))
def test_quantile_and_t_intervals_contain_estimate(values: list[float], q: float) -> None:
    low, high = stats.quantile_ci(values, q)
    assert low <= float(np.quantile(values, q)) <= high
    low, high = stats.t_interval(values)
    assert low <= float(np.mean(values)) <= high


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: stats.bootstrap_ci([]), "values"),
        (lambda: stats.bootstrap_ci([1.0, float("nan")]), "values"),
        (lambda: stats.bootstrap_ci([1.0, 2.0], clusters=["a"]), "clusters"),
        (lambda: stats.bootstrap_ci([1.0, 2.0], clusters=["a", None]), "clusters"),
        (lambda: stats.bootstrap_ci([1.0, 2.0], n_resamples=0), "n_resamples"),
        (lambda: stats.bootstrap_ci([1.0, 2.0], confidence=1.5), "confidence"),
        (lambda: stats.bootstrap_ci([1.0, 2.0], method="bogus"), "method"),  # type: ignore[arg-type]
        (lambda: stats.bootstrap_ci([1.0, 2.0], statistic="mode"), "statistic"),  # type: ignore[arg-type]
        (lambda: stats.wilson_interval(0, 0), "n"),
        (lambda: stats.wilson_interval(5, 4), "successes"),
        (lambda: stats.wilson_interval(1.5, 4), "successes"),
        (lambda: stats.clopper_pearson_interval(-1, 4), "successes"),
        (lambda: stats.t_interval([1.0]), "values"),
        (lambda: stats.t_interval([1.0, math.inf]), "values"),
        (lambda: stats.quantile_ci([], 0.5), "values"),
        (lambda: stats.quantile_ci([1.0, 2.0], 1.0), "q"),
        (lambda: stats.cluster_robust_se([1.0, 2.0], ["a", "a"]), "clusters"),
        (lambda: stats.cluster_mean_ci([1.0, float("nan")], ["a", "b"]), "values"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call: object, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()  # type: ignore[operator]


def test_nan_error_names_the_index() -> None:
    with pytest.raises(ValueError, match=r"values contains NaN at index 2"):
        stats.bootstrap_ci([1.0, 2.0, float("nan")])


# --------------------------------------------------------------------------------------------------
# the resampling engine behind every bootstrap


def test_resampled_indices_are_uniform() -> None:
    from assay.stats import _resample

    generator = np.random.Generator(np.random.SFC64(0))
    for n in (3, 1000):
        counts = np.bincount(_resample._IndexSource(n, 600_000).draw(generator, 600_000), minlength=n)
        assert ss.chisquare(counts).pvalue > 1e-3


def test_exact_rejection_path_is_uniform() -> None:
    from assay.stats import _resample

    n = 3 * 2**29 + 1  # 2**32 / n = 2.67 words per index: plain multiply-shift is visibly biased
    assert n > _resample.EXACT_ABOVE
    exact = _resample._IndexSource(n, 300_000)
    assert exact.threshold == 2**32 % n
    draws = exact.draw(np.random.Generator(np.random.SFC64(1)), 300_000)
    assert draws.min() >= 0 and draws.max() < n
    assert ss.chisquare(np.bincount(draws % 3)).pvalue > 1e-3
    biased = _resample._IndexSource(n, 300_000)
    biased.threshold = 0  # the same draws without the rejection step fail the same test
    draws = biased.draw(np.random.Generator(np.random.SFC64(1)), 300_000)
    assert ss.chisquare(np.bincount(draws % 3)).pvalue < 1e-6


def test_bootstrap_does_not_depend_on_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.stats import _resample

    x = np.random.default_rng(0).normal(size=5000)
    monkeypatch.setattr(_resample, "PARALLEL_THRESHOLD", 0)
    monkeypatch.setattr(_resample, "_max_workers", lambda: 1)
    single = stats.bootstrap_distribution(x, n_resamples=300, seed=4)
    monkeypatch.setattr(_resample, "_max_workers", lambda: 2)
    threaded = stats.bootstrap_distribution(x, n_resamples=300, seed=4)
    np.testing.assert_array_equal(single, threaded)
