"""The async runner: runs cases against a target, scores, stores, summarises."""

from assay.runner.api import aevaluate, evaluate, plan_from_suite, run_plan
from assay.runner.engine import ProgressSink, Runner, RunOptions, RunPlan, cache_key, check_requirements
from assay.runner.summary import MetricSummary, RunSummary

__all__ = [
    "MetricSummary",
    "ProgressSink",
    "RunOptions",
    "RunPlan",
    "RunSummary",
    "Runner",
    "aevaluate",
    "cache_key",
    "check_requirements",
    "evaluate",
    "plan_from_suite",
    "run_plan",
]
