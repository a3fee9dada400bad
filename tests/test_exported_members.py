"""The public API is deliberate: every package exports a curated __all__ whose names all exist."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "assay",
    "assay.types",
    "assay.runner",
    "assay.store",
    "assay.target",
    "assay.scorer",
    "assay.redteam",
    "assay.report",
    "assay.label",
    "assay.dataset",
    "assay.stats",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist_and_are_sorted(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported)), "duplicates in __all__"
    for member in exported:
        assert getattr(module, member) is not None, f"{name}.{member}"


def test_top_level_api() -> None:
    import assay

    assert set(assay.__all__) >= {"evaluate", "aevaluate", "Case", "Output", "Score", "load_suite", "stats"}
    assert callable(assay.evaluate) and hasattr(assay.stats, "wilson_interval")


def test_importing_assay_stays_light() -> None:
    import subprocess
    import sys

    code = "import sys, assay, assay.cli; print(','.join(m for m in ('numpy','sqlalchemy','httpx','aiohttp','scipy','pyarrow') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"heavy modules imported by `import assay, assay.cli`: {out}"
