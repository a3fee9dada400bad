"""Label tables, queue sampling with inclusion probabilities, and label files."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from assay.label.io import export_labels, read_inclusion_probs, read_labels, read_values
from assay.label.queue import Candidate, candidates_from_run, create_queue, item_id_for, sample_items
from assay.store import open_store
from assay.store.labels import LabelRecord, LabelStore, QueueItem, QueueRecord
from assay.types import ConfigError, DatasetError, StoreError
from tests.label._seed import seed_run


@pytest.fixture
def store(tmp_path: Any) -> Any:
    st = open_store(f"sqlite:///{tmp_path / 'labels.db'}")
    yield st
    st.close()


def _queue(ls: LabelStore, qid: str = "q1", n: int = 5, overlap: set[int] = frozenset(), k: int = 2) -> None:  # type: ignore[assignment]
    items = [
        QueueItem(
            item_id=f"i{j}", position=j, inclusion_prob=0.5, payload={"input": f"x{j}"}, overlap=j in overlap
        )
        for j in range(n)
    ]
    ls.create_queue(
        QueueRecord(queue_id=qid, name=f"queue {qid}", created_at=datetime.now(UTC), overlap_k=k), items
    )


# ------------------------------------------------------------------------------------ store
def test_tables_are_created_on_first_use_and_survive_reopen(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with open_store(url) as st:
        ls = LabelStore(st)
        _queue(ls)
        ls.add_labels([LabelRecord(item_id="i0", annotator="ana", value=1.0, queue_id="q1", note="clear")])
    with open_store(url) as st:
        ls = LabelStore(st)
        assert [q.queue_id for q in ls.list_queues()] == ["q1"]
        (lab,) = ls.labels(queue_id="q1")
        assert lab.value == 1.0 and lab.note == "clear" and lab.created_at.tzinfo is not None
        assert [it.item_id for it in ls.items("q1")] == [f"i{j}" for j in range(5)]


def test_duplicate_queue_and_bad_values_are_refused(store: Any) -> None:
    ls = LabelStore(store)
    _queue(ls)
    with pytest.raises(StoreError, match="already exists"):
        _queue(ls)
    with pytest.raises(StoreError, match="NaN"):
        ls.add_labels([LabelRecord(item_id="i0", annotator="a", value=math.nan)])
    with pytest.raises(StoreError, match="inclusion_prob"):
        ls.create_queue(
            QueueRecord(queue_id="q2", name="q2", created_at=datetime.now(UTC)),
            [QueueItem(item_id="z", position=0, inclusion_prob=0.0)],
        )


def test_relabelling_replaces_and_is_idempotent(store: Any) -> None:
    ls = LabelStore(store)
    _queue(ls)
    rec = LabelRecord(item_id="i1", annotator="ana", value=0.0, queue_id="q1")
    assert ls.add_labels([rec]) == 1
    assert ls.add_labels([rec]) == 1
    ls.add_labels([LabelRecord(item_id="i1", annotator="ana", value=1.0, queue_id="q1", label="yes")])
    (only,) = ls.labels(queue_id="q1")
    assert only.value == 1.0 and only.label == "yes"


def test_next_item_serves_overlap_items_to_a_second_annotator(store: Any) -> None:
    ls = LabelStore(store)
    _queue(ls, n=4, overlap={1})
    assert ls.next_item("q1", "ana").item_id == "i0"
    for i in range(4):
        ls.add_labels([LabelRecord(item_id=f"i{i}", annotator="ana", value=1.0, queue_id="q1")])
    assert ls.next_item("q1", "ana") is None
    # bob only gets the overlap item: the others are labelled already
    assert ls.next_item("q1", "bob").item_id == "i1"
    ls.add_labels([LabelRecord(item_id="i1", annotator="bob", value=0.0, queue_id="q1")])
    assert ls.next_item("q1", "bob") is None and ls.next_item("q1", "cy") is None
    p = ls.progress("q1")
    assert p["n_labelled"] == 4 and p["n_overlap"] == 1 and p["n_overlap_done"] == 1
    assert p["annotators"] == {"ana": {"labelled": 4, "skipped": 0}, "bob": {"labelled": 1, "skipped": 0}}


def test_a_skip_is_per_annotator(store: Any) -> None:
    ls = LabelStore(store)
    _queue(ls, n=2)
    ls.add_labels([LabelRecord(item_id="i0", annotator="ana", value=None, skipped=True, queue_id="q1")])
    assert ls.next_item("q1", "ana").item_id == "i1"
    assert ls.next_item("q1", "bob").item_id == "i0"  # skipped by ana, still due for others
    assert ls.progress("q1")["n_skipped_only"] == 1


# ------------------------------------------------------------------------------------ sampling
def _cands(n: int, **kw: Any) -> list[Candidate]:
    return [Candidate(item_id=f"x{i}", payload={}, **{k: f(i) for k, f in kw.items()}) for i in range(n)]


def test_random_sample_has_equal_probabilities() -> None:
    items = sample_items(_cands(50), 10, strategy="random", seed=3)
    assert len(items) == 10 and len({it.item_id for it in items}) == 10
    assert all(it.inclusion_prob == pytest.approx(0.2) for it in items)
    assert [it.position for it in items] == list(range(10))
    assert sample_items(_cands(50), 10, seed=3) == items  # seeded
    assert len(sample_items(_cands(5), 10)) == 5


def test_stratified_by_slice_oversamples_rare_strata_and_records_it() -> None:
    cands = _cands(100, metadata=lambda i: {"lang": "de" if i < 5 else "en"})
    items = sample_items(cands, 10, strategy="stratified", by="slice:lang", seed=1)
    de = [it for it in items if it.stratum == "de"]
    en = [it for it in items if it.stratum == "en"]
    assert len(de) == 5 and len(en) == 5
    assert all(it.inclusion_prob == 1.0 for it in de)
    assert all(it.inclusion_prob == pytest.approx(5 / 95) for it in en)
    # Horvitz-Thompson: the weights of a stratified sample add up to the population exactly
    assert sum(1 / it.inclusion_prob for it in items) == pytest.approx(100)


def test_stratified_by_verdict() -> None:
    cands = _cands(40, scores=lambda i: {"judge": float(i % 4 == 0)})
    items = sample_items(cands, 8, strategy="stratified", by="score:judge", seed=2)
    assert sorted({it.stratum for it in items}) == ["False", "True"]
    assert sum(1 / it.inclusion_prob for it in items) == pytest.approx(40)
    with pytest.raises(ConfigError, match="no item has a score"):
        sample_items(cands, 8, strategy="stratified", by="score:nope")


def test_uncertainty_first_is_unbiased_after_weighting() -> None:
    rng = random.Random(0)
    scores = [rng.random() for _ in range(300)]
    y = [1.0 if rng.random() < s else 0.0 for s in scores]  # the truth follows the judge's probability
    cands = _cands(300, scores=lambda i: {"judge": scores[i]})
    by_id = {c.item_id: i for i, c in enumerate(cands)}
    first = sample_items(cands, 40, strategy="uncertainty", score="judge", seed=0)
    us = [1 - abs(2 * scores[by_id[it.item_id]] - 1) for it in first]
    assert us == sorted(us, reverse=True)  # most uncertain first
    assert all(0 < it.inclusion_prob <= 1 for it in first)
    probs = {it.item_id: it.inclusion_prob for it in first}
    # the design's probabilities: they add up to the requested size
    full = sample_items(cands, 40, strategy="uncertainty", score="judge", seed=0)
    assert full == first
    estimates, sizes = [], []
    for seed in range(300):
        s = sample_items(cands, 40, strategy="uncertainty", score="judge", seed=seed)
        sizes.append(len(s))
        estimates.append(sum(y[by_id[it.item_id]] / it.inclusion_prob for it in s) / 300)
    assert sum(sizes) / len(sizes) == pytest.approx(40, abs=1.5)
    truth = sum(y) / 300
    assert sum(estimates) / len(estimates) == pytest.approx(truth, abs=0.02)
    assert len(probs) == len(first)


def test_bad_designs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="strategy"):
        sample_items(_cands(3), 2, strategy="best")
    with pytest.raises(ConfigError, match="by="):
        sample_items(_cands(3), 2, strategy="stratified")
    with pytest.raises(ConfigError, match="no items"):
        sample_items([], 2)


def test_queue_from_a_run(store: Any) -> None:
    seed_run(store, n=40)
    cands = candidates_from_run(store, "run1")
    assert len(cands) == 40 and cands[0].item_id == item_id_for("run1", "c000", 0)
    assert cands[0].payload["output"].startswith("answer 0") and cands[0].payload["context"] == ["doc for 0"]
    q = create_queue(
        store,
        cands,
        12,
        name="wk",
        strategy="stratified",
        by="slice:category",
        overlap=0.25,
        source={"run_id": "run1"},
    )
    items = LabelStore(store).items(q.queue_id)
    assert len(items) == 12 and sum(it.overlap for it in items) == 3
    assert {it.run_id for it in items} == {"run1"} and all(it.case_id for it in items)
    assert len(LabelStore(store).items_for_run("run1")) == 12
    assert LabelStore(store).find_queue("wk").queue_id == q.queue_id


# ------------------------------------------------------------------------------------ files
@pytest.mark.parametrize("ext", ["csv", "jsonl"])
def test_export_import_round_trip(store: Any, tmp_path: Any, ext: str) -> None:
    ls = LabelStore(store)
    _queue(ls)
    t = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    recs = [
        LabelRecord(
            item_id="i0",
            annotator="ana",
            value=1.0,
            label="yes",
            note='a "quoted", note\nwith newline',
            queue_id="q1",
            created_at=t,
        ),
        LabelRecord(item_id="i1", annotator="bob", value=0.0, label="no", queue_id="q1", created_at=t),
        LabelRecord(item_id="i2", annotator="ana", value=None, skipped=True, queue_id="q1", created_at=t),
    ]
    ls.add_labels(recs)
    path = tmp_path / f"labels.{ext}"
    items = {it.item_id: it for it in ls.items("q1")}
    assert export_labels(ls.labels(queue_id="q1"), path, items=items) == 3
    back = read_labels(path)
    assert sorted(back, key=lambda r: r.item_id) == sorted(recs, key=lambda r: r.item_id)
    assert read_inclusion_probs(path) == {"i0": 0.5, "i1": 0.5, "i2": 0.5}
    with open_store(f"sqlite:///{tmp_path / 'other.db'}") as other:
        LabelStore(other).add_labels(back)
        assert sorted(LabelStore(other).labels(), key=lambda r: r.item_id) == sorted(
            recs, key=lambda r: r.item_id
        )


def test_bad_label_files_name_line_and_field(tmp_path: Any) -> None:
    p = tmp_path / "l.jsonl"
    p.write_text('{"item_id": "a", "value": 1}\n{"item_id": "b", "value": "high"}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"l.jsonl:2 field 'value'"):
        read_labels(p)
    p.write_text('{"item_id": "a", "value": 1}\n\n{"value": 1}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"l.jsonl:3 field 'item_id'"):
        read_labels(p)
    p.write_text('{"item_id": "a", "value": 1}\nnot json\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"l.jsonl:2"):
        read_labels(p)
    c = tmp_path / "l.csv"
    c.write_text("item_id,value,created_at\na,1,2025-01-01T00:00:00\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"l.csv:2 field 'created_at'"):
        read_labels(c)
    j = tmp_path / "j.jsonl"
    j.write_text(
        json.dumps({"item_id": "a", "value": 1}) + "\n" + json.dumps({"item_id": "a", "value": 0}) + "\n"
    )
    with pytest.raises(DatasetError, match="appears twice"):
        read_values(j)
