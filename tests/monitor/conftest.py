"""Fixtures for the monitoring tests: stores on SQLite and (with ASSAY_TEST_POSTGRES_URL) PostgreSQL,
a synthetic clock, and event factories."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from assay.store import Store, open_store

# the store tests' backend-parametrised fixtures (SQLite, and PostgreSQL when configured)
from tests.store.conftest import store, store_url  # noqa: F401

T0 = datetime(2025, 3, 1, 0, 0, 0, tzinfo=UTC)
KEY = b"test-key"


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path}/assay.db")
    try:
        yield s
    finally:
        s.close()


def make_event(i: int, **kw: Any) -> dict[str, Any]:
    """A valid raw event number ``i`` (one per second from T0)."""
    ev: dict[str, Any] = {
        "event_id": f"ev-{i}",
        "ts": T0.timestamp() + i,
        "app": "bot",
        "model": "m1",
        "input": f"question {i}",
        "output": f"answer {i}",
        "latency_s": 0.1 + (i % 10) / 100,
        "usage": {"input_tokens": 10, "output_tokens": 5},
        "cost_usd": 0.001,
    }
    ev.update(kw)
    return ev
