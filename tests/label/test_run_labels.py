"""``assay estimate RUN_ID`` and ``assay agreement RUN_ID``: a run's labels found through the queues
sampled from it (or labels imported onto its items), run-id prefixes as ``assay show`` takes them, and
clear errors for unknown or ambiguous ids and for runs nobody has labelled yet."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner

from assay.label.agreement import agreement_for_queue, agreement_for_run
from assay.label.estimate import estimate_for_queue, estimate_from_values
from assay.label.queue import candidates_from_run, create_queue
from assay.label.runs import estimate_for_run, find_queue_or_run, run_labels
from assay.store import Store, open_store
from assay.store.labels import LabelRecord, LabelStore
from assay.types import ConfigError, StoreError
from tests.label._seed import seed_run

RUN_A = "20250301-120000-a1b2c3"
RUN_B = "20250301-130000-d4e5f6"


@dataclass
class Env:
    url: str
    truth: dict[str, float]


def _scores(truth: dict[str, float], run_id: str, rng: random.Random) -> Any:
    def scores(i: int, _r: random.Random) -> list[dict[str, Any]]:
        good = float(rng.random() < 0.5)
        truth[f"{run_id}/c{i:03d}/0"] = good
        lenient = good or rng.random() < 0.3
        return [
            {"name": "rubric", "value": bool(lenient), "kind": "binary"},
            {
                "name": "exact_match",
                "value": bool(good if rng.random() < 0.9 else 1 - good),
                "kind": "binary",
            },
        ]

    return scores


@pytest.fixture
def env(tmp_path: Any) -> Iterator[Env]:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    truth: dict[str, float] = {}
    with open_store(url) as st:
        seed_run(st, run_id=RUN_A, n=80, scores=_scores(truth, RUN_A, random.Random(1)))
        seed_run(st, run_id=RUN_B, n=30, scores=_scores(truth, RUN_B, random.Random(2)))
    yield Env(url=url, truth=truth)


def _app() -> Any:
    import assay.cli.label  # noqa: F401 (registers the commands)
    from assay.cli.app import app

    return app


def _cli(*args: str) -> Any:
    return CliRunner().invoke(_app(), list(args))


def _queue(st: Store, run_id: str, n: int, *, seed: int = 0, name: str = "q", **kw: Any) -> str:
    q = create_queue(
        st,
        candidates_from_run(st, run_id),
        n,
        name=name,
        seed=seed,
        source={"run_id": run_id},
        rubric={"name": "correct"},
        **kw,
    )
    return q.queue_id


def _label(st: Store, queue_id: str, truth: dict[str, float], who: str = "ana") -> None:
    ls = LabelStore(st)
    ls.add_labels(
        [
            LabelRecord(
                item_id=it.item_id, annotator=who, value=truth[it.item_id], name="correct", queue_id=queue_id
            )
            for it in ls.items(queue_id)
        ]
    )


# ------------------------------------------------------------------------------------ estimate
def test_estimate_of_a_run_by_prefix_is_its_queues_estimate(env: Env) -> None:
    with open_store(env.url) as st:
        qid = _queue(st, RUN_A, 40, strategy="stratified", by="score:rubric")
        _label(st, qid, env.truth)
        expected = estimate_for_queue(st, qid, scorer="rubric")
    res = _cli("estimate", RUN_A[:18], "--scorer", "rubric", "--store", env.url, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out == expected.to_dict()
    assert out["source"] == {"queue_id": qid, "run_id": RUN_A} and out["scorer"] == "rubric"
    assert out["judge_only"]["n"] == 80 and out["ppi"]["n_labeled"] == 40 and out["weighted"] is True
    # the table names the judge and the three estimates
    res = _cli("estimate", RUN_A, "--scorer", "rubric", "--store", env.url)
    assert res.exit_code == 0 and "judge: rubric" in res.output and "PPI" in res.output


def test_a_run_with_several_scorers_needs_scorer(env: Env) -> None:
    with open_store(env.url) as st:
        _label(st, _queue(st, RUN_A, 30), env.truth)
    res = _cli("estimate", RUN_A, "--store", env.url)
    assert res.exit_code == 2 and "--scorer" in res.output and "exact_match" in res.output


def test_a_run_without_labels_says_how_to_make_a_queue(env: Env) -> None:
    res = _cli("estimate", RUN_B, "--scorer", "rubric", "--store", env.url)
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert f"assay label queue {RUN_B} --n 100 --label-name correct --store {env.url}" in text
    res = _cli("agreement", RUN_B, "--store", env.url, "--json")
    assert res.exit_code == 2 and f"assay label queue {RUN_B}" in " ".join(res.output.split())
    with open_store(env.url) as st:  # the library says the same, without the --store it cannot know
        with pytest.raises(ConfigError, match=f"assay label queue {RUN_B} --n 100"):
            estimate_for_run(st, RUN_B, scorer="rubric")
        with pytest.raises(ConfigError, match=f"assay label queue {RUN_B}"):
            agreement_for_run(st, RUN_B)
        qid = _queue(st, RUN_B, 10)
    # a queue exists but nobody labelled it: where to label it
    res = _cli("estimate", RUN_B, "--scorer", "rubric", "--store", env.url)
    text = " ".join(res.output.split())
    assert res.exit_code == 2 and f"/label/{qid}" in text
    assert f"assay label import FILE --queue {qid} --store {env.url}" in text


def test_unknown_and_ambiguous_ids(env: Env) -> None:
    res = _cli("estimate", "nope", "--store", env.url)
    assert res.exit_code == 2 and "no run or label queue 'nope'" in res.output and "assay runs" in res.output
    res = _cli("agreement", "20250301", "--store", env.url)
    text = " ".join(res.output.split())
    assert res.exit_code == 2 and "prefix '20250301' is ambiguous" in text and RUN_A in text and RUN_B in text
    with open_store(env.url) as st:
        create_queue(
            st,
            candidates_from_run(st, RUN_B),
            5,
            name="q",
            queue_id="20250301-1300-queue",
            source={"run_id": RUN_B},
        )
        with pytest.raises(StoreError, match="names both"):
            find_queue_or_run(st, "20250301-130")
        assert find_queue_or_run(st, "20250301-1300-queue").queue_id == "20250301-1300-queue"  # type: ignore[union-attr]
        assert find_queue_or_run(st, RUN_B).run_id == RUN_B  # type: ignore[union-attr]  # exact ids win
        assert find_queue_or_run(st, "20250301-120").run_id == RUN_A  # type: ignore[union-attr]


def test_several_labelled_queues_need_label_queue(env: Env) -> None:
    with open_store(env.url) as st:
        q1 = _queue(st, RUN_A, 30, seed=1, name="week 1")
        q2 = _queue(st, RUN_A, 35, seed=2, name="week 2")
        qb = _queue(st, RUN_B, 10, name="other run")
        for q in (q1, q2, qb):
            _label(st, q, env.truth)
        expected = estimate_for_queue(st, q2, scorer="rubric")
        found = run_labels(st, RUN_A)
    assert [(rq.queue.queue_id, rq.n_items, rq.n_labelled) for rq in found.queues] == [
        (q1, 30, 30),
        (q2, 35, 35),
    ]
    res = _cli("estimate", RUN_A, "--scorer", "rubric", "--store", env.url)
    text = " ".join(res.output.split())
    assert res.exit_code == 2 and "--label-queue" in text and q1 in text and q2 in text
    res = _cli(
        "estimate", RUN_A, "--scorer", "rubric", "--label-queue", "week 2", "--store", env.url, "--json"
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == expected.to_dict()
    res = _cli("estimate", RUN_A, "--scorer", "rubric", "--label-queue", qb, "--store", env.url)
    assert res.exit_code == 2 and f"holds no result of run {RUN_A}" in " ".join(res.output.split())
    res = _cli("estimate", q1, "--label-queue", q2, "--store", env.url)
    assert res.exit_code == 2 and "is a label queue already" in res.output


def test_labels_imported_without_a_queue_are_used_as_a_simple_random_sample(env: Env, tmp_path: Any) -> None:
    rng = random.Random(4)
    picked = rng.sample(range(80), 25)
    rows = [{"item_id": f"{RUN_A}/c{i:03d}/0", "value": env.truth[f"{RUN_A}/c{i:03d}/0"]} for i in picked]
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    res = _cli("label", "import", str(path), "--name", "correct", "--store", env.url)
    assert res.exit_code == 0, res.output
    res = _cli("estimate", RUN_A, "--scorer", "exact_match", "--store", env.url, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    with open_store(env.url) as st:
        judged = {c.item_id: c.scores["exact_match"] for c in candidates_from_run(st, RUN_A)}
    reference = estimate_from_values(judged, {r["item_id"]: r["value"] for r in rows}, metric="correct")
    for key in ("judge_only", "human_only", "ppi"):
        assert out[key] == reference.to_dict()[key]
    assert out["weighted"] is False and "simple random sample" in out["notes"][0]
    assert out["source"] == {"run_id": RUN_A, "queue_id": None}


# ------------------------------------------------------------------------------------ agreement
def test_agreement_of_a_run_by_prefix(env: Env) -> None:
    with open_store(env.url) as st:
        q1 = _queue(st, RUN_A, 30, seed=1)
        q2 = _queue(st, RUN_A, 30, seed=2)
        _label(st, q1, env.truth)
        _label(st, q2, env.truth, who="ben")
        everything = {r.scorer: r.to_dict() for r in agreement_for_run(st, RUN_A)}
        only_q2 = {r.scorer: r.to_dict() for r in agreement_for_queue(st, q2)}
    res = _cli("agreement", RUN_A[:-2], "--store", env.url, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["kind"] == "run" and out["run_id"] == RUN_A
    assert {s["scorer"]: s for s in out["scorers"]} == everything
    assert everything["rubric"]["n"] > 30  # the labels of both queues count
    res = _cli("agreement", RUN_A, "--label-queue", q2, "--scorer", "rubric", "--store", env.url, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["queue_id"] == q2 and [s["scorer"] for s in out["scorers"]] == ["rubric"]
    assert out["scorers"][0] == only_q2["rubric"]
    res = _cli("agreement", RUN_A, "--scorer", "bleu", "--store", env.url)
    assert res.exit_code == 2 and "exact_match, rubric" in " ".join(res.output.split())
    res = _cli("agreement", RUN_A, "--store", env.url)
    assert res.exit_code == 0 and "Agreement with human labels" in res.output
