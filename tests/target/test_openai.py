"""Unit tests of the openai target: options, message building, parsing and classification.

Wire-level cases use small aiohttp apps (``aiohttp.test_utils.TestServer``) that answer exactly what each
test needs; the fault-injecting fake server is exercised in tests/integration/test_openai_faults.py.
"""

from __future__ import annotations

import asyncio
import json
import math
import pickle
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from assay.target import OpenAITarget, create_target
from assay.target.openai import classify_status, parse_retry_after, render_context
from assay.types import Case, ConfigError, Doc, Message

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def completion(content: Any = "hi", usage: dict[str, int] | None = None, **choice: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, **choice}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


async def call_with(
    handler: Handler, case: Case | None = None, **options: Any
) -> tuple[Any, list[dict[str, Any]]]:
    """Serve ``handler`` on loopback, make one call, return (Output, request bodies seen)."""
    seen: list[dict[str, Any]] = []

    async def wrapped(request: web.Request) -> web.StreamResponse:
        seen.append({"json": await request.json(), "headers": dict(request.headers)})
        return await handler(request)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", wrapped)
    async with TestServer(app) as server:
        options.setdefault("model", "m")
        target = OpenAITarget(base_url=str(server.make_url("/v1")), **options)
        try:
            out = await target(case or Case(id="c", input="hello"))
        finally:
            await target.aclose()
    return out, seen


def respond(
    status: int = 200, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        data = raw if raw is not None else json.dumps(body if body is not None else completion()).encode()
        return web.Response(status=status, body=data, headers=headers, content_type="application/json")

    return handler


def sse(*events: str, content_type: str = "text/event-stream") -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": content_type})
        await resp.prepare(request)
        for event in events:
            await resp.write(event.encode())
        await resp.write_eof()
        return resp

    return handler


def chunk(content: str | None = None, finish: str | None = None, logprobs: Any = None, **extra: Any) -> str:
    delta = {} if content is None else {"content": content}
    body = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": logprobs}], **extra}
    return f"data: {json.dumps(body)}\n\n"


# ------------------------------------------------------------------------------------------- options
def test_unknown_option_suggests_closest_name() -> None:
    with pytest.raises(ConfigError) as info:
        create_target("openai", base_url="http://h/v1", model="m", timout_s=5)
    assert info.value.field == "target.timout_s"
    assert "Did you mean 'timeout_s'?" in str(info.value)


def test_unknown_pricing_key_suggests_closest_name() -> None:
    with pytest.raises(ConfigError) as info:
        OpenAITarget(base_url="http://h/v1", model="m", pricing={"input_per_mtok": 1, "output_per_mtk": 2})
    assert info.value.field == "target.pricing.output_per_mtk"
    assert "output_per_mtok" in str(info.value)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"model": "m"}, "target.base_url"),
        ({"base_url": "ftp://h", "model": "m"}, "target.base_url"),
        ({"base_url": "http://h", "model": "m", "timeout_s": 0}, "target.timeout_s"),
        ({"base_url": "http://h", "model": "m", "max_attempts": 0}, "target.max_attempts"),
        ({"base_url": "http://h", "model": "m", "params": {"model": "x"}}, "target.params"),
        ({"base_url": "http://h", "model": "m", "params": {"stream": True}}, "target.params"),
        (
            {"base_url": "http://h", "model": "m", "context_template": "no placeholder"},
            "target.context_template",
        ),
        ({"base_url": "http://h", "model": "m", "stream": "sometimes"}, "target.stream"),
    ],
)
def test_bad_options_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        OpenAITarget(**options)
    assert info.value.field == field


def test_missing_key_variable_fails_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAY_TEST_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        OpenAITarget(base_url="http://h/v1", model="m", api_key_env="ASSAY_TEST_KEY")
    assert info.value.field == "target.api_key_env" and "ASSAY_TEST_KEY" in str(info.value)
    monkeypatch.setenv("ASSAY_TEST_KEY", "   ")
    with pytest.raises(ConfigError):
        OpenAITarget(base_url="http://h/v1", model="m", api_key_env="ASSAY_TEST_KEY")


def test_defaults_and_spec_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_TEST_KEY", "sk-secret-123")
    t = OpenAITarget(
        base_url="http://h:1/v1/",
        model="m",
        api_key_env="ASSAY_TEST_KEY",
        headers={"X-Org": "org-secret-header"},
        params={"temperature": 0},
        pricing={"input_per_mtok": 1, "output_per_mtok": 2},
    )
    assert (t.timeout_s, t.max_attempts, t.max_connections) == (30.0, 4, 100)
    spec = t.spec()
    assert spec == {
        "type": "openai",
        "base_url": "http://h:1/v1",
        "model": "m",
        "system": None,
        "params": {"temperature": 0},
        "stream": False,
        "context_template": "Use the following context:\n\n{context}",
    }
    for text in (json.dumps(spec), repr(t), str(t)):
        assert "sk-secret-123" not in text and "org-secret-header" not in text


