"""A real loopback OpenAI-compatible server for tests and benchmarks, with fault injection.

It speaks ``POST /v1/chat/completions`` (plain JSON, and SSE streaming with ``stream_options.include_usage``)
and ``GET /v1/models``. Answers are deterministic: ``"answer: <last user message>"`` by default, or taken
from an answers file mapping prompt → answer. Usage counts tokens by whitespace. Logprobs are returned
when the request asks for them (a deterministic value per token).

Faults are injected by rules (``Fault``), each optionally limited to one prompt and to a slice of the
requests matching it (``after`` / ``times``), a probability (``rate``, seeded) or every n-th request:

=============  =================================================================================
kind           what the client sees
=============  =================================================================================
``429``        HTTP 429 with ``Retry-After`` (default ``"1"``) and an OpenAI-style error body
``500``        HTTP 500
``503``        HTTP 503, with ``Retry-After`` when the rule sets one
``hang``       nothing at all until the client gives up and closes the connection
``malformed``  HTTP 200 whose body is not JSON
``truncated``  HTTP 200 whose body is cut JSON (complete at the HTTP level)
``no_choices`` HTTP 200 with valid JSON lacking ``choices``
``drop``       HTTP 200 headers and half the body, then the connection is closed
``reset``      the connection is closed before any response
``delay``      a normal answer after ``delay_ms``
=============  =================================================================================

Every finished request appends one JSON line ``{"t", "prompt", "model", "stream", "status", "fault"}``
to the call log (flushed per line), so a test in another process can see which prompts were called.

Command line (prints the bound port as the first stdout line)::

    python -m assay.testing.fake_openai --port 0 --latency-ms 0 --log calls.jsonl \\
        --fault 429,prompt=hello,times=2,retry_after=1 --fault 500,rate=0.05

In-process (a background thread with its own event loop)::

    with FakeOpenAIServer(faults=[Fault("503", times=1)]) as server:
        ...  # point a client at server.base_url
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import signal
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any, Literal

from aiohttp import web

__all__ = ["FAULT_KINDS", "FakeOpenAIServer", "Fault", "main", "parse_fault", "read_call_log"]

log = logging.getLogger(__name__)

FaultKind = Literal[
    "429", "500", "503", "hang", "malformed", "truncated", "no_choices", "drop", "reset", "delay"
]
FAULT_KINDS: tuple[str, ...] = (
    "429",
    "500",
    "503",
    "hang",
    "malformed",
    "truncated",
    "no_choices",
    "drop",
    "reset",
    "delay",
)
_JSON = "application/json"


@dataclass
class Fault:
    """One fault-injection rule. The first rule that fires for a request decides its fate.

    ``prompt`` (exact last user message) or ``contains`` (substring) select the requests the rule sees;
    of those, it fires for requests number ``after`` .. ``after + times - 1`` (0-based, ``times=None``:
    all), then only on every ``every``-th one and with probability ``rate`` (seeded by the server).

    Example: the first call for "q1" gets a 429, the second a 500, the third an answer::

        [Fault("429", prompt="q1", times=1, retry_after="2"), Fault("500", prompt="q1", after=1, times=1)]
    """

    kind: FaultKind
    prompt: str | None = None
    contains: str | None = None
    after: int = 0
    times: int | None = None
    every: int | None = None
    rate: float | None = None
    retry_after: str | None = None
    delay_ms: float = 0.0
    seen: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be within [0, 1], got {self.rate}")
        if self.every is not None and self.every < 1:
            raise ValueError(f"fault 'every' must be >= 1, got {self.every}")

    def fires(self, prompt: str, rng: random.Random) -> bool:
        """Count a request against this rule and say whether the fault applies to it."""
        if self.prompt is not None and prompt != self.prompt:
            return False
        if self.contains is not None and self.contains not in prompt:
            return False
        index = self.seen
        self.seen += 1
        if index < self.after or (self.times is not None and index >= self.after + self.times):
            return False
        if self.every is not None and (index - self.after) % self.every != self.every - 1:
            return False
        return self.rate is None or rng.random() < self.rate


def parse_fault(spec: str) -> Fault:
    """Parse a command-line fault spec ``KIND[,key=value...]``, e.g. ``"429,prompt=hi,times=2,retry_after=1"``."""
    kind, *pairs = spec.split(",")
    kwargs: dict[str, Any] = {}
    names = {f.name: f for f in fields(Fault) if f.name not in ("kind", "seen")}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or key not in names:
            raise ValueError(f"bad fault option {pair!r} in {spec!r}; options: {', '.join(names)}")
        if key in ("after", "times", "every"):
            kwargs[key] = int(value)
        elif key in ("rate", "delay_ms"):
            kwargs[key] = float(value)
        else:
            kwargs[key] = value
    return Fault(kind.strip(), **kwargs)  # type: ignore[arg-type]


def read_call_log(path: str | Path) -> list[dict[str, Any]]:
    """Read a call log written by the server (one JSON object per line)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _pieces(text: str) -> list[str]:
    """Split an answer into stream/logprob tokens that concatenate back to it."""
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]] if text else []


