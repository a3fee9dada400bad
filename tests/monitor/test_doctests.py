"""The examples in the monitoring modules' docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "assay.monitor",
        "assay.monitor.event",
        "assay.monitor.anonymise",
        "assay.monitor.sketch",
        "assay.monitor.clock",
        "assay.monitor.ingest",
        "assay.monitor.otlp",
        "assay.monitor.scoring",
        "assay.monitor.sdk",
        "assay.store.events",
    ],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
