"""The ``Store``: runs, results, scores and the response cache in SQLite or PostgreSQL.

One SQLAlchemy Core schema (``assay.store.schema``) serves both backends. Writes happen in short
transactions; ``add_results`` writes a whole batch (results and their scores) in ONE transaction and is
idempotent, so a committed batch survives ``kill -9`` and a resumed run never stores a case twice.

SQLite runs in WAL mode with ``synchronous=NORMAL`` (a committed transaction survives a crash of the
process; only an OS crash or power cut may lose the last commits), ``foreign_keys=ON``, a busy timeout,
and write transactions that start with ``BEGIN IMMEDIATE`` so two writers queue instead of failing.

Every method may be called from any thread (the runner calls them through ``asyncio.to_thread``): each
call checks a connection out of the pool for its own duration and holds nothing between calls, not
even between the pages of ``iter_results``.

Example:
    >>> store = open_store("sqlite:///:memory:")
    >>> store.cache_put_many([("k1", {"text": "hello"})])
    >>> store.cache_get_many(["k1", "k2"])
    {'k1': {'text': 'hello'}}
    >>> store.close()
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Engine, bindparam, create_engine, event, func, null, select
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from assay.store import schema
from assay.store.records import RUN_STATUSES, DbValues, ResultRecord, RunRecord, default_store_url
from assay.types import StoreError

if TYPE_CHECKING:
    from assay.store.events import EventStore

__all__ = ["Store", "open_store"]

logger = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT_S: Final = 30.0
_IN_CHUNK: Final = 500  # keys per IN (...) list: far below SQLite's and PostgreSQL's parameter limits
_PASSWORD_IN_URL = re.compile(r"(://[^:/@]*:)([^@]*)(@)")


def open_store(url: str | None = None, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> Store:
    """Open (creating it if needed) the store at ``url``, default ``default_store_url()``.

    ``sqlite:///relative/path.db`` is relative to the current directory, ``sqlite:////abs/path.db`` is
    absolute; the parent folder is created. ``postgresql://`` means ``postgresql+psycopg://`` (install
    the ``postgres`` extra). Raises ``StoreError`` for a bad URL, an unwritable path, a database written
    by a newer assay, or a server that cannot be reached.

    Example:
        >>> with open_store("sqlite:///:memory:") as store:
        ...     store.list_runs()
        []
    """
    return Store(url if url is not None else default_store_url(), busy_timeout_s=busy_timeout_s)


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (also for URLs SQLAlchemy cannot parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return _PASSWORD_IN_URL.sub(r"\1***\3", url)


# ------------------------------------------------------------------------------------------ JSON helpers
def _json_default(obj: Any) -> Any:
    if isinstance(obj, datetime | date | time):
        return obj.isoformat()
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    if isinstance(obj, Decimal):
        return float(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, without importing numpy
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _dumps(obj: Any, what: str) -> str:
    if not obj and isinstance(obj, dict):
        return "{}"
    try:
        return _ENCODER.encode(obj)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"cannot store {what}: {exc}") from exc


def _loads(data: str | None) -> Any:
    if data is None:
        return None
    return {} if data == "{}" else json.loads(data)


def _check_aware(value: datetime | None, what: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{what} must be timezone-aware (e.g. datetime.now(timezone.utc)), got {value!r}")


def _float_or_none(value: Any, what: str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, str | bytes):
        raise StoreError(f"cannot store {what} of {where}: expected a number, got {value!r:.80}")
    try:
        f = float(value)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"cannot store {what} of {where}: expected a number, got {value!r:.80}") from exc
    if f != f:  # NaN
        raise StoreError(
            f"cannot store {what} of {where}: it is NaN. A value that cannot be computed must be None with an error "
            "(e.g. Score.failed(...)), never NaN."
        )
    return f


@dataclass(frozen=True, slots=True)
class _DriverSQL:
    """An INSERT compiled for the store's dialect, taking rows in its table's column order.

    ``columnar``: one statement takes every row as one array per column (PostgreSQL ``unnest``);
    otherwise rows go to executemany (SQLite), reordered by ``reorder`` (None: the same order).
    """

    sql: str
    reorder: tuple[int, ...] | None = None
    columnar: bool = False


_r, _s = schema.results, schema.scores
_SEQ_POS: Final = list(_r.columns.keys()).index("seq")
_SCORE_SEQ_POS: Final = list(_s.columns.keys()).index("seq")
# Read order of iter_results pages: seq first (the keyset), then the record's fields.
_RESULT_READ_COLS: Final = (
    *(_r.c.seq, _r.c.case_id, _r.c.repeat, _r.c.case_json, _r.c.output_json, _r.c.error_kind),
    *(_r.c.error_message, _r.c.latency_s, _r.c.ttft_s, _r.c.cost_usd, _r.c.input_tokens),
    *(_r.c.output_tokens, _r.c.attempts, _r.c.cached, _r.c.created_at),
)
#: the same columns without the case and output JSON (two NULLs in their places)
_RESULT_STAT_COLS: Final = tuple(
    null().label(c.name) if c.name in ("case_json", "output_json") else c for c in _RESULT_READ_COLS
)
_SCORE_READ_COLS: Final = (
    *(_s.c.name, _s.c.value, _s.c.value_is_bool, _s.c.kind, _s.c.higher_is_better, _s.c.error),
    *(_s.c.explanation, _s.c.metadata_json),
)


# ------------------------------------------------------------------------------------------ the store
class Store:
    """Runs, results (with normalised scores) and the response cache, in SQLite or PostgreSQL.

    Use ``open_store(url)`` to get one. ``url`` is the URL as given, ``safe_url`` the same with any
    password masked (for messages and logs). ``engine`` gives read access for SQL over the tables in
    ``assay.store.schema`` (reports, comparisons).
    """

    def __init__(self, url: str, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        self.url = url
        self.safe_url = mask_url(url)
        self._busy_timeout_s = busy_timeout_s
        self._closed = False
        self._memory = False
        self._event_store: EventStore | None = None
        self._engine = self._create_engine(url)
        self.dialect: str = self._engine.dialect.name
        # An in-memory SQLite database lives in ONE shared connection: serialise every call on it.
        # File SQLite allows one writer at a time anyway: serialising this process's writes on a lock
        # keeps them from spinning on the busy timeout against each other.
        self._lock = threading.RLock()
        # only the dialect in use is imported (PostgreSQL's costs about 50 ms when a SQLite run starts)
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            self._insert: Any = sqlite_insert
        else:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            self._insert = pg_insert
        self._build_statements()
        try:
            # Usually the schema is there: check it with a read, so opening a store that another
            # process is writing to (a report during a run) never waits for the write lock.
            with self._read("open the store") as conn:
                current = schema.stored_version(conn, where=self.safe_url) == schema.SCHEMA_VERSION
            if not current:
                with self._write("create the store's tables") as conn:
                    schema.ensure_schema(conn, where=self.safe_url)
        except BaseException:
            self._engine.dispose()
            raise
        logger.debug("opened store %s", self.safe_url)

    # ------------------------------------------------------------------------------ engine setup
    def _create_engine(self, url: str) -> Engine:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise StoreError(
                f"invalid store URL {self.safe_url!r}: expected e.g. sqlite:///.assay/assay.db or "
                "postgresql+psycopg://user:password@host:5432/dbname"
            ) from exc
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            return self._sqlite_engine(parsed)
        if backend in ("postgresql", "postgres"):
            if parsed.drivername in ("postgresql", "postgres"):
                parsed = parsed.set(drivername="postgresql+psycopg")
            if parsed.drivername != "postgresql+psycopg":
                raise StoreError(
                    f"unsupported PostgreSQL driver {parsed.drivername!r} in {self.safe_url!r}: "
                    "use postgresql+psycopg:// (psycopg 3, the 'postgres' extra)"
                )
            try:
                return create_engine(parsed, pool_pre_ping=True)
            except (ImportError, NoSuchModuleError) as exc:
                raise StoreError(
                    f"the PostgreSQL driver for {self.safe_url} is not installed: "
                    "pip install 'assay[postgres]' (psycopg 3)"
                ) from exc
        raise StoreError(
            f"unsupported store URL scheme {parsed.drivername!r} in {self.safe_url!r}: use sqlite:///path.db "
            "or postgresql+psycopg://user:password@host/dbname"
        )

    def _sqlite_engine(self, parsed: URL) -> Engine:
        if parsed.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise StoreError(f"unsupported SQLite driver {parsed.drivername!r}: use sqlite:///path.db")
        database = parsed.database or ""
        connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": self._busy_timeout_s}
        if database in ("", ":memory:"):
            # One private database per connection: share a single connection (calls are serialised).
            self._memory = True
            engine = create_engine(parsed, connect_args=connect_args, poolclass=StaticPool)
        elif database.startswith("file:"):  # a SQLite URI (?uri=true), passed through as given
            engine = create_engine(parsed, connect_args=connect_args)
        else:
            path = Path(os.path.abspath(os.path.expanduser(database)))
            if path.is_dir():
                raise StoreError(f"store path {path} is a directory; give a file such as {path / 'assay.db'}")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the store's folder {path.parent}: {exc.strerror or exc}"
                ) from exc
            engine = create_engine(parsed.set(database=str(path)), connect_args=connect_args)
        busy_ms = int(self._busy_timeout_s * 1000)
        memory = self._memory

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event below emit BEGIN, instead of pysqlite's implicit one.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            try:
                cur.execute(f"PRAGMA busy_timeout = {busy_ms}")
                if not memory:
                    cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = NORMAL")
                cur.execute("PRAGMA foreign_keys = ON")
            finally:
                cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # IMMEDIATE takes the write lock up front: a writer waits (busy_timeout) for another one
            # instead of failing half-way with "database is locked" when it upgrades a read lock.
            conn.exec_driver_sql(
                "BEGIN IMMEDIATE" if conn.get_execution_options().get("assay_write") else "BEGIN"
            )

        return engine

    def _build_statements(self) -> None:
        """Compile the hot-path INSERTs once into driver SQL (see ``_executemany``)."""
        r, s, c = schema.results, schema.scores, schema.cache
        self._insert_results = self._compile(
            self._insert(r).on_conflict_do_nothing(index_elements=[r.c.run_id, r.c.case_id, r.c.repeat])
        )
        self._insert_scores = self._compile(
            self._insert(s).on_conflict_do_nothing(index_elements=[s.c.run_id, s.c.seq, s.c.idx])
        )
        upsert = self._insert(c)
        self._upsert_cache = self._compile(
            upsert.on_conflict_do_update(
                index_elements=[c.c.key],
                set_={"value_json": upsert.excluded.value_json, "created_at": upsert.excluded.created_at},
            )
        )
        runs = schema.runs
        self._q_lock_run = select(runs.c.run_id).where(runs.c.run_id == bindparam("run_id")).with_for_update()
        self._q_existing = select(r.c.case_id, r.c.repeat).where(
            r.c.run_id == bindparam("run_id"), r.c.case_id.in_(bindparam("case_ids", expanding=True))
        )
        self._q_max_seq = select(func.max(r.c.seq)).where(r.c.run_id == bindparam("run_id"))
        # what SQLAlchemy's DateTime/Boolean types would write, so reads through them agree
        self.db_values = DbValues(self.dialect)
        self._db_datetime: Callable[[datetime], Any] = self.db_values.timestamp
        self._db_bool: Callable[[bool], Any] = self.db_values.boolean

    def _compile(self, stmt: Any) -> _DriverSQL:
        dialect = self._engine.dialect
        compiled = str(stmt.compile(dialect=dialect))
        table = stmt.table
        columns = tuple(table.columns.keys())
        if self.dialect == "postgresql":
            # INSERT ... SELECT FROM unnest(arrays): one statement per table and batch instead of one
            # per row; arrays go in psycopg's binary format (%b), which is much cheaper to build.
            quote = dialect.identifier_preparer.quote
            arrays = ", ".join(f"%b::{col.type.compile(dialect=dialect)}[]" for col in table.columns)
            sql = (
                f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
                f"SELECT * FROM unnest({arrays}){compiled[compiled.index(' ON CONFLICT') :]}"
            )
            return _DriverSQL(sql, columnar=True)
        positions = tuple(columns.index(name) for name in stmt.compile(dialect=dialect).positiontup or ())
        return _DriverSQL(compiled, reorder=None if positions == tuple(range(len(columns))) else positions)

    @staticmethod
    def _executemany(conn: Connection, sql: _DriverSQL, rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows straight through the driver: SQLAlchemy's per-row parameter processing would
        cost more than the database itself (rows hold values already in the driver's form)."""
        if sql.columnar:
            conn.exec_driver_sql(sql.sql, tuple([list(col) for col in zip(*rows, strict=True)]))
        elif sql.reorder is not None:
            conn.exec_driver_sql(sql.sql, [tuple(row[i] for i in sql.reorder) for row in rows])
        else:
            conn.exec_driver_sql(sql.sql, list(rows))

    @property
    def events(self) -> EventStore:
        """The monitoring tables (events, their online scores, alerts): see ``assay.store.events``."""
        if self._event_store is None:
            from assay.store.events import EventStore

            self._event_store = EventStore(self)
        return self._event_store

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for read-only SQL over ``assay.store.schema`` tables."""
        return self._engine

    # ------------------------------------------------------------------------------ transactions
    @contextmanager
    def _errors(self, op: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except SQLAlchemyError as exc:
            raise self._translate(exc, op) from exc

    def _translate(self, exc: SQLAlchemyError, op: str) -> StoreError:
        detail = str(exc.orig) if isinstance(exc, DBAPIError) and exc.orig is not None else str(exc)
        detail = detail.strip().splitlines()[0] if detail.strip() else type(exc).__name__
        low = detail.lower()
        if "database is locked" in low or "database is busy" in low:
            detail += (
                f" (another process held the write lock for more than {self._busy_timeout_s:g} s;"
                " retry, or give this run its own store with --store)"
            )
        elif "unable to open database file" in low or "readonly database" in low:
            detail += " (check that the path exists and is writable)"
        elif "file is not a database" in low:
            detail += " (the file exists but is not a SQLite database)"
        return StoreError(f"store {self.safe_url}: cannot {op}: {detail}")

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"store {self.safe_url} is closed")

    @contextmanager
    def _write(self, op: str) -> Iterator[Connection]:
        """One write transaction: committed on exit, rolled back (and translated) on error."""
        self._check_open()
        lock = self._lock if self.dialect == "sqlite" else nullcontext()
        with self._errors(op), lock, self._engine.connect() as conn:
            conn.execution_options(assay_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self, op: str) -> Iterator[Connection]:
        """One read transaction (a consistent snapshot for the queries inside it)."""
        self._check_open()
        lock = self._lock if self._memory else nullcontext()
        with self._errors(op), lock, self._engine.connect() as conn, conn.begin():
            yield conn

    # ------------------------------------------------------------------------------ runs
    def create_run(self, run: RunRecord) -> None:
        """Insert a new run. Raises ``StoreError`` if ``run.run_id`` already exists."""
        self._check_run(run.status, run.created_at, run.finished_at)
        row = {
            "run_id": run.run_id,
            "suite": run.suite,
            "status": run.status,
            "created_at": run.created_at,
            "finished_at": run.finished_at,
            "n_planned": int(run.n_planned),
            "config_json": _dumps(run.config, f"the config of run {run.run_id!r}"),
            "provenance_json": _dumps(run.provenance, f"the provenance of run {run.run_id!r}"),
            "summary_json": None if run.summary is None else _dumps(run.summary, "the run summary"),
        }
        with self._write(f"create run {run.run_id!r}") as conn:
            exists = conn.execute(
                select(schema.runs.c.run_id).where(schema.runs.c.run_id == run.run_id)
            ).first()
            if exists is not None:
                raise StoreError(f"a run with id {run.run_id!r} already exists in {self.safe_url}")
            conn.execute(schema.runs.insert(), row)

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run with exactly this id, or None."""
        with self._read(f"read run {run_id!r}") as conn:
            row = conn.execute(select(schema.runs).where(schema.runs.c.run_id == run_id)).first()
        return None if row is None else self._run_from_row(row)

    def find_run(self, id_or_prefix: str) -> RunRecord:
        """The run with this exact id, else the only run whose id starts with it.

        Raises ``StoreError`` when no run matches, or when the prefix is ambiguous (listing candidates).

        Example:
            >>> store.find_run("3f2a")  # doctest: +SKIP
            RunRecord(run_id='3f2a9c...', ...)
        """
        exact = self.get_run(id_or_prefix)
        if exact is not None:
            return exact
        if not id_or_prefix:
            raise StoreError("give a run id (or the first characters of one); `assay runs` lists them")
        runs = schema.runs
        prefix_match = func.substr(runs.c.run_id, 1, len(id_or_prefix)) == id_or_prefix
        with self._read(f"find run {id_or_prefix!r}") as conn:
            rows = conn.execute(
                select(runs)
                .where(prefix_match)
                .order_by(runs.c.created_at.desc(), runs.c.run_id.desc())
                .limit(11)
            ).all()
        if not rows:
            raise StoreError(f"no run {id_or_prefix!r} in {self.safe_url}; `assay runs` lists the runs there")
        if len(rows) > 1:
            shown = ", ".join(f"{row.run_id} ({row.suite})" for row in rows[:10])
            more = ", ..." if len(rows) > 10 else ""
            raise StoreError(
                f"run id prefix {id_or_prefix!r} is ambiguous; it matches {shown}{more}. Give more characters."
            )
        return self._run_from_row(rows[0])

    def list_runs(self, *, suite: str | None = None, limit: int | None = 50) -> list[RunRecord]:
        """Runs, newest first (at most ``limit``; None for all), optionally only those of ``suite``."""
        runs = schema.runs
        stmt = select(runs).order_by(runs.c.created_at.desc(), runs.c.run_id.desc())
        if suite is not None:
            stmt = stmt.where(runs.c.suite == suite)
        if limit is not None:
            if limit < 0:
                raise ValueError(f"limit must be >= 0 or None, got {limit}")
            stmt = stmt.limit(limit)
        with self._read("list runs") as conn:
            rows = conn.execute(stmt).all()
        return [self._run_from_row(row) for row in rows]

    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        summary: dict[str, Any] | None = None,
        finished_at: datetime | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        """Set the given fields of a run (None leaves a field unchanged). StoreError if the run is absent."""
        self._check_run(status, None, finished_at)
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = status
        if summary is not None:
            values["summary_json"] = _dumps(summary, f"the summary of run {run_id!r}")
        if finished_at is not None:
            values["finished_at"] = finished_at
        if provenance is not None:
            values["provenance_json"] = _dumps(provenance, f"the provenance of run {run_id!r}")
        runs = schema.runs
        with self._write(f"update run {run_id!r}") as conn:
            if values:
                found = conn.execute(runs.update().where(runs.c.run_id == run_id).values(**values)).rowcount
            else:
                found = len(conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id)).all())
            if not found:
                raise StoreError(f"no run {run_id!r} in {self.safe_url}")

    def delete_run(self, run_id: str) -> None:
        """Delete a run with all its results and scores (one transaction). StoreError if it is absent."""
        with self._write(f"delete run {run_id!r}") as conn:
            conn.execute(schema.scores.delete().where(schema.scores.c.run_id == run_id))
            conn.execute(schema.results.delete().where(schema.results.c.run_id == run_id))
            deleted = conn.execute(schema.runs.delete().where(schema.runs.c.run_id == run_id)).rowcount
            if not deleted:
                raise StoreError(f"no run {run_id!r} in {self.safe_url}")

    @staticmethod
    def _check_run(status: str | None, created_at: datetime | None, finished_at: datetime | None) -> None:
        if status is not None and status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}; expected one of {RUN_STATUSES}")
        _check_aware(created_at, "created_at")
        _check_aware(finished_at, "finished_at")

    @staticmethod
    def _run_from_row(row: Any) -> RunRecord:
        return RunRecord(
            run_id=row.run_id,
            suite=row.suite,
            status=row.status,
            created_at=row.created_at,
            finished_at=row.finished_at,
            n_planned=row.n_planned,
            config=_loads(row.config_json),
            provenance=_loads(row.provenance_json),
            summary=_loads(row.summary_json),
        )

    # ------------------------------------------------------------------------------ results
    def add_results(
        self, results: Sequence[ResultRecord], *, cache_items: Sequence[tuple[str, dict[str, Any]]] = ()
    ) -> int:
        """Store a batch of results with their scores in ONE transaction; return how many were new.

        Idempotent: a result whose ``(run_id, case_id, repeat)`` is already stored (or repeated within
        the batch) is skipped together with its scores, so re-adding a batch after a crash is harmless.
        The batch is all-or-nothing: on any error nothing of it is stored. Raises ``StoreError`` if a
        result's run does not exist or a value cannot be stored (e.g. a NaN score).

        ``cache_items`` (as for ``cache_put_many``) are upserted in the same transaction: one commit
        per batch instead of two, and a response is cached exactly when its result is stored.

        Example:
            >>> store.add_results(batch)  # doctest: +SKIP
            50
            >>> store.add_results(batch)  # the same batch again (a resumed run): nothing new  # doctest: +SKIP
            0
        """
        cache_rows = self._cache_rows(cache_items)
        if not results and not cache_rows:
            return 0
        # Serialise before taking the write lock: the transaction only does SQL.
        batches: dict[str, dict[tuple[str, int], tuple[list[Any], list[list[Any]]]]] = {}
        for rec in results:
            key = (rec.case_id, int(rec.repeat))
            per_run = batches.setdefault(rec.run_id, {})
            if key not in per_run:
                per_run[key] = self._result_rows(rec)
        inserted = 0
        with self._write(f"add {len(results)} results") as conn:
            for run_id, items in batches.items():
                if conn.execute(self._q_lock_run, {"run_id": run_id}).first() is None:
                    raise StoreError(f"cannot add results: no run {run_id!r} in {self.safe_url}")
                existing = self._existing_keys(conn, run_id, items.keys())
                new = [rows for key, rows in items.items() if key not in existing]
                if not new:
                    continue
                next_seq = (conn.execute(self._q_max_seq, {"run_id": run_id}).scalar() or 0) + 1
                result_rows = []
                score_rows = []
                for i, (row, srows) in enumerate(new):
                    seq = row[_SEQ_POS] = next_seq + i
                    result_rows.append(tuple(row))
                    for srow in srows:
                        srow[_SCORE_SEQ_POS] = seq
                        score_rows.append(tuple(srow))
                # The run row is locked (FOR UPDATE / BEGIN IMMEDIATE), so nobody inserted these
                # keys since we looked: every row is new (ON CONFLICT only guards the impossible).
                self._executemany(conn, self._insert_results, result_rows)
                inserted += len(result_rows)
                if score_rows:
                    self._executemany(conn, self._insert_scores, score_rows)
            if cache_rows:
                self._executemany(conn, self._upsert_cache, cache_rows)
        return inserted

    def _existing_keys(
        self, conn: Connection, run_id: str, keys: Iterable[tuple[str, int]]
    ) -> set[tuple[str, int]]:
        case_ids = sorted({case_id for case_id, _ in keys})
        found: set[tuple[str, int]] = set()
        for start in range(0, len(case_ids), _IN_CHUNK):
            params = {"run_id": run_id, "case_ids": case_ids[start : start + _IN_CHUNK]}
            found.update((case_id, repeat) for case_id, repeat in conn.execute(self._q_existing, params))
        return found

    def _result_rows(self, rec: ResultRecord) -> tuple[list[Any], list[list[Any]]]:
        """The ``results`` and ``scores`` rows (lists in table column order; ``seq`` is filled in later)."""
        _check_aware(rec.created_at, "ResultRecord.created_at")
        where = f"case {rec.case_id!r} (repeat {rec.repeat}) of run {rec.run_id!r}"
        run_id, case_id, repeat = rec.run_id, rec.case_id, int(rec.repeat)
        db_bool = self._db_bool
        row = [
            run_id,
            case_id,
            repeat,
            None,  # seq
            _dumps(rec.case, f"the case of {where}"),
            _dumps(rec.output, f"the output of {where}"),
            rec.error_kind,
            rec.error_message,
            _float_or_none(rec.latency_s, "latency_s", where),
            _float_or_none(rec.ttft_s, "ttft_s", where),
            _float_or_none(rec.cost_usd, "cost_usd", where),
            None if rec.input_tokens is None else int(rec.input_tokens),
            None if rec.output_tokens is None else int(rec.output_tokens),
            int(rec.attempts),
            db_bool(bool(rec.cached)),
            self._db_datetime(rec.created_at),
        ]
        score_rows = []
        for idx, sc in enumerate(rec.scores):
            name = sc.get("name")
            if not isinstance(name, str) or not name:
                raise StoreError(f"cannot store score #{idx} of {where}: it has no 'name'")
            value = sc.get("value")
            score_rows.append(
                [
                    run_id,
                    case_id,
                    repeat,
                    None,  # seq
                    idx,
                    name,
                    _float_or_none(value, f"score {name!r}", where),
                    db_bool(isinstance(value, bool)),
                    sc.get("kind") or "continuous",
                    db_bool(bool(sc.get("higher_is_better", True))),
                    sc.get("error"),
                    sc.get("explanation") or "",
                    _dumps(sc.get("metadata") or {}, f"the metadata of score {name!r} of {where}"),
                ]
            )
        return row, score_rows

    def completed_keys(self, run_id: str) -> set[tuple[str, int]]:
        """The ``(case_id, repeat)`` pairs stored for a run (what a resumed run must not call again)."""
        r = schema.results
        with self._read(f"read the results of run {run_id!r}") as conn:
            rows = conn.execute(select(r.c.case_id, r.c.repeat).where(r.c.run_id == run_id))
            return {(case_id, repeat) for case_id, repeat in rows}

    def count_results(self, run_id: str) -> int:
        """How many results a run has stored."""
        r = schema.results
        with self._read(f"count the results of run {run_id!r}") as conn:
            stmt = select(func.count()).select_from(r).where(r.c.run_id == run_id)
            return int(conn.execute(stmt).scalar_one())

    def iter_results(
        self, run_id: str, *, batch_size: int = 1000, payload: bool = True
    ) -> Iterator[ResultRecord]:
        """Stream a run's results in insertion order, ``batch_size`` rows per query.

        Keyset pagination on the per-run sequence number: memory stays bounded by one page, and no
        connection or lock is held between pages (the runner may write while a report reads).
        ``payload=False`` skips reading and parsing the case and output JSON (their fields are then
        empty dicts): what a summary needs (scores, errors, latency, tokens) at a fraction of the cost.

        Example:
            >>> for result in store.iter_results(run_id):  # doctest: +SKIP
            ...     print(result.case_id, [s["value"] for s in result.scores])
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        r, s = schema.results, schema.scores
        last_seq = 0
        while True:
            with self._read(f"read the results of run {run_id!r}") as conn:
                cols = _RESULT_READ_COLS if payload else _RESULT_STAT_COLS
                page = select(*cols).where(r.c.run_id == run_id, r.c.seq > last_seq)
                rows = conn.execute(page.order_by(r.c.seq).limit(batch_size)).all()
                if not rows:
                    return
                lo, hi = rows[0][0], rows[-1][0]
                score_rows = conn.execute(
                    select(s.c.seq, *_SCORE_READ_COLS)
                    .where(s.c.run_id == run_id, s.c.seq >= lo, s.c.seq <= hi)
                    .order_by(s.c.seq, s.c.idx)
                ).all()
            by_seq: dict[int, list[dict[str, Any]]] = {}
            for seq, name, value, is_bool, kind, hib, error, explanation, meta_json in score_rows:
                by_seq.setdefault(seq, []).append(
                    {
                        "name": name,
                        "value": bool(value) if is_bool and value is not None else value,
                        "kind": kind,
                        "higher_is_better": bool(hib),
                        "explanation": explanation,
                        "metadata": _loads(meta_json),
                        "error": error,
                    }
                )
            for seq, case_id, repeat, *rest in rows:
                case_json, output_json, ek, em, lat, ttft, cost, itok, otok, attempts, cached, created = rest
                yield ResultRecord(
                    run_id=run_id,
                    case_id=case_id,
                    repeat=repeat,
                    case=json.loads(case_json) if payload else {},
                    output=json.loads(output_json) if payload else {},
                    scores=by_seq.get(seq, []),
                    error_kind=ek,
                    error_message=em,
                    latency_s=lat,
                    ttft_s=ttft,
                    cost_usd=cost,
                    input_tokens=itok,
                    output_tokens=otok,
                    attempts=attempts,
                    cached=bool(cached),
                    created_at=created,
                )
            if len(rows) < batch_size:
                return
            last_seq = hi

    # ------------------------------------------------------------------------------ response cache
    def cache_get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The cached values of those ``keys`` that are present (absent keys are left out)."""
        c = schema.cache
        unique = list(dict.fromkeys(keys))
        found: dict[str, dict[str, Any]] = {}
        if not unique:
            return found
        with self._read("read the response cache") as conn:
            for start in range(0, len(unique), _IN_CHUNK):
                chunk = unique[start : start + _IN_CHUNK]
                for row in conn.execute(select(c.c.key, c.c.value_json).where(c.c.key.in_(chunk))):
                    found[row.key] = json.loads(row.value_json)
        return found

    def cache_put_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Insert or replace cache entries (one transaction; for a key given twice the last one wins)."""
        rows = self._cache_rows(items)
        if not rows:
            return
        with self._write(f"write {len(rows)} cache entries") as conn:
            self._executemany(conn, self._upsert_cache, rows)

    def _cache_rows(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[tuple[Any, ...]]:
        latest = dict(items)
        if not latest:
            return []
        now = self._db_datetime(datetime.now(UTC))
        return [(key, _dumps(value, f"the cache entry {key!r}"), now) for key, value in latest.items()]

    # ------------------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Release the connections. Further calls raise ``StoreError``; closing twice is harmless."""
        if not self._closed:
            self._closed = True
            self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.safe_url!r})"
