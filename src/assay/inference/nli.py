"""A local NLI (entailment) cross-encoder loaded from a model directory, run by ONNX Runtime or transformers.

No usable NLI model is on PyPI today, so this loads one the user already has, never downloading anything:

* **ONNX** (no torch): a directory with ``model.onnx`` (inputs ``input_ids``, ``attention_mask`` and
  optionally ``token_type_ids``; first output the logits ``(batch, n_labels)``), ``tokenizer.json`` and
  ``config.json`` with ``id2label``. Export one with ``optimum-cli export onnx --model <nli-model> dir/``.
* **transformers**: any directory ``AutoModelForSequenceClassification.from_pretrained`` reads (needs
  ``torch`` and ``transformers``), e.g. a local copy of ``cross-encoder/nli-deberta-v3-small``.

Labels are read from ``config.json`` (``id2label``) and normalised to ``entailment``, ``neutral`` and
``contradiction`` (a two-way ``not_entailment`` counts as neutral); pass ``labels=`` when the names are
generic (``LABEL_0`` ...).

Example:
    >>> nli = load_nli("models/nli-deberta-v3-small")                # doctest: +SKIP
    >>> nli.predict([("The cat sleeps on the mat.", "A cat is sleeping.")])[0]  # doctest: +SKIP
    {'entailment': 0.97, 'neutral': 0.02, 'contradiction': 0.01}
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from assay.inference.embeddings import ModelUnavailableError, _require

__all__ = ["NLI_LABELS", "NLIModel", "load_nli", "normalise_labels"]

log = logging.getLogger(__name__)

NLI_LABELS = ("entailment", "neutral", "contradiction")
Backend = Literal["auto", "onnx", "transformers"]


def normalise_labels(names: Sequence[str]) -> tuple[str, ...]:
    """Map a model's label names to ``entailment`` / ``neutral`` / ``contradiction``.

    Example:
        >>> normalise_labels(["CONTRADICTION", "ENTAILMENT", "NEUTRAL"])
        ('contradiction', 'entailment', 'neutral')
        >>> normalise_labels(["entailment", "not_entailment"])
        ('entailment', 'neutral')
    """
    out = []
    for raw in names:
        n = raw.lower().replace("-", "_")
        if "not_entail" in n or "non_entail" in n or n.startswith("neutral"):
            out.append("neutral")
        elif "entail" in n:
            out.append("entailment")
        elif "contra" in n:
            out.append("contradiction")
        else:
            raise ModelUnavailableError(
                f"cannot tell what the NLI label {raw!r} means; pass labels=[...] naming each output in order "
                "(entailment, neutral, contradiction)"
            )
    if "entailment" not in out or len(set(out)) != len(out):
        raise ModelUnavailableError(f"NLI labels {list(names)} must name entailment once and no label twice")
    return tuple(out)


class NLIModel:
    """Premise/hypothesis → label probabilities. Build with ``load_nli``; the model loads on first use."""

    def __init__(
        self,
        path: Path,
        backend: Literal["onnx", "transformers"],
        labels: tuple[str, ...],
        *,
        max_length: int = 512,
        batch_size: int = 16,
    ) -> None:
        self.path = path
        self.backend = backend
        self.labels = labels
        self.max_length = max_length
        self.batch_size = batch_size
        self.model_id = f"{backend}:{path.name}"
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._inputs: set[str] = set()

    def _load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            if self.backend == "onnx":
                ort = _require("onnxruntime")
                tokenizers = _require("tokenizers")
                opts = ort.SessionOptions()
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
                try:
                    model = ort.InferenceSession(
                        str(self.path / "model.onnx"), opts, providers=["CPUExecutionProvider"]
                    )
                    tok = tokenizers.Tokenizer.from_file(str(self.path / "tokenizer.json"))
                except Exception as exc:
                    raise ModelUnavailableError(f"cannot load the NLI model in {self.path}: {exc}") from exc
                tok.enable_truncation(max_length=self.max_length)
                tok.no_padding()
                self._inputs = {i.name for i in model.get_inputs()}
                self._tokenizer, self._model = tok, model
            else:
                try:
                    import torch  # noqa: F401
                    from transformers import AutoModelForSequenceClassification, AutoTokenizer
                except ImportError as exc:
                    raise ModelUnavailableError(
                        "the transformers NLI backend needs 'torch' and 'transformers' (pip install torch "
                        "transformers), or export the model to ONNX and use backend='onnx'"
                    ) from exc
                try:
                    tok = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
                    model = AutoModelForSequenceClassification.from_pretrained(
                        str(self.path), local_files_only=True
                    )
                except (OSError, ValueError) as exc:
                    raise ModelUnavailableError(f"cannot load the NLI model in {self.path}: {exc}") from exc
                model.eval()
                self._tokenizer, self._model = tok, model

    def predict(self, pairs: Sequence[tuple[str, str]]) -> list[dict[str, float]]:
        """Label probabilities for each ``(premise, hypothesis)`` pair, in order.

        Example:
            >>> nli.predict([("It rains.", "It is dry.")])[0]["contradiction"] > 0.5  # doctest: +SKIP
            True
        """
        import numpy as np

        if not pairs:
            return []
        self._load()
        out: list[dict[str, float]] = []
        for start in range(0, len(pairs), self.batch_size):
            chunk = list(pairs[start : start + self.batch_size])
            logits = self._logits_onnx(chunk) if self.backend == "onnx" else self._logits_torch(chunk)
            if logits.shape[1] != len(self.labels):
                raise ModelUnavailableError(
                    f"the NLI model returns {logits.shape[1]} scores but {len(self.labels)} labels are known"
                )
            z = logits - logits.max(axis=1, keepdims=True)
            probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            for row in probs:
                d = dict.fromkeys(NLI_LABELS, 0.0)
                for name, p in zip(self.labels, row, strict=True):
                    d[name] = float(p)
                out.append(d)
        return out

    def _logits_onnx(self, pairs: list[tuple[str, str]]) -> Any:
        import numpy as np

        encs = self._tokenizer.encode_batch(pairs)
        width = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for i, e in enumerate(encs):
            n = len(e.ids)
            ids[i, :n], mask[i, :n], types[i, :n] = e.ids, 1, e.type_ids
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = types
        return np.asarray(self._model.run(None, feed)[0], dtype=np.float64)

    def _logits_torch(self, pairs: list[tuple[str, str]]) -> Any:
        import torch

        enc = self._tokenizer(
            [p for p, _ in pairs],
            [h for _, h in pairs],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        with torch.no_grad():
            return self._model(**enc).logits.double().numpy()


def load_nli(
    path: str | Path,
    *,
    backend: Backend = "auto",
    labels: Sequence[str] | None = None,
    lazy: bool = False,
    max_length: int = 512,
    batch_size: int = 16,
) -> NLIModel:
    """An ``NLIModel`` for the model directory ``path`` (``backend="auto"``: ONNX when ``model.onnx`` exists).

    Checks the directory and the labels now; loads the weights on first ``predict`` when ``lazy``.
    Raises ``ModelUnavailableError`` with what is missing.

    Example:
        >>> nli = load_nli("models/my-nli-onnx", lazy=True)           # doctest: +SKIP
    """
    p = Path(path)
    if not p.is_dir():
        raise ModelUnavailableError(f"NLI model directory not found: {p}")
    chosen: Literal["onnx", "transformers"]
    if backend == "auto":
        chosen = "onnx" if (p / "model.onnx").is_file() else "transformers"
    elif backend in ("onnx", "transformers"):
        chosen = backend
    else:
        raise ValueError(f"backend must be auto, onnx or transformers, got {backend!r}")
    if chosen == "onnx":
        missing = [f for f in ("model.onnx", "tokenizer.json") if not (p / f).is_file()]
        if missing:
            raise ModelUnavailableError(f"the ONNX NLI model directory {p} lacks {', '.join(missing)}")
    if labels is None:
        try:
            config = json.loads((p / "config.json").read_text(encoding="utf-8"))
            id2label = config["id2label"]
            names = [id2label[str(i)] if str(i) in id2label else id2label[i] for i in range(len(id2label))]
        except (OSError, ValueError, KeyError) as exc:
            raise ModelUnavailableError(
                f"cannot read the label names from {p / 'config.json'} (id2label): {exc}; pass labels=[...]"
            ) from exc
    else:
        names = list(labels)
    model = NLIModel(p, chosen, normalise_labels(names), max_length=max_length, batch_size=batch_size)
    if not lazy:
        model._load()
    return model
