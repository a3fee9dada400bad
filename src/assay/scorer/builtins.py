"""Imports the built-in scorer modules so that their ``@register_scorer`` decorators run.

``assay.scorer.base._load_builtins`` imports this module before looking a scorer up. Scorer families that
need heavy libraries import them inside their functions, so importing this module stays cheap.
"""

from __future__ import annotations

from assay.scorer import efficiency, factuality, judge, rag, reference, safety

__all__ = ["efficiency", "factuality", "judge", "rag", "reference", "safety"]
