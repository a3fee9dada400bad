"""The Python SDK: ``Monitor(url).log(...)``, ``@monitor.trace`` and an OpenAI client wrapper.

The SDK never blocks or crashes the app. ``log`` only appends a dict to a bounded in-memory buffer and
returns; a background thread validates, batches and sends (to a store URL directly, or to an assay
server's ``POST /v1/events``). When the buffer is full, new events are dropped and counted
(``stats()["dropped"]``); when the destination is down, batches are retried with backoff and kept while
there is room. Errors are logged and counted, never raised into the app.

Example:
    >>> monitor = Monitor("sqlite:///:memory:", app="support-bot")  # or "http://127.0.0.1:8321"
    >>> monitor.log(input="How do I reset my password?", output="Open Settings ...", latency_s=0.42)  # doctest: +ELLIPSIS
    '...'
    >>> @monitor.trace
    ... def answer(question: str) -> str:
    ...     with monitor.span("retrieval"):
    ...         pass
    ...     return "Open Settings ..."
    >>> answer("How do I reset my password?")
    'Open Settings ...'
    >>> monitor.flush(), monitor.stats()["sent"]
    (True, 2)
    >>> monitor.close()
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import functools
import inspect
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from assay.monitor.anonymise import AnonymisationConfig

__all__ = ["Monitor"]

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class _Trace:
    spans: list[dict[str, Any]] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    start: float = field(default_factory=time.perf_counter)


_CURRENT: contextvars.ContextVar[_Trace | None] = contextvars.ContextVar("assay_monitor_trace", default=None)


class _Ticket:
    """The outcome of one batch's send: ``(accepted, duplicates, rejected)`` or the error, once known."""

    __slots__ = ("_done", "counts", "error")

    def __init__(self) -> None:
        self._done = threading.Event()
        self.counts: tuple[int, int, int] = (0, 0, 0)
        self.error: BaseException | None = None

    def set(self, counts: tuple[int, int, int] | None, error: BaseException | None) -> None:
        self.counts = counts or (0, 0, 0)
        self.error = error
        self._done.set()

    def wait(self) -> _Ticket:
        self._done.wait()
        return self


class _StoreSink:
    """Writes to a store. Without workers, the monitor thread prepares (validates, anonymises) a batch
    while the ingest pipeline's writer thread commits the previous one. With workers, the batch goes to
    a worker process that prepares and commits it on its own connection: the app's process only sends."""

    def __init__(
        self, url: str, anonymisation: AnonymisationConfig | None, key: bytes | None, workers: int
    ) -> None:
        from assay.monitor.ingest import Ingestor, IngestPipeline
        from assay.store import open_store

        self.store = open_store(url)  # creates the tables and the hash key before any worker starts
        self.ingestor = Ingestor(self.store, anonymisation, key=key)
        self.pipeline = IngestPipeline(self.ingestor)
        self.pool: Any = None
        if workers:
            from assay.monitor.workers import PrepareWorkers

            try:
                self.pool = PrepareWorkers(self.ingestor.preparer, workers, store_url=url)
            except OSError as exc:  # no processes here: this thread does the work, as with workers=0
                logger.warning("assay monitor: could not start workers (%s); writing from this process", exc)

    def prepare(self, batch: list[dict[str, Any]]) -> Any:
        return batch if self.pool is not None else self.pipeline.prepare(batch)

    def start(self, prepared: Any) -> _Ticket:
        ticket = _Ticket()

        def done(result: Any, error: BaseException | None) -> None:
            if result is not None:
                for rej in result.rejected[:3]:
                    logger.warning("assay monitor: event rejected: %s", rej.error)
                ticket.set((result.accepted, result.duplicates, len(result.rejected)), None)
            else:
                ticket.set(None, error)

        if self.pool is None:
            self.pipeline.submit_prepared(prepared, done)
        else:
            future = self.pool.submit_ingest(prepared, self.ingestor.now())
            future.add_done_callback(
                lambda f: done(None, f.exception()) if f.exception() else done(f.result(), None)
            )
        return ticket

    def close(self) -> None:
        self.pipeline.close()
        if self.pool is not None:
            self.pool.close()
        self.store.close()


