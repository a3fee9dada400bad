"""The factuality and RAG scorers on hand-checked cases; retrieval metrics against sklearn."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

import assay.scorer.factuality as factuality
import assay.scorer.rag as rag
from assay.scorer.base import create_scorer
from assay.types import Case, ConfigError, Doc, Output, Score

KB = {
    "refunds.md": "# Refunds\n\nCustomers can request a full refund within 14 days of purchase. "
    "Refunds go back to the original payment method.",
    "plans.md": "# Plans\n\nThe Pro plan costs $8 per month and includes 20 GB of storage.",
    "offline.md": "# Offline\n\nThe mobile apps work offline. Offline notebooks are a Pro feature.",
}
REFUNDS = Doc(
    "Customers can request a full refund within 14 days of purchase.",
    id="refunds#0",
    metadata={"doc_id": "refunds"},
)
PLANS = Doc(
    "The Pro plan costs $8 per month and includes 20 GB of storage.",
    id="plans#0",
    metadata={"doc_id": "plans"},
)
OFFLINE = Doc("The mobile apps work offline. Offline notebooks are a Pro feature.", id="offline#0")


def run(scorer: Any, output: Output, case: Case | None = None) -> Any:
    return asyncio.run(scorer.score(case or Case(id="c", input="q"), output))


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kb")
    for name, text in KB.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_CACHE_DIR", str(tmp_path / "cache"))


# ------------------------------------------------------------------------------------ factuality
def test_factual_precision_and_hallucination_against_a_knowledge_folder(kb: Path) -> None:
    good = Output(text="Sure! You can get a full refund within two weeks of buying. Pro is $8 a month.")
    bad = Output(text="You can get a full refund within 30 days. Pro is $8 a month.")
    fp = factuality.FactualPrecision(knowledge=str(kb))
    s = run(fp, good)
    assert s.value == 1.0 and s.metadata["n_claims"] == 2 and s.kind == "proportion"
    s = run(fp, bad)
    assert s.value == 0.5 and s.metadata["n_contradicted"] == 1
    assert "30 days" in s.explanation and "14 days" in s.explanation

    hal = factuality.Hallucination(knowledge=str(kb))
    assert hal.higher_is_better is False
    h = run(hal, bad)
    assert h.value is True and h.kind == "binary"
    assert h.metadata["offending"][0]["evidence_id"] == "refunds#0"
    assert run(hal, good).value is False
    # a claim the source does not cover is a hallucination by default, not with count=contradicted
    extra = Output(text="Refunds are paid out in Bitcoin through Coinbase.")
    assert run(hal, extra).value is True
    assert run(factuality.Hallucination(knowledge=str(kb), count="contradicted"), extra).value is False


def test_no_claims_pass_or_error(kb: Path) -> None:
    out = Output(text="Hope this helps!")
    s = run(factuality.FactualPrecision(knowledge=str(kb)), out)
    assert s.value == 1.0 and s.metadata["n_claims"] == 0
    s = run(factuality.Hallucination(knowledge=str(kb), if_no_claims="error"), out)
    assert s.value is None and "no checkable claims" in (s.error or "")


def test_gold_context_is_used_without_knowledge() -> None:
    fp = factuality.FactualPrecision()
    assert fp.requires == frozenset({"context"})
    case = Case(id="c", input="q", context=(PLANS,))
    assert run(fp, Output(text="Pro costs eight dollars a month."), case).value == 1.0
    failed = run(fp, Output(text="Pro costs $9 a month."), Case(id="c", input="q"))
    assert failed.value is None and "no context" in (failed.error or "")


def test_faithfulness_uses_the_targets_own_contexts() -> None:
    f = factuality.Faithfulness()
    assert f.requires == frozenset({"contexts"})
    out = Output(text="Pro costs $8 per month. It includes 50 GB of storage.", contexts=(PLANS, REFUNDS))
    s = run(f, out)
    assert s.value == 0.5 and s.metadata["n_supported"] == 1
    no_ctx = run(f, Output(text="Pro costs $8."))
    assert no_ctx.value is None and "no contexts" in (no_ctx.error or "")


def test_bad_options_are_config_errors(kb: Path) -> None:
    import assay.scorer.base as base

    # create_scorer turns ScorerError into ConfigError; the modules are imported above so they are registered
    base._load_builtins()
    with pytest.raises(ConfigError, match="backend"):
        create_scorer("hallucination", knowledge=str(kb), backend="oracle")
    with pytest.raises(ConfigError, match="does not exist"):
        create_scorer("factual_precision", knowledge=str(kb / "missing"))
    with pytest.raises(ConfigError, match="needs option 'judge'"):
        create_scorer("factual_precision", knowledge=str(kb), backend="judge")
    with pytest.raises(ConfigError, match="nli_model"):
        create_scorer("factual_precision", knowledge=str(kb), backend="nli")
    with pytest.raises(ConfigError, match="'k' must be"):
        create_scorer("factual_precision", knowledge=str(kb), k=0)
    with pytest.raises(ConfigError, match="takes no 'knowledge'"):
        create_scorer("faithfulness", knowledge=str(kb))
    rel = create_scorer("factual_precision", knowledge=kb.name, base_dir=str(kb.parent))
    assert rel.knowledge_path == kb  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------ retrieval metrics
def test_retrieval_metrics_hand_computed() -> None:
    contexts = (Doc("x", id="a#0"), Doc("y", id="b#0"), Doc("z", id="a#1"), Doc("w", id="c#0"))
    case = Case(id="c", input="q", metadata={"relevant_ids": ["c", "a"]})
    scores = {s.name: s.value for s in run(rag.Retrieval(k=[1, 3]), Output(contexts=contexts), case)}
    # ranked doc ids: a, b, a, c (k counts passages; a repeated document counts once)
    assert scores["hit@1"] == 1.0 and scores["recall@1"] == 0.5
    assert scores["hit@3"] == 1.0 and scores["recall@3"] == 0.5  # within the first three: a, b, a
    assert scores["mrr"] == 1.0
    # DCG@3 = 1/log2(2) + 0 + 0 (a repeated counts once) ; IDCG@3 = 1 + 1/log2(3)
    assert scores["ndcg@3"] == pytest.approx(1 / (1 + 1 / 1.5849625007211562))
    names = [s.name for s in run(rag.Retrieval(k=[1, 3]), Output(contexts=contexts), case)]
    assert names == rag.Retrieval(k=[1, 3]).score_names


def test_retrieval_uses_gold_context_ids_and_fails_without_gold() -> None:
    case = Case(id="c", input="q", context=(Doc("gold", id="plans"),))
    s = {x.name: x.value for x in run(rag.Retrieval(k=2), Output(contexts=(REFUNDS, PLANS)), case)}
    assert s["mrr"] == 0.5 and s["hit@2"] == 1.0
    failed = run(rag.Retrieval(k=2), Output(contexts=(REFUNDS,)), Case(id="c", input="q"))
    assert all(x.value is None and "gold" in (x.error or "") for x in failed) and len(failed) == 4


def test_ndcg_matches_sklearn_on_random_rankings() -> None:
    import numpy as np
    from sklearn.metrics import ndcg_score

    rng = random.Random(3)
    for _ in range(200):
        n = rng.randint(2, 12)
        ids = [f"d{i}" for i in range(n)]
        grades = {i: float(rng.choice([0, 0, 1, 2, 3])) for i in ids}
        if not any(grades.values()):
            grades[ids[0]] = 1.0
        ranking = ids[:]
        rng.shuffle(ranking)
        k = rng.randint(1, n)
        # sklearn scores every document; a distinct descending score per rank reproduces our ranking
        true = np.array([[grades[i] for i in ranking]])
        pred = np.array([[float(n - r) for r in range(n)]])
        want = ndcg_score(true, pred, k=k)
        got = rag.ndcg_at_k(ranking, {i: g for i, g in grades.items() if g > 0}, k)
        assert got == pytest.approx(want, abs=1e-12), (ranking, grades, k)


def test_pure_metric_edge_cases() -> None:
    assert rag.hit_at_k([], {"a"}, 5) == 0.0 and rag.mrr([], {"a"}) == 0.0
    with pytest.raises(ValueError):
        rag.recall_at_k(["a"], set(), 1)
    with pytest.raises(ValueError):
        rag.ndcg_at_k(["a"], {"a": 0.0}, 1)
    assert rag.gold_relevance(Case(id="1", input="q", metadata={"relevant_ids": {"a": 2, "b": 1}})) == {
        "a": 2.0,
        "b": 1.0,
    }


# ------------------------------------------------------------------------------------ context, citations
def test_context_precision_with_gold_ids_and_with_expected() -> None:
    out = Output(contexts=(OFFLINE, PLANS, REFUNDS))
    gold = Case(id="c", input="q", metadata={"relevant_ids": ["plans"]})
    assert run(rag.ContextPrecision(), out, gold).value == pytest.approx(0.5)  # relevant at rank 2: P@2
    exp = Case(id="c", input="How much is Pro?", expected="Pro costs $8 per month.")
    s = run(rag.ContextPrecision(), out, exp)
    assert s.value == pytest.approx(0.5) and s.metadata["relevant"] == [False, True, False]
    assert run(rag.ContextPrecision(), Output(contexts=(PLANS, OFFLINE)), exp).value == 1.0


def test_context_recall() -> None:
    case = Case(id="c", input="q", expected="Pro costs $8 per month. Refunds are possible within 14 days.")
    assert run(rag.ContextRecall(), Output(contexts=(PLANS, REFUNDS)), case).value == 1.0
    half = run(rag.ContextRecall(), Output(contexts=(PLANS,)), case)
    assert half.value == 0.5 and "14 days" in half.explanation
    assert run(rag.ContextRecall(), Output(), case).value == 0.0
    assert run(rag.ContextRecall(), Output(contexts=(PLANS,)), Case(id="c", input="q")).error


def test_citation_accuracy() -> None:
    out = Output(
        text="Pro costs $8 per month [plans#0]. Refunds are possible within 14 days [2]. "
        "Offline notebooks are not a Pro feature [offline#0]. Sync is instant.",
        contexts=(PLANS, REFUNDS, OFFLINE),
    )
    s = run(rag.CitationAccuracy(), out)
    assert s.value == pytest.approx(2 / 3) and s.metadata["n_uncited"] == 1
    strict = run(rag.CitationAccuracy(require_citations=True), out)
    assert strict.value == pytest.approx(2 / 4)
    wrong_doc = run(
        rag.CitationAccuracy(), Output(text="Pro costs $8 per month [refunds#0].", contexts=(PLANS, REFUNDS))
    )
    assert wrong_doc.value == 0.0  # true claim, but the cited passage does not support it
    unknown = run(rag.CitationAccuracy(), Output(text="Pro costs $8 per month [doc-9].", contexts=(PLANS,)))
    assert unknown.value == 0.0 and "unknown" in unknown.explanation
    assert run(rag.CitationAccuracy(), Output(text="No citations here at all.", contexts=(PLANS,))).error


# ------------------------------------------------------------------------------------ relevancy, abstention
def test_answer_relevancy_orders_on_topic_above_off_topic() -> None:
    case = Case(id="c", input="How much does the Pro plan cost per month?")
    on = run(rag.AnswerRelevancy(), Output(text="The Pro plan is $8 per month."), case)
    off = run(rag.AnswerRelevancy(), Output(text="Photosynthesis happens in chloroplasts."), case)
    assert 0.0 <= off.value < 0.3 < on.value <= 1.0
    assert run(rag.AnswerRelevancy(), Output(text=""), case).value == 0.0


@pytest.mark.parametrize(
    ("answerable", "text", "ok"),
    [
        (False, "I couldn't find this in the Lumen Notes help center.", True),
        (False, "I'm not sure, that isn't covered in our documentation.", True),
        (False, "Yes, the Apple Watch app supports handwriting.", False),
        (True, "Pro costs $8 per month.", True),
        (True, "I don't know.", False),
    ],
)
def test_abstention(answerable: bool, text: str, ok: bool) -> None:
    case = Case(id="c", input="q", metadata={"answerable": answerable})
    assert run(rag.Abstention(), Output(text=text), case).value is ok
    assert run(rag.Abstention(), Output(text=text), Case(id="c", input="q")).error


def test_every_score_is_a_score_with_the_scorer_name() -> None:
    s = run(
        rag.Abstention(name="declines_ok"),
        Output(text="x y z"),
        Case(id="c", input="q", metadata={"answerable": True}),
    )
    assert isinstance(s, Score) and s.name == "declines_ok"
