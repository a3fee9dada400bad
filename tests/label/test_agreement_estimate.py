"""Agreement with human labels (checked against scikit-learn) and PPI estimates (checked by simulation)."""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from typer.testing import CliRunner

from assay.label.agreement import agreement_for_queue, agreement_for_run, agreement_from_values, consensus
from assay.label.estimate import estimate_for_queue, estimate_from_values
from assay.label.queue import candidates_from_run, create_queue
from assay.stats import krippendorff_alpha
from assay.store import open_store
from assay.store.labels import LabelRecord, LabelStore
from assay.types import ConfigError
from tests.label._seed import seed_run


def _noisy(truth: list[int], flip: float, rng: random.Random, levels: list[int]) -> list[int]:
    return [rng.choice(levels) if rng.random() < flip else t for t in truth]


# ------------------------------------------------------------------------------------ agreement
def test_binary_agreement_equals_scikit_learn() -> None:
    rng = random.Random(1)
    truth = [int(rng.random() < 0.4) for _ in range(120)]
    judge = _noisy(truth, 0.3, rng, [0, 1])
    human = _noisy(truth, 0.1, rng, [0, 1])
    ids = [f"i{k}" for k in range(120)]
    r = agreement_from_values(
        dict(zip(ids, judge, strict=False)), [(i, "ana", h) for i, h in zip(ids, human, strict=False)]
    )
    assert r.n == 120
    assert r.cohen_kappa == pytest.approx(cohen_kappa_score(judge, human), abs=1e-12)
    assert r.confusion["matrix"] == sk_confusion_matrix(judge, human, labels=[0, 1]).tolist()
    assert r.exact_agreement == pytest.approx(np.mean(np.array(judge) == np.array(human)))
    assert r.krippendorff_alpha == pytest.approx(krippendorff_alpha([judge, human], level="nominal"))
    assert (
        r.correlation is not None
        and r.correlation["ci_low"] < r.correlation["estimate"] < r.correlation["ci_high"]
    )
    assert r.weighted_kappa is None  # two levels: weighting changes nothing


def test_ordinal_agreement_weighted_kappa_equals_scikit_learn() -> None:
    rng = random.Random(2)
    truth = [rng.randint(1, 5) for _ in range(80)]
    judge = [min(5, max(1, t + rng.choice([-1, 0, 0, 1]))) for t in truth]
    human = truth
    ids = [f"i{k}" for k in range(80)]
    r = agreement_from_values(
        dict(zip(ids, judge, strict=False)), [(i, "ana", h) for i, h in zip(ids, human, strict=False)]
    )
    assert r.cohen_kappa == pytest.approx(cohen_kappa_score(judge, human))
    assert r.weighted_kappa == pytest.approx(cohen_kappa_score(judge, human, weights="quadratic"))
    assert r.levels == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_continuous_judge_is_mapped_to_the_human_levels_for_kappa() -> None:
    judged = {"a": 0.9, "b": 0.2, "c": 0.7, "d": 0.4}
    r = agreement_from_values(judged, [("a", "x", 1), ("b", "x", 0), ("c", "x", 1), ("d", "x", 1)])
    assert r.cohen_kappa == pytest.approx(cohen_kappa_score([1, 0, 1, 0], [1, 0, 1, 1]))
    assert r.correlation["estimate"] == pytest.approx(np.corrcoef([0.9, 0.2, 0.7, 0.4], [1, 0, 1, 1])[0, 1])


def test_inter_annotator_ceiling_and_consensus() -> None:
    rng = random.Random(3)
    truth = [int(rng.random() < 0.5) for _ in range(60)]
    ann_a = _noisy(truth, 0.2, rng, [0, 1])
    ann_b = _noisy(truth, 0.2, rng, [0, 1])
    ids = [f"i{k}" for k in range(60)]
    labels = [(i, "a", v) for i, v in zip(ids, ann_a, strict=False)] + [
        (i, "b", v) for i, v in zip(ids[:30], ann_b[:30], strict=False)
    ]
    r = agreement_from_values(dict(zip(ids, truth, strict=False)), labels)
    inter = r.inter_annotator
    assert inter["n_items"] == 30 and inter["n_annotators"] == 2
    assert inter["cohen_kappa"] == pytest.approx(cohen_kappa_score(ann_a[:30], ann_b[:30]))
    assert inter["krippendorff_alpha"] == pytest.approx(krippendorff_alpha([ann_a[:30], ann_b[:30]]))
    assert consensus([("x", "a", 1), ("x", "b", 0)], discrete=True) == {"x": 0.0}  # tie: the lower value


