"""Small helpers shared by the scorer tests."""

from __future__ import annotations

import asyncio
from typing import Any

from assay.scorer.base import Scorer
from assay.types import Case, Output, Score


def run(scorer: Scorer, text: str = "", expected: Any = None, **output_fields: Any) -> Score:
    """Score one output against one case and return the single Score."""
    result = asyncio.run(
        scorer.score(Case(id="c1", input="q", expected=expected), Output(text=text, **output_fields))
    )
    assert isinstance(result, Score), result
    return result


def run_many(scorer: Scorer, text: str = "", expected: Any = None, **output_fields: Any) -> list[Score]:
    """Score one output with a scorer that returns several Scores."""
    result = asyncio.run(
        scorer.score(Case(id="c1", input="q", expected=expected), Output(text=text, **output_fields))
    )
    assert isinstance(result, list), result
    return result
