"""Ingest: validate, anonymise and store events, whichever door they come through (SDK, HTTP, OTLP, file).

``Ingestor.ingest(objects)`` takes raw decoded events (dicts), validates each one on its own, anonymises
the valid ones and stores them in ONE transaction; it returns how many were accepted, how many were
duplicates (their ``event_id`` was already stored) and, for each rejected one, its index and the reason.
When it returns, the accepted events are committed: they survive ``kill -9`` of the process.

``ingest_file(path, ingestor, follow=...)`` reads JSON Lines (one event per line), reporting bad lines
as ``file:line: reason``; with ``follow`` it keeps reading what is appended (like ``tail -F``: a partial
last line waits for its newline, a truncated or rotated file is reopened from the start).

Throughput: a batch is validated in one pydantic call, JSON is decoded with ``orjson`` when it is
installed, and ``IngestPipeline`` overlaps the preparation of the next batch (Python) with the commit
of the previous one (SQLite writes without holding the GIL), so two cores both work. A batch counts as
ingested only once its transaction has committed.

Example:
    >>> from assay.store import open_store
    >>> store = open_store("sqlite:///:memory:")
    >>> ing = Ingestor(store)
    >>> r = ing.ingest([{"event_id": "a", "input": "hi"}, {"event_id": "a"}, {"latency_s": 1}])
    >>> (r.accepted, r.duplicates, r.rejected[0].index)
    (1, 1, 2)
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.monitor.anonymise import AnonymisationConfig
from assay.monitor.event import Event, EventError
from assay.monitor.prepare import (
    DEFAULT_MAX_EVENT_BYTES,
    IngestResult,
    PreparedBatch,
    Preparer,
    Rejection,
    commit_prepared,
    decode_json,
)

if TYPE_CHECKING:
    from assay.monitor.workers import PrepareWorkers
    from assay.store import Store

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "FileIngestReport",
    "IngestPipeline",
    "IngestResult",
    "Ingestor",
    "PreparedBatch",
    "Rejection",
    "decode_json",
    "ingest_file",
]

logger = logging.getLogger(__name__)


class Ingestor:
    """Validates, anonymises and stores events into one store. Thread-safe.

    ``anonymisation`` defaults to ``AnonymisationConfig()`` (redact personal data in every text, hash
    ids). ``key`` is the hash key; by default ``$ASSAY_MONITOR_KEY`` or the store's own key.
    ``max_event_bytes`` bounds one event's serialised size. ``now`` is the clock used for events without
    ``ts`` and for ``ingested_at`` (a synthetic clock in tests).
    """

    def __init__(
        self,
        store: Store,
        anonymisation: AnonymisationConfig | None = None,
        *,
        key: bytes | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.events = store.events
        config = anonymisation or AnonymisationConfig()
        if key is None:
            env = os.environ.get(config.key_env, "")
            key = env.encode() if env else self.events.hash_key()
        self.preparer = Preparer(config, key=key, max_event_bytes=max_event_bytes, dialect=store.dialect)
        self.anonymiser = self.preparer.anonymiser
        self.max_event_bytes = max_event_bytes
        self._now = now or (lambda: datetime.now(UTC))

    def now(self) -> datetime:
        """The ingest clock (``ingested_at``, and ``ts`` of events sent without one)."""
        return self._now()

    # ------------------------------------------------------------------------------ one event
    def prepare(self, obj: Any, *, size: int | None = None) -> Event:
        """Validate and anonymise one raw event. Raises ``EventError`` with the reason."""
        result = self.prepare_batch([obj], sizes=None if size is None else [size])
        if result.result.rejected:
            raise EventError(result.result.rejected[0].error)
        return result.events[0]

    def prepare_batch(self, objects: Sequence[Any], **options: Any) -> PreparedBatch:
        """``Preparer.prepare_batch`` (same options: ``sizes``, ``offset``, ``rows``) at the ingest clock's now."""
        return self.preparer.prepare_batch(objects, now=self._now(), **options)

    def commit(self, prepared: PreparedBatch) -> IngestResult:
        """Store a prepared batch's rows in ONE transaction; the result counts what was new.

        When it returns, the accepted events are committed (they survive ``kill -9``).
        """
        return commit_prepared(self.events, prepared)

    def ingest(
        self, objects: Sequence[Any], *, sizes: Sequence[int | None] | None = None, offset: int = 0
    ) -> IngestResult:
        """Validate, anonymise and store a batch; invalid events are rejected one by one.

        ``sizes`` (bytes of each raw event, when known) enforce ``max_event_bytes`` before parsing;
        ``offset`` is added to the reported indexes (file lines, positions in a larger body).
        """
        return self.commit(self.prepare_batch(objects, sizes=sizes, offset=offset, rows=True))

    def ingest_events(self, events: Sequence[Event]) -> IngestResult:
        """Store already validated ``Event`` models (the SDK's path); anonymisation still applies."""
        return self.ingest([e.model_dump(exclude_none=True) for e in events])


