"""Preparing events for the store: decode, validate, anonymise, build rows (no database access).

``Preparer`` holds everything this needs (the anonymisation config, the hash key, the event size limit,
the store's dialect) and nothing else: it pickles (the key travels over a pipe, never on a command line
or in the environment) so ingest workers in other processes prepare batches while the parent commits
(``assay.monitor.workers``). ``Ingestor`` (``assay.monitor.ingest``) pairs a ``Preparer`` with a store.

``prepare_batch(objects, now=...)`` takes decoded events (dicts); ``prepare_lines(lines, now=...)``
takes raw JSON Lines (bytes) and decodes them too. Both return a ``PreparedBatch``: the rows in
``EVENT_COLUMNS`` order (or validated ``Event`` models) and, for each event refused, its position and
the reason.

Example:
    >>> from datetime import UTC, datetime
    >>> prep = Preparer(key=b"k")
    >>> batch = prep.prepare_lines([b'{"event_id": "a", "input": "mail ann@example.com"}', b"{"],
    ...                            now=datetime(2025, 1, 1, tzinfo=UTC))
    >>> len(batch.rows), batch.result.rejected[0].index
    (1, 1)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from math import ceil, log
from typing import Any, Final

from assay.monitor.anonymise import AnonymisationConfig, Anonymiser
from assay.monitor.event import Event, EventError, parse_events
from assay.monitor.fastlane import FastLane
from assay.monitor.sketch import _LOG_GAMMA, value_bin
from assay.monitor.sketch import _MIN_VALUE as _MIN_BIN_VALUE
from assay.monitor.sketch import ZERO_BIN as _ZERO_BIN
from assay.store.records import DbValues
from assay.store.rollups import Rollups

try:  # optional: about 7x faster than the standard library at decoding events
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised where orjson is not installed
    _orjson = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "IngestResult",
    "PreparedBatch",
    "Preparer",
    "Rejection",
    "commit_prepared",
    "decode_json",
]

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


@dataclass(slots=True)
class PreparedBatch:
    """A validated, anonymised batch waiting to be committed: its rows (or events) and rejections so far."""

    result: IngestResult
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    rollups: Rollups | None = None
    """``accumulate(rows)``, when computed ahead (by an ingest worker, so the writer does not)."""


def commit_prepared(events: Any, prepared: PreparedBatch) -> IngestResult:
    """Store a prepared batch's rows through ``events`` (an ``EventStore``) in ONE transaction; the
    batch's result, counting what was new (accepted) and what was already stored (duplicates)."""
    result = prepared.result
    inserted = events.insert_events(prepared.rows, rollups=prepared.rollups)
    result.accepted += inserted
    result.duplicates += len(prepared.rows) - inserted
    return result


def _too_big(size: int, limit: int) -> str:
    return f"event is {size:,} bytes; the limit is {limit:,}"


