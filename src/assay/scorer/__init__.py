"""Scorers: measure one output of one case and return a Score (or several).

Build a registered scorer by name with ``create_scorer`` (unknown names list the known ones), or use the
classes directly. Third-party scorers register through the ``assay.plugins`` entry-point group.

Example:
    >>> em = create_scorer("exact_match", remove_punctuation=True)
    >>> em.spec()["options"]["remove_punctuation"]
    True
"""

from __future__ import annotations

from assay.scorer.base import BaseScorer, Scorer, create_scorer, known_scorers, register_scorer
from assay.scorer.efficiency import TTFT, Cost, Latency, Tokens
from assay.scorer.reference import Contains, ExactMatch, JsonSchema, JsonValid, Numeric, Regex, TokenF1

__all__ = [
    "TTFT",
    "BaseScorer",
    "Contains",
    "Cost",
    "ExactMatch",
    "JsonSchema",
    "JsonValid",
    "Latency",
    "Numeric",
    "Regex",
    "Scorer",
    "TokenF1",
    "Tokens",
    "create_scorer",
    "known_scorers",
    "register_scorer",
]
