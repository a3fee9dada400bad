"""The examples in the safety and red-team modules' docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "assay.pii",
        "assay.scorer.safety",
        "assay.scorer.safety_rules",
        "assay.scorer.safety_judge",
        "assay.redteam",
        "assay.redteam.probes",
        "assay.redteam.strategies",
        "assay.redteam.grid",
        "assay.redteam.report",
    ],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