class _HttpSink:
    def __init__(self, url: str, timeout_s: float, token: str | None) -> None:
        import httpx

        base = url.rstrip("/")
        self.url = base if base.endswith("/v1/events") else base + "/v1/events"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(timeout=timeout_s, headers=headers)

    def send(self, batch: list[dict[str, Any]]) -> tuple[int, int, int]:
        import json

        body = json.dumps({"events": batch}, ensure_ascii=False, default=str).encode(
            "utf-8", "surrogateescape"
        )
        resp = self.client.post(self.url, content=body, headers={"Content-Type": "application/json"})
        if resp.status_code in (200, 400) and resp.headers.get("content-type", "").startswith(
            "application/json"
        ):
            data = resp.json()
            if "accepted" in data:
                for rej in data.get("rejected", [])[:3]:
                    logger.warning("assay monitor: event rejected: %s", rej.get("error"))
                return int(data["accepted"]), int(data.get("duplicates", 0)), len(data.get("rejected", []))
        if resp.status_code == 413:
            raise _Permanent(f"batch too large for the server (413); lower batch_size ({len(batch)})")
        raise RuntimeError(f"server answered HTTP {resp.status_code}: {resp.text[:200]}")

    def prepare(self, batch: list[dict[str, Any]]) -> Any:
        return batch  # the server validates

    def start(self, prepared: Any) -> _Ticket:
        ticket = _Ticket()
        try:
            ticket.set(self.send(prepared), None)
        except Exception as exc:
            ticket.set(None, exc)
        return ticket

    def close(self) -> None:
        self.client.close()


class _Permanent(Exception):
    """A failure that retrying cannot fix (the batch is counted as rejected)."""


