"""A lean loopback server for the OpenAI chat-completions wire format, for benchmarks only.

`assay.testing.fake_openai` (aiohttp's web server) is the server the tests use: it streams, injects
faults and logs calls. Per request it costs a few hundred microseconds of CPU, and at 64 requests in
flight those costs queue: with a 200 ms sleep, clients observe 204-210 ms. That is the server's latency,
not the client's, and it caps what any client can reach against "concurrency / latency".

This server does the minimum a real HTTP/1.1 server must: it parses requests with httptools (uvicorn's
parser), keeps connections alive (or closes them when asked), answers each request in order after
exactly ``--latency-ms``, and returns OpenAI-shaped bodies (the same answers and usage counts as
fake_openai: ``"answer: " + the last user message``). Malformed HTTP gets a 400 and the connection is
closed; a body that is not a chat request gets a 400 with an OpenAI error body. No streaming, no faults.

Run: python bench/lean_openai_server.py --port 0 --latency-ms 200   (prints the bound port first)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections import deque
from typing import Any, cast

import httptools

from assay.testing.fake_openai import last_user_prompt, parse_chat_request, usage_for

_JSON = b"application/json"


def _response(status: int, reason: bytes, body: bytes, keep_alive: bool) -> bytes:
    head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
        status,
        reason,
        _JSON,
        len(body),
    )
    if not keep_alive:
        head += b"Connection: close\r\n"
    return head + b"\r\n" + body


def _error(status: int, reason: bytes, message: str, keep_alive: bool) -> bytes:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": None}})
    return _response(status, reason, body.encode(), keep_alive)


def chat_answer(raw: bytes, counter: int) -> dict[str, Any]:
    """The chat completion fake_openai gives for the request body ``raw`` (no faults): same checks, same
    answer, same usage. ``ValueError``/``KeyError``/``TypeError`` for a body that is not a chat request."""
    request, model, messages = parse_chat_request(raw)
    if request.get("stream"):
        raise ValueError("this bench server does not stream")
    answer = f"answer: {last_user_prompt(messages)}"
    return {
        "id": f"chatcmpl-{counter}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage_for(messages, answer),
    }


class _Connection(asyncio.Protocol):
    """One client connection. Responses leave in request order, each ``latency`` after its request."""

    def __init__(self, server: LeanServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []
        self.pending: deque[asyncio.TimerHandle] = deque()
        self.closing = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._send(_error(400, b"Bad Request", "malformed HTTP request", keep_alive=False))

    def connection_lost(self, exc: Exception | None) -> None:
        for handle in self.pending:
            handle.cancel()
        self.pending.clear()
        self.transport = None

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url, self.body = b"", []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        keep_alive = self.parser.should_keep_alive()
        method, path = self.parser.get_method(), self.url.split(b"?", 1)[0]
        if method == b"POST" and path == b"/v1/chat/completions":
            try:
                body = json.dumps(chat_answer(b"".join(self.body), self.server.counter + 1)).encode()
                self.server.counter += 1
                reply = _response(200, b"OK", body, keep_alive)
            except (ValueError, KeyError, TypeError) as exc:
                reply = _error(400, b"Bad Request", f"bad request: {exc}", keep_alive)
        elif method == b"GET" and path == b"/v1/models":
            body = b'{"object":"list","data":[{"id":"fake-model","object":"model","created":0,"owned_by":"assay"}]}'
            reply = _response(200, b"OK", body, keep_alive)
        else:
            reply = _error(404, b"Not Found", f"no route for {method.decode()} {path.decode()}", keep_alive)
        self.server.n_requests += 1
        if self.server.latency_s:
            # equal delays keep the timers (and so the responses) in request order
            handle = asyncio.get_running_loop().call_later(
                self.server.latency_s, self._answer, reply, keep_alive
            )
            self.pending.append(handle)
        else:
            self._send(reply, close=not keep_alive)

    def _answer(self, reply: bytes, keep_alive: bool) -> None:
        if self.pending:
            self.pending.popleft()
        self._send(reply, close=not keep_alive)

    def _send(self, data: bytes, *, close: bool = True) -> None:
        if self.transport is None or self.closing:
            return
        self.transport.write(data)
        if close:
            self.closing = True
            self.transport.close()


class LeanServer:
    def __init__(self, latency_ms: float) -> None:
        self.latency_s = latency_ms / 1000.0
        self.counter = 0
        self.n_requests = 0

    async def serve(self, host: str, port: int, ready: Any = None) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Connection(self), host, port, backlog=1024)
        bound = server.sockets[0].getsockname()[1]
        if ready is not None:
            ready(bound)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with server:
            await stop.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument(
        "--port", type=int, default=0, help="0 picks a free port; the bound port is printed first"
    )
    ap.add_argument("--latency-ms", type=float, default=0.0, help="fixed delay before every answer")
    args = ap.parse_args(argv)

    def ready(port: int) -> None:
        sys.stdout.write(f"{port}\n")
        sys.stdout.flush()

    import uvloop  # the fastest loop available: the server must not be what a benchmark measures

    uvloop.run(LeanServer(args.latency_ms).serve(args.host, args.port, ready))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
