"""Fixtures for the store tests: every backend-generic test runs on SQLite and, when
``ASSAY_TEST_POSTGRES_URL`` is set (see tests/store/start_postgres.sh), on PostgreSQL too."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from assay.store import ResultRecord, RunRecord, Store, open_store

POSTGRES_URL = os.environ.get("ASSAY_TEST_POSTGRES_URL", "").strip()
NO_POSTGRES = "PostgreSQL store tests need ASSAY_TEST_POSTGRES_URL (tests/store/start_postgres.sh prints one)"

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def reset_postgres(url: str) -> None:
    """Drop the store's tables so each PostgreSQL test starts from an empty database."""
    from sqlalchemy import create_engine

    from assay.store.schema import metadata

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        metadata.drop_all(engine)
    finally:
        engine.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A URL of an empty store on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store/assay.db"
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    try:
        yield s
    finally:
        s.close()


def make_run(run_id: str = "run-1", *, suite: str = "demo", minutes: int = 0, **kw: Any) -> RunRecord:
    fields: dict[str, Any] = {
        "run_id": run_id,
        "suite": suite,
        "status": "running",
        "created_at": T0 + timedelta(minutes=minutes),
        "finished_at": None,
        "n_planned": 10,
        "config": {"concurrency": 16, "scorers": ["exact_match", "token_f1"]},
        "provenance": {"suite_sha256": "ab" * 32, "git_commit": None, "versions": {"assay": "0.1.0"}},
        "summary": None,
    }
    fields.update(kw)
    return RunRecord(**fields)


def make_result(run_id: str, case_id: str, repeat: int = 0, *, n_scores: int = 3, **kw: Any) -> ResultRecord:
    all_scores: list[dict[str, Any]] = [
        {
            "name": "exact_match",
            "value": case_id.endswith("0"),
            "kind": "binary",
            "higher_is_better": True,
            "explanation": "",
            "metadata": {},
            "error": None,
        },
        {
            "name": "token_f1",
            "value": 0.625,
            "kind": "continuous",
            "higher_is_better": True,
            "explanation": "5 of 8 tokens",
            "metadata": {"precision": 0.5, "recall": 0.8333, "tokens": ["a", "b"]},
            "error": None,
        },
        {
            "name": "judge",
            "value": None,
            "kind": "proportion",
            "higher_is_better": True,
            "explanation": "",
            "metadata": {},
            "error": "judge returned no verdict",
        },
        {
            "name": "latency",
            "value": 0.25,
            "kind": "continuous",
            "higher_is_better": False,
            "explanation": "",
            "metadata": {},
            "error": None,
        },
    ]
    scores = all_scores[:n_scores]
    fields: dict[str, Any] = {
        "run_id": run_id,
        "case_id": case_id,
        "repeat": repeat,
        "case": {
            "id": case_id,
            "input": f"Où est la commande {case_id}? 📦",
            "expected": ["shipped", "en route"],
            "context": [{"id": "kb-1", "text": "Orders ship in 2 days."}],
            "metadata": {"category": "shipping", "tags": ["fr", "orders"]},
        },
        "output": {
            "text": "Your order is en route.",
            "contexts": [{"id": "kb-1", "text": "Orders ship in 2 days.", "score": 2.5}],
            "usage": {"input_tokens": 31, "output_tokens": 7},
            "latency_s": 0.25,
            "ttft_s": 0.05,
            "cost_usd": 1.2e-05,
            "confidence": None,
            "logprobs": None,
            "error": None,
        },
        "scores": scores,
        "error_kind": None,
        "error_message": None,
        "latency_s": 0.25,
        "ttft_s": 0.05,
        "cost_usd": 1.2e-05,
        "input_tokens": 31,
        "output_tokens": 7,
        "attempts": 1,
        "cached": False,
        "created_at": T0 + timedelta(seconds=repeat),
    }
    fields.update(kw)
    return ResultRecord(**fields)


@pytest.fixture
def new_run() -> Any:
    """``new_run(run_id, suite=..., minutes=..., **fields) -> RunRecord``."""
    return make_run


@pytest.fixture
def new_result() -> Any:
    """``new_result(run_id, case_id, repeat=0, n_scores=3, **fields) -> ResultRecord``."""
    return make_result
