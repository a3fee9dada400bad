"""assay: evaluate LLM systems end to end, with honest statistics on every number.

The public API is small and lazy (importing ``assay`` does not import numpy, SQLAlchemy or HTTP clients):

    >>> import assay
    >>> summary = assay.evaluate(cases, target, ["exact_match"])    # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.types import (
    AssayError,
    Case,
    ConfigError,
    DatasetError,
    Doc,
    Message,
    Output,
    Score,
    ScorerError,
    StoreError,
    TargetError,
    Usage,
)

__version__ = "0.1.0"

__all__ = [
    "AssayError",
    "Case",
    "ConfigError",
    "DatasetError",
    "Doc",
    "Message",
    "Output",
    "RunSummary",
    "Score",
    "ScorerError",
    "StoreError",
    "TargetError",
    "Usage",
    "__version__",
    "aevaluate",
    "evaluate",
    "load_suite",
    "register_scorer",
    "register_target",
    "stats",
]

_LAZY = {
    "evaluate": ("assay.runner.api", "evaluate"),
    "aevaluate": ("assay.runner.api", "aevaluate"),
    "RunSummary": ("assay.runner.summary", "RunSummary"),
    "load_suite": ("assay.suite", "load_suite"),
    "register_scorer": ("assay.scorer.base", "register_scorer"),
    "register_target": ("assay.target.base", "register_target"),
}

if TYPE_CHECKING:
    from assay import stats
    from assay.runner.api import aevaluate, evaluate
    from assay.runner.summary import RunSummary
    from assay.scorer.base import register_scorer
    from assay.suite import load_suite
    from assay.target.base import register_target


def __getattr__(name: str) -> Any:
    import importlib

    if name == "stats":
        return importlib.import_module("assay.stats")
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'assay' has no attribute {name!r}")
