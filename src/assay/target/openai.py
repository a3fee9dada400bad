"""The ``openai`` target: any OpenAI-compatible chat-completions server (OpenAI, vLLM, llama.cpp, Ollama …).

One call is ONE attempt: the runner owns retries, backoff and rate limits, this module classifies what
went wrong so the runner can decide (see ``classify_status``). The HTTP client is aiohttp, chosen by
measurement (``bench/http_clients.py``: several times the throughput of httpx at concurrency 16 and 64,
with a tenth of the client CPU per call); it is imported lazily so ``import assay`` stays fast.

Suite file::

    target:
      type: openai
      base_url: http://127.0.0.1:8000/v1
      model: my-model
      api_key_env: OPENAI_API_KEY     # the key is read at construction and never shown anywhere
      system: "You are a support assistant."
      params: {temperature: 0, max_tokens: 256, logprobs: true}
      pricing: {input_per_mtok: 0.15, output_per_mtok: 0.60}
      stream: true                    # records time-to-first-token

Messages sent: one system message (``system``, then the case's context documents rendered with
``context_template`` when the template has no ``{input}``), then the case's messages. A template with
``{input}`` instead replaces the last user message, e.g. ``"Context:\\n{context}\\n\\nQuestion: {input}"``.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import os
import re
import time
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import Field, field_validator

from assay import __version__
from assay.target._common import StrictOptions, parse_options
from assay.target.base import register_target
from assay.types import Case, ConfigError, Doc, Output, TargetError, Usage

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "DEFAULT_CONTEXT_TEMPLATE",
    "OpenAITarget",
    "classify_status",
    "parse_retry_after",
    "render_context",
]

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_TEMPLATE = "Use the following context:\n\n{context}"
_RESERVED_PARAMS = ("model", "messages", "stream")
_RETRYABLE_STATUS = frozenset({408, 500, 502, 503, 504, *range(520, 530)})
_PLACEHOLDER = re.compile(r"\{(context|input)\}")
_SNIPPET = 200


def _loads(data: bytes) -> Any:
    """Parse a JSON body: orjson, and the standard library for what orjson refuses (it has the last word).

    The standard library accepts a few things orjson does not (``NaN``/``Infinity`` literals, integers
    beyond 64 bits), so a body orjson rejects is parsed again before it is called invalid.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _orjson_writes_the_same(base: dict[str, Any]) -> bool:
    """Whether orjson writes request bodies built on ``base`` as the standard library would.

    Messages are strings, so only the fixed part (model and ``params``) can differ: a non-finite float
    (which the standard library writes as the non-JSON ``NaN``) or an integer beyond 64 bits. Either
    sends every request through ``json.dumps``, as before.
    """
    try:
        json.dumps(base, allow_nan=False)
        orjson.dumps(base, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, ValueError):
        return False
    return True


def _dumps(obj: dict[str, Any], *, fast: bool) -> bytes:
    """A request body. ``fast``: orjson (non-string keys written as strings, as ``json.dumps`` does)."""
    if fast:
        try:
            return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:  # e.g. a lone surrogate in a message: the standard library decides what happens
            pass
    return json.dumps(obj, ensure_ascii=False).encode()


