"""The retrieval matrix example (examples/rag_matrix): its gold ids, its configurations, and its table.

The matrix runs the support assistant through the real runner and store under four retrieval
configurations. These tests check what its numbers rest on: gold article ids derived reproducibly from
the support-bot cases, suites that differ only in their target, configurations that really retrieve
what they say (k passages, by BM25 or by embeddings), and a joint table with every configuration in
which more passages never lower recall.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from assay.types import Case

ROOT = Path(__file__).resolve().parents[2]
MATRIX_DIR = ROOT / "examples" / "rag_matrix"
KB_DIR = ROOT / "examples" / "support_bot" / "kb"
CONFIGS = ("bm25_k1", "bm25_k3", "embedding_k1", "embedding_k3")


def _load(name: str) -> ModuleType:
    module_name = f"_rag_matrix_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, MATRIX_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cache_dir(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Embeddings are deterministic and keyed by content: share them across test runs (pytest's cache
    # folder) so only the first run pays for embedding the assistant's passages.
    cache = getattr(pytestconfig, "cache", None)  # absent under -p no:cacheprovider
    if cache is None:
        return tmp_path_factory.mktemp("assay-rag-matrix-cache")
    return Path(cache.mkdir("assay-rag-matrix-cache"))


@pytest.fixture()
def isolated(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_CACHE_DIR", str(cache_dir))
    # the python target puts the suite folder on sys.path and imports 'retrievers': undo it afterwards
    monkeypatch.setattr(sys, "path", list(sys.path))
    if "retrievers" not in sys.modules:
        monkeypatch.setitem(sys.modules, "retrievers", None)
        monkeypatch.delitem(sys.modules, "retrievers")


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------- gold ids
def test_gold_ids_are_derived_reproducibly_and_pin_one_article() -> None:
    make = _load("make_cases")
    rows = _rows(MATRIX_DIR / "cases.jsonl")
    assert rows == make.derive_cases()  # the committed file is exactly what the script derives
    assert len(rows) >= 100
    articles = {p.stem: make.normalise(p.read_text(encoding="utf-8")) for p in KB_DIR.glob("*.md")}
    for row in rows:
        md = row["metadata"]
        assert md["answerable"] is True
        (gold,) = md["relevant_ids"]
        phrase = make.normalise(md["gold_phrase"])
        holders = [a for a, text in articles.items() if phrase in text]
        assert holders == [gold], (row["id"], holders)


def test_derive_cases_skips_ambiguous_phrases_and_unanswerable_cases(tmp_path: Path) -> None:
    make = _load("make_cases")
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "refunds.md").write_text("# Refunds\nRefunds take 30 days. Ask within 14 days.", encoding="utf-8")
    (kb / "trash.md").write_text("# Trash\nNotes stay 30 days in the Trash.", encoding="utf-8")
    cases = tmp_path / "cases.jsonl"
    lines = [
        {"id": "a", "input": "q", "expected": "14 days", "metadata": {"answerable": True}},
        {"id": "b", "input": "q", "expected": "30 days", "metadata": {"answerable": True}},  # in both
        {"id": "c", "input": "q", "expected": ["30 days", "**Trash**"], "metadata": {"answerable": True}},
        {"id": "d", "input": "q", "expected": "14 days", "metadata": {"answerable": False}},
    ]
    cases.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    got = {r["id"]: r["metadata"]["relevant_ids"] for r in make.derive_cases(cases, kb)}
    assert got == {"a": ["refunds"], "c": ["trash"]}
    cases.write_text('{"id": "x", "input": "q"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"cases\.jsonl:1"):
        make.derive_cases(cases, kb)


# ------------------------------------------------------------------------------------------- configurations
def test_suites_differ_only_in_their_target() -> None:
    suites = {c: yaml.safe_load((MATRIX_DIR / f"{c}.yaml").read_text(encoding="utf-8")) for c in CONFIGS}
    for config, suite in suites.items():
        assert suite["target"] == {"type": "python", "ref": f"retrievers:answer_{config}"}
        assert suite["name"] == f"rag-matrix-{config}"
    base = {k: v for k, v in suites["bm25_k3"].items() if k not in ("target", "name")}
    for suite in suites.values():
        assert {k: v for k, v in suite.items() if k not in ("target", "name")} == base


def test_configurations_retrieve_k_passages_by_their_method(isolated: None) -> None:
    retrievers = _load("retrievers")
    app = retrievers.bot()
    case = Case(id="q", input="How many devices can I sync on the Free plan?")
    outs = {c: fn(case) for c, fn in retrievers.CONFIGURATIONS.items()}
    for config, out in outs.items():
        method, k = config.rsplit("_k", 1)
        assert out.error is None and out.raw["retriever"] == method and out.raw["k"] == int(k)
        assert len(out.contexts) == int(k)
        scores = [d.score for d in out.contexts]
        assert scores == sorted(scores, reverse=True)
    # BM25 configurations are the assistant itself; the settings are restored after every call
    native = app.answer(case)
    assert (outs["bm25_k3"].text, outs["bm25_k3"].contexts) == (native.text, native.contexts)
    assert app.TOP_K == 3 and app._ranked.__module__ == app.__name__
    # dense retrieval reports cosine similarities (at most 1) and keeps the BM25 score aside
    dense = outs["embedding_k3"].contexts
    assert all(0 < d.score <= 1 and "bm25" in d.metadata for d in dense)
    # k=1 is the first passage of k=3 for the same retriever
    assert outs["bm25_k1"].contexts[0].id == outs["bm25_k3"].contexts[0].id
    assert outs["embedding_k1"].contexts[0].id == dense[0].id


def test_matrix_table_has_every_configuration_and_recall_grows_with_k(isolated: None, tmp_path: Path) -> None:
    matrix = _load("run_matrix")
    # a spread-out subset; hallucination (the help-center index) is the slow part and is left out here
    results = matrix.run_matrix(limit=10, store=f"sqlite:///{tmp_path / 'm.db'}", exclude=["hallucination"])
    assert list(results) == list(CONFIGS)
    for config, result in results.items():
        assert result["status"] == "completed", config
        metrics = result["metrics"]
        for name in (
            "recall@1",
            "recall@3",
            "mrr",
            "ndcg@3",
            "context_precision",
            "contains",
            "faithfulness",
        ):
            assert metrics[name]["n"] == 10 and metrics[name]["n_errors"] == 0, (config, name)
            low, mean, high = metrics[name]["ci_low"], metrics[name]["mean"], metrics[name]["ci_high"]
            assert low <= mean <= high, (config, name)
        assert "hallucination" not in metrics
    for method in ("bm25", "embedding"):
        k1, k3 = results[f"{method}_k1"]["metrics"], results[f"{method}_k3"]["metrics"]
        assert k3["recall@3"]["mean"] >= k1["recall@1"]["mean"]
        assert k1["recall@3"]["mean"] == k1["recall@1"]["mean"]  # one passage retrieved: nothing more to find
        assert k3["recall@1"]["mean"] == k1["recall@1"]["mean"]  # same ranking, same first passage

    table = matrix.format_table(results)
    header, rule, *rows = table.splitlines()
    assert set(rule) == {"-", " "}
    assert header.split()[1:] == list(CONFIGS)
    labels = [r.split("  ")[0] for r in rows]
    assert "recall@3 (= hit@3)" in labels and "faithfulness" in labels
    assert not any(label.startswith("hallucination") for label in labels)  # excluded: no row of dashes
    assert rows[-1].split() == ["cases", "10", "10", "10", "10"]
    assert "[" in rows[0] and "–" in rows[0]  # every cell carries its 95% interval


@pytest.mark.parametrize("name", ["make_cases", "retrievers", "run_matrix"])
def test_docstring_examples(name: str, isolated: None) -> None:
    import doctest

    result = doctest.testmod(_load(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
