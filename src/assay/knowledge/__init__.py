"""Trusted knowledge sources for claim verification: loading, chunking, and a cached BM25 + embedding index.

Example:
    >>> from assay.knowledge import load_index                       # doctest: +SKIP
    >>> hits = load_index("kb/").search("refund window", k=3)        # doctest: +SKIP
"""

from __future__ import annotations

from assay.knowledge.index import KnowledgeIndex, SearchHit, load_index
from assay.knowledge.sources import Document, Passage, chunk_documents, load_documents
from assay.knowledge.text import content_tokens, evidence_units, split_sentences, split_units

__all__ = [
    "Document",
    "KnowledgeIndex",
    "Passage",
    "SearchHit",
    "chunk_documents",
    "content_tokens",
    "evidence_units",
    "load_documents",
    "load_index",
    "split_sentences",
    "split_units",
]
