"""The Target protocol and the target registry.

A target turns a ``Case`` into an ``Output``. It never raises for a per-case failure: it returns an
``Output`` whose ``error`` is a classified ``TargetError`` (retryable or not, with ``retry_after``), and the
runner owns retries, backoff, concurrency and rate limits. ``spec()`` returns a JSON-able description with
no secrets; it is part of the response-cache key and of the run's provenance.

Example:
    >>> @register_target("echo")
    ... class Echo:
    ...     def __init__(self, **options): self.options = options
    ...     async def __call__(self, case): return Output(text=case.input_text)
    ...     def spec(self): return {"type": "echo"}
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from assay.types import Case, ConfigError, Output

__all__ = ["Target", "create_target", "known_targets", "register_target"]


@runtime_checkable
class Target(Protocol):
    """Anything with ``async __call__(case) -> Output`` and ``spec() -> dict``.

    Optional attributes the runner reads when present: ``timeout_s`` (per attempt), ``max_attempts``,
    and ``async aclose()`` (called once when the run ends).
    """

    async def __call__(self, case: Case) -> Output: ...

    def spec(self) -> dict[str, Any]: ...


_TARGETS: dict[str, Callable[..., Target]] = {}


def register_target(name: str) -> Callable[[Callable[..., Target]], Callable[..., Target]]:
    """Register a target factory under ``name`` (the suite's ``target.type``)."""

    def deco(factory: Callable[..., Target]) -> Callable[..., Target]:
        _TARGETS[name] = factory
        return factory

    return deco


def _load_builtins() -> None:
    # Importing the modules registers them; plugins come through the ``assay.plugins`` entry points.
    from assay.plugins import load_plugins
    from assay.target import openai, python, replay  # noqa: F401

    load_plugins()


def known_targets() -> list[str]:
    _load_builtins()
    return sorted(_TARGETS)


def create_target(type: str, **options: Any) -> Target:
    """Build a registered target. Unknown types raise ``ConfigError`` listing known ones and the closest."""
    _load_builtins()
    factory = _TARGETS.get(type)
    if factory is None:
        known = sorted(_TARGETS)
        close = difflib.get_close_matches(type, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            f"unknown target type '{type}'. Known: {', '.join(known)}.{hint}", field="target.type"
        )
    return factory(**options)
