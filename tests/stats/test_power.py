"""Planning: textbook values (R's power.t.test / power.prop.test) and checks by simulation."""

from __future__ import annotations

import numpy as np
import pytest

from assay import stats


def test_sample_size_for_a_proportion() -> None:
    assert stats.sample_size(0.05) == 385  # the classic 1.96^2 * 0.25 / 0.05^2 = 384.16
    assert stats.sample_size(0.03, baseline=0.5) == 1068
    assert stats.sample_size(0.05, baseline=0.9) == 139


def test_sample_size_for_a_continuous_metric_uses_t() -> None:
    n = stats.sample_size(0.5, sd=2.0)
    # the t interval with n values has half-width <= 0.5, and with n - 1 it does not
    from scipy.stats import t

    assert t.ppf(0.975, n - 1) * 2.0 / np.sqrt(n) <= 0.5
    assert t.ppf(0.975, n - 2) * 2.0 / np.sqrt(n - 1) > 0.5


def test_mde_continuous_matches_power_t_test() -> None:
    # R: power.t.test(n = 100, sd = 1, power = 0.8)$delta = 0.3981407 (two-sample)
    assert stats.mde(100, baseline=0.0, sd=1.0, paired=False) == pytest.approx(0.39814, abs=2e-4)
    # R: power.t.test(n = 100, power = 0.8, type = "paired")$delta = 0.2829482 (sd of differences 1)
    sd_per_arm = 1 / np.sqrt(2)
    assert stats.mde(100, baseline=0.0, sd=sd_per_arm, paired=True) == pytest.approx(0.28295, abs=2e-4)


def test_required_n_matches_power_prop_test() -> None:
    # R: power.prop.test(p1 = 0.7, p2 = 0.8, power = 0.8)$n = 293.1 per group
    assert stats.required_n(0.1, baseline=0.7, paired=False) == 294


def test_mde_and_required_n_are_inverse() -> None:
    for corr in (0.0, 0.5):
        e = stats.mde(400, baseline=0.6, correlation=corr)
        assert stats.required_n(e * (1 + 1e-7), baseline=0.6, correlation=corr) == 400
        assert stats.required_n(e * 0.99, baseline=0.6, correlation=corr) > 400


def test_pairing_and_correlation_shrink_the_mde() -> None:
    unpaired = stats.mde(300, baseline=0.7, paired=False)
    paired0 = stats.mde(300, baseline=0.7, paired=True, correlation=0.0)
    paired6 = stats.mde(300, baseline=0.7, paired=True, correlation=0.6)
    assert paired6 < paired0 == pytest.approx(unpaired)


def _power_paired_binary(rng: np.random.Generator, n: int, p0: float, effect: float, sims: int) -> float:
    # correlated pairs with correlation 0 between systems: independent Bernoulli outcomes per case
    a = rng.random((sims, n)) < p0 + effect
    b = rng.random((sims, n)) < p0
    d = a.astype(float) - b
    z = d.mean(axis=1) / (d.std(axis=1, ddof=1) / np.sqrt(n))
    return float(np.mean(np.abs(z) > 1.959964))


def _power_paired_continuous(
    rng: np.random.Generator, n: int, sd: float, rho: float, effect: float, sims: int
) -> float:
    from scipy.stats import t

    common = rng.normal(size=(sims, n))
    a = effect + sd * (np.sqrt(rho) * common + np.sqrt(1 - rho) * rng.normal(size=(sims, n)))
    b = sd * (np.sqrt(rho) * common + np.sqrt(1 - rho) * rng.normal(size=(sims, n)))
    d = a - b
    tstat = d.mean(axis=1) / (d.std(axis=1, ddof=1) / np.sqrt(n))
    return float(np.mean(np.abs(tstat) > t.ppf(0.975, n - 1)))


def test_mde_achieves_the_target_power_by_simulation() -> None:
    rng = np.random.default_rng(99)
    e = stats.mde(400, baseline=0.7)
    assert _power_paired_binary(rng, 400, 0.7, e, 4000) == pytest.approx(0.8, abs=0.025)
    e = stats.mde(60, baseline=0.0, sd=1.0, correlation=0.5)
    assert _power_paired_continuous(rng, 60, 1.0, 0.5, e, 4000) == pytest.approx(0.8, abs=0.025)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: stats.mde(1, baseline=0.5), "n"),
        (lambda: stats.mde(100, baseline=1.5), "baseline"),
        (lambda: stats.mde(100, baseline=0.5, alpha=0), "alpha"),
        (lambda: stats.mde(100, baseline=0.5, power=1.0), "power"),
        (lambda: stats.mde(100, baseline=0.5, correlation=1.0), "correlation"),
        (lambda: stats.mde(100, baseline=0.0, sd=-1.0), "sd"),
        (lambda: stats.mde(3, baseline=0.99), "too small"),
        (lambda: stats.sample_size(0.0), "half_width"),
        (lambda: stats.required_n(0.5, baseline=0.7), "baseline"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call: object, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()  # type: ignore[operator]
