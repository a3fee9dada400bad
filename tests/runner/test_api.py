"""assay.evaluate: the suite-free Python entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

import assay
from assay.dataset import load_dataset
from assay.store import open_store
from assay.types import Case, ConfigError, Doc, Output


def shout(text: str) -> str:
    return text.upper()


async def rag(case: Case) -> Output:
    return Output(
        text=f"Paris is the capital of {case.metadata['country']}.",
        contexts=(Doc(id="d1", text="Paris is the capital of France."),),
    )


def test_evaluate_a_plain_function_over_inline_cases(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    cases = [
        {"input": "abc", "expected": "ABC"},
        {"input": "x y", "expected": "X Y"},
        {"input": "q", "expected": "nope"},
    ]
    summary = assay.evaluate(
        cases,
        shout,
        ["exact_match", {"scorer": "contains", "name": "has_x", "values": ["X"]}],
        store=url,
        thresholds={"exact_match": {"min": 0.5}},
    )
    assert summary.status == "completed" and summary.exit_code == 0
    em = summary.metrics["exact_match"]
    assert (em.n, em.mean) == (3, pytest.approx(2 / 3))
    assert summary.metrics["has_x"].mean == pytest.approx(1 / 3)
    with open_store(url) as st:
        run = st.get_run(summary.run_id)
        assert run is not None and run.provenance["target"]["ref"].endswith(":shout")
        assert run.provenance["dataset_sha256"] == load_dataset(cases).sha256  # same hash as a suite run


def test_evaluate_an_async_rag_function_and_a_target_mapping(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    cases = [Case(id="fr", input="capital?", expected="France", metadata={"country": "France"})]
    s = assay.evaluate(cases, rag, ["contains"], store=url)
    assert s.metrics["contains"].mean == 1.0
    s2 = assay.evaluate(cases, {"type": "python", "ref": "textwrap:dedent"}, ["exact_match"], store=url)
    assert s2.metrics["exact_match"].mean == 0.0


def test_evaluate_rejects_bad_arguments(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(ConfigError, match="Did you mean 'exact_match'"):
        assay.evaluate([{"input": "a", "expected": "a"}], shout, ["exact_mtch"], store=url)
    with pytest.raises(ConfigError, match="at least one scorer"):
        assay.evaluate([{"input": "a"}], shout, [], store=url)
    with pytest.raises(ConfigError, match="type"):
        assay.evaluate([{"input": "a"}], {"ref": "x:y"}, ["latency"], store=url)


def test_a_10_mb_input_runs_stores_and_exports(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'big.db'}"
    big = "word " * 2_000_000  # 10 MB
    summary = assay.evaluate(
        [{"id": "big", "input": big, "expected": "10000000"}, {"input": "x", "expected": "1"}],
        lambda text: str(len(text)),
        ["exact_match"],
        store=url,
    )
    assert summary.status == "completed" and summary.metrics["exact_match"].mean == 1.0
    with open_store(url) as st:
        row = next(r for r in st.iter_results(summary.run_id) if r.case_id == "big")
        assert len(row.case["input"]) == 10_000_000


def test_evaluate_works_inside_a_running_event_loop(tmp_path: Path) -> None:
    # as in a notebook: the caller already runs a loop
    import asyncio

    async def caller() -> float | None:
        s = assay.evaluate(
            [{"input": "a", "expected": "A"}], shout, ["exact_match"], store=f"sqlite:///{tmp_path / 'l.db'}"
        )
        return s.metrics["exact_match"].mean

    assert asyncio.run(caller()) == 1.0