class Pricing(StrictOptions):
    """Prices in USD per million tokens."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class OpenAIOptions(StrictOptions):
    """Options of the ``openai`` target (the suite file's ``target:`` block)."""

    base_url: str
    """Server root including the API prefix, e.g. ``http://127.0.0.1:8000/v1``."""
    model: str
    api_key_env: str | None = None
    """Name of the environment variable holding the API key (the key itself never goes in a file)."""
    system: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    """Passed through in the request body: temperature, max_tokens, top_p, seed, stop, logprobs …"""
    pricing: Pricing | None = None
    timeout_s: float = Field(30.0, gt=0)
    max_attempts: int = Field(4, ge=1)
    stream: bool = False
    headers: dict[str, str] = Field(default_factory=dict)
    context_template: str = DEFAULT_CONTEXT_TEMPLATE
    max_connections: int = Field(100, ge=1)

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("base_url must be an http:// or https:// URL, e.g. http://127.0.0.1:8000/v1")
        return v.rstrip("/")

    @field_validator("params")
    @classmethod
    def _check_params(cls, v: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in _RESERVED_PARAMS if k in v]
        if bad:
            raise ValueError(f"params may not set {', '.join(bad)}: use the target options 'model'/'stream'")
        try:
            json.dumps(v)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"params must be JSON-serialisable: {exc}") from None
        return v

    @field_validator("context_template")
    @classmethod
    def _check_template(cls, v: str) -> str:
        if "{context}" not in v:
            raise ValueError("context_template must contain the placeholder {context}")
        return v


def render_context(docs: tuple[Doc, ...] | list[Doc]) -> str:
    """Number the documents: ``"[1] first\\n\\n[2] second"``."""
    return "\n\n".join(f"[{i}] {d.text}" for i, d in enumerate(docs, 1))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date (RFC 9110).

    >>> parse_retry_after("7")
    7.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0)
    10.0
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        ref = datetime.fromtimestamp(time.time() if now is None else now, UTC)
        return max(0.0, (when - ref).total_seconds())
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _retry_after(headers: Any) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))


def _snippet(body: bytes) -> str:
    text = body[:_SNIPPET].decode("utf-8", "replace")
    return text + ("…" if len(body) > _SNIPPET else "")


def classify_status(status: int, headers: Any, body: bytes) -> TargetError:
    """Turn a non-2xx response into a classified ``TargetError``.

    429 → ``rate_limited`` (retryable unless the quota is exhausted), with ``retry_after``; 408, 500,
    502, 503, 504 (and 520–529) → retryable ``http_error``; any other status → fatal ``http_error``.
    """
    detail = _snippet(body)
    code = None
    try:
        err = json.loads(body).get("error")
        if isinstance(err, dict):
            detail = str(err.get("message") or detail)[:_SNIPPET]
            code = err.get("code")
        elif isinstance(err, str):
            detail = err[:_SNIPPET]
    except (ValueError, AttributeError):
        pass
    message = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    retry_after = _retry_after(headers)
    if status == 429:
        return TargetError(
            "rate_limited",
            message,
            retryable=code != "insufficient_quota",
            retry_after=retry_after,
            status=429,
        )
    retryable = status in _RETRYABLE_STATUS
    return TargetError(
        "http_error",
        message,
        retryable=retryable,
        retry_after=retry_after if retryable else None,
        status=status,
    )


def _invalid(message: str) -> TargetError:
    return TargetError("invalid_response", message, retryable=True)


def _usage(obj: Any) -> Usage | None:
    if not isinstance(obj, dict):
        return None
    pt, ct = obj.get("prompt_tokens"), obj.get("completion_tokens")
    if not isinstance(pt, int) and not isinstance(ct, int):
        return None
    return Usage(pt if isinstance(pt, int) else 0, ct if isinstance(ct, int) else 0)


def _logprobs(obj: Any, into: list[dict[str, Any]]) -> bool:
    """Append ``{token, logprob}`` items from a choice's ``logprobs`` to ``into``; False if malformed."""
    if obj is None:
        return True
    content = obj.get("content") if isinstance(obj, dict) else None
    if content is None:
        return True
    if not isinstance(content, list):
        return False
    for item in content:
        lp = item.get("logprob") if isinstance(item, dict) else None
        if isinstance(lp, bool) or not isinstance(lp, int | float) or lp > 0 or math.isnan(lp):
            return False
        into.append({"token": str(item.get("token", "")), "logprob": float(lp)})
    return True


def _confidence(logprobs: list[dict[str, Any]] | None) -> float | None:
    """exp(mean token log-probability): the geometric-mean token probability, in [0, 1]."""
    if not logprobs:
        return None
    return math.exp(sum(x["logprob"] for x in logprobs) / len(logprobs))


