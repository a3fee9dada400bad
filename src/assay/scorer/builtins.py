"""Where each built-in scorer is defined, so a scorer's module is imported only when it is asked for.

``assay.scorer.base`` imports the one module that registers a requested built-in name (``exact_match``
needs only ``assay.scorer.reference``, not the safety rules or the judges), and every module, plus the
plugins, when a name is not built in or the full list is wanted. A test holds this table equal to what
the modules register.
"""

from __future__ import annotations

import importlib

__all__ = ["BUILTIN_SCORERS", "load_all"]

_FAMILIES = {
    "assay.scorer.efficiency": ("cost", "latency", "tokens", "ttft"),
    "assay.scorer.reference": (
        "contains",
        "exact_match",
        "json_schema",
        "json_valid",
        "numeric",
        "regex",
        "token_f1",
    ),
    "assay.scorer.factuality": ("factual_precision", "faithfulness", "hallucination"),
    "assay.scorer.judge": ("pairwise", "reference_guided", "rubric"),
    "assay.scorer.rag": (
        "abstention",
        "answer_relevancy",
        "citation_accuracy",
        "context_precision",
        "context_recall",
        "retrieval",
    ),
    "assay.scorer.safety": (
        "canary",
        "harmful_compliance",
        "injection_followed",
        "pii_leak",
        "refusal",
        "safe_redirect",
        "toxicity",
    ),
}

BUILTIN_SCORERS: dict[str, str] = {name: module for module, names in _FAMILIES.items() for name in names}
"""Built-in scorer name -> the module whose ``@register_scorer`` defines it."""


def load_all() -> None:
    """Import every built-in scorer module (registering all of them)."""
    for module in _FAMILIES:
        importlib.import_module(module)
