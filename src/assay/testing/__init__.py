"""Test helpers shipped with assay: a loopback OpenAI-compatible server with fault injection.

Not imported by ``assay`` itself (its server side needs aiohttp.web); names load on first use so that
``python -m assay.testing.fake_openai`` runs cleanly. Example::

    from assay.testing import FakeOpenAIServer, Fault

    with FakeOpenAIServer(faults=[Fault("429", times=1, retry_after="2")]) as server:
        target = create_target("openai", base_url=server.base_url, model="m")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.testing.fake_openai import FAULT_KINDS, FakeOpenAIServer, Fault, parse_fault, read_call_log

__all__ = ["FAULT_KINDS", "FakeOpenAIServer", "Fault", "parse_fault", "read_call_log"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from assay.testing import fake_openai

        return getattr(fake_openai, name)
    raise AttributeError(f"module 'assay.testing' has no attribute {name!r}")
