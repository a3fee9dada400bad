"""Knowledge sources (folder, JSONL, facts CSV), chunking, and the cached BM25 + embedding index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.inference.embeddings import OnnxEmbedder, minilm_files
from assay.knowledge import chunk_documents, load_documents, load_index, split_sentences, split_units
from assay.knowledge.sources import Document
from assay.types import DatasetError

KB = {
    "billing/refunds.md": "# Refund policy\n\nYou can request a full refund within 14 days of purchase.\n"
    "Refunds go back to the original payment method.\n",
    "billing/plans.md": "# Plans\n\nPro costs $8 per month.\n\n## Team\nTeam costs $12 per user per month.\n",
    "sync/offline.md": "# Offline access\n\nThe mobile apps work offline. Notebooks marked available "
    "offline are downloaded in full.\n",
    "notes.txt": "Deleted notes stay in the trash for 30 days.",
    "ignored.json": "{}",
}


@pytest.fixture()
def kb(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    for rel, text in KB.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


# ------------------------------------------------------------------------------------ sentences
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Dr. Smith paid $3.50 on Jan. 5. It was e.g. cheap! Really?",
            ["Dr. Smith paid $3.50 on Jan. 5.", "It was e.g. cheap!", "Really?"],
        ),
        (
            "Version 2.1.3 costs U.S. $1,234.50 per year. See www.example.com for details.",
            ["Version 2.1.3 costs U.S. $1,234.50 per year.", "See www.example.com for details."],
        ),
        (
            "You can pay with:\n- credit cards\n- PayPal\n\n1. Open Settings\n2) Click Billing",
            ["You can pay with:", "credit cards", "PayPal", "Open Settings", "Click Billing"],
        ),
        (
            "Mr. J. R. Smith arrived at 9 a.m. The meeting ended.",
            ["Mr. J. R. Smith arrived at 9 a.m.", "The meeting ended."],
        ),
        ("It costs 3.5 dollars.It ships today.", ["It costs 3.5 dollars.It ships today."]),
        ("Apples, pears, etc. The end.", ["Apples, pears, etc.", "The end."]),
        (
            "* item one that wraps\n  onto a second line\n* item two",
            ["item one that wraps onto a second line", "item two"],
        ),
        ("| Plan | Price |\n|---|---|\n| Pro | $8 |", ["Plan | Price", "Pro | $8"]),
    ],
)
def test_sentence_splitting(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_units_keep_their_kind() -> None:
    kinds = [u.kind for u in split_units("# Title\nIntro text.\n- a item\n| a | b |")]
    assert kinds == ["heading", "sentence", "item", "row"]


# ------------------------------------------------------------------------------------ sources
def test_folder_source_ids_titles_and_suffixes(kb: Path) -> None:
    docs = load_documents(kb)
    assert [d.id for d in docs] == ["billing/plans", "billing/refunds", "notes", "sync/offline"]
    assert docs[1].title == "Refund policy" and docs[2].title == "notes"


def test_chunking_follows_headings_and_size(kb: Path) -> None:
    passages = chunk_documents(load_documents(kb), max_words=40)
    plans = [p for p in passages if p.doc_id == "billing/plans"]
    assert [(p.id, p.section, p.text) for p in plans] == [
        ("billing/plans#0", "", "Pro costs $8 per month."),
        ("billing/plans#1", "Team", "Team costs $12 per user per month."),
    ]
    long_doc = Document(id="long", text=" ".join(f"Sentence number {i} is here." for i in range(60)))
    chunks = chunk_documents([long_doc], max_words=50)
    assert len(chunks) > 1 and all(len(c.text.split()) <= 50 for c in chunks)
    assert " ".join(c.text for c in chunks) == long_doc.text  # nothing lost, nothing duplicated


def test_jsonl_source_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "docs.jsonl"
    good.write_text(
        json.dumps({"id": "a", "text": "Alpha.", "title": "A"})
        + "\n\n"
        + json.dumps({"text": "Beta."})
        + "\n",
        encoding="utf-8",
    )
    docs = load_documents(good)
    assert [(d.id, d.title) for d in docs] == [("a", "A"), ("docs:3", "")]

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "x"}\n{"id": "b"}\n', encoding="utf-8")
    with pytest.raises(DatasetError) as exc:
        load_documents(bad)
    assert (exc.value.line, exc.value.field) == (2, "text") and str(bad) in str(exc.value)

    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match="duplicate id 'a'"):
        load_documents(dup)

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "a", "text": "x"}\n{"id": \n', encoding="utf-8")
    with pytest.raises(DatasetError) as exc:
        load_documents(broken)
    assert exc.value.line == 2


def test_facts_csv_source_and_its_errors(tmp_path: Path) -> None:
    facts = tmp_path / "facts.csv"
    facts.write_text(
        "subject,predicate,object,source\nPro plan,costs,$8 per month,pricing page\n"
        "Refund window,is,14 days,\n",
        encoding="utf-8",
    )
    docs = load_documents(facts)
    assert [d.text for d in docs] == ["Pro plan costs $8 per month.", "Refund window is 14 days."]
    assert docs[0].kind == "fact" and docs[0].metadata["source"] == "pricing page"
    assert [p.id for p in chunk_documents(docs)] == ["fact:2", "fact:3"]

    missing = tmp_path / "missing.csv"
    missing.write_text("subject,object\nx,y\n", encoding="utf-8")
    with pytest.raises(DatasetError) as exc:
        load_documents(missing)
    assert exc.value.field == "relation" and exc.value.line == 1

    empty_cell = tmp_path / "empty.csv"
    empty_cell.write_text("subject,relation,object\nx,is,\n", encoding="utf-8")
    with pytest.raises(DatasetError) as exc:
        load_documents(empty_cell)
    assert (exc.value.line, exc.value.field) == (2, "object")


def test_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_documents(tmp_path / "nope")
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    with pytest.raises(DatasetError, match="unsupported knowledge source"):
        load_documents(tmp_path / "x.pdf")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no documents"):
        load_documents(tmp_path / "empty")
    latin = tmp_path / "latin.md"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(DatasetError, match="not UTF-8"):
        load_documents(latin)


# ------------------------------------------------------------------------------------ index
def test_index_search_modes_and_disk_cache(kb: Path, tmp_path: Path) -> None:
    model, tok = minilm_files()
    cache = tmp_path / "cache"
    first = OnnxEmbedder(model, tok)
    index = load_index(kb, embedder=first, cache_dir=cache)
    assert first.n_encoded > 0 and len(list(cache.iterdir())) == 1

    for mode in ("bm25", "embedding", "hybrid"):
        hits = index.search("how long do I have to ask for my money back", k=2, mode=mode)
        assert len(hits) == 2 and [h.rank for h in hits] == [1, 2]
        if mode != "bm25":  # BM25 needs shared words; "money back" shares none with "refund"
            assert hits[0].passage.doc_id == "billing/refunds", mode
    assert index.search("team price per user", k=1, mode="bm25")[0].passage.id == "billing/plans#1"
    assert len(index.search("anything", k=50)) == len(index)  # k is capped by the corpus size

    # a fresh process (a new embedder) reads the embeddings back instead of recomputing them
    second = OnnxEmbedder(model, tok)
    again = load_index(kb, embedder=second, cache_dir=cache)
    assert again is not index and second.n_encoded == 0
    assert [h.passage.id for h in again.search("offline notebooks", k=3)] == [
        h.passage.id for h in index.search("offline notebooks", k=3)
    ]
    # the same source in the same process is loaded once
    assert load_index(kb, embedder=second, cache_dir=cache) is again

    # editing a file changes the content hash: a new cache entry, never stale vectors
    (kb / "notes.txt").write_text("Deleted notes stay in the trash for 60 days.", encoding="utf-8")
    third = OnnxEmbedder(model, tok)
    edited = load_index(kb, embedder=third, cache_dir=cache)
    assert third.n_encoded > 0 and len(list(cache.iterdir())) == 2
    assert "60 days" in edited.search("trash", k=1)[0].passage.text


def test_search_rejects_bad_arguments(kb: Path, tmp_path: Path) -> None:
    index = load_index(kb, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown search mode"):
        index.search("x", mode="dense")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k must be"):
        index.search("x", k=0)
    assert index.search("the of and", k=1, mode="bm25")[0].score == 0.0  # stop words only: no BM25 signal
