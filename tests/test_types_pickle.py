"""Errors and outputs cross process boundaries (the Ray engine's actors, multiprocessing): they must pickle."""

from __future__ import annotations

import pickle

from assay.types import ERROR_KINDS, Output, TargetError


def test_target_error_pickles_with_every_field() -> None:
    err = TargetError("rate_limited", "slow down", retryable=True, retry_after=2.5, status=429)
    back = pickle.loads(pickle.dumps(err))
    assert (back.kind, back.message, back.retryable, back.retry_after, back.status) == (
        "rate_limited",
        "slow down",
        True,
        2.5,
        429,
    )
    assert str(back) == str(err)


def test_output_with_error_pickles() -> None:
    out = Output(error=TargetError("engine_error", "the worker died", retryable=True), latency_s=0.1)
    back = pickle.loads(pickle.dumps(out))
    assert back.error is not None and back.error.kind == "engine_error" and back.error.retryable


def test_engine_error_is_a_known_kind() -> None:
    assert "engine_error" in ERROR_KINDS