def test_pickles_without_session() -> None:
    t = OpenAITarget(base_url="http://h/v1", model="m")
    clone = pickle.loads(pickle.dumps(t))
    assert clone.spec() == t.spec() and clone._session is None


# ------------------------------------------------------------------------------------------ messages
def test_messages_system_context_then_case_messages() -> None:
    t = OpenAITarget(base_url="http://h/v1", model="m", system="Be brief.")
    case = Case(id="1", input="Q?", context=(Doc("alpha"), Doc("beta")))
    assert t.messages_for(case) == [
        {"role": "system", "content": "Be brief.\n\nUse the following context:\n\n[1] alpha\n\n[2] beta"},
        {"role": "user", "content": "Q?"},
    ]
    chat = Case(
        id="2", input=(Message("user", "a"), Message("assistant", "b"), Message("user", "c", name="u"))
    )
    assert t.messages_for(chat)[1:] == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c", "name": "u"},
    ]
    assert OpenAITarget(base_url="http://h/v1", model="m").messages_for(Case(id="3", input="x")) == [
        {"role": "user", "content": "x"}
    ]


def test_context_template_with_input_rewrites_the_last_user_message() -> None:
    t = OpenAITarget(
        base_url="http://h/v1", model="m", context_template='Docs: {context}\nQ: {input} {"json": 1}'
    )
    case = Case(id="1", input="what {input}?", context=(Doc("d1 {context}"),))
    assert t.messages_for(case) == [
        {"role": "user", "content": 'Docs: [1] d1 {context}\nQ: what {input}? {"json": 1}'}
    ]
    assert render_context([Doc("a")]) == "[1] a"


# ------------------------------------------------------------------------------------ classification
def test_parse_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412500.0) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (429, "rate_limited", True),
        (503, "http_error", True),
        (500, "http_error", True),
        (502, "http_error", True),
        (504, "http_error", True),
        (408, "http_error", True),
        (400, "http_error", False),
        (401, "http_error", False),
        (404, "http_error", False),
        (501, "http_error", False),
    ],
)
def test_classify_status(status: int, kind: str, retryable: bool) -> None:
    err = classify_status(status, {"retry-after": "2"}, b'{"error": {"message": "nope"}}')
    assert (err.kind, err.retryable, err.status) == (kind, retryable, status)
    assert err.message == f"HTTP {status}: nope"
    assert err.retry_after == (2.0 if retryable else None)


def test_quota_exhausted_429_is_not_retryable() -> None:
    body = b'{"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}}'
    err = classify_status(429, {}, body)
    assert err.kind == "rate_limited" and not err.retryable


def test_4xx_message_carries_a_short_body_snippet() -> None:
    err = classify_status(422, {}, b"x" * 5000)
    assert err.message.startswith("HTTP 422: xxx") and len(err.message) < 260


# ---------------------------------------------------------------------------------------- wire level
def test_request_body_and_parsed_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_TEST_KEY", "sk-abc")
    lp = {"content": [{"token": "4", "logprob": -0.1}, {"token": ".", "logprob": -0.3}]}
    body = completion("4.", usage={"prompt_tokens": 1000, "completion_tokens": 2000}, logprobs=lp)
    out, seen = asyncio.run(
        call_with(
            respond(body=body),
            api_key_env="ASSAY_TEST_KEY",
            system="S",
            params={"temperature": 0, "logprobs": True, "top_logprobs": 2},
            pricing={"input_per_mtok": 0.5, "output_per_mtok": 1.5},
            headers={"X-Extra": "1"},
        )
    )
    sent = seen[0]["json"]
    assert sent == {
        "model": "m",
        "temperature": 0,
        "logprobs": True,
        "top_logprobs": 2,
        "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "hello"}],
    }
    assert seen[0]["headers"]["Authorization"] == "Bearer sk-abc"
    assert seen[0]["headers"]["X-Extra"] == "1"
    assert out.error is None and out.text == "4."
    assert (out.usage.input_tokens, out.usage.output_tokens) == (1000, 2000)
    assert out.cost_usd == pytest.approx(1000 * 0.5 / 1e6 + 2000 * 1.5 / 1e6)
    assert out.logprobs == [{"token": "4", "logprob": -0.1}, {"token": ".", "logprob": -0.3}]
    assert out.confidence == pytest.approx(math.exp(-0.2))
    assert out.raw == body and out.latency_s is not None and out.latency_s > 0


