"""The store's SQL schema (SQLAlchemy Core), portable to SQLite and PostgreSQL, and its versioning.

Tables:
    meta     key/value pairs; ``schema_version`` says which schema wrote the database.
    runs     one row per run: suite, status, timestamps, config, provenance and summary (JSON text).
    results  one row per (run_id, case_id, repeat) with the case, output (JSON text) and the scalar
             fields as real columns (latency, tokens, cost, error kind) so SQL can aggregate them.
             ``seq`` numbers a run's results in insertion order (keyset pagination, streaming).
    scores   one row per score of a result, ``idx`` being its position in the result's score list;
             ``value`` is a REAL column so reports and comparisons can query per-metric values in SQL.
             It repeats its result's ``seq``: a page of scores is one range scan of the primary key
             (run_id, seq, idx), with no join whose plan could go wrong on stale statistics.
    cache    the response cache: key -> JSON value.

JSON is stored as text written by ``json.dumps``: identical on both backends, fast with executemany,
and still queryable (``json_extract`` in SQLite, ``::jsonb`` in PostgreSQL). Timestamps are stored as UTC
and read back timezone-aware on both backends.

Later tables are added by bumping ``SCHEMA_VERSION`` and registering an upgrade step in ``MIGRATIONS``; a
database written by a newer version is refused with a clear error. Version 2 added the monitoring tables
(events, event_scores, event_rollups, event_rollup_bins, alerts, monitor_state), defined in
``assay.store.events`` on the same ``metadata``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeDecorator

from assay.types import StoreError

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "UTCDateTime",
    "cache",
    "ensure_schema",
    "meta",
    "metadata",
    "results",
    "runs",
    "scores",
    "stored_version",
]

SCHEMA_VERSION: Final = 3
"""Bump when the schema changes, and register the upgrade from the previous version in MIGRATIONS."""

# An arbitrary constant: the PostgreSQL advisory lock key that serialises schema creation/upgrades.
_PG_SCHEMA_LOCK_KEY: Final = 0x61737361  # "assa"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (UTC), on SQLite and PostgreSQL.

    SQLite has no timezone type: SQLAlchemy would drop ``tzinfo`` and return naive datetimes. Naive
    datetimes are refused on write, since guessing their zone silently shifts times.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"the store needs timezone-aware datetimes, got naive {value.isoformat()}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String, primary_key=True),
    Column("suite", String, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("n_planned", Integer, nullable=False),
    Column("config_json", Text, nullable=False),
    Column("provenance_json", Text, nullable=False),
    Column("summary_json", Text, nullable=True),
    Index("ix_runs_created_at", "created_at"),
    Index("ix_runs_suite_created_at", "suite", "created_at"),
)

results = Table(
    "results",
    metadata,
    Column("run_id", String, nullable=False),
    Column("case_id", String, nullable=False),
    Column("repeat", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("case_json", Text, nullable=False),
    Column("output_json", Text, nullable=False),
    Column("error_kind", String(32), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("latency_s", Double, nullable=True),
    Column("ttft_s", Double, nullable=True),
    Column("cost_usd", Double, nullable=True),
    Column("input_tokens", Integer, nullable=True),
    Column("output_tokens", Integer, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("cached", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("run_id", "case_id", "repeat", name="pk_results"),
    ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE", name="fk_results_run"),
    Index("ux_results_run_seq", "run_id", "seq", unique=True),
)

scores = Table(
    "scores",
    metadata,
    Column("run_id", String, nullable=False),
    Column("case_id", String, nullable=False),
    Column("repeat", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("idx", Integer, nullable=False),
    Column("name", String, nullable=False),
    Column("value", Double, nullable=True),
    Column("value_is_bool", Boolean, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("higher_is_better", Boolean, nullable=False),
    Column("error", Text, nullable=True),
    Column("explanation", Text, nullable=False),
    Column("metadata_json", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "seq", "idx", name="pk_scores"),
    # References the result by (run_id, seq), the prefix of this table's primary key: integrity checks
    # and cascades then use an index on both sides (keyed on case_id they would scan every score).
    ForeignKeyConstraint(
        ["run_id", "seq"], ["results.run_id", "results.seq"], ondelete="CASCADE", name="fk_scores_result"
    ),
    Index("ix_scores_run_name", "run_id", "name"),
)

cache = Table(
    "cache",
    metadata,
    Column("key", String, primary_key=True),
    Column("value_json", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

MIGRATIONS: dict[int, Callable[[Connection], None]] = {}
"""``MIGRATIONS[v](conn)`` upgrades a version-``v`` database to ``v + 1`` inside the open transaction."""


def _read_version(conn: Connection) -> int | None:
    row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
    if row is None:
        return None
    try:
        return int(row[0])
    except ValueError as exc:
        raise StoreError(f"the store's schema_version is not a number: {row[0]!r}") from exc


def stored_version(conn: Connection, *, where: str) -> int | None:
    """The schema version of the database (None if it has no assay schema yet).

    Raises ``StoreError`` when a newer assay wrote it: this one cannot know what changed.
    """
    version = _read_version(conn) if inspect(conn).has_table("meta") else None
    if version is not None and version > SCHEMA_VERSION:
        raise StoreError(
            f"the store at {where} was written by a newer assay (schema version {version}; this assay "
            f"supports up to {SCHEMA_VERSION}). Upgrade assay, or use another store with --store URL."
        )
    return version


def ensure_schema(conn: Connection, *, where: str) -> int:
    """Create the tables if missing, upgrade an older schema, refuse a newer one. Returns the version.

    Runs inside the caller's (write) transaction, so two processes opening a fresh database at once
    cannot both create it: SQLite serialises the transaction, PostgreSQL takes an advisory lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_SCHEMA_LOCK_KEY})
    version = stored_version(conn, where=where)
    if version is not None and version < SCHEMA_VERSION:
        for v in range(version, SCHEMA_VERSION):
            step = MIGRATIONS.get(v)
            if step is None:
                raise StoreError(f"no upgrade path from store schema version {v} at {where}")
            step(conn)
    metadata.create_all(conn, checkfirst=True)
    values: dict[str, Any] = {"key": "schema_version", "value": str(SCHEMA_VERSION)}
    if version is None:
        conn.execute(meta.insert().values(**values))
    elif version < SCHEMA_VERSION:
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=values["value"]))
    return SCHEMA_VERSION


def _add_monitor_tables(conn: Connection) -> None:
    """Upgrade 1 -> 2: the monitoring tables."""
    from assay.store.events import create_monitor_tables

    create_monitor_tables(conn)


def _add_rules_table(conn: Connection) -> None:
    """Upgrade 2 -> 3: the stored monitoring rules."""
    from assay.store.events import create_rules_table

    create_rules_table(conn)


MIGRATIONS[1] = _add_monitor_tables
MIGRATIONS[2] = _add_rules_table

# The monitoring tables live in their own module, imported last (it uses ``metadata`` and ``UTCDateTime``)
# so that they are registered on ``metadata`` whichever of the two modules is imported first.
import assay.store.events  # noqa: E402, F401
