"""assay.stats: the statistics that make every number honest.

Pure functions over numpy arrays (numpy and scipy only, nothing else from assay): confidence intervals,
paired comparisons, power and sample size, prediction-powered inference, agreement, calibration, drift
and sequential tests. Inputs are validated up front: empty input or NaN raises ``ValueError`` naming
the argument; nothing returns a silent NaN.

>>> from assay import stats
>>> stats.wilson_interval(45, 50)  # doctest: +ELLIPSIS
(0.786..., 0.956...)
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from assay.stats.agreement import (
        Correlation,
        TestRetest,
        cohen_kappa,
        confusion_matrix,
        correlation,
        fleiss_kappa,
        icc,
        krippendorff_alpha,
        test_retest,
    )
    from assay.stats.calibration import (
        BrierDecomposition,
        ReliabilityBin,
        RiskControl,
        aurc,
        auroc,
        brier,
        brier_decomposition,
        ece,
        mce,
        reliability_diagram,
        risk_control_threshold,
        risk_coverage,
    )
    from assay.stats.compare import (
        Comparison,
        bh,
        cohens_dz,
        holm,
        mann_whitney,
        mcnemar,
        paired_bootstrap,
        paired_permutation,
        paired_t,
        welch,
        wilcoxon,
    )
    from assay.stats.drift import DriftTest, chi_square, js_distance, ks_2samp, mmd_test, psi
    from assay.stats.intervals import (
        bootstrap_ci,
        bootstrap_distribution,
        clopper_pearson_interval,
        cluster_mean_ci,
        cluster_robust_se,
        quantile_ci,
        t_interval,
        wilson_interval,
    )
    from assay.stats.power import mde, required_n, sample_size
    from assay.stats.ppi import PPIResult, ppi_mean, ppi_mean_ci
    from assay.stats.sequential import (
        ConfidenceSequence,
        SequentialTest,
        ab_confidence_sequence,
        confidence_sequence,
    )

# Names are imported from their module when first used: a run that needs only the intervals does not
# import the agreement, calibration, drift or sequential modules (about 50 ms when a run starts cold).
_HOME = {
    "BrierDecomposition": "assay.stats.calibration",
    "Comparison": "assay.stats.compare",
    "ConfidenceSequence": "assay.stats.sequential",
    "Correlation": "assay.stats.agreement",
    "DriftTest": "assay.stats.drift",
    "PPIResult": "assay.stats.ppi",
    "ReliabilityBin": "assay.stats.calibration",
    "RiskControl": "assay.stats.calibration",
    "SequentialTest": "assay.stats.sequential",
    "TestRetest": "assay.stats.agreement",
    "ab_confidence_sequence": "assay.stats.sequential",
    "aurc": "assay.stats.calibration",
    "auroc": "assay.stats.calibration",
    "bh": "assay.stats.compare",
    "bootstrap_ci": "assay.stats.intervals",
    "bootstrap_distribution": "assay.stats.intervals",
    "brier": "assay.stats.calibration",
    "brier_decomposition": "assay.stats.calibration",
    "chi_square": "assay.stats.drift",
    "clopper_pearson_interval": "assay.stats.intervals",
    "cluster_mean_ci": "assay.stats.intervals",
    "cluster_robust_se": "assay.stats.intervals",
    "cohen_kappa": "assay.stats.agreement",
    "cohens_dz": "assay.stats.compare",
    "confidence_sequence": "assay.stats.sequential",
    "confusion_matrix": "assay.stats.agreement",
    "correlation": "assay.stats.agreement",
    "ece": "assay.stats.calibration",
    "fleiss_kappa": "assay.stats.agreement",
    "holm": "assay.stats.compare",
    "icc": "assay.stats.agreement",
    "js_distance": "assay.stats.drift",
    "krippendorff_alpha": "assay.stats.agreement",
    "ks_2samp": "assay.stats.drift",
    "mann_whitney": "assay.stats.compare",
    "mce": "assay.stats.calibration",
    "mcnemar": "assay.stats.compare",
    "mde": "assay.stats.power",
    "mmd_test": "assay.stats.drift",
    "paired_bootstrap": "assay.stats.compare",
    "paired_permutation": "assay.stats.compare",
    "paired_t": "assay.stats.compare",
    "ppi_mean": "assay.stats.ppi",
    "ppi_mean_ci": "assay.stats.ppi",
    "psi": "assay.stats.drift",
    "quantile_ci": "assay.stats.intervals",
    "reliability_diagram": "assay.stats.calibration",
    "required_n": "assay.stats.power",
    "risk_control_threshold": "assay.stats.calibration",
    "risk_coverage": "assay.stats.calibration",
    "sample_size": "assay.stats.power",
    "t_interval": "assay.stats.intervals",
    "test_retest": "assay.stats.agreement",
    "welch": "assay.stats.compare",
    "wilcoxon": "assay.stats.compare",
    "wilson_interval": "assay.stats.intervals",
}

__all__ = [
    "BrierDecomposition",
    "Comparison",
    "ConfidenceSequence",
    "Correlation",
    "DriftTest",
    "PPIResult",
    "ReliabilityBin",
    "RiskControl",
    "SequentialTest",
    "TestRetest",
    "ab_confidence_sequence",
    "aurc",
    "auroc",
    "bh",
    "bootstrap_ci",
    "bootstrap_distribution",
    "brier",
    "brier_decomposition",
    "chi_square",
    "clopper_pearson_interval",
    "cluster_mean_ci",
    "cluster_robust_se",
    "cohen_kappa",
    "cohens_dz",
    "confidence_sequence",
    "confusion_matrix",
    "correlation",
    "ece",
    "fleiss_kappa",
    "holm",
    "icc",
    "js_distance",
    "krippendorff_alpha",
    "ks_2samp",
    "mann_whitney",
    "mce",
    "mcnemar",
    "mde",
    "mmd_test",
    "paired_bootstrap",
    "paired_permutation",
    "paired_t",
    "ppi_mean",
    "ppi_mean_ci",
    "psi",
    "quantile_ci",
    "reliability_diagram",
    "required_n",
    "risk_control_threshold",
    "risk_coverage",
    "sample_size",
    "t_interval",
    "test_retest",
    "welch",
    "wilcoxon",
    "wilson_interval",
]


def __getattr__(name: str) -> _typing.Any:
    # assay.stats imports nothing else from assay (a tested contract), so it does not use
    # assay._lazy.lazy_exports, which the other lazy packages share.
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'assay.stats' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
