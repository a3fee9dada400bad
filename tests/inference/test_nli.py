"""The NLI backend with tiny randomly initialised models built at test time (transformers and ONNX)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from assay.inference.embeddings import ModelUnavailableError
from assay.inference.nli import load_nli, normalise_labels
from assay.scorer.verify import NLIVerifier
from assay.types import Doc

WORDS = [
    "the",
    "a",
    "refund",
    "refunds",
    "is",
    "are",
    "within",
    "days",
    "14",
    "30",
    "pro",
    "costs",
    "plan",
    "month",
    "not",
    "available",
    "cat",
    "mat",
]
ID2LABEL = {0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"}
PAIRS = [
    ("Refunds are available within 14 days.", "A refund is available."),
    ("Pro costs 8 a month.", "The cat is on the mat."),
    ("x", "y"),
]


def _tiny_transformers_model(path: Path, bias: list[float] | None = None) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    path.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = transformers.BertTokenizerFast(vocab_file=str(path / "vocab.txt"))
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=3,
        id2label=ID2LABEL,
        label2id={v: k for k, v in ID2LABEL.items()},
    )
    model = transformers.BertForSequenceClassification(config)
    if bias is not None:
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.copy_(torch.tensor(bias))
    model.save_pretrained(str(path))
    tok.save_pretrained(str(path))


def test_normalise_labels() -> None:
    assert normalise_labels(["entailment", "neutral", "contradiction"]) == (
        "entailment",
        "neutral",
        "contradiction",
    )
    with pytest.raises(ModelUnavailableError, match="LABEL_0"):
        normalise_labels(["LABEL_0", "LABEL_1"])
    with pytest.raises(ModelUnavailableError, match="entailment once"):
        normalise_labels(["neutral", "contradiction"])


def test_missing_directory_and_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="not found"):
        load_nli(tmp_path / "nope")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.onnx").write_bytes(b"")
    with pytest.raises(ModelUnavailableError, match=r"tokenizer\.json"):
        load_nli(tmp_path / "m")
    with pytest.raises(ModelUnavailableError, match="id2label"):
        load_nli(tmp_path / "m", backend="transformers")


@pytest.mark.slow  # importing torch + transformers takes ~10 s on a busy 2-core machine
def test_transformers_backend_matches_a_direct_forward_pass(tmp_path: Path) -> None:
    _tiny_transformers_model(tmp_path / "tiny")
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    nli = load_nli(tmp_path / "tiny")
    assert nli.backend == "transformers" and nli.labels == ("entailment", "neutral", "contradiction")
    got = nli.predict(PAIRS)
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "tiny"))
    model = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "tiny")).eval()
    enc = tok([p for p, _ in PAIRS], [h for _, h in PAIRS], padding=True, return_tensors="pt")
    with torch.no_grad():
        want = torch.softmax(model(**enc).logits, dim=-1).numpy()
    for row, w in zip(got, want, strict=True):
        assert sum(row.values()) == pytest.approx(1.0)
        np.testing.assert_allclose([row["entailment"], row["neutral"], row["contradiction"]], w, atol=1e-5)
    assert nli.predict([]) == []


@pytest.mark.parametrize(
    ("bias", "label"),
    [([6.0, 0.0, 0.0], "supported"), ([0.0, 0.0, 6.0], "contradicted"), ([0.0, 6.0, 0.0], "not_enough_info")],
)
def test_nli_verifier_maps_probabilities_to_verdicts(tmp_path: Path, bias: list[float], label: str) -> None:
    _tiny_transformers_model(tmp_path / "biased", bias=bias)
    verifier = NLIVerifier(load_nli(tmp_path / "biased", lazy=True))
    docs = [Doc("Refunds are available within 14 days.", id="r"), Doc("Pro costs 8 a month.", id="p")]
    verdicts = asyncio.run(verifier.verify(["A refund is available.", "Nothing."], [docs, []]))
    assert verdicts[0].label == label and verdicts[0].evidence is not None
    assert (verdicts[0].p_supported >= 0.5) is (label == "supported")
    assert verdicts[1].label == "not_enough_info" and verdicts[1].evidence is None
    assert verifier.spec()["labels"] == ["entailment", "neutral", "contradiction"]


def _tiny_onnx_model(path: Path) -> np.ndarray:
    """A bag-of-embeddings classifier as an ONNX graph, with a WordLevel tokenizer: returns its weights."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    path.mkdir(parents=True, exist_ok=True)
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.save(str(path / "tokenizer.json"))
    weights = np.random.default_rng(0).normal(size=(len(vocab), 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["W", "input_ids"], ["emb"]),
            helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["maskf", "axis2"], ["mask3"]),
            helper.make_node("Mul", ["emb", "mask3"], ["masked"]),
            helper.make_node("ReduceSum", ["masked", "axis1"], ["logits"], keepdims=0),
        ],
        "tiny_nli",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "s"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", 3])],
        [
            numpy_helper.from_array(weights, "W"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path / "model.onnx"))
    (path / "config.json").write_text(
        json.dumps({"id2label": {"0": "contradiction", "1": "entailment", "2": "neutral"}}), encoding="utf-8"
    )
    return weights


def test_onnx_backend_runs_without_torch(tmp_path: Path) -> None:
    weights = _tiny_onnx_model(tmp_path / "onnx")
    from tokenizers import Tokenizer

    nli = load_nli(tmp_path / "onnx")
    assert nli.backend == "onnx" and nli.labels == ("contradiction", "entailment", "neutral")
    got = nli.predict(PAIRS)
    tok = Tokenizer.from_file(str(tmp_path / "onnx" / "tokenizer.json"))
    for (premise, hypothesis), row in zip(PAIRS, got, strict=True):
        logits = weights[tok.encode(premise, hypothesis).ids].sum(axis=0)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        np.testing.assert_allclose([row["contradiction"], row["entailment"], row["neutral"]], p, atol=1e-5)