def test_verdicts() -> None:
    ids = [f"i{k}" for k in range(40)]
    rng = random.Random(4)
    truth = [int(rng.random() < 0.5) for _ in ids]
    labels = [(i, "ana", t) for i, t in zip(ids, truth, strict=False)]
    assert agreement_from_values(dict(zip(ids, truth, strict=False)), labels).verdict == "fit"
    coin = [int(rng.random() < 0.5) for _ in ids]
    assert agreement_from_values(dict(zip(ids, coin, strict=False)), labels).verdict == "unfit"
    assert (
        agreement_from_values(dict(zip(ids[:10], truth[:10], strict=False)), labels).verdict == "insufficient"
    )
    const = agreement_from_values({i: 1 for i in ids}, labels)
    assert const.correlation is None and any("correlation" in n for n in const.notes)  # undefined, not NaN
    with pytest.raises(ConfigError):
        agreement_from_values({"a": 1}, [])


def test_agreement_from_the_store(tmp_path: Any) -> None:
    rng = random.Random(5)
    truth: dict[str, int] = {}

    def scores(i: int, r: random.Random) -> list[dict[str, Any]]:
        t = int(rng.random() < 0.5)
        truth[f"run1/c{i:03d}/0"] = t
        judge = t if rng.random() < 0.9 else 1 - t
        return [
            {
                "name": "rubric",
                "value": bool(judge),
                "kind": "binary",
                "metadata": {"samples": [judge, judge]},
            },
            {"name": "other", "value": rng.random(), "kind": "continuous"},
        ]

    with open_store(f"sqlite:///{tmp_path / 's.db'}") as st:
        seed_run(st, n=60, scores=scores)
        q = create_queue(st, candidates_from_run(st, "run1"), 40, name="q", source={"run_id": "run1"})
        ls = LabelStore(st)
        ls.add_labels(
            [
                LabelRecord(
                    item_id=it.item_id, annotator="ana", value=float(truth[it.item_id]), queue_id=q.queue_id
                )
                for it in ls.items(q.queue_id)
            ]
        )
        by_queue = {r.scorer: r for r in agreement_for_queue(st, q.queue_id)}
        by_run = {r.scorer: r for r in agreement_for_run(st, "run1")}
    assert set(by_queue) == {"rubric", "other"} and by_queue["rubric"].n == 40
    assert by_queue["rubric"].cohen_kappa == pytest.approx(by_run["rubric"].cohen_kappa)
    assert by_run["rubric"].test_retest == {
        "icc": pytest.approx(1.0),
        "exact_agreement": 1.0,
        "n": 60,
        "n_changed": 0,
    }
    assert by_queue["rubric"].cohen_kappa > 0.6


# ------------------------------------------------------------------------------------ estimate
def _biased_world(
    seed: int, n_all: int = 2000, n_lab: int = 100, rate: float = 0.3
) -> tuple[dict, dict, float]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n_all) < rate).astype(float)
    # a lenient judge: it passes 90% of the good answers and 20% of the bad ones (mean ~0.41 vs 0.30)
    f = np.where(y == 1, rng.random(n_all) < 0.9, rng.random(n_all) < 0.2).astype(float)
    ids = [f"i{k}" for k in range(n_all)]
    lab = rng.choice(n_all, n_lab, replace=False)
    return dict(zip(ids, f, strict=False)), {ids[k]: y[k] for k in lab}, float(y.mean())


def test_biased_judge_plus_100_labels_ppi_covers_judge_only_does_not() -> None:
    judged, human, truth = _biased_world(seed=7)
    r = estimate_from_values(judged, human, metric="correct")
    assert r.ppi.ci_low <= truth <= r.ppi.ci_high
    assert not (r.judge_only.ci_low <= truth <= r.judge_only.ci_high)
    assert r.judge_only.n == 2000 and r.human_only.n == 100 and r.n_labeled == 100
    assert (r.ppi.ci_high - r.ppi.ci_low) < (r.human_only.ci_high - r.human_only.ci_low)
    d = r.to_dict()
    assert set(d) >= {"metric", "judge_only", "human_only", "ppi"}
    for key in ("judge_only", "human_only", "ppi"):
        assert set(d[key]) >= {"mean", "ci_low", "ci_high", "n"}


def test_ppi_coverage_over_many_worlds() -> None:
    covered = judge_covered = 0
    reps = 200
    for seed in range(reps):
        judged, human, truth = _biased_world(seed=1000 + seed)
        r = estimate_from_values(judged, human)
        covered += r.ppi.ci_low <= truth <= r.ppi.ci_high
        judge_covered += r.judge_only.ci_low <= truth <= r.judge_only.ci_high
    assert covered / reps >= 0.90
    assert judge_covered / reps <= 0.05


