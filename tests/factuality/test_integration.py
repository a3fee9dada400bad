"""The factuality and RAG scorers inside a real run (runner + store), and their docstring examples."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import assay
import assay.scorer.factuality as factuality
import assay.scorer.rag as rag
from assay.types import Doc, Output

DOCS = {
    "refunds": "Customers can request a full refund within 14 days of purchase.",
    "plans": "The Pro plan costs $8 per month and includes 20 GB of storage.",
}


def rag_app(question: str) -> Output:
    """A toy RAG target: retrieves by keyword, answers with a fixed (sometimes wrong) sentence."""
    key = "refunds" if "refund" in question.lower() else "plans"
    answer = {
        "refunds": "You can get a full refund within 30 days [refunds].",
        "plans": "Pro costs $8 per month [plans].",
    }[key]
    return Output(text=answer, contexts=(Doc(DOCS[key], id=key),))


def test_scorers_in_a_real_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_CACHE_DIR", str(tmp_path / "cache"))
    cases = [
        {
            "id": "q1",
            "input": "How long is the refund window?",
            "expected": "14 days",
            "metadata": {"relevant_ids": ["refunds"], "answerable": True},
        },
        {
            "id": "q2",
            "input": "How much is Pro?",
            "expected": "Pro costs $8 per month.",
            "metadata": {"relevant_ids": ["plans"], "answerable": True},
        },
    ]
    scorers = [
        factuality.Faithfulness(),
        factuality.Hallucination(name="hallucination_ctx", knowledge=None),
        rag.Retrieval(k=1),
        rag.CitationAccuracy(),
        rag.Abstention(),
    ]
    # hallucination without knowledge checks against the case's gold context: give the cases one
    for c in cases:
        key = c["metadata"]["relevant_ids"][0]  # type: ignore[index]
        c["context"] = [{"id": key, "text": DOCS[key]}]
    summary = assay.evaluate(cases, rag_app, scorers, store=f"sqlite:///{tmp_path / 'a.db'}")
    m = summary.metrics
    assert m["faithfulness"].mean == pytest.approx(0.5) and m["faithfulness"].n_errors == 0
    assert m["hallucination_ctx"].mean == pytest.approx(0.5)
    assert m["hit@1"].mean == 1.0 and m["mrr"].mean == 1.0
    assert m["citation_accuracy"].mean == pytest.approx(0.5)
    assert m["abstention"].mean == 1.0


@pytest.mark.parametrize(
    "module",
    [
        "assay.knowledge.text",
        "assay.knowledge.sources",
        "assay.knowledge.facts",
        "assay.scorer.claims",
        "assay.scorer.verify",
        "assay.scorer.rag",
        "assay.scorer.factuality",
        "assay.inference.judge",
        "assay.inference.nli",
        "assay.inference.embeddings",
    ],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