class Monitor:
    """Log interactions of a deployed app to assay without ever blocking or breaking it.

    ``url``: a store URL (``sqlite:///...``, ``postgresql://...``; default ``$ASSAY_STORE``) or an assay
    server (``http://host:port``). ``app``/``variant``/``model`` are defaults for every event.
    ``max_buffer`` bounds the events held in memory; beyond it new events are dropped and counted.
    ``batch_size`` and ``flush_interval_s`` set how often the background thread sends.
    ``anonymisation``/``key`` apply when writing to a store directly (a server anonymises itself).
    ``workers`` (store URLs only): processes that validate, anonymise and commit the batches, each on its
    own connection, so your app's process spends neither CPU nor its GIL on them (for apps that log
    thousands of events a second); they run ``python -m assay.monitor.workers``, so your app's modules
    are not imported again. 0 (the default): the background thread does it all.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        app: str = "default",
        variant: str | None = None,
        model: str | None = None,
        batch_size: int = 500,
        flush_interval_s: float = 0.5,
        max_buffer: int = 10_000,
        max_retries: int = 5,
        retry_backoff_s: float = 0.5,
        timeout_s: float = 10.0,
        token: str | None = None,
        anonymisation: AnonymisationConfig | None = None,
        key: bytes | None = None,
        workers: int = 0,
    ) -> None:
        if batch_size < 1 or max_buffer < 1:
            raise ValueError("batch_size and max_buffer must be >= 1")
        if workers < 0:
            raise ValueError("workers must be >= 0")
        from assay.store.records import default_store_url

        self.url = url or default_store_url()
        if workers and ":memory:" in self.url:
            raise ValueError("workers need a store they can open too: not an in-memory database")
        self.defaults = {
            k: v for k, v in {"app": app, "variant": variant, "model": model}.items() if v is not None
        }
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_buffer = max_buffer
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self._sink_args = (timeout_s, token, anonymisation, key)
        self.workers = workers
        self._sink: _StoreSink | _HttpSink | None = None
        self._buffer: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._inflight = 0
        self._closed = False
        self._counts = dict.fromkeys(
            ("logged", "sent", "duplicates", "rejected", "dropped", "failed", "errors"), 0
        )
        self._thread = threading.Thread(target=self._run, name="assay-monitor", daemon=True)
        self._thread.start()
        atexit.register(self.close, 2.0)

    # ------------------------------------------------------------------------------ logging
    def log(self, **fields: Any) -> str | None:
        """Queue one event (fields of ``assay.monitor.event.Event``); returns its ``event_id``.

        Never raises and never waits: returns None when the event was dropped (buffer full, closed).
        """
        try:
            event: dict[str, Any] = {**self.defaults, **fields}
            eid = event.get("event_id")
            if eid is None:
                eid = event["event_id"] = uuid.uuid4().hex
            if event.get("ts") is None:
                event["ts"] = time.time()
            buffer = self._buffer
            with self._lock:
                if self._closed or len(buffer) >= self.max_buffer:
                    self._counts["dropped"] += 1
                    return None
                buffer.append(event)
                self._counts["logged"] += 1
                full = len(buffer) >= self.batch_size
            if full and not self._wake.is_set():  # wake the sender once, not on every event
                self._wake.set()
            return str(eid)
        except Exception:  # the app must never see our failure
            self._counts["errors"] += 1
            logger.exception("assay monitor: could not queue an event")
            return None

    def stats(self) -> dict[str, int]:
        """Counters: logged, sent (stored), duplicates, rejected, dropped, failed (gave up), buffered."""
        with self._lock:
            return {**self._counts, "buffered": len(self._buffer) + self._inflight}

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued event was sent (or given up on); False on timeout."""
        deadline = time.monotonic() + timeout_s
        self._wake.set()
        with self._idle:
            while self._buffer or self._inflight:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                self._wake.set()
                self._idle.wait(min(remaining, 0.05))
        return True

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush (at most ``timeout_s``) and stop the background thread. Idempotent."""
        if self._closed:
            return
        self.flush(timeout_s)
        with self._lock:
            self._closed = True
        self._wake.set()
        self._thread.join(timeout_s)
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)
        if self._sink is not None:
            with contextlib.suppress(Exception):
                self._sink.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------ background thread
    def _open_sink(self) -> _StoreSink | _HttpSink:
        timeout_s, token, anonymisation, key = self._sink_args
        if self.url.startswith(("http://", "https://")):
            return _HttpSink(self.url, timeout_s, token)
        return _StoreSink(self.url, anonymisation, key, self.workers)

    def _take(self) -> list[dict[str, Any]] | None:
        with self._lock:
            if not self._buffer:
                return None
            n = min(self.batch_size, len(self._buffer))
            batch = [self._buffer.popleft() for _ in range(n)]
            self._inflight += n
            return batch

    def _run(self) -> None:
        """Send batches; with a store, later batches are prepared while earlier ones commit (see
        ``_StoreSink``): up to ``2 + workers`` batches are in flight, settled in order.

        A batch counts as sent only when its outcome is known. After a failure the thread waits for
        every batch in flight, puts each failed one back at the front of the buffer (oldest first), and
        backs off before trying again.
        """
        failures = 0
        pending: deque[tuple[list[dict[str, Any]], _Ticket]] = deque()
        depth = 2 + self.workers
        while True:
            if not pending and len(self._buffer) < self.batch_size:
                self._wake.wait(self.flush_interval_s)
                self._wake.clear()
            batch = self._take() if len(pending) < depth else None
            if batch is not None:
                pending.append((batch, self._start(batch)))
                if len(pending) < depth and self._buffer:
                    continue  # fill the pipeline before waiting on its oldest batch
            if not pending:
                with self._lock:
                    if not self._buffer and not self._inflight:
                        self._idle.notify_all()
                        if self._closed:
                            return
                continue
            sent, ticket = pending.popleft()
            if self._settle(sent, ticket.wait()):
                failures = 0
                continue
            failures += 1
            failed = [sent]
            while pending:  # already on their way: let them finish, then retry whatever failed
                later, later_ticket = pending.popleft()
                if not self._settle(later, later_ticket.wait()):
                    failed.append(later)
            retry = False
            for b in reversed(failed):  # the oldest ends up first in the buffer
                retry = not self._retry_or_give_up(b, failures) or retry
            if retry:
                time.sleep(min(self.retry_backoff_s * 2 ** (failures - 1), 30.0))
            else:
                failures = 0

    def _start(self, batch: list[dict[str, Any]]) -> _Ticket:
        """Hand a batch to the sink; its ticket says how it went (a failure to even start included)."""
        try:
            if self._sink is None:
                self._sink = self._open_sink()
            return self._sink.start(self._sink.prepare(batch))
        except Exception as exc:
            ticket = _Ticket()
            ticket.set(None, exc)
            return ticket

    def _settle(self, batch: list[dict[str, Any]], ticket: _Ticket) -> bool:
        """Count a finished batch; False when it must be retried."""
        error = ticket.error
        with self._lock:
            self._inflight -= len(batch)
            if error is None:
                accepted, duplicates, rejected = ticket.counts
                self._counts["sent"] += accepted
                self._counts["duplicates"] += duplicates
                self._counts["rejected"] += rejected
            elif isinstance(error, _Permanent):
                self._counts["rejected"] += len(batch)
            self._idle.notify_all()
        if isinstance(error, _Permanent):
            logger.error("assay monitor: %s", error)
            return True
        if error is not None:
            logger.warning("assay monitor: could not send %d events (will retry): %s", len(batch), error)
            return False
        return True

    def _retry_or_give_up(self, batch: list[dict[str, Any]], failures: int) -> bool:
        """Put a failed batch back in the buffer, or give up on it (True) after ``max_retries``."""
        with self._lock:
            if failures > self.max_retries or self._closed:
                self._counts["failed"] += len(batch)
                logger.error("assay monitor: gave up on %d events after %d attempts", len(batch), failures)
                self._idle.notify_all()
                return True
            else:  # keep them (ahead of newer events) while there is room
                room = self.max_buffer - len(self._buffer)
                keep = batch[:room] if room > 0 else []
                self._buffer.extendleft(reversed(keep))
                self._counts["dropped"] += len(batch) - len(keep)
            self._idle.notify_all()
            return False

    # ------------------------------------------------------------------------------ tracing
    @contextlib.contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[None]:
        """Time a stage (retrieval, generation, guardrail …) of the current traced call."""
        trace = _CURRENT.get()
        start = time.perf_counter()
        try:
            yield
        finally:
            if trace is not None:
                trace.spans.append(
                    {
                        "name": name,
                        "duration_s": time.perf_counter() - start,
                        "start_offset_s": max(0.0, start - trace.start),
                        "attributes": attributes,
                    }
                )

    def annotate(self, **fields: Any) -> None:
        """Add event fields (``contexts``, ``metadata``, ``feedback`` …) to the current traced call."""
        trace = _CURRENT.get()
        if trace is not None:
            trace.fields.update(fields)

    @overload
    def trace(self, fn: F) -> F: ...
    @overload
    def trace(self, fn: None = None, **fields: Any) -> Callable[[F], F]: ...

    def trace(self, fn: F | None = None, **fields: Any) -> F | Callable[[F], F]:
        """Decorate an app function (sync or async): each call is logged as one event.

        The input is the first argument (a string, or anything with ``input_text``, like a ``Case``);
        the output is the return value (a string, an ``Output`` with contexts and usage, or a dict
        with ``text``). An exception is logged as an error event and re-raised unchanged. ``fields``
        are added to every event (``app=``, ``variant=``, ``metadata=`` …).
        """

        def decorate(func: F) -> F:
            if inspect.iscoroutinefunction(func):

                @functools.wraps(func)
                async def awrapper(*args: Any, **kwargs: Any) -> Any:
                    trace = _Trace()
                    token = _CURRENT.set(trace)
                    try:
                        result = await func(*args, **kwargs)
                    except BaseException as exc:
                        self._log_call(trace, args, kwargs, None, exc, fields)
                        raise
                    finally:
                        _CURRENT.reset(token)
                    self._log_call(trace, args, kwargs, result, None, fields)
                    return result

                return awrapper  # type: ignore[return-value]

            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                trace = _Trace()
                token = _CURRENT.set(trace)
                try:
                    result = func(*args, **kwargs)
                except BaseException as exc:
                    self._log_call(trace, args, kwargs, None, exc, fields)
                    raise
                finally:
                    _CURRENT.reset(token)
                self._log_call(trace, args, kwargs, result, None, fields)
                return result

            return wrapper  # type: ignore[return-value]

        return decorate(fn) if fn is not None else decorate

    def _log_call(
        self,
        trace: _Trace,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        result: Any,
        exc: BaseException | None,
        fields: dict[str, Any],
    ) -> None:
        try:
            latency = time.perf_counter() - trace.start
            event: dict[str, Any] = {"latency_s": latency, **fields}
            first = args[0] if args else next(iter(kwargs.values()), None)
            if isinstance(first, str):
                event["input"] = first
            elif first is not None and hasattr(first, "input_text"):
                event["input"] = first.input_text
                meta = getattr(first, "metadata", None)
                if isinstance(meta, dict) and meta:
                    event["metadata"] = {**meta, **event.get("metadata", {})}
            if exc is not None:
                event["error"] = {"kind": type(exc).__name__, "message": str(exc)[:2000]}
            elif isinstance(result, str):
                event["output"] = result
            elif isinstance(result, dict) and isinstance(result.get("text"), str):
                event["output"] = result["text"]
            elif hasattr(result, "text") and isinstance(result.text, str):
                event["output"] = result.text
                contexts = getattr(result, "contexts", None) or ()
                if contexts:
                    event["contexts"] = [{"id": d.id, "text": d.text, "score": d.score} for d in contexts]
                usage = getattr(result, "usage", None)
                if usage is not None:
                    event["usage"] = {
                        "input_tokens": usage.input_tokens,
                        "output_tokens": usage.output_tokens,
                    }
                for name in ("ttft_s", "cost_usd"):
                    value = getattr(result, name, None)
                    if value is not None:
                        event[name] = value
            if trace.spans:
                event["spans"] = trace.spans
            event.update(trace.fields)
            self.log(**event)
        except Exception:
            self._counts["errors"] += 1
            logger.exception("assay monitor: could not record a traced call")

    # ------------------------------------------------------------------------------ OpenAI
    def wrap_openai(self, client: Any, **fields: Any) -> Any:
        """A wrapper of an ``openai.OpenAI``/``AsyncOpenAI`` client that logs every chat completion.

        Calls go through unchanged (streaming too); each one is logged with its messages, answer,
        model, token usage, latency, time to first token (streaming) and error. See
        ``assay.monitor.openai_wrap``.
        """
        from assay.monitor.openai_wrap import wrap_openai

        return wrap_openai(self, client, **fields)
