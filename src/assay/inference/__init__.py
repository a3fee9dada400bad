"""Offline local models used by scorers: sentence embeddings, NLI cross-encoders, and the LLM-judge client.

Nothing here downloads anything, and heavy libraries (onnxruntime, tokenizers, torch, transformers) are
imported only when a model is first used.

Example:
    >>> from assay.inference import default_embedder                # doctest: +SKIP
    >>> default_embedder().embed(["hello", "hi"]).shape              # doctest: +SKIP
    (2, 384)
"""

from __future__ import annotations

from assay.inference.embeddings import (
    DEFAULT_MODEL_ID,
    Embedder,
    ModelUnavailableError,
    OnnxEmbedder,
    cosine_matrix,
    default_embedder,
    minilm_files,
)
from assay.inference.judge import JudgeClient, JudgeError, parse_json_reply
from assay.inference.nli import NLIModel, load_nli

__all__ = [
    "DEFAULT_MODEL_ID",
    "Embedder",
    "JudgeClient",
    "JudgeError",
    "ModelUnavailableError",
    "NLIModel",
    "OnnxEmbedder",
    "cosine_matrix",
    "default_embedder",
    "load_nli",
    "minilm_files",
    "parse_json_reply",
]
