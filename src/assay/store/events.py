"""Monitoring tables (events, scores of events, alerts, monitor state) and ``EventStore``, their API.

Tables (registered on ``assay.store.schema.metadata``; schema version 2 added them):
    events        one row per ingested event. ``event_id`` is unique (a duplicate is stored once);
                  ``seq`` numbers events in ingest order (the online scorer's cursor). The scalar fields
                  (latency, tokens, cost, feedback, outcome) are real columns so windows aggregate in
                  SQL; ``latency_bin``/``ttft_bin`` are log-scale histogram bins (see
                  ``assay.monitor.windows``) so percentiles of a million events are one GROUP BY.
                  ``t_unix`` is the event time in Unix seconds (bucketing); ``ts`` the same as a timestamp.
                  ``event_json`` holds the whole (anonymised) event.
    event_scores  one row per (event, scorer name): an online score, with the event's time and keys
                  copied so windows aggregate scores without a join.
    event_rollups per (resolution, minute, app, variant, model): counts and sums of the events' scalar fields, kept
                  up to date in the same transaction as the events (only for events actually stored, so
                  a duplicate never counts twice). Window aggregates read these, not the events: a day
                  of a million events is 24 hourly rows per group (plus minute rows at unaligned edges). ``variant``/``model`` are '' when
                  absent. ``event_rollup_bins`` holds the latency ('l') and TTFT ('t') histogram bins.
    alerts        one row per alert instance (a rule firing for one label set, from pending to resolved).
    monitor_state key -> JSON: the scorer's cursor, judge budget counters, the per-store hash key.
    monitor_rules the rules the monitor last ran with (``assay monitor check/ingest/score --config``):
                  name, type, the definition as JSON and where it came from, so the dashboard can draw
                  threshold bands without the config file. Schema version 3 (an existing store is
                  upgraded on open by ``create_rules_table``).

``EventStore(store)`` (or ``store.events``) writes and reads them with the store's conventions: JSON as
text, UTC timestamps, ``BEGIN IMMEDIATE`` writes, driver-level executemany (PostgreSQL: ``unnest``).

Example:
    >>> from assay.store import open_store
    >>> with open_store("sqlite:///:memory:") as store:
    ...     store.events.count_events()
    0
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    case,
    func,
    select,
)
from sqlalchemy.engine import Connection

from assay.store.rollups import (
    _ROLLUP_KEYS,
    EVENT_COLUMNS,
    ROLLUP_SUMS,
    Rollups,
    accumulate,
)
from assay.store.schema import UTCDateTime, metadata
from assay.types import StoreError

if TYPE_CHECKING:
    from assay.store.store import Store

__all__ = [
    "ALERT_STATES",
    "EVENT_COLUMNS",
    "MONITOR_TABLES",
    "ROLLUP_SUMS",
    "SCORE_COLUMNS",
    "AlertRecord",
    "EventStore",
    "StoredRule",
    "alerts",
    "create_monitor_tables",
    "create_rules_table",
    "event_rollup_bins",
    "event_rollups",
    "event_scores",
    "events",
    "monitor_rules",
    "monitor_state",
]

_SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")  # INTEGER PRIMARY KEY is SQLite's rowid

events = Table(
    "events",
    metadata,
    Column("seq", _SEQ_TYPE, primary_key=True, autoincrement=True),
    Column("event_id", String, nullable=False),
    Column("ts", UTCDateTime(), nullable=False),
    Column("t_unix", Double, nullable=False),
    Column("app", String, nullable=False),
    Column("variant", String, nullable=True),
    Column("model", String, nullable=True),
    Column("is_error", Boolean, nullable=False),
    Column("error_kind", String(64), nullable=True),
    Column("latency_s", Double, nullable=True),
    Column("ttft_s", Double, nullable=True),
    Column("latency_bin", Integer, nullable=True),
    Column("ttft_bin", Integer, nullable=True),
    Column("input_tokens", Integer, nullable=True),
    Column("output_tokens", Integer, nullable=True),
    Column("cost_usd", Double, nullable=True),
    Column("input_chars", Integer, nullable=True),
    Column("output_chars", Integer, nullable=True),
    Column("thumbs_up", Boolean, nullable=True),
    Column("rating", Integer, nullable=True),
    Column("nps", Integer, nullable=True),
    Column("resolved", Boolean, nullable=True),
    Column("escalated", Boolean, nullable=True),
    Column("handle_time_s", Double, nullable=True),
    Column("accepted", Boolean, nullable=True),
    Column("queue_depth", Integer, nullable=True),
    Column("session_hash", String, nullable=True),
    Column("user_hash", String, nullable=True),
    Column("event_json", Text, nullable=False),
    Column("ingested_at", UTCDateTime(), nullable=False),
    Index("ux_events_event_id", "event_id", unique=True),
    Index("ix_events_t", "t_unix"),
    Index("ix_events_app_t", "app", "t_unix"),
)

event_scores = Table(
    "event_scores",
    metadata,
    Column("event_seq", _SEQ_TYPE, nullable=False),
    Column("name", String, nullable=False),
    Column("t_unix", Double, nullable=False),
    Column("app", String, nullable=False),
    Column("variant", String, nullable=True),
    Column("model", String, nullable=True),
    Column("value", Double, nullable=True),
    Column("value_is_bool", Boolean, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("higher_is_better", Boolean, nullable=False),
    Column("error", Text, nullable=True),
    Column("explanation", Text, nullable=False),
    Column("metadata_json", Text, nullable=False),
    Column("scored_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("event_seq", "name", name="pk_event_scores"),
    ForeignKeyConstraint(["event_seq"], ["events.seq"], ondelete="CASCADE", name="fk_event_scores_event"),
    Index("ix_event_scores_name_t", "name", "t_unix"),
    Index("ix_event_scores_t", "t_unix"),
)

_FLOAT_SUMS: Final = frozenset({"lat_sum", "ttft_sum", "cost_usd", "handle_sum", "queue_sum"})

event_rollups = Table(
    "event_rollups",
    metadata,
    Column("res_m", Integer, nullable=False),
    Column("minute", BigInteger, nullable=False),
    Column("app", String, nullable=False),
    Column("variant", String, nullable=False),
    Column("model", String, nullable=False),
    *(Column(c, Double if c in _FLOAT_SUMS else BigInteger, nullable=False) for c in ROLLUP_SUMS),
    Column("queue_max", BigInteger, nullable=True),
    PrimaryKeyConstraint(*_ROLLUP_KEYS, name="pk_event_rollups"),
)

event_rollup_bins = Table(
    "event_rollup_bins",
    metadata,
    Column("res_m", Integer, nullable=False),
    Column("minute", BigInteger, nullable=False),
    Column("app", String, nullable=False),
    Column("variant", String, nullable=False),
    Column("model", String, nullable=False),
    Column("metric", String(8), nullable=False),
    Column("bin", Integer, nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint(*_ROLLUP_KEYS, "metric", "bin", name="pk_event_rollup_bins"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", String, primary_key=True),
    Column("rule", String, nullable=False),
    Column("fingerprint", String, nullable=False),
    Column("labels_json", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("value", Double, nullable=True),
    Column("summary", Text, nullable=False),
    Column("pending_since", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("last_eval_at", UTCDateTime(), nullable=False),
    Column("last_notified_at", UTCDateTime(), nullable=True),
    Column("annotations_json", Text, nullable=False),
    Index("ix_alerts_state", "state"),
    Index("ix_alerts_fingerprint", "fingerprint", "pending_since"),
)

monitor_state = Table(
    "monitor_state",
    metadata,
    Column("key", String, primary_key=True),
    Column("value_json", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

monitor_rules = Table(
    "monitor_rules",
    metadata,
    Column("name", String, primary_key=True),
    Column("type", String(16), nullable=False),
    Column("definition_json", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("saved_at", UTCDateTime(), nullable=False),
)

MONITOR_TABLES: Final = (
    events, event_scores, event_rollups, event_rollup_bins, alerts, monitor_state, monitor_rules,
)  # fmt: skip
if tuple(c.name for c in events.columns if c.name != "seq") != EVENT_COLUMNS:  # pragma: no cover
    raise AssertionError("assay.store.rollups.EVENT_COLUMNS must follow the events table")
"""Column order of the rows ``EventStore.insert_events`` takes (every column but ``seq``)."""
SCORE_COLUMNS: Final = tuple(c.name for c in event_scores.columns)
ALERT_STATES: Final = ("pending", "firing", "resolved")
_TS_COLUMNS: Final = frozenset({"ts", "ingested_at", "scored_at"})
_BOOL_COLUMNS: Final = frozenset(
    {"is_error", "thumbs_up", "resolved", "escalated", "accepted", "value_is_bool", "higher_is_better"}
)


def create_monitor_tables(conn: Connection) -> None:
    """Schema upgrade 1 -> 2: add the monitoring tables (inside the caller's transaction)."""
    for table in MONITOR_TABLES:
        table.create(conn, checkfirst=True)


def create_rules_table(conn: Connection) -> None:
    """Schema upgrade 2 -> 3: add ``monitor_rules`` (idempotent; inside the caller's transaction)."""
    monitor_rules.create(conn, checkfirst=True)


@dataclass(frozen=True, slots=True)
class StoredRule:
    """A rule definition as saved by the monitor: ``definition`` is the rule's JSON (as in the YAML)."""

    name: str
    type: str
    definition: dict[str, Any]
    source: str
    saved_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "definition": self.definition,
            "source": self.source,
            "saved_at": self.saved_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert instance: a rule's condition held for one label set.

    ``state`` goes pending -> firing -> resolved (a pending alert whose condition clears is deleted,
    never notified). ``started_at`` is when it began firing, ``ended_at`` when it resolved;
    ``time_to_recover_s`` is their difference.
    """

    alert_id: str
    rule: str
    fingerprint: str
    labels: dict[str, str]
    state: str
    severity: str
    value: float | None
    summary: str
    pending_since: datetime
    started_at: datetime | None
    ended_at: datetime | None
    last_eval_at: datetime
    last_notified_at: datetime | None
    annotations: dict[str, Any]

    @property
    def time_to_recover_s(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``status --json``, webhooks)."""
        iso = lambda d: None if d is None else d.isoformat()  # noqa: E731
        return {
            "alert_id": self.alert_id,
            "rule": self.rule,
            "labels": self.labels,
            "state": self.state,
            "severity": self.severity,
            "value": self.value,
            "summary": self.summary,
            "pending_since": iso(self.pending_since),
            "started": iso(self.started_at),
            "ended": iso(self.ended_at),
            "time_to_recover_s": self.time_to_recover_s,
            "annotations": self.annotations,
        }


_SQLITE_MAX_SEQ: Final = "SELECT max(seq) FROM events"
_SQLITE_CHUNK: Final = 512
"""Rows per multi-row INSERT on SQLite (fewer when the build allows fewer bound variables)."""
_SQLITE_IDS_AFTER: Final = "SELECT event_id FROM events WHERE seq > ?"


class _MultiRow:
    """An ``INSERT ... VALUES (?, ...) [ON CONFLICT ...]`` for SQLite run as multi-row statements.

    One statement stores hundreds of rows in a single call into SQLite, which runs without the GIL,
    so a thread preparing the next batch keeps running meanwhile; ``executemany`` takes the GIL back
    after every row, and each time waits for the other thread to give it up. Statements hold up to
    ``_SQLITE_CHUNK`` rows and the remainder is split into power-of-two sizes, so a handful of
    statement texts are compiled once and reused from the driver's statement cache.
    """

    def __init__(self, sql: str) -> None:
        head, rest = sql.split(" VALUES (", 1)
        placeholders, tail = rest.split(")", 1)
        self.width = placeholders.count("?")
        self._head = head + " VALUES "
        self._one = "(" + placeholders + ")"
        self._tail = tail
        self._texts: dict[int, str] = {}
        self._per: int | None = None

    def _rows_per_statement(self, conn: Connection) -> int:
        if self._per is None:
            import sqlite3

            raw = conn.connection.driver_connection
            limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if raw is not None else 999
            self._per = max(1, min(_SQLITE_CHUNK, limit // self.width))
        return self._per

    def _text(self, size: int) -> str:
        text = self._texts.get(size)
        if text is None:
            text = self._texts[size] = self._head + ", ".join([self._one] * size) + self._tail
        return text

    def execute(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> int:
        """Run the statement for every row (in order, one transaction: the caller's); the rows changed."""
        from itertools import chain

        per = self._rows_per_statement(conn)
        total = 0
        start = 0
        n = len(rows)
        while start < n:
            size = min(per, n - start)
            if size < per:
                size = 1 << (size.bit_length() - 1)  # the largest power of two that fits
            params = tuple(chain.from_iterable(rows[start : start + size]))
            total += conn.exec_driver_sql(self._text(size), params).rowcount
            start += size
        return total


class EventStore:
    """Reads and writes the monitoring tables of one ``Store`` (thread-safe like the store itself)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.dialect = store.dialect
        self._insert_events = self._insert_sql(events, EVENT_COLUMNS, "event_id")
        self._insert_scores = self._insert_sql(event_scores, SCORE_COLUMNS, "event_seq, name")
        self._upsert_rollup, self._upsert_bins = self._rollup_statements()
        if self.dialect == "sqlite":
            assert self._upsert_rollup.reorder is None and self._upsert_bins.reorder is None
            self._multi_events = _MultiRow(self._insert_events.sql)
            self._multi_rollup = _MultiRow(self._upsert_rollup.sql)
            self._multi_bins = _MultiRow(self._upsert_bins.sql)

    # ------------------------------------------------------------------------------ driver SQL
    def _insert_sql(self, table: Table, columns: Sequence[str], conflict: str) -> Any:
        from assay.store.store import _DriverSQL

        dialect = self.store.engine.dialect
        quote = dialect.identifier_preparer.quote
        cols = ", ".join(quote(c) for c in columns)
        tail = f" ON CONFLICT ({conflict}) DO NOTHING"
        if self.dialect == "postgresql":
            arrays = ", ".join(f"%b::{table.c[c].type.compile(dialect=dialect)}[]" for c in columns)
            return _DriverSQL(
                f"INSERT INTO {table.name} ({cols}) SELECT * FROM unnest({arrays}){tail}", columnar=True
            )
        marks = ", ".join("?" for _ in columns)
        return _DriverSQL(f"INSERT INTO {table.name} ({cols}) VALUES ({marks}){tail}")

    def db_datetime(self, dt: datetime) -> Any:
        """A datetime in the driver's form for rows passed to ``insert_events``/``add_scores``."""
        return self.store._db_datetime(dt)

    def db_bool(self, value: bool | None) -> Any:
        return None if value is None else self.store._db_bool(bool(value))

    # ------------------------------------------------------------------------------ events
    def insert_events(self, rows: Sequence[Sequence[Any]], *, rollups: Rollups | None = None) -> int:
        """Insert event rows (``EVENT_COLUMNS`` order, driver values) in ONE transaction.

        Returns how many were new: rows whose ``event_id`` is already stored (or repeated in the batch)
        are skipped. The minute rollups are updated in the same transaction for the new rows only.
        ``rollups``: ``accumulate(rows)`` computed ahead (an ingest worker does it), used when every row
        is new. Once this returns, the events survive a crash of the process.
        """
        if not rows:
            return 0
        with self.store._write(f"store {len(rows)} events") as conn:
            if self.dialect == "postgresql":
                # RETURNING says exactly which rows were new, even with concurrent writers
                sql = self._insert_events
                result = conn.exec_driver_sql(
                    sql.sql + " RETURNING event_id", tuple([list(col) for col in zip(*rows, strict=True)])
                )
                returned = {r[0] for r in result}
                new_rows = []
                for row in rows:
                    if row[0] in returned:
                        new_rows.append(row)
                        returned.discard(row[0])
            else:
                # Writes are serialised (BEGIN IMMEDIATE) and ``seq`` is the rowid, which SQLite numbers
                # above the largest one: the rows this statement inserted are those past ``before``.
                # Usually every row is new (the rowcount says so) and no lookup is needed at all.
                before = conn.exec_driver_sql(_SQLITE_MAX_SEQ).scalar() or 0
                inserted = self._sqlite_insert_events(conn, rows)
                if inserted == len(rows):
                    new_rows = list(rows)
                elif inserted <= 0:
                    new_rows = []
                else:
                    fresh = {r[0] for r in conn.exec_driver_sql(_SQLITE_IDS_AFTER, (before,))}
                    new_rows = []
                    for row in rows:  # the first of repeated ids is the one inserted
                        if row[0] in fresh:
                            new_rows.append(row)
                            fresh.discard(row[0])
            if rollups is not None and len(new_rows) == len(rows):
                self._upsert_rollups(conn, rollups)  # computed ahead (by an ingest worker) for all rows
            else:
                self._rollup(conn, new_rows)
            return len(new_rows)

    def _sqlite_insert_events(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> int:
        """Insert event rows on SQLite (see ``_MultiRow``); returns how many were new."""
        return self._multi_events.execute(conn, rows)

    def _rollup(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Add the rows' counts and sums to their minute and hour rollups (inside the insert's transaction)."""
        if rows:
            self._upsert_rollups(conn, accumulate(rows))

    def _upsert_rollups(self, conn: Connection, rollups: Rollups) -> None:
        from assay.store.store import Store

        sums, qmax, bins = rollups
        rollup_rows = [(*key, *acc, qmax[key]) for key, acc in sums.items()]
        bin_rows = [(*bk, n) for bk, n in bins.items()]
        if self.dialect == "sqlite":
            self._multi_rollup.execute(conn, rollup_rows)
            if bin_rows:
                self._multi_bins.execute(conn, bin_rows)
            return
        Store._executemany(conn, self._upsert_rollup, rollup_rows)
        if bin_rows:
            Store._executemany(conn, self._upsert_bins, bin_rows)

    def _rollup_statements(self) -> tuple[Any, Any]:
        r, rb = event_rollups, event_rollup_bins
        ins = self.store._insert(r)
        upd: dict[str, Any] = {c: r.c[c] + ins.excluded[c] for c in ROLLUP_SUMS}
        upd["queue_max"] = case(
            (ins.excluded.queue_max.is_(None), r.c.queue_max),
            (r.c.queue_max.is_(None), ins.excluded.queue_max),
            (ins.excluded.queue_max > r.c.queue_max, ins.excluded.queue_max),
            else_=r.c.queue_max,
        )
        rollup = ins.on_conflict_do_update(index_elements=[r.c[k] for k in _ROLLUP_KEYS], set_=upd)
        bins_ins = self.store._insert(rb)
        bins = bins_ins.on_conflict_do_update(
            index_elements=[rb.c[k] for k in (*_ROLLUP_KEYS, "metric", "bin")],
            set_={"count": rb.c["count"] + bins_ins.excluded["count"]},
        )
        return self.store._compile(rollup), self.store._compile(bins)

    def _insert_rows(self, conn: Connection, sql: Any, rows: Sequence[Sequence[Any]]) -> int:
        if sql.columnar:
            result = conn.exec_driver_sql(sql.sql, tuple([list(col) for col in zip(*rows, strict=True)]))
        else:
            result = conn.exec_driver_sql(sql.sql, list(rows))
        return int(result.rowcount)

    def count_events(self, *, app: str | None = None) -> int:
        """How many events are stored (of ``app``, if given)."""
        stmt = select(func.count()).select_from(events)
        if app is not None:
            stmt = stmt.where(events.c.app == app)
        with self.store._read("count events") as conn:
            return int(conn.execute(stmt).scalar_one())

    def counts_by_app(self) -> dict[str, int]:
        """``{app: number of stored events}``."""
        stmt = select(events.c.app, func.count()).group_by(events.c.app).order_by(events.c.app)
        with self.store._read("count events by app") as conn:
            return {app: int(n) for app, n in conn.execute(stmt)}

    def time_range(self) -> tuple[float, float] | None:
        """(first, last) event time in Unix seconds, or None when there are no events."""
        with self.store._read("read the event time range") as conn:
            lo, hi = conn.execute(select(func.min(events.c.t_unix), func.max(events.c.t_unix))).one()
        return None if lo is None else (float(lo), float(hi))

    def max_seq(self) -> int:
        with self.store._read("read the last event number") as conn:
            return int(conn.execute(select(func.max(events.c.seq))).scalar() or 0)

    def events_after(self, seq: int, *, limit: int = 500) -> list[tuple[int, dict[str, Any]]]:
        """Up to ``limit`` events with ``seq`` greater than ``seq``, in order: ``(seq, event dict)``."""
        stmt = (
            select(events.c.seq, events.c.event_json)
            .where(events.c.seq > seq)
            .order_by(events.c.seq)
            .limit(limit)
        )
        with self.store._read("read events") as conn:
            return [(int(s), json.loads(j)) for s, j in conn.execute(stmt)]

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """The stored (anonymised) event with this id, or None."""
        stmt = select(events.c.event_json).where(events.c.event_id == event_id)
        with self.store._read(f"read event {event_id!r}") as conn:
            row = conn.execute(stmt).first()
        return None if row is None else json.loads(row[0])

    # ------------------------------------------------------------------------------ scores
    def add_scores(self, rows: Sequence[Sequence[Any]], *, state: dict[str, Any] | None = None) -> int:
        """Insert score rows (``SCORE_COLUMNS`` order) and update ``state`` keys in ONE transaction.

        The online scorer passes its cursor as ``state``: scores and the position they cover commit
        together, so a crash never loses scores nor scores an event twice.
        """
        with self.store._write(f"store {len(rows)} event scores") as conn:
            n = self._insert_rows(conn, self._insert_scores, rows) if rows else 0
            for key, value in (state or {}).items():
                self._put_state(conn, key, value)
            return n

    def scores_for(self, event_id: str) -> list[dict[str, Any]]:
        """The online scores of one event (name, value, kind, error …)."""
        s = event_scores
        stmt = (
            select(s.c.name, s.c.value, s.c.value_is_bool, s.c.kind, s.c.error, s.c.explanation)
            .join(events, events.c.seq == s.c.event_seq)
            .where(events.c.event_id == event_id)
            .order_by(s.c.name)
        )
        with self.store._read("read event scores") as conn:
            return [
                {
                    "name": name,
                    "value": bool(value) if is_bool and value is not None else value,
                    "kind": kind,
                    "error": error,
                    "explanation": expl,
                }
                for name, value, is_bool, kind, error, expl in conn.execute(stmt)
            ]

    def count_scores(self, name: str | None = None) -> int:
        stmt = select(func.count()).select_from(event_scores)
        if name is not None:
            stmt = stmt.where(event_scores.c.name == name)
        with self.store._read("count event scores") as conn:
            return int(conn.execute(stmt).scalar_one())

    # ------------------------------------------------------------------------------ state
    def _put_state(self, conn: Connection, key: str, value: Any) -> None:
        row = {"key": key, "value_json": json.dumps(value), "updated_at": datetime.now(UTC)}
        ins = self.store._insert(monitor_state).values(**row)
        conn.execute(
            ins.on_conflict_do_update(
                index_elements=[monitor_state.c.key],
                set_={"value_json": ins.excluded.value_json, "updated_at": ins.excluded.updated_at},
            )
        )

    def get_state(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under ``key`` (``default`` when absent)."""
        stmt = select(monitor_state.c.value_json).where(monitor_state.c.key == key)
        with self.store._read(f"read monitor state {key!r}") as conn:
            row = conn.execute(stmt).first()
        return default if row is None else json.loads(row[0])

    def set_state(self, key: str, value: Any) -> None:
        with self.store._write(f"write monitor state {key!r}") as conn:
            self._put_state(conn, key, value)

    def hash_key(self) -> bytes:
        """The store's pseudonymisation key, created (random, 256 bits) on first use."""
        key = self.get_state("hash_key")
        if key is None:
            with self.store._write("create the pseudonymisation key") as conn:
                row = conn.execute(
                    select(monitor_state.c.value_json).where(monitor_state.c.key == "hash_key")
                ).first()
                if row is None:
                    key = secrets.token_hex(32)
                    self._put_state(conn, "hash_key", key)
                else:
                    key = json.loads(row[0])
        return bytes.fromhex(key)

    # ------------------------------------------------------------------------------ rules
    def save_rules(self, rules: Sequence[tuple[str, str, dict[str, Any]]], *, source: str) -> None:
        """Replace the stored rule set with ``rules`` (``(name, type, definition)``) in ONE transaction.

        The set mirrors the config the monitor last ran with: rules no longer in it are removed. An
        empty ``rules`` clears the set.
        """
        names = [name for name, _, _ in rules]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise StoreError(f"rule names must be unique; repeated: {', '.join(dup)}")
        now = datetime.now(UTC)
        with self.store._write(f"save {len(rules)} monitor rules") as conn:
            conn.execute(monitor_rules.delete())
            if rules:
                conn.execute(
                    monitor_rules.insert(),
                    [
                        {
                            "name": name,
                            "type": kind,
                            "definition_json": json.dumps(definition, sort_keys=True, default=str),
                            "source": source,
                            "saved_at": now,
                        }
                        for name, kind, definition in rules
                    ],
                )

    def list_rules(self) -> list[StoredRule]:
        """The stored rule definitions, by name ([] when none were ever saved)."""
        with self.store._read("list monitor rules") as conn:
            rows = conn.execute(select(monitor_rules).order_by(monitor_rules.c.name)).all()
        return [
            StoredRule(
                name=r.name,
                type=r.type,
                definition=json.loads(r.definition_json),
                source=r.source,
                saved_at=r.saved_at,
            )
            for r in rows
        ]

    # ------------------------------------------------------------------------------ alerts
    def save_alerts(self, records: Sequence[AlertRecord], *, delete: Sequence[str] = ()) -> None:
        """Insert or update alert instances and delete the ids in ``delete`` (one transaction)."""
        if not records and not delete:
            return
        with self.store._write(f"save {len(records)} alerts") as conn:
            if delete:
                conn.execute(alerts.delete().where(alerts.c.alert_id.in_(list(delete))))
            for rec in records:
                if rec.state not in ALERT_STATES:
                    raise StoreError(f"unknown alert state {rec.state!r}; expected one of {ALERT_STATES}")
                row = {
                    "alert_id": rec.alert_id,
                    "rule": rec.rule,
                    "fingerprint": rec.fingerprint,
                    "labels_json": json.dumps(rec.labels, sort_keys=True),
                    "state": rec.state,
                    "severity": rec.severity,
                    "value": rec.value,
                    "summary": rec.summary,
                    "pending_since": rec.pending_since,
                    "started_at": rec.started_at,
                    "ended_at": rec.ended_at,
                    "last_eval_at": rec.last_eval_at,
                    "last_notified_at": rec.last_notified_at,
                    "annotations_json": json.dumps(rec.annotations, default=str),
                }
                ins = self.store._insert(alerts).values(**row)
                conn.execute(
                    ins.on_conflict_do_update(
                        index_elements=[alerts.c.alert_id],
                        set_={k: ins.excluded[k] for k in row if k != "alert_id"},
                    )
                )

    def list_alerts(
        self, *, states: Sequence[str] | None = None, rule: str | None = None, limit: int | None = 200
    ) -> list[AlertRecord]:
        """Alert instances, newest first, optionally filtered by state and rule."""
        stmt = select(alerts).order_by(alerts.c.pending_since.desc(), alerts.c.alert_id)
        if states is not None:
            stmt = stmt.where(alerts.c.state.in_(list(states)))
        if rule is not None:
            stmt = stmt.where(alerts.c.rule == rule)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.store._read("list alerts") as conn:
            rows = conn.execute(stmt).all()
        return [
            AlertRecord(
                alert_id=r.alert_id,
                rule=r.rule,
                fingerprint=r.fingerprint,
                labels=json.loads(r.labels_json),
                state=r.state,
                severity=r.severity,
                value=r.value,
                summary=r.summary,
                pending_since=r.pending_since,
                started_at=r.started_at,
                ended_at=r.ended_at,
                last_eval_at=r.last_eval_at,
                last_notified_at=r.last_notified_at,
                annotations=json.loads(r.annotations_json),
            )
            for r in rows
        ]
