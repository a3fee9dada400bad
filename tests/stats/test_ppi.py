"""Prediction-powered inference: formulas, coverage, PPI++ never worse than human-only, weights."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from assay import stats


def _population(rng: np.random.Generator, size: int, judge_quality: float) -> tuple[np.ndarray, np.ndarray]:
    """Binary human labels with true mean 0.6 and a biased judge that agrees ``judge_quality`` of the time."""
    y = (rng.random(size) < 0.6).astype(float)
    agree = rng.random(size) < judge_quality
    yhat = np.where(agree, y, (rng.random(size) < 0.8).astype(float))  # the judge over-approves
    return y, yhat


def test_classic_ppi_matches_the_closed_form() -> None:
    rng = np.random.default_rng(0)
    y, f = _population(rng, 200, 0.8)
    _, fu = _population(rng, 5000, 0.8)
    r = stats.ppi_mean(y, f, fu, tuned=False)
    rect = y - f
    expected = fu.mean() + rect.mean()
    se = np.sqrt(fu.var(ddof=1) / fu.size + rect.var(ddof=1) / y.size)
    assert r.lam == 1.0
    assert r.estimate == pytest.approx(expected)
    assert (r.ci_low, r.ci_high) == pytest.approx(
        (expected - norm.ppf(0.975) * se, expected + norm.ppf(0.975) * se)
    )


def test_lambda_zero_is_the_human_only_estimate() -> None:
    rng = np.random.default_rng(1)
    y, f = _population(rng, 150, 0.8)
    _, fu = _population(rng, 3000, 0.8)
    r = stats.ppi_mean(y, f, fu, lam=0.0)
    assert r.estimate == pytest.approx(y.mean())
    assert r.se == pytest.approx(y.std(ddof=1) / np.sqrt(y.size))


def test_tuned_ppi_is_never_worse_than_human_only_even_with_a_useless_judge() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(size=300)
    f = rng.normal(size=300)  # judge unrelated to the truth
    fu = rng.normal(size=10_000)
    tuned = stats.ppi_mean(y, f, fu)
    human = stats.ppi_mean(y, f, fu, lam=0.0)
    classic = stats.ppi_mean(y, f, fu, tuned=False)
    assert tuned.se <= human.se * 1.01
    assert classic.se > human.se * 1.2  # classic PPI pays for a useless judge; PPI++ does not


def test_a_good_judge_shrinks_the_interval() -> None:
    rng = np.random.default_rng(3)
    y, f = _population(rng, 200, 0.95)
    _, fu = _population(rng, 20_000, 0.95)
    est, low, high = stats.ppi_mean_ci(y, f, fu)
    human = stats.ppi_mean(y, f, fu, lam=0.0)
    assert high - low < 0.6 * (human.ci_high - human.ci_low)
    assert stats.ppi_mean(y, f, fu).effective_n > 2 * y.size
    assert low <= est <= high


def test_stratified_weights_remove_sampling_bias() -> None:
    rng = np.random.default_rng(4)
    # two strata: hard cases (30% of traffic, accuracy 0.3) and easy cases (accuracy 0.9): true mean 0.72
    big_n = 20_000
    hard = rng.random(big_n) < 0.3
    y_all = np.where(hard, rng.random(big_n) < 0.3, rng.random(big_n) < 0.9).astype(float)
    f_all = np.where(rng.random(big_n) < 0.85, y_all, 1.0)
    # humans label hard cases 4x as often (oversampling), so the labelled set is not representative
    prob = np.where(hard, 0.08, 0.02)
    labelled = rng.random(big_n) < prob
    y, f = y_all[labelled], f_all[labelled]
    unweighted = stats.ppi_mean(y, f, f_all, lam=0.0).estimate
    weighted = stats.ppi_mean(y, f, f_all, weights=1 / prob[labelled])
    assert abs(unweighted - 0.72) > 0.08  # naive human mean is biased by the oversampling
    assert weighted.ci_low <= 0.72 <= weighted.ci_high


@pytest.mark.slow
@pytest.mark.parametrize("tuned", [True, False])
def test_ppi_coverage_simulation(tuned: bool) -> None:
    rng = np.random.default_rng(2023 + tuned)
    covered = 0
    for _ in range(2000):
        y, f = _population(rng, 200, 0.8)
        _, fu = _population(rng, 2000, 0.8)
        _, low, high = stats.ppi_mean_ci(y, f, fu, tuned=tuned)
        covered += low <= 0.6 <= high
    assert 0.935 <= covered / 2000 <= 0.965


def test_ppi_continuous_coverage_simulation() -> None:
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(2000):
        x = rng.normal(size=2200)
        y_all = 2.0 + x + 0.5 * rng.normal(size=2200)
        f_all = 2.3 + 0.9 * x  # biased, imperfect predictor
        _, low, high = stats.ppi_mean_ci(y_all[:100], f_all[:100], f_all[100:])
        covered += low <= 2.0 <= high
    assert 0.935 <= covered / 2000 <= 0.965


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: stats.ppi_mean_ci([1.0, 0.0, 1.0], [1.0, 0.0], [1.0, 0.0]), "same length"),
        (lambda: stats.ppi_mean_ci([], [], [1.0, 0.0]), "y_labeled"),
        (lambda: stats.ppi_mean_ci([1.0, 0.0], [1.0, float("nan")], [1.0, 0.0]), "yhat_labeled"),
        (lambda: stats.ppi_mean_ci([1.0, 0.0], [1.0, 0.0], []), "yhat_unlabeled"),
        (lambda: stats.ppi_mean_ci([1.0, 0.0], [1.0, 0.0], [1.0, 0.0], weights=[1.0]), "weights"),
        (lambda: stats.ppi_mean_ci([1.0, 0.0], [1.0, 0.0], [1.0, 0.0], confidence=0), "confidence"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call: object, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()  # type: ignore[operator]