_DoneCallback = Callable[[IngestResult | None, BaseException | None], None]
_Pending = PreparedBatch | Future[PreparedBatch]


class IngestPipeline:
    """Prepares batches and commits them, in order, on one writer thread.

    With ``workers=0`` batches are prepared on the caller's thread while the writer commits the
    previous one. Both hold the GIL for most of their work, so on two cores that overlaps little; with
    ``workers=N`` (N >= 1) the preparation happens in N worker processes (``assay.monitor.workers``),
    started when the second batch arrives (a one-batch ingest never pays for them), and this process
    only commits: ingest then uses every core. The result is the same either way.

    ``submit`` waits while ``depth`` batches (at least one per worker, plus one) are waiting for the
    writer, so memory stays bounded. ``on_done(result, None)`` runs on the writer thread once a batch is
    committed, ``on_done(None, error)`` if its preparation or commit failed; a batch is acknowledged
    only then. ``close()`` waits until every submitted batch is done.

    Example:
        >>> from assay.store import open_store
        >>> done = []
        >>> with IngestPipeline(Ingestor(open_store("sqlite:///:memory:"))) as pipe:
        ...     pipe.submit([{"event_id": "a"}, {"event_id": "b"}], lambda r, e: done.append(r.accepted))
        >>> done
        [2]
    """

    def __init__(self, ingestor: Ingestor, *, depth: int = 1, workers: int = 0) -> None:
        if workers < 0:
            raise ValueError("workers must be >= 0")
        self.ingestor = ingestor
        self.workers = workers
        depth = max(depth, 2 * workers + 1) if workers else depth
        self._queue: queue.Queue[tuple[_Pending, _DoneCallback] | None] = queue.Queue(maxsize=depth)
        self._thread: threading.Thread | None = None
        self._closed = False
        self._batches = 0
        self._pool: PrepareWorkers | None = None

    def start_workers(self, wait_s: float = 0.0) -> PrepareWorkers | None:
        """Start the worker processes now rather than at the second batch (a server about to take a
        stream of events); wait up to ``wait_s`` for them to be ready. None when ``workers`` is 0."""
        if self._pool is None and self.workers:
            from assay.monitor.workers import PrepareWorkers

            try:
                self._pool = PrepareWorkers(self.ingestor.preparer, self.workers)
            except OSError as exc:  # cannot start a process here: ingest on in this one, just slower
                logger.warning("could not start ingest workers (%s); preparing events in this process", exc)
                self.workers = 0
        if self._pool is not None and wait_s > 0:
            self._pool.wait_ready(wait_s)
        return self._pool

    def _workers(self) -> PrepareWorkers | None:
        self._batches += 1
        return self.start_workers() if self._batches >= 2 else self._pool

    def submit(
        self,
        objects: Sequence[Any],
        on_done: _DoneCallback,
        *,
        sizes: Sequence[int | None] | None = None,
    ) -> None:
        """Prepare ``objects`` (decoded events) and queue them for commit (see the class docstring)."""
        self.submit_prepared(self.prepare(objects, sizes=sizes), on_done)

    def prepare(
        self, objects: Sequence[Any], *, sizes: Sequence[int | None] | None = None
    ) -> PreparedBatch | Future[PreparedBatch]:
        """Start preparing ``objects``: the prepared batch, or its future when a worker prepares it.
        Pass either to ``submit_prepared``."""
        pool = self._workers()
        if pool is None:
            return self.ingestor.prepare_batch(objects, sizes=sizes, rows=True)
        return pool.submit_objects(objects, sizes, self.ingestor.now())

    def submit_lines(self, lines: Sequence[bytes], on_done: _DoneCallback) -> None:
        """Decode and prepare raw JSON Lines, then queue them for commit; a line that is not JSON is
        rejected at its position in ``lines`` (see ``Preparer.prepare_lines``)."""
        pool = self._workers()
        now = self.ingestor.now()
        if pool is None:
            prepared: _Pending = self.ingestor.preparer.prepare_lines(lines, now=now)
        else:
            prepared = pool.submit_lines(lines, now)
        self.submit_prepared(prepared, on_done)

    def submit_prepared(self, prepared: _Pending, on_done: _DoneCallback) -> None:
        """Queue a batch from ``prepare`` (or ``Ingestor.prepare_batch(..., rows=True)``) for commit."""
        if self._closed:
            raise RuntimeError("the ingest pipeline is closed")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="assay-ingest-writer", daemon=True)
            self._thread.start()
        self._queue.put((prepared, on_done))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            pending, on_done = item
            try:
                prepared = pending.result() if isinstance(pending, Future) else pending
                result = self.ingestor.commit(prepared)
            except BaseException as exc:  # reported to the submitter, who decides (retry, raise)
                on_done(None, exc)
            else:
                on_done(result, None)

    def close(self) -> None:
        """Wait for every submitted batch to be committed (or to fail), then stop the writer and the
        workers. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join()
        finally:
            if self._pool is not None:
                self._pool.close()

    def __enter__(self) -> IngestPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------- files
@dataclass(slots=True)
class FileIngestReport:
    """What ``ingest_file`` did: counts and the rejected lines (``Rejection.index`` is the line number)."""

    path: str
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def add(self, result: IngestResult) -> None:
        self.accepted += result.accepted
        self.duplicates += result.duplicates
        self.rejected.extend(result.rejected)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "lines": self.lines,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [{"line": r.index, "error": r.error} for r in self.rejected],
        }


def _lines(
    path: Path, *, follow: bool, poll_s: float, stop: threading.Event | None, idle_timeout_s: float | None
) -> Iterator[tuple[int, bytes] | None]:
    """Yield ``(line_number, bytes)``; with ``follow``, yield ``None`` whenever the reader is caught up."""
    lineno = 0
    handle = path.open("rb")
    inode = os.fstat(handle.fileno()).st_ino
    pending = b""
    idle_since = time.monotonic()
    try:
        while True:
            chunk = handle.read(1 << 20)
            if chunk:
                idle_since = time.monotonic()
                data = pending + chunk
                parts = data.split(b"\n")
                pending = parts.pop()
                for part in parts:
                    lineno += 1
                    yield lineno, part
                continue
            if not follow:
                if pending:
                    lineno += 1
                    yield lineno, pending
                return
            yield None  # caught up: let the caller flush its batch
            if stop is not None and stop.is_set():
                return
            if idle_timeout_s is not None and time.monotonic() - idle_since >= idle_timeout_s:
                return
            if stop is not None:
                stop.wait(poll_s)
            else:
                time.sleep(poll_s)
            try:
                st = path.stat()
            except FileNotFoundError:
                continue  # rotated away; the new file has not appeared yet
            if st.st_ino != inode or st.st_size < handle.tell():
                logger.info("%s was rotated or truncated; reading it from the start", path)
                handle.close()
                handle = path.open("rb")
                inode = os.fstat(handle.fileno()).st_ino
                pending = b""
    finally:
        handle.close()


def ingest_file(
    path: str | Path,
    ingestor: Ingestor,
    *,
    follow: bool = False,
    batch_size: int = 2000,
    poll_s: float = 0.2,
    stop: threading.Event | None = None,
    idle_timeout_s: float | None = None,
    on_batch: Callable[[FileIngestReport], None] | None = None,
    workers: int | None = None,
) -> FileIngestReport:
    """Ingest a JSON Lines file of events; with ``follow``, keep ingesting appended lines.

    ``workers`` processes decode, validate and anonymise batches while this one commits them (see
    ``IngestPipeline``); None: ``default_worker_count()`` (cores - 1), 0: everything in this process.
    They start with the second batch, so a small file never starts them.

    Following stops when ``stop`` is set or after ``idle_timeout_s`` without new data (None: never,
    until interrupted). Bad lines are reported as rejections with their line number; blank lines are
    skipped. Re-ingesting a file stores nothing twice (event ids are idempotency keys).

    Example:
        >>> report = ingest_file("events.jsonl", Ingestor(store))  # doctest: +SKIP
        >>> report.accepted, [(r.index, r.error) for r in report.rejected]  # doctest: +SKIP
        (998, [(17, "field 'latency_s': Input should be a valid number")])
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(str(p))
    report = FileIngestReport(path=str(p))
    lock = threading.Lock()  # the report is updated by the reader and the writer (commits)
    failure: list[BaseException] = []
    raws: list[bytes] = []
    linenos: list[int] = []

    def done(lines: list[int], result: IngestResult | None, error: BaseException | None) -> None:
        if error is not None:
            failure.append(error)
            return
        assert result is not None
        with lock:
            for r in result.rejected:  # batch index -> line number
                line = lines[r.index]
                report.rejected.append(Rejection(line, f"{p}:{line}: {r.error}"))
            report.accepted += result.accepted
            report.duplicates += result.duplicates
        if on_batch is not None:
            on_batch(report)

    def flush() -> None:
        if failure:
            raise failure[0]
        if not raws:
            return
        lines = list(linenos)
        pipeline.submit_lines(list(raws), lambda r, e: done(lines, r, e))
        raws.clear()
        linenos.clear()

    if workers is None:
        from assay.monitor.workers import default_worker_count

        workers = default_worker_count()
    pipeline = IngestPipeline(ingestor, workers=workers)
    try:
        for item in _lines(p, follow=follow, poll_s=poll_s, stop=stop, idle_timeout_s=idle_timeout_s):
            if item is None:
                flush()
                continue
            lineno, raw = item
            report.lines = lineno
            if not raw or raw.isspace():
                continue
            raws.append(raw)
            linenos.append(lineno)
            if len(raws) >= batch_size:
                flush()
        flush()
    finally:
        pipeline.close()  # every submitted batch is committed (or failed) before we report
    if failure:
        raise failure[0]
    report.rejected.sort(key=lambda r: r.index)
    return report
