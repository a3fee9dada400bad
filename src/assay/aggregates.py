"""The shapes every aggregate in assay reports: a mean with its 95% interval, and latency percentiles.

Runs (``assay.runner.summary``) and monitoring windows (``assay.monitor.windows``) compute them
differently (exact values for a run, mergeable sketches for a window) but report the same fields, so a
dashboard or a comparison can read either. Field names are part of the public JSON contract.

Example:
    >>> MeanWithCI(mean=0.5, ci_low=0.3, ci_high=0.7, n=20, n_errors=0).kind
    'continuous'
    >>> Percentiles(p50=0.2, p95=0.9, p99=1.4, mean=0.3, n=100).p95
    0.9
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MeanWithCI", "Percentiles"]


class MeanWithCI(BaseModel):
    """One metric over a population: its mean with a 95% interval, how many values, how many failures."""

    model_config = ConfigDict(extra="forbid")
    mean: float | None = Field(description="Mean over scored items (a rate for binary metrics).")
    ci_low: float | None = Field(description="Lower end of the 95% interval.")
    ci_high: float | None = Field(description="Upper end of the 95% interval.")
    n: int = Field(description="Items with a value.")
    n_errors: int = Field(description="Items without a value: the call failed or the scorer failed.")
    kind: str = Field(default="continuous", description="binary | proportion | continuous")
    higher_is_better: bool = True


class Percentiles(BaseModel):
    """A distribution's p50/p95/p99 and mean over ``n`` values (all None when there are none)."""

    model_config = ConfigDict(extra="forbid")
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    mean: float | None = None
    n: int = 0