def test_no_usage_means_no_cost_and_null_content_is_empty_text() -> None:
    out, _ = asyncio.run(
        call_with(respond(body=completion(None)), pricing={"input_per_mtok": 1, "output_per_mtok": 1})
    )
    assert out.error is None and out.text == "" and out.usage is None and out.cost_usd is None


def test_content_parts_are_joined() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    out, _ = asyncio.run(call_with(respond(body=completion(parts))))
    assert out.text == "ab"


def test_malformed_logprobs_are_dropped_not_invented() -> None:
    body = completion("x", logprobs={"content": [{"token": "x", "logprob": "high"}]})
    out, _ = asyncio.run(call_with(respond(body=body)))
    assert out.error is None and out.logprobs is None and out.confidence is None


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"<html>bad gateway</html>", "not valid JSON"),
        (b'{"choices": [{"message": {"content": "cut', "not valid JSON"),
        (b'{"object": "chat.completion"}', "no choices[0].message"),
        (b'{"choices": []}', "no choices[0].message"),
        (b'{"choices": [{"text": "legacy"}]}', "no choices[0].message"),
        (b'{"choices": [{"message": {"content": 42}}]}', "not text"),
        (b"[1, 2]", "no choices[0].message"),
    ],
)
def test_bad_bodies_are_invalid_response(raw: bytes, needle: str) -> None:
    out, _ = asyncio.run(call_with(respond(raw=raw)))
    assert out.error is not None and out.error.kind == "invalid_response" and out.error.retryable
    assert needle in out.error.message


def test_retry_after_http_date_and_ms_headers() -> None:
    out, _ = asyncio.run(
        call_with(
            respond(
                429, {"error": {"message": "slow down"}}, {"Retry-After": "Thu, 01 Jan 2099 00:00:00 GMT"}
            )
        )
    )
    assert out.error.kind == "rate_limited" and out.error.retry_after > 3600 * 24 * 365
    out, _ = asyncio.run(
        call_with(respond(429, {"error": "slow"}, {"retry-after-ms": "250", "Retry-After": "9"}))
    )
    assert out.error.retry_after == 0.25 and out.error.message == "HTTP 429: slow"


def test_key_echoed_by_server_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_TEST_KEY", "sk-leaky-999")

    async def echo_auth(request: web.Request) -> web.Response:
        return web.Response(status=401, text=f"bad credentials: {request.headers['Authorization']}")

    out, _ = asyncio.run(call_with(echo_auth, api_key_env="ASSAY_TEST_KEY"))
    assert out.error.kind == "http_error" and not out.error.retryable and out.error.status == 401
    assert "sk-leaky-999" not in out.error.message and "Bearer ***" in out.error.message


def test_connection_refused_is_retryable_http_error() -> None:
    async def go() -> Any:
        t = OpenAITarget(base_url="http://127.0.0.1:9/v1", model="m", timeout_s=5)
        try:
            return await t(Case(id="c", input="x"))
        finally:
            await t.aclose()

    out = asyncio.run(go())
    assert out.error.kind == "http_error" and out.error.retryable and "cannot connect" in out.error.message


def test_timeout_is_retryable() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response(completion())

    out, _ = asyncio.run(call_with(slow, timeout_s=0.2))
    assert out.error.kind == "timeout" and out.error.retryable
    assert 0.2 <= out.latency_s < 2


# ------------------------------------------------------------------------------------------ streaming
def test_stream_text_ttft_usage_and_logprobs() -> None:
    handler = sse(
        ": keep-alive comment\n\n",
        chunk("", role="assistant"),
        chunk("Hel", logprobs={"content": [{"token": "Hel", "logprob": -0.5}]}),
        "event: message\r\n"
        + chunk("lo", logprobs={"content": [{"token": "lo", "logprob": -1.5}]}).replace("\n\n", "\r\n\r\n"),
        chunk(finish="stop"),
        'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}\n\n',
        "data: [DONE]\n\n",
    )
    out, seen = asyncio.run(
        call_with(handler, stream=True, pricing={"input_per_mtok": 1, "output_per_mtok": 1})
    )
    sent = seen[0]["json"]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert seen[0]["headers"]["Accept"] == "text/event-stream"
    assert out.error is None and out.text == "Hello"
    assert out.usage is not None and (out.usage.input_tokens, out.usage.output_tokens) == (3, 2)
    assert out.cost_usd == pytest.approx(5e-6)
    assert out.ttft_s is not None and 0 < out.ttft_s <= out.latency_s
    assert out.confidence == pytest.approx(math.exp(-1.0))


