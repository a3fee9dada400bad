"""Log the chat completions an ``openai`` client makes, without changing what the app sees.

``wrap_openai(monitor, client)`` returns a proxy of the client: ``proxy.chat.completions.create(...)``
calls the real method and logs one event per call (messages, answer, model, usage, latency, time to first
token for streams, error). Everything else is passed through. Works with ``OpenAI`` and ``AsyncOpenAI``
(and any OpenAI-compatible server: vLLM, llama.cpp, Ollama …). Logging failures are swallowed.

Example:
    >>> client = monitor.wrap_openai(openai.OpenAI(base_url=url, api_key="x"))  # doctest: +SKIP
    >>> client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.monitor.sdk import Monitor

__all__ = ["wrap_openai"]

_ERROR_KINDS = {
    "APITimeoutError": "timeout",
    "RateLimitError": "rate_limited",
    "APIConnectionError": "http_error",
    "APIStatusError": "http_error",
    "InternalServerError": "http_error",
    "BadRequestError": "http_error",
    "AuthenticationError": "http_error",
    "NotFoundError": "http_error",
}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multimodal parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _messages(kwargs: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"role": str(m.get("role", "user")), "content": _text(m.get("content"))}
        for m in kwargs.get("messages") or []
        if isinstance(m, dict)
    ]


def _error_kind(exc: BaseException) -> str:
    for cls in type(exc).__mro__:
        if cls.__name__ in _ERROR_KINDS:
            return _ERROR_KINDS[cls.__name__]
    return "target_exception"


class _Call:
    """What one call has produced so far (filled as a stream is consumed)."""

    def __init__(self, monitor: Monitor, kwargs: dict[str, Any], fields: dict[str, Any]) -> None:
        self.monitor = monitor
        self.fields = fields
        self.kwargs = kwargs
        self.start = time.perf_counter()
        self.ttft: float | None = None
        self.parts: list[str] = []
        self.model: str | None = kwargs.get("model")
        self.usage: dict[str, int] | None = None

    def response(self, resp: Any) -> None:
        try:
            self.model = getattr(resp, "model", None) or self.model
            choices = getattr(resp, "choices", None) or []
            if choices:
                self.parts.append(_text(getattr(choices[0].message, "content", "")))
            self._usage(getattr(resp, "usage", None))
        finally:
            self.finish()

    def _usage(self, usage: Any) -> None:
        if usage is not None:
            self.usage = {
                "input_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
                "output_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
            }

    def chunk(self, chunk: Any) -> None:
        try:
            self.model = getattr(chunk, "model", None) or self.model
            for choice in getattr(chunk, "choices", None) or []:
                content = getattr(getattr(choice, "delta", None), "content", None)
                if content:
                    if self.ttft is None:
                        self.ttft = time.perf_counter() - self.start
                    self.parts.append(content)
            self._usage(getattr(chunk, "usage", None))
        except Exception:
            pass

    def finish(self, exc: BaseException | None = None) -> None:
        event: dict[str, Any] = {
            "input": _messages(self.kwargs),
            "latency_s": time.perf_counter() - self.start,
            "metadata": {
                "provider": "openai",
                "operation": "chat",
                "stream": bool(self.kwargs.get("stream")),
            },
            **self.fields,
        }
        if self.model:
            event["model"] = self.model
        if exc is not None:
            event["error"] = {"kind": _error_kind(exc), "message": str(exc)[:2000]}
        else:
            event["output"] = "".join(self.parts)
        if self.usage is not None:
            event["usage"] = self.usage
        if self.ttft is not None:
            event["ttft_s"] = self.ttft
        self.monitor.log(**event)


class _SyncStream:
    def __init__(self, inner: Any, call: _Call) -> None:
        self._inner = inner
        self._call = call
        self._done = False

    def __iter__(self) -> Iterator[Any]:
        try:
            for chunk in self._inner:
                self._call.chunk(chunk)
                yield chunk
        except BaseException as exc:
            self._end(exc)
            raise
        self._end(None)

    def _end(self, exc: BaseException | None) -> None:
        if not self._done:
            self._done = True
            self._call.finish(exc)

    def __enter__(self) -> _SyncStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self._end(None)
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _AsyncStream:
    def __init__(self, inner: Any, call: _Call) -> None:
        self._inner = inner
        self._call = call
        self._done = False

    async def __aiter__(self) -> AsyncIterator[Any]:
        try:
            async for chunk in self._inner:
                self._call.chunk(chunk)
                yield chunk
        except BaseException as exc:
            self._end(exc)
            raise
        self._end(None)

    def _end(self, exc: BaseException | None) -> None:
        if not self._done:
            self._done = True
            self._call.finish(exc)

    async def __aenter__(self) -> _AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._end(None)
        close = getattr(self._inner, "close", None)
        if close is not None:
            await close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Completions:
    def __init__(self, inner: Any, monitor: Monitor, fields: dict[str, Any]) -> None:
        self._inner = inner
        self._monitor = monitor
        self._fields = fields

    def create(self, *args: Any, **kwargs: Any) -> Any:
        call = _Call(self._monitor, kwargs, self._fields)
        try:
            resp = self._inner.create(*args, **kwargs)
        except BaseException as exc:
            call.finish(exc)
            raise
        if inspect.isawaitable(resp):  # AsyncOpenAI
            return self._finish_async(resp, call, bool(kwargs.get("stream")))
        if kwargs.get("stream"):
            return _SyncStream(resp, call)
        call.response(resp)
        return resp

    async def _finish_async(self, pending: Any, call: _Call, stream: bool) -> Any:
        try:
            resp = await pending
        except BaseException as exc:
            call.finish(exc)
            raise
        if stream:
            return _AsyncStream(resp, call)
        call.response(resp)
        return resp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Chat:
    def __init__(self, inner: Any, monitor: Monitor, fields: dict[str, Any]) -> None:
        self._inner = inner
        self.completions = _Completions(inner.completions, monitor, fields)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Client:
    def __init__(self, inner: Any, monitor: Monitor, fields: dict[str, Any]) -> None:
        self._inner = inner
        self.chat = _Chat(inner.chat, monitor, fields)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def wrap_openai(monitor: Monitor, client: Any, **fields: Any) -> Any:
    """A proxy of ``client`` whose chat completions are logged to ``monitor`` (``fields`` added)."""
    if not hasattr(client, "chat") or not hasattr(client.chat, "completions"):
        raise TypeError(f"expected an openai.OpenAI or AsyncOpenAI client, got {type(client).__name__}")
    return _Client(client, monitor, fields)
