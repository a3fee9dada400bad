"""Ingest: validate, anonymise and store events, whichever door they come through (SDK, HTTP, OTLP, file).

``Ingestor.ingest(objects)`` takes raw decoded events (dicts), validates each one on its own, anonymises
the valid ones and stores them in ONE transaction; it returns how many were accepted, how many were
duplicates (their ``event_id`` was already stored) and, for each rejected one, its index and the reason.
When it returns, the accepted events are committed: they survive ``kill -9`` of the process.

``ingest_file(path, ingestor, follow=...)`` reads JSON Lines (one event per line), reporting bad lines
as ``file:line: reason``; with ``follow`` it keeps reading what is appended (like ``tail -F``: a partial
last line waits for its newline, a truncated or rotated file is reopened from the start).

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
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from assay.monitor.anonymise import AnonymisationConfig, Anonymiser
from assay.monitor.event import Event, EventError, parse_event
from assay.monitor.sketch import value_bin

if TYPE_CHECKING:
    from assay.store import Store

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "FileIngestReport",
    "IngestResult",
    "Ingestor",
    "Rejection",
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

    # ------------------------------------------------------------------------------ one event
    def prepare(self, obj: Any, *, size: int | None = None) -> Event:
        """Validate and anonymise one raw event. Raises ``EventError`` with the reason."""
        if size is not None and size > self.max_event_bytes:
            raise EventError(f"event is {size:,} bytes; the limit is {self.max_event_bytes:,}")
        if isinstance(obj, dict):  # anonymise the raw values, then validate once
            obj = self.anonymiser.apply_raw(obj)
            return parse_event(obj)
        return parse_event(obj)

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
    def ingest(
        self, objects: Sequence[Any], *, sizes: Sequence[int | None] | None = None, offset: int = 0
    ) -> IngestResult:
        """Validate, anonymise and store a batch; invalid events are rejected one by one.

        ``sizes`` (bytes of each raw event, when known) enforce ``max_event_bytes`` before parsing;
        ``offset`` is added to the reported indexes (file lines, positions in a larger body).
        """
        result = IngestResult()
        rows: list[tuple[Any, ...]] = []
        seen: set[str] = set()
        now = self._now()
        db_now = self._db_dt(now)
        for i, obj in enumerate(objects):
            try:
                event = self.prepare(obj, size=None if sizes is None else sizes[i])
                if event.event_id in seen:
                    result.duplicates += 1
                    continue
                rows.append(self.row(event, now, db_now))
                seen.add(event.event_id)
            except EventError as exc:
                result.rejected.append(Rejection(i + offset, exc.reason))
            except (UnicodeEncodeError, ValueError) as exc:  # serialisation of odd values
                result.rejected.append(Rejection(i + offset, f"cannot store the event: {exc}"))
        inserted = self.events.insert_events(rows)
        result.accepted += inserted
        result.duplicates += len(rows) - inserted
        return result

    def ingest_events(self, events: Sequence[Event]) -> IngestResult:
        """Store already validated ``Event`` models (the SDK's path); anonymisation still applies."""
        return self.ingest([e.model_dump(exclude_none=True) for e in events])


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


def _decode_line(raw: bytes) -> tuple[Any, str | None]:
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
    objs: list[Any] = []
    sizes: list[int | None] = []
    linenos: list[int] = []

    def flush() -> None:
        if not objs:
            return
        result = ingestor.ingest(objs, sizes=sizes)
        for r in result.rejected:  # batch index -> line number
            r_line = linenos[r.index]
            report.rejected.append(Rejection(r_line, f"{p}:{r_line}: {r.error}"))
        report.accepted += result.accepted
        report.duplicates += result.duplicates
        objs.clear()
        sizes.clear()
        linenos.clear()
        if on_batch is not None:
            on_batch(report)

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
            report.rejected.append(Rejection(lineno, f"{p}:{lineno}: {error}"))
            continue
        objs.append(obj)
        sizes.append(len(raw))
        linenos.append(lineno)
        if len(objs) >= batch_size:
            flush()
    flush()
    report.rejected.sort(key=lambda r: r.index)
    return report
