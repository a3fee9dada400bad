"""The grounding verifier on hand-checked claims, its validation-set accuracy, and the metric helpers."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from assay.scorer.verify import (
    VALIDATION_CATEGORIES,
    GroundingVerifier,
    auroc,
    evaluate_verifier,
    load_validation_set,
    macro_f1,
)
from assay.types import Doc

EVIDENCE = Doc(
    "Customers can request a full refund within 14 days of purchase. Refunds are returned to the original "
    "payment method and usually appear within 5 to 10 business days. Gift cards are not refundable.",
    id="refunds#0",
)


@pytest.fixture(scope="module")
def verifier() -> GroundingVerifier:
    return GroundingVerifier()


@pytest.mark.parametrize(
    ("claim", "label", "reason"),
    [
        ("You have two weeks after buying to get a full refund.", "supported", None),
        ("The refund normally shows up within 5-10 business days.", "supported", None),
        ("Customers can request a full refund within 30 days of purchase.", "contradicted", "number"),
        ("Gift cards are refundable.", "contradicted", "negation"),
        ("Refunds are not returned to the original payment method.", "contradicted", "negation"),
        ("Refunds are paid in Bitcoin through Coinbase.", "not_enough_info", None),
        ("The Eiffel Tower is 330 metres tall.", "not_enough_info", None),
    ],
)
def test_hand_checked_claims(verifier: GroundingVerifier, claim: str, label: str, reason: str | None) -> None:
    [v] = verifier.verify_sync([claim], [[EVIDENCE]])
    assert v.label == label, (v.label, v.p_supported, v.reasons)
    assert (v.p_supported >= 0.5) is (label == "supported")
    assert v.evidence is EVIDENCE and v.evidence_span
    if reason:
        assert any(r.startswith(reason) for r in v.reasons), v.reasons


def test_best_evidence_is_chosen_among_passages(verifier: GroundingVerifier) -> None:
    other = Doc("The Pro plan costs $8 per month.", id="plans#0")
    [v] = verifier.verify_sync(["Pro is eight dollars a month."], [[EVIDENCE, other]])
    assert v.supported and v.evidence is other and v.to_dict()["evidence_id"] == "plans#0"


def test_no_evidence_is_not_enough_info(verifier: GroundingVerifier) -> None:
    [v] = asyncio.run(verifier.verify(["Anything at all is true."], [[]]))
    assert v.label == "not_enough_info" and v.p_supported == 0.0 and v.evidence is None
    with pytest.raises(ValueError, match="evidence lists"):
        verifier.verify_sync(["a", "b"], [[EVIDENCE]])


def test_validation_set_is_big_balanced_and_clean() -> None:
    items = load_validation_set()
    assert len(items) >= 300 and len({i.claim for i in items}) == len(items)
    per_category = Counter(i.category for i in items)
    assert set(per_category) == set(VALIDATION_CATEGORIES) and min(per_category.values()) >= 40
    expected = {
        "paraphrase_supported": "supported",
        "wrong_number": "contradicted",
        "wrong_entity": "contradicted",
        "negated": "contradicted",
        "unsupported_extra_detail": "not_enough_info",
        "true_but_absent": "not_enough_info",
    }
    assert all(expected[i.category] == i.label for i in items)
    assert {i.split for i in items} == {"dev", "test"}
    assert all(len({x.split for x in items if x.group == g}) == 1 for g in {i.group for i in items})


@pytest.mark.slow
def test_grounding_reaches_the_accuracy_bar_on_held_out_triples(verifier: GroundingVerifier) -> None:
    result = asyncio.run(evaluate_verifier(verifier, load_validation_set("test")))
    assert result["accuracy"] >= 0.80, result
    assert result["auroc"] >= 0.85, result
    assert result["macro_f1"] >= 0.80, result


def test_auroc_and_macro_f1_match_scikit_learn() -> None:
    import random

    from sklearn.metrics import f1_score, roc_auc_score

    rng = random.Random(7)
    for _ in range(20):
        y = [rng.random() < 0.4 for _ in range(60)]
        y[0], y[1] = True, False
        s = [round(rng.random(), 1) for _ in range(60)]  # rounded: many ties
        assert auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        t = [rng.choice("abc") for _ in range(40)]
        p = [rng.choice("abc") for _ in range(40)]
        assert macro_f1(t, p) == pytest.approx(f1_score(t, p, average="macro"), abs=1e-12)
    with pytest.raises(ValueError, match="positive and one negative"):
        auroc([True, True], [0.1, 0.2])
