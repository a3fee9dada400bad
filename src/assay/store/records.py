"""Records the store reads and writes: one row of ``runs`` and one row of ``results`` (with its scores).

These are plain frozen dataclasses with no SQLAlchemy in sight, so code that only builds or reads
records (the CLI's argument parsing, reports) does not pay SQLAlchemy's import time.

Example:
    >>> from datetime import datetime, timezone
    >>> run = RunRecord(run_id="r1", suite="demo", status="running",
    ...                 created_at=datetime.now(timezone.utc), finished_at=None, n_planned=10,
    ...                 config={}, provenance={}, summary=None)
    >>> run.status
    'running'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

__all__ = [
    "DEFAULT_STORE_URL",
    "RUN_STATUSES",
    "DbValues",
    "ResultRecord",
    "RunRecord",
    "default_store_url",
]

DEFAULT_STORE_URL: Final = "sqlite:///.assay/assay.db"
RUN_STATUSES: Final = ("running", "completed", "interrupted", "failed")


def default_store_url() -> str:
    """The store URL to use when none is given: ``$ASSAY_STORE``, else ``sqlite:///.assay/assay.db``.

    The SQLite default is relative to the current working directory (it is resolved to an absolute path
    when the store is opened, so a later ``chdir`` does not switch databases).

    Example:
        >>> default_store_url()  # with ASSAY_STORE unset
        'sqlite:///.assay/assay.db'
    """
    env = os.environ.get("ASSAY_STORE", "").strip()
    return env or DEFAULT_STORE_URL


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One evaluation run.

    ``status`` is one of ``running | completed | interrupted | failed``. ``created_at`` and
    ``finished_at`` are timezone-aware (UTC when read back). ``n_planned`` is cases x repeats.
    ``config`` is the suite configuration (no secrets), ``provenance`` the run's signature (hashes,
    target spec, scorer specs, package versions, git commit), ``summary`` the JSON summary once computed.
    """

    run_id: str
    suite: str
    status: str
    created_at: datetime
    finished_at: datetime | None
    n_planned: int
    config: dict[str, Any]
    provenance: dict[str, Any]
    summary: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ResultRecord:
    """One (case, repeat) of a run: the case, the target's output, its scores and call statistics.

    ``(run_id, case_id, repeat)`` is unique in the store. ``case``, ``output`` and ``scores`` hold the
    ``to_dict()`` forms of ``Case``, ``Output`` and ``Score``; the scalar fields (latency, tokens, cost,
    error kind) are copied into columns so reports can aggregate them in SQL.
    """

    run_id: str
    case_id: str
    repeat: int
    case: dict[str, Any]
    output: dict[str, Any]
    scores: list[dict[str, Any]]
    error_kind: str | None
    error_message: str | None
    latency_s: float | None
    ttft_s: float | None
    cost_usd: float | None
    input_tokens: int | None
    output_tokens: int | None
    attempts: int
    cached: bool
    created_at: datetime


class DbValues:
    """How a dialect's driver takes datetimes and booleans in rows the store writes with raw SQL.

    SQLite gets what SQLAlchemy's SQLite ``DateTime``/``Boolean`` types would write (UTC text
    ``YYYY-MM-DD HH:MM:SS.ffffff``, 0/1), so reads through those types agree; PostgreSQL gets aware
    datetimes and bools. Picklable (only the dialect name travels): ingest workers build rows with it
    in other processes without importing SQLAlchemy.

    Example:
        >>> DbValues("sqlite").timestamp(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
        '2025-01-02 03:04:05.000000'
        >>> DbValues("sqlite").boolean(True), DbValues("postgresql").boolean(1)
        (1, True)
    """

    __slots__ = ("_text", "dialect")

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._text = dialect == "sqlite"

    def __reduce__(self) -> tuple[Any, ...]:
        return (DbValues, (self.dialect,))

    def timestamp(self, dt: datetime) -> Any:
        """An aware datetime in the driver's form."""
        if self._text:
            return dt.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        return dt.astimezone(UTC)

    def timestamp_utc(self, dt: datetime) -> Any:
        """``timestamp`` for one already in ``datetime.UTC``: a little faster (one per ingested event)."""
        if self._text and dt.tzinfo is UTC:
            return dt.isoformat(" ", "microseconds")[:26]
        return self.timestamp(dt)

    def boolean(self, value: bool) -> Any:
        return int(bool(value)) if self._text else bool(value)
