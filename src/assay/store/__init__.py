"""The store: runs, results, scores and the response cache in SQLite (default) or PostgreSQL.

``open_store(url)`` returns a ``Store``; records are the frozen dataclasses ``RunRecord`` and
``ResultRecord``. SQLAlchemy is imported only when ``Store``/``open_store`` is first used, so CLI
commands that never touch the store do not pay its import time.

Example:
    >>> from assay.store import open_store
    >>> with open_store("sqlite:///:memory:") as store:
    ...     store.list_runs()
    []
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.store.records import ResultRecord, RunRecord, default_store_url

if TYPE_CHECKING:
    from assay.store.store import Store, open_store

__all__ = ["ResultRecord", "RunRecord", "Store", "default_store_url", "open_store"]


def __getattr__(name: str) -> Any:
    if name in ("Store", "open_store"):
        from assay.store import store as _store

        return getattr(_store, name)
    raise AttributeError(f"module 'assay.store' has no attribute {name!r}")
