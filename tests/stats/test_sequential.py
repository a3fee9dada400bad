"""Sequential testing: time-uniform coverage at every look, always-valid p-values, streaming state."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assay import stats


def test_interval_matches_the_normal_mixture_boundary() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, size=500)
    cs = stats.confidence_sequence(x, planned_n=500)
    alpha = 0.05
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / 500
    t = 500
    sd = x.std(ddof=1)
    half = sd * math.sqrt(2 * (t * rho2 + 1) / (t * t * rho2) * math.log(math.sqrt(t * rho2 + 1) / alpha))
    est, low, high = cs.at(500)
    assert est == pytest.approx(x.mean())
    assert (low, high) == pytest.approx((x.mean() - half, x.mean() + half))
    # wider than the fixed-n z interval (the price of peeking), but not outrageously so
    z_half = 1.959964 * sd / math.sqrt(t)
    assert z_half < half < 2.5 * z_half


def test_early_looks_are_uninformative_and_p_values_monotone() -> None:
    x = np.random.default_rng(1).normal(0.5, 1.0, size=300)
    cs = stats.confidence_sequence(x, min_n=10)
    assert np.all(np.isinf(cs.ci_low[:9])) and np.all(cs.p_value[:9] == 1.0)
    assert np.all(np.diff(cs.p_value) <= 0)
    assert cs.p_value[-1] < 0.01


def test_streaming_test_matches_batch_computation() -> None:
    rng = np.random.default_rng(2)
    a = (rng.random(1000) < 0.55).astype(float)
    b = (rng.random(1000) < 0.5).astype(float)
    batch = stats.ab_confidence_sequence(a, b, planned_n=800)
    stream = stats.SequentialTest(planned_n=800)
    for start in range(0, 1000, 137):  # uneven batches, arms arriving separately
        stream.update(a[start : start + 137])
        stream.update(b=b[start : start + 137])
    assert stream.n == 1000
    assert stream.interval() == pytest.approx(batch.at(1000))
    assert stream.p_value == pytest.approx(batch.p_value[-1])


def test_detects_a_real_difference() -> None:
    rng = np.random.default_rng(3)
    cs = stats.ab_confidence_sequence(rng.random(3000) < 0.6, rng.random(3000) < 0.5)
    assert cs.ci_low[-1] > 0 and cs.p_value[-1] < 0.05


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["proportions", "means"])
def test_coverage_at_every_look(kind: str) -> None:
    rng = np.random.default_rng(11 if kind == "proportions" else 12)
    sims, horizon = 2000, 500
    true_diff = 0.05 if kind == "proportions" else 0.3
    covered_all = 0
    false_stop = 0
    for _ in range(sims):
        if kind == "proportions":
            a = (rng.random(horizon) < 0.55).astype(float)
            b = (rng.random(horizon) < 0.50).astype(float)
        else:
            a = rng.exponential(1.3, size=horizon)
            b = rng.exponential(1.0, size=horizon)
        cs = stats.ab_confidence_sequence(a, b, planned_n=horizon)
        covered_all += bool(np.all((cs.ci_low <= true_diff) & (true_diff <= cs.ci_high)))
        null = stats.ab_confidence_sequence(a - true_diff, b, planned_n=horizon)
        false_stop += bool(np.any(null.p_value <= 0.05))
    # a time-uniform 95% sequence must cover at every look simultaneously in >= 93.5% of runs;
    # it is conservative by construction (valid for an unbounded horizon), so the rate sits above 95%
    assert 0.935 <= covered_all / sims <= 0.99
    assert false_stop / sims <= 0.05 + 0.015


def test_peeking_with_a_fixed_n_test_inflates_errors_but_the_sequence_does_not() -> None:
    rng = np.random.default_rng(5)
    naive = seq = 0
    for _ in range(300):
        d = rng.normal(size=400)
        t = np.arange(1, 401)
        z = np.cumsum(d) / np.sqrt(t)
        naive += bool(np.any(np.abs(z[9:]) > 1.96))
        seq += bool(np.any(stats.confidence_sequence(d, planned_n=400).p_value <= 0.05))
    assert naive / 300 > 0.2
    assert seq / 300 <= 0.07


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: stats.confidence_sequence([]), "values"),
        (lambda: stats.confidence_sequence([1.0, float("nan")]), "values contains NaN"),
        (lambda: stats.confidence_sequence([1.0], planned_n=0), "planned_n"),
        (lambda: stats.ab_confidence_sequence([1.0], [float("nan")]), "b contains NaN"),
        (lambda: stats.SequentialTest().update([float("nan")]), "a contains NaN"),
        (lambda: stats.SequentialTest().interval(), "no paired observations"),
        (lambda: stats.confidence_sequence([1.0, 2.0]).at(3), "t must be"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call: object, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()  # type: ignore[operator]