def test_stream_without_usage_leaves_usage_none() -> None:
    out, _ = asyncio.run(call_with(sse(chunk("a"), chunk(finish="stop"), "data: [DONE]\n\n"), stream=True))
    assert out.error is None and out.text == "a" and out.usage is None and out.cost_usd is None


def test_stream_ending_without_done_but_finished_is_accepted() -> None:
    out, _ = asyncio.run(call_with(sse(chunk("a"), chunk(finish="stop")), stream=True))
    assert out.error is None and out.text == "a"


def test_stream_cut_short_is_invalid_response() -> None:
    out, _ = asyncio.run(call_with(sse(chunk("a")), stream=True))
    assert out.error.kind == "invalid_response" and "before [DONE]" in out.error.message


def test_stream_error_event_is_retryable_http_error() -> None:
    out, _ = asyncio.run(
        call_with(sse(chunk("a"), 'data: {"error": {"message": "overloaded"}}\n\n'), stream=True)
    )
    assert out.error.kind == "http_error" and out.error.retryable and "overloaded" in out.error.message


def test_stream_requested_but_json_answer_is_parsed() -> None:
    out, _ = asyncio.run(call_with(respond(body=completion("plain")), stream=True))
    assert out.error is None and out.text == "plain" and out.ttft_s is None


def test_stream_keeps_user_stream_options() -> None:
    _, seen = asyncio.run(
        call_with(
            sse(chunk(finish="stop")),
            stream=True,
            params={"stream_options": {"continuous_usage_stats": True}},
        )
    )
    assert seen[0]["json"]["stream_options"] == {"continuous_usage_stats": True, "include_usage": True}


def test_session_is_reused_and_closed_with_its_event_loop() -> None:
    t = OpenAITarget(base_url="http://127.0.0.1:9/v1", model="m")

    async def first_loop() -> Any:
        s1, s2 = await t._get_session(), await t._get_session()
        assert s1 is s2 and not s1.closed
        return s1

    old = asyncio.run(first_loop())  # no aclose(): asyncio.run's shutdown closes the session anyway
    assert old.closed

    async def second_loop() -> None:
        s = await t._get_session()
        assert s is not old and not s.closed and t._session_loop is asyncio.get_running_loop()
        await t.aclose()
        assert s.closed and t._session is None
        await t.aclose()  # idempotent

    asyncio.run(second_loop())


# ------------------------------------------------------------------------------------ JSON on the wire
async def raw_bodies_with(handler: Handler, case: Case, **options: Any) -> tuple[Any, list[bytes]]:
    """Like ``call_with``, but returns the raw request bodies (bytes), as the server received them."""
    seen: list[bytes] = []

    async def wrapped(request: web.Request) -> web.StreamResponse:
        seen.append(await request.read())
        return await handler(request)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", wrapped)
    async with TestServer(app) as server:
        target = OpenAITarget(base_url=str(server.make_url("/v1")), model="m", **options)
        try:
            out = await target(case)
        finally:
            await target.aclose()
    return out, seen


@pytest.mark.parametrize(
    "params",
    [
        {"temperature": 0.7, "stop": ["\n", "é"], "seed": 2**62},
        {"logit_bias": {50256: -100, 7: 1.5}},  # YAML gives integer keys: written as strings
        {"seed": 2**70},  # beyond 64 bits
    ],
)
def test_request_body_is_the_json_the_standard_library_writes(params: dict[str, Any]) -> None:
    case = Case(id="c", input="héllo ☃ \U0001f600")
    out, seen = asyncio.run(raw_bodies_with(respond(), case, params=params))
    assert out.error is None
    expected = {"model": "m", **params, "messages": [{"role": "user", "content": case.input}]}
    assert json.loads(seen[0]) == json.loads(json.dumps(expected))


def test_a_non_finite_param_is_sent_as_the_standard_library_writes_it() -> None:
    # orjson would write null; the standard library writes NaN, as assay always did (the server decides)
    _out, seen = asyncio.run(
        raw_bodies_with(respond(), Case(id="c", input="q"), params={"temperature": math.nan})
    )
    assert b'"temperature": NaN' in seen[0]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"choices": [{"message": {"content": "x"}}], "score": NaN}',
        b'{"choices": [{"message": {"content": "x"}}], "created": 1180591620717411303424}',
    ],
)
def test_a_body_orjson_refuses_but_the_standard_library_reads_is_an_answer(raw: bytes) -> None:
    out, _ = asyncio.run(call_with(respond(raw=raw)))
    assert out.error is None and out.text == "x"
