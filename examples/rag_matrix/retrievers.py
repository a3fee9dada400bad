"""The support assistant (``examples/support_bot/app.py``) under four retrieval configurations.

One target function per configuration, so each suite file names its own (``ref: retrievers:answer_bm25_k3``):

=======================  ============================================================================
function                 retrieval
=======================  ============================================================================
``answer_bm25_k1``       the assistant's own BM25, 1 passage
``answer_bm25_k3``       the assistant's own BM25, 3 passages (the demo's setting)
``answer_embedding_k1``  dense retrieval: MiniLM int8 embeddings, 1 passage
``answer_embedding_k3``  dense retrieval, 3 passages
=======================  ============================================================================

Only retrieval changes. The passages (the assistant's chunking), the answer composer and the refusal gate
are the assistant's: the composer picks sentences from whatever passages come back, and the gate still
refuses when the *first* passage has a BM25 score below ``THRESHOLD`` or covers too little of the
question. With dense retrieval the first passage may share few words with the question, so the lexical
gate refuses more: that is part of what swapping the retriever does to this assistant, and the table
shows it. Dense retrieval searches an ``assay.knowledge.KnowledgeIndex`` built over the assistant's own
passages (heading and text vectors mixed, as the index does; cached on disk by the embedder). The
returned ``contexts`` carry the retriever's score: BM25, or cosine similarity.

The assistant reads ``TOP_K`` and its ranking function from module globals at call time, so a call sets
them under a lock and restores them: configurations never see each other's settings, even when suites
run concurrently in one process, at the cost of serialising calls (a few milliseconds each).

Example:
    >>> from assay.types import Case
    >>> out = answer_bm25_k1(Case(id="q", input="How long do deleted notes stay in the Trash?"))
    >>> len(out.contexts), out.raw["retriever"]
    (1, 'bm25')
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from assay.types import Case, Doc, Output

__all__ = [
    "CONFIGURATIONS",
    "answer_bm25_k1",
    "answer_bm25_k3",
    "answer_embedding_k1",
    "answer_embedding_k3",
    "bot",
    "embedding_index",
]

BOT_FILE = Path(__file__).resolve().parent.parent / "support_bot" / "app.py"


_LOCK = threading.RLock()
_BOT: ModuleType | None = None
_INDEX: Any = None


def bot() -> ModuleType:
    """The support assistant module, shared with anyone who already imported it (as ``app`` or by path)."""
    global _BOT
    if _BOT is not None:
        return _BOT
    with _LOCK:  # target calls arrive on several threads: import once, and never hand out a half-made module
        if _BOT is None:
            for name in ("app", "_lumen_support_bot_app"):
                mod = sys.modules.get(name)
                if mod is not None and Path(getattr(mod, "__file__", "") or "").resolve() == BOT_FILE:
                    _BOT = mod
                    return mod
            spec = importlib.util.spec_from_file_location("_lumen_support_bot_app", BOT_FILE)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load the support assistant from {BOT_FILE}")
            mod = importlib.util.module_from_spec(spec)
            sys.modules["_lumen_support_bot_app"] = mod
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                del sys.modules["_lumen_support_bot_app"]
                raise
            _BOT = mod
    return _BOT


def embedding_index() -> Any:
    """A ``KnowledgeIndex`` over the assistant's passages, in the assistant's passage order (built once)."""
    global _INDEX
    with _LOCK:
        if _INDEX is None:
            from assay.inference.embeddings import default_embedder
            from assay.knowledge import KnowledgeIndex, Passage

            kb = bot()._kb()
            passages = [Passage(id=p.id, doc_id=p.article, text=p.text, title=p.title) for p in kb.passages]
            _INDEX = KnowledgeIndex.build(
                passages, default_embedder(), source=str(BOT_FILE.parent / "kb"), with_units=False
            )
    return _INDEX


def _embedding_ranker(
    question: str, cosines: dict[int, float]
) -> Callable[[Any, list[str], int], list[tuple[int, float]]]:
    """A drop-in for the assistant's ``_ranked``: the dense order, each passage with its BM25 score.

    The assistant's gate and composer weigh passages by BM25 score, so they get it; ``cosines`` collects
    each passage's cosine similarity for the returned ``contexts``.
    """
    import numpy as np

    def ranked(kb: Any, terms: list[str], k: int) -> list[tuple[int, float]]:
        hits = embedding_index().search(question, k=k, mode="embedding")
        bm25 = np.asarray(kb.retriever.get_scores(terms), dtype=float) if terms else None
        out = []
        for h in hits:
            cosines[h.position] = h.score
            out.append((h.position, float(bm25[h.position]) if bm25 is not None else 0.0))
        return out

    return ranked


def _answer(case: Case | str, *, k: int, retriever: str) -> Output:
    app = bot()
    question = case if isinstance(case, str) else case.input_text
    cosines: dict[int, float] = {}
    with _LOCK:
        saved = (app.TOP_K, app._ranked)
        app.TOP_K = k
        if retriever == "embedding":
            app._ranked = _embedding_ranker(question, cosines)
        try:
            result = app.compose(question)
        finally:
            app.TOP_K, app._ranked = saved
    contexts: tuple[Doc, ...] = result.contexts
    if retriever == "embedding":
        positions = {p.id: i for i, p in enumerate(app._kb().passages)}
        contexts = tuple(
            Doc(
                text=d.text,
                id=d.id,
                score=round(cosines[positions[d.id]], 4),
                metadata={**d.metadata, "bm25": d.score},
            )
            for d in contexts
        )
    return Output(
        text=result.text,
        contexts=contexts,
        raw={
            "retriever": retriever,
            "k": k,
            "refused": result.refused,
            "reason": result.reason,
            "best_bm25": round(result.best_score, 4),
            "coverage": round(result.coverage, 4),
        },
    )


def answer_bm25_k1(case: Case) -> Output:
    """The assistant with its BM25 retriever and ``TOP_K = 1``."""
    return _answer(case, k=1, retriever="bm25")


def answer_bm25_k3(case: Case) -> Output:
    """The assistant with its BM25 retriever and ``TOP_K = 3`` (the demo's setting)."""
    return _answer(case, k=3, retriever="bm25")


def answer_embedding_k1(case: Case) -> Output:
    """The assistant with dense (MiniLM) retrieval and ``TOP_K = 1``."""
    return _answer(case, k=1, retriever="embedding")


def answer_embedding_k3(case: Case) -> Output:
    """The assistant with dense (MiniLM) retrieval and ``TOP_K = 3``."""
    return _answer(case, k=3, retriever="embedding")


CONFIGURATIONS: dict[str, Callable[[Case], Output]] = {
    "bm25_k1": answer_bm25_k1,
    "bm25_k3": answer_bm25_k3,
    "embedding_k1": answer_embedding_k1,
    "embedding_k3": answer_embedding_k3,
}
"""Configuration name (the suite file's stem) -> target function."""