def test_weighted_estimate_from_a_stratified_queue(tmp_path: Any) -> None:
    rng = random.Random(9)
    truth: dict[str, float] = {}

    def scores(i: int, r: random.Random) -> list[dict[str, Any]]:
        t = float(rng.random() < (0.1 if i % 10 == 9 else 0.5))
        truth[f"run1/c{i:03d}/0"] = t
        return [{"name": "rubric", "value": bool(t if rng.random() < 0.85 else 1 - t), "kind": "binary"}]

    with open_store(f"sqlite:///{tmp_path / 'w.db'}") as st:
        seed_run(st, n=200, scores=scores)
        q = create_queue(
            st,
            candidates_from_run(st, "run1"),
            60,
            name="strat",
            strategy="stratified",
            by="slice:category",
            source={"run_id": "run1"},
        )
        ls = LabelStore(st)
        items = ls.items(q.queue_id)
        assert len({it.inclusion_prob for it in items}) > 1
        ls.add_labels(
            [
                LabelRecord(item_id=it.item_id, annotator="ana", value=truth[it.item_id], queue_id=q.queue_id)
                for it in items
            ]
        )
        r = estimate_for_queue(st, q.queue_id)
    assert r.weighted and r.judge_only.n == 200 and r.n_labeled == 60
    true_mean = sum(truth.values()) / len(truth)
    assert r.ppi.ci_low <= true_mean <= r.ppi.ci_high
    assert r.human_only.ci_low <= true_mean <= r.human_only.ci_high


def test_estimate_input_errors() -> None:
    with pytest.raises(ConfigError, match="no judge score"):
        estimate_from_values({"a": 1, "b": 0}, {"a": 1, "z": 0})
    with pytest.raises(ConfigError, match="inclusion probability"):
        estimate_from_values({"a": 1, "b": 0, "c": 1}, {"a": 1, "b": 0}, inclusion_prob={"a": 0.5})


# ------------------------------------------------------------------------------------ CLI, plain files
def _app() -> Any:
    import assay.cli.label  # noqa: F401 (registers the commands)
    from assay.cli.app import app

    return app


def _write(path: Any, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_cli_estimate_and_agreement_on_plain_files(tmp_path: Any) -> None:
    judged, human, _truth = _biased_world(seed=7)
    _write(tmp_path / "judged.jsonl", [{"item_id": i, "value": v} for i, v in judged.items()])
    _write(
        tmp_path / "labels.jsonl", [{"item_id": i, "value": v, "annotator": "ana"} for i, v in human.items()]
    )
    args = ["--judged", str(tmp_path / "judged.jsonl"), "--labels", str(tmp_path / "labels.jsonl"), "--json"]
    res = CliRunner().invoke(_app(), ["estimate", *args])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    lib = estimate_from_values(judged, human).to_dict()
    for key in ("judge_only", "human_only", "ppi"):
        for field in ("mean", "ci_low", "ci_high", "n"):
            assert out[key][field] == pytest.approx(lib[key][field])
    assert out["metric"] == "label"
    res = CliRunner().invoke(_app(), ["agreement", *args])
    assert res.exit_code == 0, res.output
    ag = json.loads(res.output)
    ids = list(human)
    assert ag["n"] == 100
    assert ag["cohen_kappa"] == pytest.approx(
        cohen_kappa_score([judged[i] for i in ids], [human[i] for i in ids])
    )
    assert isinstance(ag["krippendorff_alpha"], float)


def test_cli_bad_plain_file_is_exit_2_with_file_and_line(tmp_path: Any) -> None:
    _write(tmp_path / "judged.jsonl", [{"item_id": "a", "value": 1}, {"item_id": "b"}])
    _write(tmp_path / "labels.jsonl", [{"item_id": "a", "value": 1}])
    res = CliRunner().invoke(
        _app(),
        ["estimate", "--judged", str(tmp_path / "judged.jsonl"), "--labels", str(tmp_path / "labels.jsonl")],
    )
    assert res.exit_code == 2
    assert "judged.jsonl:2" in res.output and "value" in res.output


def test_cli_queue_export_import_agreement(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with open_store(url) as st:
        seed_run(st, n=50)
    runner = CliRunner()
    res = runner.invoke(
        _app(),
        [
            "label",
            "queue",
            "run1",
            "--n",
            "35",
            "--store",
            url,
            "--json",
            "--label-name",
            "correct",
            "--choices",
            "yes=1,no=0",
        ],
    )
    assert res.exit_code == 0, res.output
    qid = json.loads(res.output)["queue_id"]
    with open_store(url) as st:
        items = LabelStore(st).items(qid)
    labels = tmp_path / "in.csv"
    labels.write_text(
        "item_id,value,annotator\n" + "".join(f"{it.item_id},1,ana\n" for it in items), encoding="utf-8"
    )
    res = runner.invoke(_app(), ["label", "import", str(labels), "--queue", qid, "--store", url])
    assert res.exit_code == 0, res.output
    out = tmp_path / "out.jsonl"
    res = runner.invoke(_app(), ["label", "export", qid, "-o", str(out), "--store", url])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 35 and {r["name"] for r in rows} == {"correct"} and rows[0]["run_id"] == "run1"
    res = runner.invoke(_app(), ["agreement", qid, "--store", url, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["scorers"][0]["n"] == 35
    res = runner.invoke(_app(), ["label", "list", "--store", url, "--json"])
    assert json.loads(res.output)[0]["n_labelled"] == 35
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,value\nnot-in-queue,1\n", encoding="utf-8")
    res = runner.invoke(_app(), ["label", "import", str(bad), "--queue", qid, "--store", url])
    assert res.exit_code == 2 and "not in queue" in res.output
