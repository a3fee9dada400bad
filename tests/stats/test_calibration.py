"""Calibration: scikit-learn references, brute-force ECE, Murphy identity, risk-control guarantee."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import brier_score_loss, roc_auc_score

from assay import stats


def _data(seed: int, n: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    conf = rng.beta(5, 2, size=n)
    correct = rng.random(n) < conf**1.5  # overconfident
    return conf, correct


def _ece_brute(conf: np.ndarray, correct: np.ndarray, edges: np.ndarray) -> tuple[float, float]:
    total, worst = 0.0, 0.0
    for i in range(len(edges) - 1):
        last = i == len(edges) - 2
        inside = (conf >= edges[i]) & ((conf <= edges[i + 1]) if last else (conf < edges[i + 1]))
        if inside.any():
            gap = abs(conf[inside].mean() - correct[inside].mean())
            total += inside.sum() / conf.size * gap
            worst = max(worst, gap)
    return total, worst


def test_ece_and_mce_uniform_match_brute_force() -> None:
    conf, correct = _data(0)
    expected_ece, expected_mce = _ece_brute(conf, correct, np.linspace(0, 1, 16))
    assert stats.ece(conf, correct, n_bins=15) == pytest.approx(expected_ece)
    assert stats.mce(conf, correct, n_bins=15) == pytest.approx(expected_mce)


def test_ece_quantile_bins_hold_equal_mass() -> None:
    conf, correct = _data(1)
    bins = stats.reliability_diagram(conf, correct, n_bins=10, strategy="quantile")
    assert [b.count for b in bins] == [100] * 10
    edges = np.quantile(conf, np.linspace(0, 1, 11))
    edges[0], edges[-1] = 0.0, 1.0
    assert stats.ece(conf, correct, strategy="quantile") == pytest.approx(_ece_brute(conf, correct, edges)[0])


def test_perfectly_calibrated_confidence_has_small_ece() -> None:
    rng = np.random.default_rng(2)
    conf = rng.random(200_000)
    correct = rng.random(200_000) < conf
    assert stats.ece(conf, correct) < 0.005
    assert stats.ece(conf, ~correct) > 0.4


def test_brier_matches_sklearn() -> None:
    conf, correct = _data(3)
    assert stats.brier(conf, correct) == pytest.approx(brier_score_loss(correct, conf))


def test_brier_decomposition_identity() -> None:
    rng = np.random.default_rng(4)
    conf = rng.choice([0.1, 0.3, 0.5, 0.7, 0.9], size=2000)
    correct = rng.random(2000) < conf * 0.9
    d = stats.brier_decomposition(conf, correct)
    assert d.brier == pytest.approx(brier_score_loss(correct, conf))
    assert d.brier == pytest.approx(d.reliability - d.resolution + d.uncertainty, abs=1e-12)
    assert d.within_bin == pytest.approx(0.0, abs=1e-12)
    binned = stats.brier_decomposition(*_data(5), n_bins=10)
    assert binned.brier == pytest.approx(
        binned.reliability - binned.resolution + binned.uncertainty + binned.within_bin
    )


def test_reliability_diagram_bins() -> None:
    conf, correct = _data(6)
    bins = stats.reliability_diagram(conf, correct, n_bins=10)
    assert sum(b.count for b in bins) == conf.size
    for b in bins:
        inside = (conf >= b.low) & ((conf < b.high) | (b.high == 1.0))
        assert b.count == inside.sum()
        assert b.accuracy == pytest.approx(correct[inside].mean())
        assert b.mean_confidence == pytest.approx(conf[inside].mean())
        assert b.ci_low <= b.accuracy <= b.ci_high


def test_auroc_matches_sklearn_including_ties() -> None:
    conf, correct = _data(7)
    assert stats.auroc(conf, correct) == pytest.approx(roc_auc_score(correct, conf))
    rounded = np.round(conf, 1)
    assert stats.auroc(rounded, correct) == pytest.approx(roc_auc_score(correct, rounded))
    with pytest.raises(ValueError, match="both True and False"):
        stats.auroc([0.3, 0.9], [True, True])


def test_risk_coverage_and_aurc_match_brute_force() -> None:
    conf, correct = _data(8, n=300)
    order = np.argsort(-conf)
    risks = np.cumsum(~correct[order]) / np.arange(1, 301)
    thresholds, coverage, risk = stats.risk_coverage(conf, correct)
    np.testing.assert_allclose(thresholds, np.sort(conf)[::-1])
    np.testing.assert_allclose(risk, risks)
    np.testing.assert_allclose(coverage, np.arange(1, 301) / 300)
    assert stats.aurc(conf, correct) == pytest.approx(risks.mean())
    # a confidence that ranks errors last beats one that ranks them first
    assert stats.aurc(correct.astype(float), correct) < stats.aurc(1.0 - correct, correct)


def _overconfident(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    conf = rng.random(n)
    return conf, rng.random(n) < conf**2  # P(correct | c) = c^2


def _true_selective_risk(threshold: float) -> float:
    # P(error | c >= t) for c ~ U(0, 1), P(correct | c) = c^2: 1 - (1 - t^3) / (3 (1 - t))
    if threshold >= 1.0:
        return 0.0
    return 1.0 - (1.0 - threshold**3) / (3.0 * (1.0 - threshold))


@pytest.mark.slow
def test_risk_control_threshold_guarantee_on_held_out_data() -> None:
    rng = np.random.default_rng(42)
    alpha, delta, reps = 0.15, 0.1, 1000
    violations_held_out = violations_true = 0
    coverages = []
    for _ in range(reps):
        conf, correct = _overconfident(rng, 2000)
        rule = stats.risk_control_threshold(conf, correct, alpha=alpha, delta=delta)
        test_conf, test_correct = _overconfident(rng, 20_000)
        answered = test_conf >= rule.threshold
        realised = 0.0 if not answered.any() else float(np.mean(~test_correct[answered]))
        violations_held_out += realised > alpha
        violations_true += _true_selective_risk(rule.threshold) > alpha
        coverages.append(rule.coverage)
    assert violations_true / reps <= delta + 0.02
    assert violations_held_out / reps <= delta + 0.02
    # and it still answers a useful share automatically (the oracle threshold answers 15%)
    assert np.mean(coverages) > 0.08


def test_risk_control_threshold_routes_everything_when_nothing_can_be_certified() -> None:
    conf, correct = _overconfident(np.random.default_rng(0), 50)
    rule = stats.risk_control_threshold(conf, correct, alpha=0.01, delta=0.05)
    assert rule.threshold == np.inf and rule.coverage == 0.0 and rule.n_answered == 0


def test_risk_control_threshold_reports_its_bound() -> None:
    conf, correct = _overconfident(np.random.default_rng(1), 5000)
    rule = stats.risk_control_threshold(conf, correct, alpha=0.2, delta=0.05)
    answered = conf >= rule.threshold
    assert rule.n_answered == answered.sum()
    assert rule.error_rate == pytest.approx(np.mean(~correct[answered]))
    assert rule.error_rate <= rule.upper_bound <= 0.2 + 1e-12


unit = st.floats(min_value=0.0, max_value=1.0)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(unit, st.booleans()), min_size=1, max_size=80),
    st.integers(1, 20),
    st.sampled_from(["uniform", "quantile"]),
)
def test_ece_is_in_unit_interval(pairs: list[tuple[float, bool]], n_bins: int, strategy: str) -> None:
    conf = [p[0] for p in pairs]
    correct = [p[1] for p in pairs]
    value = stats.ece(conf, correct, n_bins=n_bins, strategy=strategy)  # type: ignore[arg-type]
    assert 0.0 <= value <= 1.0
    assert 0.0 <= stats.brier(conf, correct) <= 1.0
    assert value <= stats.mce(conf, correct, n_bins=n_bins, strategy=strategy) + 1e-12  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: stats.ece([], []), "confidence"),
        (lambda: stats.ece([0.5, float("nan")], [True, False]), "confidence contains NaN"),
        (lambda: stats.ece([0.5, 1.2], [True, False]), "confidence must lie in"),
        (lambda: stats.ece([0.5, 0.7], [True]), "same length"),
        (lambda: stats.ece([0.5], [2]), "correct must be boolean"),
        (lambda: stats.ece([0.5], [True], n_bins=0), "n_bins"),
        (lambda: stats.ece([0.5], [True], strategy="kmeans"), "strategy"),  # type: ignore[arg-type]
        (lambda: stats.brier([0.5], [float("nan")]), "correct contains NaN"),
        (lambda: stats.risk_control_threshold([0.5], [True], alpha=0.0, delta=0.1), "alpha"),
        (lambda: stats.risk_control_threshold([0.5], [True], alpha=0.1, delta=1.0), "delta"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call: object, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()  # type: ignore[operator]