def _logprob(token: str) -> float:
    """A deterministic pseudo log-probability in [-2, 0) for a token."""
    return -((zlib.crc32(token.encode("utf-8")) % 1000) + 1) / 500.0


def _logprobs_content(pieces: Iterable[str], top_n: int) -> list[dict[str, Any]]:
    out = []
    for tok in pieces:
        lp = _logprob(tok)
        top = [{"token": tok, "logprob": lp, "bytes": list(tok.encode("utf-8"))}]
        top += [{"token": f"{tok.strip()}~{i}", "logprob": lp - i, "bytes": None} for i in range(1, top_n)]
        out.append(
            {"token": tok, "logprob": lp, "bytes": list(tok.encode("utf-8")), "top_logprobs": top[:top_n]}
        )
    return out


def parse_chat_request(raw: bytes) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
    """The request body, its model and its messages; ``ValueError``/``KeyError``/``TypeError`` if it is
    not a chat request (shared with bench/lean_openai_server.py)."""
    body = json.loads(raw)
    model, messages = body["model"], body["messages"]
    if not isinstance(model, str) or not isinstance(messages, list) or not messages:
        raise ValueError("model must be a string and messages a non-empty list")
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or "content" not in m:
            raise ValueError(f"each message needs 'role' and 'content', got {m!r:.100}")
    return body, model, messages


def last_user_prompt(messages: list[dict[str, Any]]) -> str:
    """The last user message's content (JSON text when it is not a string): what the server answers."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return m["content"] if isinstance(m["content"], str) else json.dumps(m["content"])
    return ""


def usage_for(messages: list[dict[str, Any]], answer: str) -> dict[str, int]:
    """Whitespace-token counts of the request's text messages and of ``answer``."""
    prompt_tokens = sum(len(m["content"].split()) for m in messages if isinstance(m.get("content"), str))
    completion_tokens = len(answer.split())
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _error_body(message: str, type_: str, code: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}}).encode()


