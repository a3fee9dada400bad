"""The curated public API of assay.monitor (as httpx's test_exported_members)."""

from __future__ import annotations

import subprocess
import sys

import assay.monitor


def test_exported_members() -> None:
    exported = set(assay.monitor.__all__)
    assert exported == {name for name in dir(assay.monitor) if not name.startswith("_") and name in exported}
    for name in exported - {"EVENT_SCHEMA_VERSION"}:
        assert getattr(assay.monitor, name).__module__.startswith("assay.monitor"), name


def test_importing_monitor_does_not_import_fastapi() -> None:
    code = "import sys, assay.monitor; print('fastapi' in sys.modules, 'uvicorn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