class Preparer:
    """Validates and anonymises events and builds their rows, for a store of ``dialect``. Thread-safe.

    ``anonymisation`` defaults to ``AnonymisationConfig()`` (redact personal data in every text, hash
    ids); ``key`` is the hash key (required: ``Ingestor`` finds it). ``max_event_bytes`` bounds one
    event's serialised size. Pickling keeps the settings and drops the caches.
    """

    def __init__(
        self,
        anonymisation: AnonymisationConfig | None = None,
        *,
        key: bytes,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        dialect: str = "sqlite",
    ) -> None:
        self.config = anonymisation or AnonymisationConfig()
        self.anonymiser = Anonymiser(self.config, key=key)
        self.max_event_bytes = max_event_bytes
        self.dialect = dialect
        values = DbValues(dialect)
        self._db_dt = values.timestamp
        self._db_dt_utc = values.timestamp_utc
        self._db_true, self._db_false = values.boolean(True), values.boolean(False)
        # the fast lane (its rows' JSON is written by orjson) for the common shape of event
        self._lane = FastLane(self.anonymiser) if _orjson is not None else None

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.config, self.anonymiser.key, self.max_event_bytes, self.dialect))

    def db_bool(self, value: bool | None) -> Any:
        return None if value is None else (self._db_true if value else self._db_false)

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
            raise EventError(_too_big(len(data), self.max_event_bytes))
        b = self.db_bool
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

    def prepare_batch(
        self,
        objects: Sequence[Any],
        *,
        sizes: Sequence[int | None] | None = None,
        offset: int = 0,
        rows: bool = False,
        now: datetime,
    ) -> PreparedBatch:
        """Validate and anonymise a batch (no database access): the events, or with ``rows`` their rows.

        Invalid events are rejected one by one (``result.rejected``), an ``event_id`` repeated in the
        batch counts as a duplicate. ``sizes`` (bytes of each raw event, when known) enforce
        ``max_event_bytes`` before parsing; ``offset`` is added to the reported indexes.
        """
        result = IngestResult()
        limit = self.max_event_bytes
        lane = self._lane if rows else None
        items: list[tuple[int, dict[str, Any] | None, Any]] = []
        for i, obj in enumerate(objects):
            size = None if sizes is None else sizes[i]
            if size is not None and size > limit:
                result.rejected.append(Rejection(i + offset, _too_big(size, limit)))
                continue
            items.append((i, None if lane is None else lane.from_obj(obj), obj))
        return self._finish(items, result, rows=rows, now=now, offset=offset)

    def prepare_lines(self, lines: Sequence[bytes], *, now: datetime) -> PreparedBatch:
        """``prepare_batch(rows=True)`` of raw JSON Lines: a line that is not JSON is rejected at its
        position in ``lines`` (like an invalid event), the rest are prepared together."""
        result = IngestResult()
        limit = self.max_event_bytes
        lane = self._lane
        items: list[tuple[int, dict[str, Any] | None, Any]] = []
        for i, raw in enumerate(lines):
            if len(raw) > limit:
                result.rejected.append(Rejection(i, _too_big(len(raw), limit)))
                continue
            simple = None if lane is None else lane.from_json(raw)
            obj: Any = raw  # decoded only when the model has to look at it
            if simple is None:
                obj, error = decode_line(raw)
                if error is not None:
                    result.rejected.append(Rejection(i, error))
                    continue
            items.append((i, simple, obj))
        return self._finish(items, result, rows=True, now=now, offset=0)

    def _finish(
        self,
        items: list[tuple[int, dict[str, Any] | None, Any]],
        result: IngestResult,
        *,
        rows: bool,
        now: datetime,
        offset: int,
    ) -> PreparedBatch:
        """Rows (or events) of ``(position, fast-lane dump or None, raw object)`` items: the fast lane's
        dumps become rows directly; the model validates the rest (anonymised first), all of them in one
        call, and explains rejections."""
        prepared = PreparedBatch(result)
        db_now = self._db_dt(now)
        anonymise = self.anonymiser.apply_raw

        def anonymised(obj: Any) -> Any:  # anonymise the raw values, then validate once (frozen model)
            return anonymise(obj) if isinstance(obj, dict) else obj

        slow = [k for k, item in enumerate(items) if item[1] is None]
        models: dict[int, Event | EventError] = {}
        if slow:
            models = dict(zip(slow, parse_events([anonymised(items[k][2]) for k in slow]), strict=True))
        seen: set[str] = set()
        for k, (i, simple, obj) in enumerate(items):
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
                if isinstance(obj, bytes):  # orjson could not write it: the model decides
                    obj = decode_line(obj)[0]
                models[k] = parse_events([anonymised(obj)])[0]
            event = models[k]
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
        """``row`` for a ``FastLane`` dump (the model's dump), without a model; None when orjson
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
            raise EventError(_too_big(len(data), self.max_event_bytes))
        b = self.db_bool
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


def _rebuild(config: AnonymisationConfig, key: bytes, max_event_bytes: int, dialect: str) -> Preparer:
    return Preparer(config, key=key, max_event_bytes=max_event_bytes, dialect=dialect)


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


def decode_line(raw: bytes) -> tuple[Any, str | None]:
    """One JSON line: ``(value, None)``, or ``(_UNDECODABLE, reason)`` when it is not UTF-8 JSON."""
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