class FakeOpenAIServer:
    """The loopback server. Use as a context manager (background thread) or ``await start_async()``.

    Attributes readable while it runs: ``port``, ``base_url`` (ends in ``/v1``), ``n_requests``,
    ``prompt_counts`` (a ``Counter`` of prompts answered, faults included). ``faults`` may be replaced
    between requests.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0.0,
        answers: dict[str, str] | None = None,
        faults: Sequence[Fault] = (),
        log_path: str | Path | None = None,
        seed: int = 0,
        api_key: str | None = None,
        models: Sequence[str] | None = None,
        stream_usage: bool = True,
        hang_max_s: float = 600.0,
    ) -> None:
        self.host = host
        self.port = port
        self.latency_s = latency_ms / 1000.0
        self.answers = dict(answers or {})
        self.faults: list[Fault] = list(faults)
        self.log_path = Path(log_path) if log_path else None
        self.api_key = api_key
        self.models = list(models) if models else None
        self.stream_usage = stream_usage
        self.hang_max_s = hang_max_s
        self.n_requests = 0
        self.prompt_counts: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._log_fh: IO[str] | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._counter = 0

    # ------------------------------------------------------------------------------------ lifecycle
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        return app

    async def start_async(self) -> None:
        """Bind and serve in the running event loop."""
        if self.log_path is not None:
            self._log_fh = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        self._runner = web.AppRunner(
            self.make_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024, reuse_address=True)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop_async(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None

    def start(self) -> FakeOpenAIServer:
        """Serve from a daemon thread with its own event loop; returns once the port is bound."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:  # surface bind errors to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop_async())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None
            self._loop = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------ handlers
    async def _models(self, request: web.Request) -> web.Response:
        names = self.models or ["fake-model"]
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "assay"} for m in names]
        return web.json_response({"object": "list", "data": data})

    def _record(self, prompt: str, model: str, stream: bool, status: int | None, fault: str | None) -> None:
        self.n_requests += 1
        self.prompt_counts[prompt] += 1
        if self._log_fh is not None:
            rec = {"t": time.time(), "prompt": prompt, "model": model, "stream": stream}
            rec["status"], rec["fault"] = status, fault
            self._log_fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self._log_fh.flush()

    def _pick_fault(self, prompt: str) -> Fault | None:
        # Every rule counts every request it matches (so after/times are positions in that prompt's
        # own sequence); the first rule that fires wins.
        firing = [rule for rule in self.faults if rule.fires(prompt, self._rng)]
        return firing[0] if firing else None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            self._record("", "", False, 401, None)
            return web.Response(
                status=401,
                body=_error_body("invalid api key", "invalid_request_error", "invalid_api_key"),
                content_type=_JSON,
            )
        try:
            body, model, messages = parse_chat_request(await request.read())
        except (ValueError, KeyError, TypeError) as exc:
            self._record("", "", False, 400, None)
            return web.Response(
                status=400,
                body=_error_body(f"bad request: {exc}", "invalid_request_error"),
                content_type=_JSON,
            )
        if self.models is not None and model not in self.models:
            self._record("", model, False, 404, None)
            return web.Response(
                status=404,
                body=_error_body(f"model '{model}' not found", "invalid_request_error", "model_not_found"),
                content_type=_JSON,
            )

        prompt = last_user_prompt(messages)
        stream = bool(body.get("stream"))
        fault = self._pick_fault(prompt)
        kind = fault.kind if fault else None

        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if fault is not None:
            early = await self._early_fault(request, fault)
            if early is not None or kind in ("hang", "reset"):
                status = early.status if early is not None else None
                self._record(prompt, model, stream, status, kind)
                return early if early is not None else web.Response(status=204)

        answer = self.answers.get(prompt, f"answer: {prompt}")
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        finish = "stop"
        if isinstance(max_tokens, int) and max_tokens >= 0 and len(answer.split()) > max_tokens:
            answer, finish = " ".join(answer.split()[:max_tokens]), "length"
        usage = usage_for(messages, answer)
        top_n = body.get("top_logprobs") or 0
        want_logprobs = bool(body.get("logprobs"))
        self._counter += 1
        head = {"id": f"chatcmpl-{self._counter}", "created": int(time.time()), "model": model}

        if stream:
            include_usage = (
                bool((body.get("stream_options") or {}).get("include_usage")) and self.stream_usage
            )
            resp = await self._stream(
                request, head, answer, finish, usage if include_usage else None, want_logprobs, top_n, kind
            )
            self._record(prompt, model, True, None if kind == "drop" else 200, kind)
            return resp

        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": answer},
            "logprobs": {"content": _logprobs_content(_pieces(answer), top_n)} if want_logprobs else None,
            "finish_reason": finish,
        }
        payload = {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
        if kind == "no_choices":
            del payload["choices"]
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        if kind == "truncated":
            data = data[: len(data) // 2]
        elif kind == "malformed":
            data = b"<html><body><h1>upstream error</h1></body></html>"
        if kind == "drop":
            resp = web.StreamResponse(status=200, headers={"Content-Type": _JSON})
            resp.content_length = len(data)
            await resp.prepare(request)
            await resp.write(data[: len(data) // 2])
            await asyncio.sleep(0.01)  # let the half body reach the client before the connection goes
            if request.transport is not None:
                request.transport.close()
            self._record(prompt, model, False, None, kind)
            return resp
        self._record(prompt, model, False, 200, kind)
        return web.Response(body=data, content_type=_JSON)

    async def _early_fault(self, request: web.Request, fault: Fault) -> web.Response | None:
        """Faults that replace the whole response. Returns the response, or None to go on answering."""
        kind = fault.kind
        if kind == "delay":
            await asyncio.sleep(fault.delay_ms / 1000.0)
            return None
        if kind == "429":
            headers = {"Retry-After": fault.retry_after or "1"}
            body = _error_body("Rate limit reached", "requests", "rate_limit_exceeded")
            return web.Response(status=429, body=body, content_type=_JSON, headers=headers)
        if kind in ("500", "503"):
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            message = "The server had an error" if kind == "500" else "The engine is currently overloaded"
            return web.Response(
                status=int(kind),
                body=_error_body(message, "server_error"),
                content_type=_JSON,
                headers=headers,
            )
        if kind == "hang":
            deadline = time.monotonic() + self.hang_max_s
            while time.monotonic() < deadline:
                transport = request.transport
                if transport is None or transport.is_closing():
                    break
                await asyncio.sleep(0.02)
            return None
        if kind == "reset":
            if request.transport is not None:
                request.transport.close()
            return None
        return None

    async def _stream(
        self,
        request: web.Request,
        head: dict[str, Any],
        answer: str,
        finish: str,
        usage: dict[str, int] | None,
        want_logprobs: bool,
        top_n: int,
        kind: str | None,
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        base = {**head, "object": "chat.completion.chunk"}

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, lp: Any = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": lp, "finish_reason": finish_reason}
            return (
                b"data: " + json.dumps({**base, "choices": [choice]}, ensure_ascii=False).encode() + b"\n\n"
            )

        out = [chunk({"role": "assistant", "content": ""})]
        for piece in _pieces(answer):
            lp = {"content": _logprobs_content([piece], top_n)} if want_logprobs else None
            out.append(chunk({"content": piece}, lp=lp))
        if kind == "drop":
            await resp.write(b"".join(out[:2]))
            await asyncio.sleep(0.01)
            if request.transport is not None:
                request.transport.close()
            return resp
        if kind in ("malformed", "truncated", "no_choices"):
            out.append(b'data: {"id": "' + head["id"].encode() + b'", "choi\n\n')
        out.append(chunk({}, finish))
        if usage is not None:
            out.append(b"data: " + json.dumps({**base, "choices": [], "usage": usage}).encode() + b"\n\n")
        out.append(b"data: [DONE]\n\n")
        await resp.write(b"".join(out))
        await resp.write_eof()
        return resp


# ---------------------------------------------------------------------------------------- command line
def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m assay.testing.fake_openai", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port; the bound port is printed first")
    p.add_argument("--latency-ms", type=float, default=0.0, help="fixed delay before every answer")
    p.add_argument("--answers", type=Path, help="JSON file mapping prompt -> answer")
    p.add_argument(
        "--fault", action="append", default=[], metavar="KIND[,key=value...]", help="fault rule; repeatable"
    )
    p.add_argument(
        "--faults", type=Path, help="JSON file holding a list of fault rules (objects with Fault fields)"
    )
    p.add_argument("--log", type=Path, help="append one JSON line per finished request to this file")
    p.add_argument("--seed", type=int, default=0, help="seed for rate-based faults")
    p.add_argument("--api-key", help="require 'Authorization: Bearer KEY'")
    p.add_argument("--models", default="", help="comma-separated model names to accept (default: any)")
    p.add_argument("--no-stream-usage", action="store_true", help="never send usage in streams")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGINT/SIGTERM. The first stdout line is the bound port."""
    args = _build_parser().parse_args(argv)
    faults = [parse_fault(s) for s in args.fault]
    if args.faults:
        faults += [Fault(**rule) for rule in json.loads(args.faults.read_text(encoding="utf-8"))]
    answers = json.loads(args.answers.read_text(encoding="utf-8")) if args.answers else None
    server = FakeOpenAIServer(
        host=args.host,
        port=args.port,
        latency_ms=args.latency_ms,
        answers=answers,
        faults=faults,
        log_path=args.log,
        seed=args.seed,
        api_key=args.api_key,
        models=[m for m in args.models.split(",") if m] or None,
        stream_usage=not args.no_stream_usage,
    )

    async def serve() -> None:
        await server.start_async()
        sys.stdout.write(f"{server.port}\n")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop_async()

    try:  # the fastest loop available: the server must not be what a benchmark measures
        import uvloop
    except ImportError:
        asyncio.run(serve())
    else:
        uvloop.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
