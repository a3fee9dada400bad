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
