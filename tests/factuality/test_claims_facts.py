"""Claim extraction and the key-fact checks (quantities, entities, negation, modality)."""

from __future__ import annotations

import pytest

from assay.knowledge.facts import (
    entity_in,
    extract_entities,
    extract_quantities,
    modality,
    quantities_match,
    relevant_negations,
)
from assay.scorer.claims import extract_claims, strip_citations


def test_claims_drop_pleasantries_questions_and_fragments() -> None:
    text = (
        "Sure! Happy to help. Refunds are available within 14 days [doc-1]. "
        "Would you like the link? Hope this helps! Let me know if you need anything else."
    )
    claims = extract_claims(text)
    assert [c.text for c in claims] == ["Refunds are available within 14 days."]
    assert claims[0].citations == ("doc-1",)


def test_list_lead_in_is_joined_to_each_item() -> None:
    text = "You can pay with:\n- credit cards\n- PayPal [billing#2]\n\nPlans are billed monthly."
    assert [(c.text, c.citations) for c in extract_claims(text)] == [
        ("You can pay with: credit cards", ()),
        ("You can pay with: PayPal", ("billing#2",)),
        ("Plans are billed monthly.", ()),
    ]


def test_numbers_and_abbreviations_do_not_split_claims() -> None:
    text = "The U.S. price is $1,234.50 (approx. 1.1k EUR) for v2.1. Dr. Lee approved it on Jan. 5."
    assert [c.text for c in extract_claims(text)] == [
        "The U.S. price is $1,234.50 (approx. 1.1k EUR) for v2.1.",
        "Dr. Lee approved it on Jan. 5.",
    ]


def test_markdown_links_and_bold_are_flattened() -> None:
    [claim] = extract_claims("**Pro** costs $8 per month, see [pricing](https://x.y/p).")
    assert claim.text == "Pro costs $8 per month, see pricing."


def test_strip_citations_forms() -> None:
    assert strip_citations("A fact [1][2, 3] and [^4].") == ("A fact and.", ("1", "2", "3", "4"))
    assert strip_citations("no citations") == ("no citations", ())


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("two weeks", "14 days", True),
        ("within one day", "within 24 hours", True),
        ("$80", "80 dollars", True),
        ("half off", "50% off", True),
        ("1,200 mg", "1200 mg", True),
        ("165 million km²", "165 million square kilometres", True),
        ("6-digit code", "six-digit code", True),
        ("9 am to 6 pm", "9:00 to 18:00", True),
        ("5 to 10 business days", "5-10 business days", True),
        ("in 1905", "in 1903", False),
        ("30 days", "14 days", False),
        ("10 MB", "10 GB", False),
        ("10 minutes", "10 days", False),
    ],
)
def test_quantities(a: str, b: str, same: bool) -> None:
    qa, qb = extract_quantities(a), extract_quantities(b)
    assert qa and len(qa) == len(qb), (qa, qb)
    assert all(quantities_match(x, y) for x, y in zip(qa, qb, strict=True)) is same


def test_quantities_ignore_names_and_bare_articles() -> None:
    assert extract_quantities("Convert it to MP4 after COVID-19, often") == []
    assert extract_quantities("It costs $8 a month") == extract_quantities("It costs $8 a month")
    assert [q.value for q in extract_quantities("valid for an hour")] == []
    assert [q.value for q in extract_quantities("valid for an hour", implicit_one=True)] == [3600.0]


def test_entities_and_their_matching() -> None:
    ents = extract_entities(
        'Marie Curie shared the prize with Henri Becquerel in Paris. Open "History" on iOS.'
    )
    assert ents == {"marie curie", "henri becquerel", "paris", "history", "ios"}
    assert extract_entities("The plan costs 8 GB.") == set()  # units and sentence-initial words are not names
    assert entity_in("egyptian", "near the town of Rashid in Egypt")
    assert entity_in("cet", "from 9:00 to 18:00 Central European Time")
    assert entity_in("pdfs", "Exports include a PDF")
    assert not entity_in("chicago", "In Denver water boils at 95 degrees")
    assert not entity_in("austria", "between Germany and Australia")


def test_negation_scope_and_modality() -> None:
    evidence = "Messages include the note title and a link, not the full text."
    assert relevant_negations(evidence, "Messages include the full text of the note") == 1
    assert relevant_negations(evidence, "The Slack messages contain the note's title") == 0
    assert (
        relevant_negations("Emptying the Trash cannot be undone.", "You cannot undo emptying the Trash") == 1
    )
    assert modality("You must renew every year") == "necessary"
    assert modality("Renewal is optional") == "optional"
    assert modality("You can renew") is None