def _content_text(content: Any) -> str | None:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": "..."}]
        texts = [p.get("text") for p in content if isinstance(p, dict)]
        if all(isinstance(t, str) for t in texts):
            return "".join(t for t in texts if t is not None)
    return None


async def _close_at_loop_shutdown(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        if not session.closed:
            await session.close()


@register_target("openai")
class OpenAITarget:
    """Calls ``POST {base_url}/chat/completions`` once per case; see the module docstring for options.

    Example:
        >>> t = OpenAITarget(base_url="http://127.0.0.1:8000/v1", model="m", params={"temperature": 0})
        >>> t.spec()["model"], t.timeout_s, t.max_attempts
        ('m', 30.0, 4)
    """

    #: each attempt is bounded by ``timeout_s`` here, so the runner adds no guard of its own
    enforces_timeout = True

    def __init__(self, *, base_dir: Path | None = None, **options: Any) -> None:
        opts = parse_options(OpenAIOptions, options, target="openai")
        self.base_url = opts.base_url
        self.model = opts.model
        self.system = opts.system
        self.params = dict(opts.params)
        self.stream = opts.stream
        self.context_template = opts.context_template
        self.timeout_s = float(opts.timeout_s)
        self.max_attempts = int(opts.max_attempts)
        self.max_connections = opts.max_connections
        self._pricing = opts.pricing
        self._api_key: str | None = None
        if opts.api_key_env is not None:
            key = os.environ.get(opts.api_key_env, "").strip()
            if not key:
                raise ConfigError(
                    f"environment variable '{opts.api_key_env}' (api_key_env) is not set or empty",
                    field="target.api_key_env",
                )
            self._api_key = key
        self._url = (
            self.base_url
            if self.base_url.endswith("/chat/completions")
            else self.base_url + "/chat/completions"
        )
        headers = {"Content-Type": "application/json", "User-Agent": f"assay/{__version__}", **opts.headers}
        headers["Accept"] = "text/event-stream" if self.stream else "application/json"
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        self._headers = headers
        self._body_base: dict[str, Any] = {"model": self.model, **self.params}
        if self.stream:
            stream_options = dict(self._body_base.get("stream_options") or {})
            stream_options.setdefault("include_usage", True)
            self._body_base.update(stream=True, stream_options=stream_options)
        self._fast_json = _orjson_writes_the_same(self._body_base)
        self._session: aiohttp.ClientSession | None = None
        self._request_url: Any = None  # yarl.URL of self._url, made with the session
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._keeper: AsyncGenerator[None, None] | None = None

    # ----------------------------------------------------------------------------------- protocol
    def spec(self) -> dict[str, Any]:
        """What determines the answers (cache key, provenance). No key, no headers."""
        return {
            "type": "openai",
            "base_url": self.base_url,
            "model": self.model,
            "system": self.system,
            "params": self.params,
            "stream": self.stream,
            "context_template": self.context_template,
        }

    def __repr__(self) -> str:
        return f"OpenAITarget(base_url={self.base_url!r}, model={self.model!r}, stream={self.stream})"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_session"] = state["_session_loop"] = state["_keeper"] = None  # sessions belong to one loop
        return state

    def messages_for(self, case: Case) -> list[dict[str, Any]]:
        """The chat messages sent for ``case`` (system prompt, context, then the case's messages)."""
        messages = [m.to_dict() for m in case.messages]
        system_parts = [self.system] if self.system else []
        if case.context:
            values = {"context": render_context(case.context)}
            if "{input}" in self.context_template:
                for m in reversed(messages):
                    if m["role"] == "user":
                        values["input"] = m["content"]
                        m["content"] = _PLACEHOLDER.sub(lambda g: values[g.group(1)], self.context_template)
                        break
            else:
                system_parts.append(
                    _PLACEHOLDER.sub(lambda g: values.get(g.group(1), g.group(0)), self.context_template)
                )
        if system_parts:
            messages.insert(0, {"role": "system", "content": "\n\n".join(system_parts)})
        return messages

    async def __call__(self, case: Case) -> Output:
        """One attempt. Never raises for a per-case failure: the error is classified on the Output."""
        import aiohttp

        body = _dumps({**self._body_base, "messages": self.messages_for(case)}, fast=self._fast_json)
        session = await self._get_session()
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                # the URL is parsed and the headers merged once, when the session is made
                async with session.post(self._request_url, data=body) as resp:
                    if resp.status == 200 and resp.content_type == "text/event-stream":
                        return await self._read_stream(resp, t0)
                    data = await resp.read()
                    status, headers = resp.status, resp.headers
        except TimeoutError:
            err = TargetError("timeout", f"no complete response within {self.timeout_s:g} s", retryable=True)
            return Output(error=err, latency_s=time.perf_counter() - t0)
        except aiohttp.ClientPayloadError as exc:
            return self._failed(f"connection dropped mid-body: {exc}", t0)
        except aiohttp.ServerDisconnectedError as exc:
            return self._failed(f"server closed the connection: {exc}", t0)
        except aiohttp.ClientConnectorError as exc:
            return self._failed(f"cannot connect to {self.base_url}: {exc.os_error or exc}", t0)
        except (aiohttp.ClientError, OSError) as exc:
            return self._failed(f"{type(exc).__name__}: {exc}", t0)
        latency = time.perf_counter() - t0
        if not 200 <= status < 300:
            return Output(error=self._scrub(classify_status(status, headers, data)), latency_s=latency)
        return self._parse_body(data, latency)

    async def aclose(self) -> None:
        """Close the HTTP session (idempotent). The runner calls it when the run ends."""
        session, keeper = self._session, self._keeper
        self._session = self._keeper = None
        running = asyncio.get_running_loop()
        if session is not None and not session.closed and running is self._session_loop:
            await session.close()
        if keeper is not None and running is self._session_loop:
            await keeper.aclose()
        self._session_loop = None

    # ----------------------------------------------------------------------------------- internals
    async def _get_session(self) -> aiohttp.ClientSession:
        """One session per target and event loop, created lazily inside the running loop."""
        loop = asyncio.get_running_loop()
        session = self._session
        if session is not None and self._session_loop is loop and not session.closed:
            return session
        import aiohttp
        import yarl

        if session is not None and not session.closed:
            # Its loop ended without aclose() and without shutting down async generators.
            log.debug("openai target reused from another event loop: opening a new HTTP session")
            session.detach()
        connector = aiohttp.TCPConnector(limit=self.max_connections, ttl_dns_cache=300)
        proxies = any(os.environ.get(k) for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"))
        session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(total=None),
            trust_env=proxies,
        )
        self._request_url = yarl.URL(self._url)
        # An async generator parked at its yield is closed by the loop's shutdown_asyncgens()
        # (asyncio.run does this), so a session whose owner forgot aclose() is still closed cleanly.
        keeper = _close_at_loop_shutdown(session)
        self._session, self._session_loop, self._keeper = session, loop, keeper
        await keeper.__anext__()
        return session

    def _scrub(self, err: TargetError) -> TargetError:
        """Never let the key leak through an error message (a server might echo headers back)."""
        if self._api_key and self._api_key in err.message:
            return TargetError(
                err.kind,
                err.message.replace(self._api_key, "***"),
                retryable=err.retryable,
                retry_after=err.retry_after,
                status=err.status,
            )
        return err

    def _failed(self, message: str, t0: float) -> Output:
        err = self._scrub(TargetError("http_error", message, retryable=True))
        return Output(error=err, latency_s=time.perf_counter() - t0)

    def _cost(self, usage: Usage | None) -> float | None:
        if self._pricing is None or usage is None:
            return None
        p = self._pricing
        return (usage.input_tokens * p.input_per_mtok + usage.output_tokens * p.output_per_mtok) / 1e6

    def _parse_body(self, data: bytes, latency: float) -> Output:
        try:
            payload = _loads(data)
        except (ValueError, UnicodeDecodeError):
            err = _invalid(f"response is not valid JSON ({len(data)} bytes): {_snippet(data)}")
            return Output(error=self._scrub(err), latency_s=latency)
        choices = payload.get("choices") if isinstance(payload, dict) else None
        choice = choices[0] if isinstance(choices, list) and choices else None
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(choice, dict) or not isinstance(message, dict):
            err = _invalid(f"response has no choices[0].message: {_snippet(data)}")
            return Output(error=self._scrub(err), latency_s=latency)
        text = _content_text(message.get("content"))
        if text is None:
            err = _invalid(f"choices[0].message.content is not text: {_snippet(data)}")
            return Output(error=self._scrub(err), latency_s=latency)
        usage = _usage(payload.get("usage"))
        items: list[dict[str, Any]] = []
        logprobs: list[dict[str, Any]] | None = items
        if not _logprobs(choice.get("logprobs"), items):
            log.debug("ignoring malformed logprobs in response from %s", self.base_url)
            logprobs = None
        return Output(
            text=text,
            usage=usage,
            latency_s=latency,
            cost_usd=self._cost(usage),
            logprobs=logprobs or None,
            confidence=_confidence(logprobs),
            raw=payload,
        )

    async def _read_stream(self, resp: aiohttp.ClientResponse, t0: float) -> Output:
        """Read an SSE stream of chat.completion.chunk events (raises aiohttp errors to the caller)."""
        parts: list[str] = []
        logprobs: list[dict[str, Any]] | None = []
        usage: Usage | None = None
        ttft: float | None = None
        finished = done = False
        buffer = b""
        async for block in resp.content.iter_any():
            buffer += block
            *lines, buffer = buffer.split(b"\n")
            for raw_line in lines:
                line = raw_line.strip()
                if not line.startswith(b"data:"):
                    continue  # blank separators, ": comments", "event:", "id:", "retry:"
                data = line[5:].strip()
                if data == b"[DONE]":
                    done = True
                    break
                try:
                    chunk = _loads(data)
                except (ValueError, UnicodeDecodeError):
                    err = _invalid(f"malformed stream event: {_snippet(data)}")
                    return Output(error=self._scrub(err), latency_s=time.perf_counter() - t0)
                if not isinstance(chunk, dict):
                    err = _invalid(f"stream event is not an object: {_snippet(data)}")
                    return Output(error=self._scrub(err), latency_s=time.perf_counter() - t0)
                if chunk.get("error") and not chunk.get("choices"):
                    err = TargetError("http_error", f"error in stream: {_snippet(data)}", retryable=True)
                    return Output(error=self._scrub(err), latency_s=time.perf_counter() - t0)
                if chunk.get("usage"):
                    usage = _usage(chunk["usage"]) or usage
                for choice in chunk.get("choices") or ():
                    if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                        continue
                    delta = choice.get("delta")
                    content = delta.get("content") if isinstance(delta, dict) else None
                    if isinstance(content, str) and content:
                        if ttft is None:
                            ttft = time.perf_counter() - t0
                        parts.append(content)
                    if logprobs is not None and not _logprobs(choice.get("logprobs"), logprobs):
                        logprobs = None
                    if choice.get("finish_reason"):
                        finished = True
            if done:
                break
        latency = time.perf_counter() - t0
        if not done and not finished:
            return Output(
                error=_invalid("stream ended before [DONE] and without finish_reason"), latency_s=latency
            )
        return Output(
            text="".join(parts),
            usage=usage,
            latency_s=latency,
            ttft_s=ttft,
            cost_usd=self._cost(usage),
            logprobs=logprobs or None,
            confidence=_confidence(logprobs),
        )
