"""A persistent cache of embedding vectors: one SQLite file per model, keyed by a hash of the text.

Scorers embed the same texts run after run (the retrieved passages, the answers, the questions). The
in-memory cache of an ``OnnxEmbedder`` forgets them when the process ends; this cache keeps them on disk
so a second ``assay run`` of the same suite embeds nothing it has seen before. The file name carries the
model's fingerprint (model and tokenizer files, truncation length), so vectors of different models never
mix and a changed model starts a new file.

Failures to read or write (a read-only folder, a corrupt file) are logged once and turn the cache off for
that file: the embedder then simply computes the vectors. Several processes may share a file (SQLite WAL
with a busy timeout); a vector is written once and never changes.

Example:
    >>> import numpy as np, tempfile
    >>> cache = VectorCache(Path(tempfile.mkdtemp()), "model-a", dim=2)
    >>> cache.put({"hello": np.array([0.6, 0.8], dtype=np.float32)})
    >>> cache.get(["hello", "other"])["hello"].tolist()
    [0.6000000238418579, 0.800000011920929]
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["VectorCache", "default_cache_dir"]

log = logging.getLogger(__name__)

_BATCH = 500  # keys per SELECT (SQLite allows 999 parameters in old builds)


def default_cache_dir() -> Path:
    """``$ASSAY_CACHE_DIR/embeddings``, default ``.assay/cache/embeddings`` under the working directory.

    Example:
        >>> default_cache_dir().name
        'embeddings'
    """
    return Path(os.environ.get("ASSAY_CACHE_DIR") or Path(".assay") / "cache") / "embeddings"


def _key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:20]


class VectorCache:
    """Vectors of one model in ``directory/<model fingerprint>.sqlite3``, looked up by text.

    ``get`` returns the cached vectors of the texts it knows; ``put`` stores new ones. Both are cheap
    (one indexed query per 500 texts) next to running the model.
    """

    def __init__(self, directory: Path, fingerprint: str, *, dim: int) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", fingerprint)[:120]
        self.path = Path(directory) / f"{safe}.sqlite3"
        self.fingerprint = fingerprint
        self.dim = dim
        self._conn: sqlite3.Connection | None = None
        self._broken = False

    def _connect(self) -> sqlite3.Connection | None:
        if self._broken:
            return None
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL) WITHOUT ROWID"
                )
                conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('fingerprint', ?), ('dim', ?)",
                    (self.fingerprint, str(self.dim)),
                )
                conn.commit()
                row = conn.execute("SELECT value FROM meta WHERE name = 'dim'").fetchone()
                if row is None or int(row[0]) != self.dim:
                    raise sqlite3.DatabaseError(f"vector size {row[0] if row else '?'} != {self.dim}")
            except (OSError, sqlite3.Error, ValueError) as exc:
                self._fail("open", exc)
                return None
            self._conn = conn
        return self._conn

    def _fail(self, what: str, exc: BaseException) -> None:
        log.warning("embedding cache %s: cannot %s (%s); computing vectors instead", self.path, what, exc)
        self._broken = True
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def get(self, texts: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        """The cached vectors of those ``texts`` that are in the cache (a copy each)."""
        import numpy as np

        conn = self._connect()
        if conn is None or not texts:
            return {}
        by_key = {_key(t): t for t in texts}
        keys = list(by_key)
        found: dict[str, NDArray[np.float32]] = {}
        try:
            for start in range(0, len(keys), _BATCH):
                chunk = keys[start : start + _BATCH]
                marks = ",".join("?" * len(chunk))
                for key, blob in conn.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", chunk):
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if vec.shape == (self.dim,):
                        found[by_key[bytes(key)]] = vec.copy()
        except sqlite3.Error as exc:
            self._fail("read", exc)
            return {}
        return found

    def put(self, vectors: Mapping[str, NDArray[np.float32]]) -> None:
        """Store vectors (texts already present keep their vector)."""
        import numpy as np

        conn = self._connect()
        if conn is None or not vectors:
            return
        rows = [(_key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in vectors.items()]
        try:
            with conn:
                conn.executemany("INSERT OR IGNORE INTO vectors (key, vec) VALUES (?, ?)", rows)
        except sqlite3.Error as exc:
            self._fail("write", exc)

    def __len__(self) -> int:
        conn = self._connect()
        if conn is None:
            return 0
        try:
            return int(conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
        except sqlite3.Error:
            return 0

    def close(self) -> None:
        """Close the SQLite connection (it reopens on the next use)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
