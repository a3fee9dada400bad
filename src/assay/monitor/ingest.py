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

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import ceil, log
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from assay.monitor.anonymise import AnonymisationConfig, Anonymiser
from assay.monitor.event import Event, EventError, parse_events, simple_event
from assay.monitor.sketch import _LOG_GAMMA, value_bin
from assay.monitor.sketch import _MIN_VALUE as _MIN_BIN_VALUE
from assay.monitor.sketch import ZERO_BIN as _ZERO_BIN

if TYPE_CHECKING:
    from assay.store import Store

try:  # optional: about 7x faster than the standard library at decoding events
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised where orjson is not installed
    _orjson = None  # type: ignore[assignment]

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

DEFAULT_MAX_EVENT_BYTES: Final = 1_000_000
"""An event larger than this (serialised) is rejected: it is a bug or an attack, not an interaction."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """One event that was not stored: its position (index in the batch, or line of the file) and why."""

    index: int
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "error": self.error}


@dataclass(slots=True)
class IngestResult:
    """The outcome of one batch: ``accepted`` new events, ``duplicates`` already stored, ``rejected``."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The body of ``POST /v1/events``'s answer."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [r.to_dict() for r in self.rejected],
        }


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
        self.anonymiser = Anonymiser(config, key=key)
        self.max_event_bytes = max_event_bytes
        self._now = now or (lambda: datetime.now(UTC))
        self._db_dt = self.events.db_datetime
        self._db_bool = self.events.db_bool
        self._fast = _orjson is not None  # the fast lane writes its JSON with orjson
        self._db_dt_utc = self.events.db_datetime_utc
        self._db_true, self._db_false = self._db_bool(True), self._db_bool(False)

    # ------------------------------------------------------------------------------ one event
    def prepare(self, obj: Any, *, size: int | None = None) -> Event:
        """Validate and anonymise one raw event. Raises ``EventError`` with the reason."""
        result = self.prepare_batch([obj], sizes=None if size is None else [size])
        if result.result.rejected:
            raise EventError(result.result.rejected[0].error)
        return result.events[0]

    def row(self, event: Event, now: datetime, db_now: Any = None) -> tuple[Any, ...]:
        """The ``events`` row (``EVENT_COLUMNS`` order) of an already anonymised event."""
        ts = event.ts or now
        if event.ts is None:
            event = event.model_copy(update={"ts": ts})
        try:
            data = event.model_dump_json(exclude_none=True)
        except ValueError as exc:  # PydanticSerializationError
            if "surrogates not allowed" in str(exc):
                raise EventError("the event holds text that is not valid UTF-8") from None
            raise EventError(f"cannot serialise the event: {exc}") from None
        if len(data) > self.max_event_bytes:
            raise EventError(f"event is {len(data):,} bytes; the limit is {self.max_event_bytes:,}")
        b = self._db_bool
        usage, fb, oc, err = event.usage, event.feedback, event.outcome, event.error
        lat, ttft = event.latency_s, event.ttft_s
        return (
            event.event_id,
            self._db_dt(ts),
            ts.timestamp(),
            event.app,
            event.variant,
            event.model,
            b(err is not None),
            None if err is None else err.kind[:64],
            lat,
            ttft,
            None if lat is None else value_bin(lat),
            None if ttft is None else value_bin(ttft),
            None if usage is None else usage.input_tokens,
            None if usage is None else usage.output_tokens,
            event.cost_usd,
            len(event.input_text) if event.input is not None else None,
            None if event.output is None else len(event.output),
            None if fb is None else b(fb.thumbs_up),
            None if fb is None else fb.rating,
            None if fb is None else fb.nps,
            None if oc is None else b(oc.resolved),
            None if oc is None else b(oc.escalated),
            None if oc is None else oc.handle_time_s,
            None if oc is None else b(oc.accepted),
            event.queue_depth,
            event.session_id,
            event.user_id,
            data,
            self._db_dt(now) if db_now is None else db_now,
        )

    # ------------------------------------------------------------------------------ batches
    def prepare_batch(
        self,
        objects: Sequence[Any],
        *,
        sizes: Sequence[int | None] | None = None,
        offset: int = 0,
        rows: bool = False,
    ) -> PreparedBatch:
        """Validate and anonymise a batch (no database access): the events, or with ``rows`` their rows.

        Invalid events are rejected one by one (``result.rejected``), an ``event_id`` repeated in the
        batch counts as a duplicate. ``sizes`` and ``offset`` as in ``ingest``.
        """
        result = IngestResult()
        limit = self.max_event_bytes
        anonymise = self.anonymiser.apply_raw
        raws: list[Any] = []
        positions: list[int] = []
        for i, obj in enumerate(objects):
            size = None if sizes is None else sizes[i]
            if size is not None and size > limit:
                result.rejected.append(
                    Rejection(i + offset, f"event is {size:,} bytes; the limit is {limit:,}")
                )
                continue
            # anonymise the raw values, then validate once (the model is frozen)
            raws.append(anonymise(obj) if isinstance(obj, dict) else obj)
            positions.append(i)
        prepared = PreparedBatch(result)
        now = self._now()
        db_now = self._db_dt(now)
        # the fast lane (``simple_event``, rows built from plain dicts) for the common shape of event;
        # the model validates the rest, all of them in one call, and explains rejections
        fast: list[dict[str, Any] | None]
        if rows and self._fast:
            fast = [simple_event(r) if type(r) is dict else None for r in raws]
        else:
            fast = [None] * len(raws)
        slow = [j for j, d in enumerate(fast) if d is None]
        models = dict(zip(slow, parse_events([raws[j] for j in slow]), strict=True)) if slow else {}
        seen: set[str] = set()
        for j, i in enumerate(positions):
            simple = fast[j]
            if simple is not None:
                eid = simple["event_id"]
                if eid in seen:
                    result.duplicates += 1
                    continue
                try:
                    row = self._row_simple(simple, now, db_now)
                except EventError as exc:
                    result.rejected.append(Rejection(i + offset, exc.reason))
                    continue
                if row is not None:
                    prepared.rows.append(row)
                    seen.add(eid)
                    continue
                models[j] = parse_events([raws[j]])[0]  # orjson could not write it: the model decides
            event = models[j]
            if isinstance(event, EventError):
                result.rejected.append(Rejection(i + offset, event.reason))
                continue
            if event.event_id in seen:
                result.duplicates += 1
                continue
            if not rows:
                prepared.events.append(event)
                seen.add(event.event_id)
                continue
            try:
                prepared.rows.append(self.row(event, now, db_now))
                seen.add(event.event_id)
            except EventError as exc:
                result.rejected.append(Rejection(i + offset, exc.reason))
            except (UnicodeEncodeError, ValueError) as exc:  # serialisation of odd values
                result.rejected.append(Rejection(i + offset, f"cannot store the event: {exc}"))
        if len(result.rejected) > 1:
            result.rejected.sort(key=lambda r: r.index)
        return prepared

    def _row_simple(self, d: dict[str, Any], now: datetime, db_now: Any) -> tuple[Any, ...] | None:
        """``row`` for a ``simple_event`` dict (the model's dump), without a model; None when orjson
        cannot serialise it (the model's path then handles it)."""
        ts = d.get("ts")
        if ts is None:
            ts = now
            d = {"schema_version": d["schema_version"], "event_id": d["event_id"], "ts": now, **d}
        try:
            data = _orjson.dumps(d, option=_orjson.OPT_UTC_Z).decode()
        except (TypeError, ValueError):  # orjson.JSONEncodeError: surrogates, huge integers ...
            return None
        if len(data) > self.max_event_bytes:
            raise EventError(f"event is {len(data):,} bytes; the limit is {self.max_event_bytes:,}")
        b = self._db_bool
        get = d.get
        usage, fb, oc, err = get("usage"), get("feedback"), get("outcome"), get("error")
        lat, ttft, inp, out = get("latency_s"), get("ttft_s"), get("input"), get("output")
        return (
            d["event_id"],
            self._db_dt_utc(ts),
            ts.timestamp(),
            d["app"],
            get("variant"),
            get("model"),
            self._db_false if err is None else self._db_true,
            None if err is None else err["kind"][:64],
            lat,
            ttft,
            None if lat is None else (_ZERO_BIN if lat <= _MIN_BIN_VALUE else ceil(log(lat) / _LOG_GAMMA)),
            None if ttft is None else value_bin(ttft),
            None if usage is None else usage["input_tokens"],
            None if usage is None else usage["output_tokens"],
            get("cost_usd"),
            None if inp is None else len(inp),
            None if out is None else len(out),
            None if fb is None else b(fb.get("thumbs_up")),
            None if fb is None else fb.get("rating"),
            None if fb is None else fb.get("nps"),
            None if oc is None else b(oc.get("resolved")),
            None if oc is None else b(oc.get("escalated")),
            None if oc is None else oc.get("handle_time_s"),
            None if oc is None else b(oc.get("accepted")),
            get("queue_depth"),
            get("session_id"),
            get("user_id"),
            data,
            db_now,
        )

    def commit(self, prepared: PreparedBatch) -> IngestResult:
        """Store a prepared batch's rows in ONE transaction; the result counts what was new.

        When it returns, the accepted events are committed (they survive ``kill -9``).
        """
        result = prepared.result
        inserted = self.events.insert_events(prepared.rows)
        result.accepted += inserted
        result.duplicates += len(prepared.rows) - inserted
        return result

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


