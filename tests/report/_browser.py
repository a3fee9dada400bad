"""One headless Debian chromium per test session, shared by tests/report and tests/server.

Playwright's sync API can run only once per thread, so the two directories' ``browser`` fixtures both
take the browser from here; the last fixture to finish closes it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
_state: dict[str, Any] = {"users": 0}


def acquire() -> Any:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(
                "CI must run the browser tests: Debian's chromium is missing (scripts/system-deps.sh)"
            )
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    if "browser" not in _state:
        pw = sync_api.sync_playwright().start()
        _state["pw"] = pw
        _state["browser"] = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
    _state["users"] += 1
    return _state["browser"]


def release() -> None:
    _state["users"] -= 1
    if _state["users"] == 0 and "browser" in _state:
        _state.pop("browser").close()
        _state.pop("pw").stop()
