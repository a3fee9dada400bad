"""Red-teaming: bundled probe sets, attack strategies, the probe x strategy grid and safety metrics.

Probes are ordinary cases, attacks are case transformations and verdicts are scorers
(``assay.scorer.safety``), so a red-team run goes through the same runner, store and statistics as any
other run. ``assay redteam SUITE.yaml`` is the command-line door; ``run_redteam`` the Python one.

Example:
    >>> from assay.redteam import build_grid
    >>> len(build_grid(sets=["injection"])) >= 60
    True
"""

from __future__ import annotations

from assay.redteam.grid import ATTACKABLE_SETS, build_grid, stratified_sample
from assay.redteam.probes import HARMFUL_CATEGORIES, PROBE_SETS, load_probes, probe_categories
from assay.redteam.strategies import STRATEGIES, apply_strategies, parse_strategies

__all__ = [
    "ATTACKABLE_SETS",
    "HARMFUL_CATEGORIES",
    "PROBE_SETS",
    "STRATEGIES",
    "apply_strategies",
    "build_grid",
    "load_probes",
    "parse_strategies",
    "probe_categories",
    "stratified_sample",
]