@dataclass(slots=True)
class PreparedBatch:
    """A validated, anonymised batch waiting to be committed: its rows (or events) and rejections so far."""

    result: IngestResult
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


_DoneCallback = Callable[[IngestResult | None, BaseException | None], None]


class IngestPipeline:
    """Prepares batches on the caller's thread and commits them, in order, on one writer thread.

    SQLite does its writing without holding the GIL, so while batch *k* is being committed the caller
    already validates and anonymises batch *k+1*: on two cores ingest runs at the speed of the slower
    of the two instead of their sum. ``submit`` waits while ``depth`` prepared batches are already
    queued (memory stays bounded). ``on_done(result, None)`` runs on the writer thread once a batch is
    committed, ``on_done(None, error)`` if its commit failed; a batch is acknowledged only then.
    ``close()`` waits until every submitted batch is done.

    Example:
        >>> from assay.store import open_store
        >>> done = []
        >>> with IngestPipeline(Ingestor(open_store("sqlite:///:memory:"))) as pipe:
        ...     pipe.submit([{"event_id": "a"}, {"event_id": "b"}], lambda r, e: done.append(r.accepted))
        >>> done
        [2]
    """

    def __init__(self, ingestor: Ingestor, *, depth: int = 1) -> None:
        self.ingestor = ingestor
        self._queue: queue.Queue[tuple[PreparedBatch, _DoneCallback] | None] = queue.Queue(maxsize=depth)
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(
        self,
        objects: Sequence[Any],
        on_done: _DoneCallback,
        *,
        sizes: Sequence[int | None] | None = None,
    ) -> None:
        """Prepare ``objects`` now and queue them for commit (see the class docstring)."""
        self.submit_prepared(self.ingestor.prepare_batch(objects, sizes=sizes, rows=True), on_done)

    def submit_prepared(self, prepared: PreparedBatch, on_done: _DoneCallback) -> None:
        """Queue a batch prepared with ``Ingestor.prepare_batch(..., rows=True)`` for commit."""
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
            prepared, on_done = item
            try:
                result = self.ingestor.commit(prepared)
            except BaseException as exc:  # reported to the submitter, who decides (retry, raise)
                on_done(None, exc)
            else:
                on_done(result, None)

    def close(self) -> None:
        """Wait for every submitted batch to be committed (or to fail), then stop the writer. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()

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


_UNDECODABLE: Final = object()


def decode_json(raw: bytes) -> Any:
    """Decode one JSON document: ``orjson`` when installed, else (or when it refuses) the standard library.

    The standard library has the last word: it accepts what it always accepted (``NaN``, huge integers,
    lone surrogate escapes) and its error messages name the column. Raises ``ValueError``
    (``json.JSONDecodeError`` or ``UnicodeDecodeError``).
    """
    if _orjson is not None:
        try:
            return _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(raw.decode("utf-8"))


def _decode_line(raw: bytes) -> tuple[Any, str | None]:
    if _orjson is not None:
        try:
            return _orjson.loads(raw), None
        except _orjson.JSONDecodeError:
            pass  # the standard library says what is wrong (and accepts what it always did)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _UNDECODABLE, f"not valid UTF-8 (byte {exc.start})"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return _UNDECODABLE, f"invalid JSON: {exc.msg} (column {exc.colno})"


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
) -> FileIngestReport:
    """Ingest a JSON Lines file of events; with ``follow``, keep ingesting appended lines.

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
    lock = threading.Lock()  # the report is updated by the reader (bad lines) and the writer (commits)
    failure: list[BaseException] = []
    objs: list[Any] = []
    sizes: list[int | None] = []
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
        if not objs:
            return
        lines = list(linenos)
        pipeline.submit(objs, lambda r, e: done(lines, r, e), sizes=sizes)
        objs.clear()
        sizes.clear()
        linenos.clear()

    pipeline = IngestPipeline(ingestor)
    try:
        for item in _lines(p, follow=follow, poll_s=poll_s, stop=stop, idle_timeout_s=idle_timeout_s):
            if item is None:
                flush()
                continue
            lineno, raw = item
            report.lines = lineno
            if not raw.strip():
                continue
            obj, error = _decode_line(raw)
            if error is not None:
                with lock:
                    report.rejected.append(Rejection(lineno, f"{p}:{lineno}: {error}"))
                continue
            objs.append(obj)
            sizes.append(len(raw))
            linenos.append(lineno)
            if len(objs) >= batch_size:
                flush()
        flush()
    finally:
        pipeline.close()  # every submitted batch is committed (or failed) before we report
    if failure:
        raise failure[0]
    report.rejected.sort(key=lambda r: r.index)
    return report
