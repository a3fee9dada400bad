"""Comparisons: paired tests per metric, Holm/BH corrections over the family, flipped cases, warnings."""

from __future__ import annotations

import pytest

from assay import stats
from assay.report import compare_runs
from assay.report._queries import metric_columns
from assay.report.compare import pair_by_case
from assay.store import Store
from tests.report._seed import Seeded, baseline, candidate, make_cases, record_run


def test_paired_tests_and_corrections_match_assay_stats(store: Store, seeded: Seeded) -> None:
    cmp = compare_runs(store, seeded.base_id, [seeded.cand_id])
    assert [m.metric for m in cmp.metrics] == ["exact_match", "token_f1"]
    base_cols, cand_cols = metric_columns(store, seeded.base_id), metric_columns(store, seeded.cand_id)
    em = cmp.metrics[0]
    cases, xs, ys, single, unpaired = pair_by_case(base_cols["exact_match"], cand_cols["exact_match"])
    assert single and unpaired == 0 and em.n_pairs == len(cases) == 62  # the crashed case is not paired
    ref = stats.mcnemar([y >= 0.5 for y in ys], [x >= 0.5 for x in xs])
    assert (em.test, em.difference, em.p_value) == (
        ref.test,
        pytest.approx(ref.difference),
        pytest.approx(ref.p_value),
    )
    assert em.difference == pytest.approx(em.other_mean - em.base_mean)  # candidate minus baseline
    f1 = cmp.metrics[1]
    _, fx, fy, _, _ = pair_by_case(base_cols["token_f1"], cand_cols["token_f1"])
    ref_f1 = stats.paired_bootstrap(fy, fx, seed=0)
    assert f1.test == "paired_bootstrap" and f1.p_value == pytest.approx(ref_f1.p_value)
    ps = [em.p_value, f1.p_value]
    assert [em.p_holm, f1.p_holm] == pytest.approx(list(stats.holm(ps)))
    assert [em.p_bh, f1.p_bh] == pytest.approx(list(stats.bh(ps)))


def test_flipped_cases_are_exact(store: Store, seeded: Seeded) -> None:
    cmp = compare_runs(store, seeded.base_id, [seeded.cand_id])
    base_ok = {c.id for c in make_cases() if c.id != "boom" and baseline(c.input_text) == c.expected}
    cand_ok = {c.id for c in make_cases() if c.id != "boom" and candidate(c.input_text) == c.expected}
    regressed = {f.case_id for f in cmp.flips if f.metric == "exact_match" and f.direction == "regressed"}
    improved = {f.case_id for f in cmp.flips if f.metric == "exact_match" and f.direction == "improved"}
    assert regressed == base_ok - cand_ok and improved == cand_ok - base_ok
    assert cmp.flip_counts[seeded.cand_id]["exact_match"] == {
        "regressed": len(regressed),
        "improved": len(improved),
    }
    assert cmp.flips[0].direction == "regressed"  # regressions are listed first
    f = next(f for f in cmp.flips if f.case_id == "c006")
    assert (f.direction, f.base_output, f.other_output, f.expected) == (
        "improved",
        "no idea",
        "answer 6",
        "answer 6",
    )


def test_significant_regression_gets_a_verdict(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'v.db'}"
    cases = make_cases()[:60]
    a = record_run(url, cases, lambda t: f"answer {t.split()[1]}", run_id="good")
    b = record_run(
        url, cases, lambda t: "wrong" if int(t.split()[1]) % 2 else f"answer {t.split()[1]}", run_id="bad"
    )
    from assay.store import open_store

    with open_store(url) as st:
        cmp = compare_runs(st, a, [b])
    em = next(m for m in cmp.metrics if m.metric == "exact_match")
    assert em.difference == pytest.approx(-0.5) and em.p_holm is not None and em.p_holm < 0.001
    assert em.verdict == "regressed"
    assert cmp.warnings == []


def test_signature_differences_are_warned(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'w.db'}"
    cases = make_cases()[:10]
    a = record_run(url, cases, baseline, run_id="a")
    b = record_run(url, cases[:5], baseline, run_id="b", dataset_sha256="e" * 64, scorers=("exact_match",))
    from assay.store import open_store

    with open_store(url) as st:
        cmp = compare_runs(st, a, [b])
    text = " | ".join(cmp.warnings)
    assert "different dataset" in text and "token_f1" in text
    em = next(m for m in cmp.metrics if m.metric == "exact_match")
    assert em.n_pairs == 5 and em.n_unpaired == 5
    with pytest.raises(ValueError):
        compare_runs(st, a, [])
